#!/usr/bin/env node
// `synod`: runs one member (`start`) or a local ensemble of member processes (`dev`).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { configFromEnv, configFromFile, resolveMemberConfig, type ConfigInput, type MemberConfig } from '../server/runtime/config.ts';
import { startMember, type MemberHandle } from '../server/runtime/member.ts';
import { version } from '../server/version.ts';

const program = new Command('synod').description('Run Synod members: one (start) or a local ensemble (dev).');

program
  .command('version')
  .description('Print the version.')
  .action(() => {
    console.log(`synod ${version}`);
  });

program
  .command('start')
  .description('Run one member in the foreground until SIGTERM or SIGINT.')
  .option('--config <file>', 'JSON config file (flags and SYNOD_* variables override it)')
  .option('--name <name>', 'member name, unique in the cluster')
  .option('--data-dir <dir>', 'data directory of this member')
  .option('--listen-client <host:port>', 'address for clients')
  .option('--listen-peer <host:port>', 'address for peers')
  .option('--advertise-client <host:port>', 'client address given to others')
  .option('--initial-cluster <list>', 'NAME=HOST:PORT,... peer addresses of the initial members')
  .option('--join', 'join an existing cluster (after memberAdd) instead of forming one')
  .option('--cluster-token <token>', 'shared secret of the cluster')
  .option('--tick-ms <ms>', 'Raft tick interval')
  .option('--election-ticks <n>', 'election timeout in ticks')
  .option('--heartbeat-ticks <n>', 'heartbeat interval in ticks')
  .option('--session-ttl-min-ms <ms>', 'shortest session TTL a client may ask for')
  .option('--session-ttl-max-ms <ms>', 'longest session TTL a client may ask for')
  .option('--snapshot-entries <n>', 'applied entries between snapshots of the state')
  .option('--compaction-margin-entries <n>', 'entries kept behind a snapshot for followers that lag a little')
  .option('--history-revisions <n>', 'revisions of watch history kept')
  .option('--history-events <n>', 'events of watch history kept at most')
  .option('--proposal-timeout-ms <ms>', 'how long a write may wait to commit')
  .option('--watch-progress-ms <ms>', 'interval of progress notices on idle watches')
  .option('--value-bytes-max <bytes>', 'largest node value')
  .option('--path-bytes-max <bytes>', 'longest path')
  .option('--request-bytes-max <bytes>', 'largest request frame')
  .option('--watches-per-connection-max <n>', 'watches one connection may hold')
  .option('--requests-in-flight-per-connection-max <n>', 'requests one connection may have in flight')
  .option('--connection-buffer-bytes-max <bytes>', 'bytes buffered toward a slow client before it is cut off')
  .option('--txn-ops-max <n>', 'operations in one transaction')
  .addHelpText('after', '\nExample:\n  synod start --name n1 --data-dir /var/lib/synod/n1 --listen-client 127.0.0.1:4401 \\\n    --listen-peer 127.0.0.1:4501 --initial-cluster n1=127.0.0.1:4501,n2=127.0.0.1:4502,n3=127.0.0.1:4503')
  .action(async (flags: Record<string, unknown>) => {
    let config: MemberConfig;
    let member: MemberHandle;
    try {
      const file: ConfigInput = typeof flags['config'] === 'string' ? configFromFile(flags['config']) : {};
      const { config: _file, ...rest } = flags;
      config = resolveMemberConfig(file, configFromEnv(process.env), rest);
      mkdirSync(config.dataDir, { recursive: true });
      member = await startMember(config);
    } catch (error) {
      // A bad setting or an unusable address or directory: say what, without a stack trace.
      const code = typeof (error as { code?: unknown }).code === 'string' ? `${(error as { code: string }).code}: ` : '';
      console.error(`synod start: ${code}${(error as Error).message}`);
      process.exit(2);
    }
    // The ports bound (a :0 in the config asks for any free one).
    const clients = config.listenClient.replace(/:\d+$/, `:${member.clientPort}`);
    const peers = config.listenPeer.replace(/:\d+$/, `:${member.peerPort}`);
    console.log(`synod member ${config.name}: clients on ${clients}, peers on ${peers}, data in ${config.dataDir}`);
    const stop = (): void => {
      member.stop().then(() => process.exit(0), () => process.exit(1));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    const error = await member.stopped;
    if (error !== null) {
      console.error(`synod member ${config.name} stopped: ${error.message}`);
      process.exit(2);
    }
    process.exit(0);
  });

program
  .command('dev')
  .description('Run a local ensemble, each member its own process, until Ctrl-C.')
  .addOption(new Option('--members <n>', 'ensemble size').choices(['1', '3', '5']).default('3'))
  .option('--data-dir <dir>', 'folder for every member\'s data', './synod-data')
  .option('--client-port <port>', 'first client port (then +1 per member)', '4401')
  .option('--peer-port <port>', 'first peer port (then +1 per member)', '4501')
  .option('--config <file>', 'JSON config file given to every member (as synod start --config)')
  .addHelpText('after', '\nExample:\n  synod dev --members 5')
  .action((flags: { members: string; dataDir: string; clientPort: string; peerPort: string; config?: string }) => {
    const count = Number(flags.members);
    const names = Array.from({ length: count }, (_, i) => `n${i + 1}`);
    const cluster = names.map((name, i) => `${name}=127.0.0.1:${Number(flags.peerPort) + i}`).join(',');
    const script = fileURLToPath(import.meta.url);
    const children: ChildProcess[] = names.map((name, i) =>
      spawn(
        process.execPath,
        [...process.execArgv, script, 'start', '--name', name, '--data-dir', join(resolve(flags.dataDir), name), '--listen-client', `127.0.0.1:${Number(flags.clientPort) + i}`, '--listen-peer', `127.0.0.1:${Number(flags.peerPort) + i}`, '--initial-cluster', cluster, ...(flags.config !== undefined ? ['--config', resolve(flags.config)] : [])],
        { stdio: 'inherit' },
      ),
    );
    const endpoints = names.map((_, i) => `127.0.0.1:${Number(flags.clientPort) + i}`).join(',');
    console.log(`synod dev: ${count} members, data under ${resolve(flags.dataDir)}`);
    console.log(`  endpoints: ${endpoints}   (export SYNOD_ENDPOINTS=${endpoints})`);
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      for (const child of children) child.kill('SIGTERM');
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    let exited = 0;
    for (const child of children) {
      child.on('exit', () => {
        if (++exited === children.length) process.exit(0);
        if (!stopping) console.error('synod dev: a member exited; the others keep running (Ctrl-C stops all)');
      });
    }
  });

await program.parseAsync(process.argv);
