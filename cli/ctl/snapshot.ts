// `snapshot save` and `snapshot restore`, as etcdctl's: a save downloads a member's whole state (GET
// /v1/snapshot, taken after a ReadIndex round, so it holds every write acknowledged before the command ran),
// and an offline restore seeds a new one-member cluster's data directory from the file. The file format and
// what carries over are in server/runtime/backup.ts and docs/cli.md.

import { createHash } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import type { Command } from 'commander';
import type { BackupInfo } from '../../server/runtime/backup.ts';
import { action, type Context } from './context.ts';
import { CliError } from './errors.ts';
import { examples } from './help.ts';
import { formatBytes } from './output.ts';
import { progressBar, type Progress } from './progress.ts';

export function registerSnapshotCommands(program: Command): void {
  const snapshot = program.command('snapshot').description('Save a member\'s whole state to a file, or seed a new cluster from one.');
  examples(snapshot, 'synodctl snapshot save backup.snap', 'synodctl snapshot restore backup.snap --data-dir ./restored/n1 --name n1');

  const save = snapshot
    .command('save')
    .description('Save the whole state (tree, leases, sessions, revision) of the first member that answers to FILE.')
    .argument('<file>', 'where to write (written to FILE.part, synced, then renamed)')
    .option('--progress', 'draw a progress bar even when stderr is not a terminal')
    .action(action(async (ctx, file: string, flags: { progress?: boolean }) => {
      const show = flags.progress === true || (process.stderr.isTTY === true && ctx.globals.output !== 'json');
      const result = await saveSnapshot(ctx, file, show);
      ctx.out.print({
        json: { file, ...result },
        simple: () => [`saved the state of ${result.member} at revision ${result.revision} to ${file} (${formatBytes(result.bytes)}, sha256 ${result.sha256.slice(0, 16)}…)`],
      });
    }));
  examples(save, 'synodctl snapshot save backup.snap', 'synodctl snapshot save backup.snap -o json');

  const restore = snapshot
    .command('restore')
    .description('Offline: seed the data directory of a new one-member cluster from FILE (then grow it with member add).')
    .argument('<file>', 'a file written by snapshot save')
    .requiredOption('--data-dir <dir>', 'the new member\'s data directory (must not exist, or be empty)')
    .option('--name <name>', 'the new member\'s name', 'n1')
    .option('--peer-url <host:port>', 'the peer address it will listen on', '127.0.0.1:4501')
    .option('--client-url <host:port>', 'the client address it will listen on', '127.0.0.1:4401')
    .action(action(async (ctx, file: string, flags: RestoreFlags) => {
      const info = await restoreSnapshot(file, flags);
      const start = `synod start --name ${flags.name} --data-dir ${flags.dataDir} --listen-peer ${flags.peerUrl} --listen-client ${flags.clientUrl}`;
      ctx.out.print({
        json: { file, dataDir: flags.dataDir, name: flags.name, revision: info.revision, index: info.index, savedFrom: info.member, savedAt: info.createdAt, start },
        simple: () => [`restored revision ${info.revision} (saved from ${info.member} at ${info.createdAt}) into ${flags.dataDir}`, 'start the member with:', `  ${start}`, 'then add more members with synodctl member add (see docs/cli.md)'],
      });
    }));
  examples(restore, 'synodctl snapshot restore backup.snap --data-dir /var/lib/synod/n1 --name n1 --peer-url 10.0.0.1:4501 --client-url 10.0.0.1:4401');
}

/** Loaded when used: no other command needs the storage and state code. */
function backups(): Promise<typeof import('../../server/runtime/backup.ts')> {
  return import('../../server/runtime/backup.ts');
}

interface SaveResult {
  readonly member: string;
  readonly revision: number;
  readonly index: number;
  readonly createdAt: string;
  readonly bytes: number;
  readonly sha256: string;
}

/** Downloads the state from the first endpoint that gives it, into FILE.part; checks it; renames it to FILE. */
async function saveSnapshot(ctx: Context, file: string, show: boolean): Promise<SaveResult> {
  const failures: string[] = [];
  for (const endpoint of ctx.globals.endpoints) {
    const response = await requestSnapshot(endpoint, ctx.globals.timeoutMs).catch((error: unknown) => {
      failures.push(`${endpoint}: ${(error as Error).message}`);
      return null;
    });
    if (response === null) continue;
    const part = `${file}.part`;
    const progress = progressBar('saving', 'bytes', Number(response.headers.get('content-length') ?? 0), show);
    try {
      const { bytes, sha256 } = await download(response, part, progress);
      const { info } = (await backups()).decodeBackup(await readFile(part));
      await rename(part, file);
      return { member: info.member, revision: info.revision, index: info.index, createdAt: info.createdAt, bytes, sha256 };
    } catch (error) {
      await rm(part, { force: true });
      if (error instanceof (await backups()).BackupError) throw new CliError('internal', `${endpoint} sent a damaged snapshot: ${error.message}`);
      throw error;
    } finally {
      progress.stop();
    }
  }
  throw new CliError('unavailable', `no member gave a snapshot (${failures.join('; ')})`, 'check that the members run, that a leader is known, and that --endpoints names them', { endpoints: ctx.globals.endpoints });
}

/** The response of GET /v1/snapshot once its headers arrived (the member answers after a ReadIndex round). */
async function requestSnapshot(endpoint: string, timeoutMs: number): Promise<Response> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    const response = await fetch(`http://${endpoint}/v1/snapshot`, { signal: controller.signal });
    if (response.ok && response.body !== null) return response;
    const body = (await response.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
    throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
  } catch (error) {
    throw controller.signal.aborted ? (controller.signal.reason as Error) : error;
  } finally {
    clearTimeout(timer);
  }
}

/** Streams the body to `path` with its SHA-256, then syncs the file. */
async function download(response: Response, path: string, progress: Progress): Promise<{ bytes: number; sha256: string }> {
  const handle = await open(path, 'w').catch((error: unknown) => {
    throw new CliError('file_error', `cannot write ${path}: ${(error as Error).message}`, null, {}, { cause: error });
  });
  try {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      await handle.write(chunk);
      bytes += chunk.byteLength;
      progress.update(bytes);
    }
    await handle.sync();
    return { bytes, sha256: hash.digest('hex') };
  } finally {
    await handle.close();
  }
}

interface RestoreFlags {
  dataDir: string;
  name: string;
  peerUrl: string;
  clientUrl: string;
}

async function restoreSnapshot(file: string, flags: RestoreFlags): Promise<BackupInfo> {
  const bytes = await readFile(file).catch((error: unknown) => {
    throw new CliError('file_error', `cannot read ${file}: ${(error as Error).message}`, null, {}, { cause: error });
  });
  const { seedDataDir, BackupError } = await backups();
  try {
    return await seedDataDir(bytes, flags);
  } catch (error) {
    if (!(error instanceof BackupError)) throw error;
    if (error.code === 'exists') throw new CliError('exists', error.message, 'restore into a new directory');
    throw new CliError('file_error', `${file} is not a usable snapshot: ${error.message}`, 'use a file written by synodctl snapshot save');
  }
}
