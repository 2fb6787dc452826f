// `snapshot save` and `snapshot restore`. The members have no snapshot download yet, so a save reads the
// whole tree through the public API: pages of `range` (each at its own revision), then the watch history
// from the first page's revision to the last one's, which turns the fuzzy pages into the exact state at the
// last revision (ZooKeeper's fuzzy snapshot plus its log). A restore seeds a new member's data directory by
// running that member alone, briefly, and writing the nodes through the SDK. The file format is in
// docs/cli.md.

import { createHash, type Hash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { Client, NodeData, NodeMode, NodeStat, TxnOp, WatchEvent, WatchItem, WatchStream } from '../../sdk/index.ts';
import { connect } from '../../sdk/index.ts';
import { version } from '../../server/version.ts';
import { action, type Context } from './context.ts';
import { CliError } from './errors.ts';
import { examples } from './help.ts';
import { formatBytes, formatDuration, statJson, valueJson } from './output.ts';
import { progressBar, type Progress } from './progress.ts';

export const snapshotFormat = 'synod.snapshot';
export const snapshotVersion = 1;
/** Nodes per page read by a save. */
const savePageNodes = 500;
/** Changes a save may collect while it reads the pages (beyond: it fails and asks for a quieter moment). */
const saveChangesMax = 1_000_000;
/** Operations and bytes of one restore transaction (the server allows 128 operations). */
const restoreTxnOpsMax = 100;
const restoreTxnBytesMax = 1024 * 1024;
/** Deadline of each request of a restore, and of the temporary member's first election. */
const restoreRequestTimeoutMs = 30_000;
/** Longest line a restore reads (a node of the largest value, in base64, with its stat). */
const snapshotLineBytesMax = 128 * 1024 * 1024;

/** The first line of a snapshot file. */
export interface SnapshotHeader {
  readonly format: typeof snapshotFormat;
  readonly version: number;
  readonly createdAt: string;
  readonly tool: string;
}

/** One node of a snapshot file: parents come before their children. */
export interface SnapshotNode {
  readonly path: string;
  readonly value: string;
  readonly encoding: 'utf8' | 'base64';
  readonly mode: NodeMode;
  readonly sequential: boolean;
  readonly ttlMs: number;
  /** As read; a restore does not reproduce revisions, versions or times. */
  readonly stat: NodeStat;
}

/** The last line: what the file holds, and the SHA-256 of every line before it. */
export interface SnapshotTrailer {
  readonly end: true;
  readonly revision: number;
  readonly nodes: number;
  readonly skippedEphemeral: number;
  readonly sha256: string;
}

export function registerSnapshotCommands(program: Command): void {
  const snapshot = program.command('snapshot').description('Save the whole tree to a file, or seed a new member from one.');
  examples(snapshot, 'synodctl snapshot save backup.snap', 'synodctl snapshot restore backup.snap --data-dir ./restored/n1 --name n1');

  const save = snapshot
    .command('save')
    .description('Save every node (but ephemeral ones) as of one revision to FILE.')
    .argument('<file>', 'where to write (written to FILE.part, then renamed)')
    .option('--progress', 'draw a progress bar even when stderr is not a terminal')
    .action(action(async (ctx, file: string, flags: { progress?: boolean }) => {
      const client = await ctx.client();
      const result = await saveSnapshot(client, file, progressBar('saving', 'nodes (discovered)', 1, flags.progress === true || (process.stderr.isTTY === true && ctx.globals.output !== 'json')));
      ctx.out.print({
        json: { file, ...result },
        simple: () => [`saved ${result.nodes} nodes at revision ${result.revision} to ${file} (${formatBytes(result.bytes)}, sha256 ${result.sha256.slice(0, 16)}…)${result.skippedEphemeral > 0 ? `; ${result.skippedEphemeral} ephemeral nodes left out` : ''}`],
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
    .option('--progress', 'draw a progress bar even when stderr is not a terminal')
    .action(action(async (ctx, file: string, flags: RestoreFlags) => {
      const result = await restoreSnapshot(ctx, file, flags);
      const start = `synod start --name ${flags.name} --data-dir ${flags.dataDir} --listen-peer ${flags.peerUrl} --listen-client ${flags.clientUrl}`;
      ctx.out.print({
        json: { file, dataDir: flags.dataDir, name: flags.name, ...result, start },
        simple: () => [`restored ${result.nodes} nodes (revision ${result.revision} of the saved cluster) into ${flags.dataDir} in ${formatDuration(result.tookMs)}`, 'start the member with:', `  ${start}`, 'then add more members with synodctl member add (see docs/cli.md)'],
      });
    }));
  examples(restore, 'synodctl snapshot restore backup.snap --data-dir /var/lib/synod/n1 --name n1 --peer-url 10.0.0.1:4501 --client-url 10.0.0.1:4401');
}

// -------------------------------------------------------------------------------------------------------
// Save

interface SaveResult {
  readonly revision: number;
  readonly nodes: number;
  readonly skippedEphemeral: number;
  readonly bytes: number;
  readonly sha256: string;
}

/** What the pages saw of a path may be overwritten by a later change: the last change wins. */
type Change = { readonly type: 'delete' } | { readonly type: 'node'; readonly node: NodeData };

/** Writes lines to a file with a running SHA-256 and byte count. */
class LineWriter {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;

  constructor(private readonly handle: FileHandle) {}

  async line(value: unknown): Promise<void> {
    const text = `${JSON.stringify(value)}\n`;
    this.hash.update(text);
    this.bytes += Buffer.byteLength(text);
    await this.handle.write(text);
  }

  /** The trailer goes unhashed; returns the digest of everything before it. */
  async finish(trailer: Omit<SnapshotTrailer, 'sha256'>): Promise<string> {
    const sha256 = this.hash.digest('hex');
    const text = `${JSON.stringify({ ...trailer, sha256 })}\n`;
    this.bytes += Buffer.byteLength(text);
    await this.handle.write(text);
    await this.handle.sync();
    return sha256;
  }
}

export async function saveSnapshot(client: Client, file: string, progress: Progress): Promise<SaveResult> {
  const part = `${file}.part`;
  const handle = await openForWrite(part);
  try {
    const writer = new LineWriter(handle);
    await writer.line(header());
    const pages = await writePages(client, writer, progress);
    const changes = pages.lastRevision > pages.firstRevision ? await readChanges(client, pages.firstRevision, pages.lastRevision) : new Map<string, Change>();
    if (changes.size === 0) {
      const sha256 = await writer.finish({ end: true, revision: pages.lastRevision, nodes: pages.nodes, skippedEphemeral: pages.skippedEphemeral });
      await handle.close();
      await rename(part, file);
      return { revision: pages.lastRevision, nodes: pages.nodes, skippedEphemeral: pages.skippedEphemeral, bytes: writer.bytes, sha256 };
    }
    await handle.close();
    return await patchPages(part, file, changes, pages.lastRevision);
  } catch (error) {
    await handle.close().catch(() => {});
    await rm(part, { force: true });
    throw error;
  } finally {
    progress.stop();
  }
}

function header(): SnapshotHeader {
  return { format: snapshotFormat, version: snapshotVersion, createdAt: new Date().toISOString(), tool: `synodctl ${version}` };
}

async function openForWrite(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'w');
  } catch (error) {
    throw new CliError('file_error', `cannot write ${path}: ${(error as Error).message}`, null, {}, { cause: error });
  }
}

function snapshotNode(node: NodeData): SnapshotNode {
  return { path: node.path, ...valueJson(node.data), mode: node.stat.mode, sequential: node.stat.sequential, ttlMs: node.stat.ttlMs, stat: statJson(node.stat) };
}

/** Reads the tree page by page into the file; the progress total grows as children are discovered. */
async function writePages(client: Client, writer: LineWriter, progress: Progress): Promise<{ firstRevision: number; lastRevision: number; nodes: number; skippedEphemeral: number }> {
  let after: string | undefined;
  let firstRevision = 0;
  let lastRevision = 0;
  let nodes = 0;
  let seen = 0;
  let skippedEphemeral = 0;
  let discovered = 1;
  for (;;) {
    const page = await client.range('/', { limit: savePageNodes, ...(after !== undefined ? { after } : {}) });
    if (firstRevision === 0) firstRevision = page.revision;
    lastRevision = page.revision;
    for (const node of page.nodes) {
      seen++;
      discovered += node.stat.numChildren;
      if (node.stat.mode === 'ephemeral') {
        skippedEphemeral++;
        continue;
      }
      await writer.line(snapshotNode(node));
      nodes++;
    }
    progress.update(seen, Math.max(discovered, seen));
    if (!page.more || page.nodes.length === 0) return { firstRevision, lastRevision, nodes, skippedEphemeral };
    after = page.nodes[page.nodes.length - 1]!.path;
  }
}

/** Every change in (from, to], the last per path, from the watch history. */
async function readChanges(client: Client, from: number, to: number): Promise<Map<string, Change>> {
  const changes = new Map<string, Change>();
  const stream = client.watch('/', { recursive: true, fromRevision: from + 1 });
  try {
    for (let item = await stream.next(); !item.done; item = await nextBuffered(stream, to)) {
      const event = item.value;
      if (!isEvent(event)) continue;
      if (event.revision > to) break;
      changes.set(event.path, event.type === 'delete' ? { type: 'delete' } : { type: 'node', node: { path: event.path, data: event.data, stat: event.stat } });
      if (changes.size > saveChangesMax) throw new CliError('too_many_requests', `more than ${saveChangesMax} changes while saving`, 'save again when the cluster is quieter');
    }
    return changes;
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError('compacted', `the history between revisions ${from} and ${to} is no longer kept (${(error as Error).message})`, 'save again: the tree changed faster than the members keep history', {}, { cause: error });
  } finally {
    stream.finish(null);
  }
}

const drained: IteratorResult<WatchItem> = { done: true, value: undefined };

/**
 * The next item, except after the last revision wanted: then only what is buffered already (every event of
 * a revision arrives in one push), and `done` when nothing is, instead of waiting for a change to come.
 */
async function nextBuffered(stream: WatchStream, to: number): Promise<IteratorResult<WatchItem>> {
  if (stream.lastRevision < to) return stream.next();
  return Promise.race([stream.next(), Promise.resolve(drained)]);
}

function isEvent(item: WatchItem): item is WatchEvent {
  return item.type === 'create' || item.type === 'set' || item.type === 'delete';
}

/** Rewrites the pages with the changes applied: the exact state at `revision`. */
async function patchPages(pagesFile: string, file: string, changes: Map<string, Change>, revision: number): Promise<SaveResult> {
  const part = `${file}.part2`;
  const handle = await openForWrite(part);
  try {
    const writer = new LineWriter(handle);
    await writer.line(header());
    let nodes = 0;
    let skippedEphemeral = 0;
    let first = true;
    for await (const line of readLines(pagesFile)) {
      if (first) {
        first = false;
        continue;
      }
      const node = JSON.parse(line) as SnapshotNode | SnapshotTrailer;
      if ('end' in node) break;
      const change = changes.get(node.path);
      changes.delete(node.path);
      if (change === undefined) {
        await writer.line(node);
        nodes++;
      } else if (change.type === 'node') {
        if (change.node.stat.mode === 'ephemeral') skippedEphemeral++;
        else (await writer.line(snapshotNode(change.node)), nodes++);
      }
    }
    // Nodes created after the pages passed their place: sorted, so parents come first.
    for (const path of [...changes.keys()].sort()) {
      const change = changes.get(path)!;
      if (change.type !== 'node') continue;
      if (change.node.stat.mode === 'ephemeral') skippedEphemeral++;
      else (await writer.line(snapshotNode(change.node)), nodes++);
    }
    const sha256 = await writer.finish({ end: true, revision, nodes, skippedEphemeral });
    await handle.close();
    await rename(part, file);
    await rm(pagesFile, { force: true });
    return { revision, nodes, skippedEphemeral, bytes: writer.bytes, sha256 };
  } catch (error) {
    await handle.close().catch(() => {});
    await rm(part, { force: true });
    await rm(pagesFile, { force: true });
    throw error;
  }
}

function readLines(file: string): AsyncIterable<string> {
  return createInterface({ input: createReadStream(file, { encoding: 'utf8', highWaterMark: 1024 * 1024 }), crlfDelay: Number.POSITIVE_INFINITY });
}

// -------------------------------------------------------------------------------------------------------
// Restore

interface RestoreFlags {
  dataDir: string;
  name: string;
  peerUrl: string;
  clientUrl: string;
  progress?: boolean;
}

/** Checks a snapshot file end to end: its header, that every line parses, the counts and the digest. */
export async function verifySnapshot(file: string): Promise<SnapshotTrailer> {
  if (!existsSync(file)) throw new CliError('file_error', `${file} does not exist`);
  const hash = createHash('sha256');
  let trailer: SnapshotTrailer | null = null;
  let lineNumber = 0;
  let nodes = 0;
  for await (const line of readLines(file)) {
    lineNumber++;
    if (trailer !== null) throw corrupt(file, `line ${lineNumber} follows the end line`);
    if (line.length > snapshotLineBytesMax) throw corrupt(file, `line ${lineNumber} is longer than ${snapshotLineBytesMax} bytes`);
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw corrupt(file, `line ${lineNumber} is not JSON`);
    }
    if (lineNumber === 1) {
      if (value['format'] !== snapshotFormat) throw corrupt(file, `it is not a ${snapshotFormat} file`);
      if (value['version'] !== snapshotVersion) throw corrupt(file, `format version ${String(value['version'])} is not ${snapshotVersion}`);
    } else if (value['end'] === true) {
      trailer = value as unknown as SnapshotTrailer;
      continue;
    } else {
      if (typeof value['path'] !== 'string' || typeof value['value'] !== 'string') throw corrupt(file, `line ${lineNumber} is not a node`);
      nodes++;
    }
    hash.update(`${line}\n`);
  }
  if (trailer === null) throw corrupt(file, 'it has no end line (the save did not finish?)');
  if (trailer.nodes !== nodes) throw corrupt(file, `the end line counts ${trailer.nodes} nodes, the file holds ${nodes}`);
  if (trailer.sha256 !== hash.digest('hex')) throw corrupt(file, 'its SHA-256 does not match');
  return trailer;
}

function corrupt(file: string, why: string): CliError {
  return new CliError('file_error', `${file} is not a usable snapshot: ${why}`, 'use a file written by synodctl snapshot save');
}

async function restoreSnapshot(ctx: Context, file: string, flags: RestoreFlags): Promise<{ revision: number; nodes: number; tookMs: number }> {
  const started = performance.now();
  const trailer = await verifySnapshot(file);
  if (existsSync(flags.dataDir) && readdirSync(flags.dataDir).length > 0) {
    throw new CliError('exists', `${flags.dataDir} is not empty`, 'restore into a new directory: a restore seeds a new member, it never overwrites one');
  }
  const bytesTotal = statSync(file).size;
  const show = flags.progress === true || (process.stderr.isTTY === true && ctx.globals.output !== 'json');
  const progress = progressBar('restoring', 'bytes', bytesTotal, show);
  // Loaded here only: the server (and its native WebSocket module) is not needed by any other command.
  const { startNode } = await import('../../server/index.ts');
  const member = await startNode({
    name: flags.name,
    dataDir: flags.dataDir,
    listenClient: '127.0.0.1:0',
    listenPeer: '127.0.0.1:0',
    advertiseClient: flags.clientUrl,
    initialCluster: `${flags.name}=${flags.peerUrl}`,
  });
  try {
    const client = await connect({ endpoints: [`127.0.0.1:${member.clientPort}`], requestTimeoutMs: restoreRequestTimeoutMs, preferLeader: false });
    try {
      const nodes = await writeNodes(client, file, progress);
      if (nodes !== trailer.nodes) throw new CliError('internal', `wrote ${nodes} nodes, the file holds ${trailer.nodes}`);
      return { revision: trailer.revision, nodes, tookMs: Math.round(performance.now() - started) };
    } finally {
      await client.close();
    }
  } finally {
    progress.stop();
    await member.stop();
  }
}

/** Creates the file's nodes in order, in transactions of bounded size; returns how many. */
async function writeNodes(client: Client, file: string, progress: Progress): Promise<number> {
  let batch: TxnOp[] = [];
  let batchBytes = 0;
  let nodes = 0;
  let bytesRead = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    await client.txn().then(...batch).commit();
    batch = [];
    batchBytes = 0;
    progress.update(bytesRead);
  };
  let lineNumber = 0;
  for await (const line of readLines(file)) {
    bytesRead += Buffer.byteLength(line) + 1;
    if (++lineNumber === 1) continue;
    const node = JSON.parse(line) as SnapshotNode | SnapshotTrailer;
    if ('end' in node) break;
    const data = node.encoding === 'base64' ? new Uint8Array(Buffer.from(node.value, 'base64')) : new TextEncoder().encode(node.value);
    nodes++;
    if (node.path === '/') {
      // The root exists in every tree: only its value is restored.
      if (data.length > 0) batch.push({ op: 'set', path: '/', data });
      continue;
    }
    if (batch.length >= restoreTxnOpsMax || (batch.length > 0 && batchBytes + data.length > restoreTxnBytesMax)) await flush();
    batch.push({ op: 'create', path: node.path, data, mode: node.mode === 'ephemeral' ? 'persistent' : node.mode, ...(node.mode === 'ttl' ? { ttlMs: node.ttlMs } : {}) });
    batchBytes += data.length;
  }
  await flush();
  progress.update(bytesRead);
  return nodes;
}
