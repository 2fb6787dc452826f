// The machine the figures come from, and its floor: what one durable write costs on the data disk
// (write 256 bytes + fdatasync) and what one loopback round trip costs (TCP ping-pong with another process).
// No system can acknowledge a durable replicated write faster than the first, nor answer faster than the second.

import { closeSync, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import * as os from 'node:os';
import { join } from 'node:path';
import { ManagedProcess, makeTempDir, removeTempDir, run, waitFor, withTimeout } from './processes.ts';
import { summarize, type LatencySummary } from './stats.ts';

export interface MachineDescription {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly os: string;
  readonly node: string;
  readonly tempDir: string;
  readonly disk: string;
  readonly loadAverageAtStart: readonly number[];
}

function osName(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os.type();
  } catch {
    return os.type();
  }
}

/** The temp dir's file system and block device, as `df` and /sys tell them. */
async function diskOf(dir: string): Promise<string> {
  try {
    const df = (await run('df', ['-T', '-h', dir], 5_000)).trim().split('\n')[1]?.split(/\s+/) ?? [];
    const [device = '?', type = '?', size = '?'] = df;
    const block = /\/dev\/([a-z]+)/.exec(device)?.[1];
    let kind = '';
    if (block !== undefined) {
      const rotational = readFileSync(`/sys/block/${block}/queue/rotational`, 'utf8').trim();
      kind = `, /sys/block/${block}/queue/rotational = ${rotational}`;
    }
    return `${device} (${type}, ${size}${kind})`;
  } catch {
    return 'unknown';
  }
}

export async function describeMachine(): Promise<MachineDescription> {
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()} ${os.version()}`,
    os: osName(),
    node: process.version,
    tempDir: os.tmpdir(),
    disk: await diskOf(os.tmpdir()),
    loadAverageAtStart: os.loadavg(),
  };
}

export interface Floor {
  readonly fdatasync: LatencySummary & { readonly perSecond: number };
  readonly loopbackRoundTrip: LatencySummary & { readonly perSecond: number };
}

/** write(256 B) + fdatasync in a loop, in a file under the temp dir (where the ensembles keep their data). */
function fdatasyncLatency(durationMs: number): LatencySummary & { perSecond: number } {
  const dir = makeTempDir('synod-bench-floor-');
  try {
    const fd = openSync(join(dir, 'floor.dat'), 'w');
    const record = Buffer.alloc(256, 0x5a);
    const latencies: number[] = [];
    const start = performance.now();
    let position = 0;
    try {
      while (performance.now() - start < durationMs) {
        const t0 = performance.now();
        writeSync(fd, record, 0, record.length, position);
        fdatasyncSync(fd);
        latencies.push(performance.now() - t0);
        position = (position + record.length) % (16 << 20);
      }
    } finally {
      closeSync(fd);
    }
    return { ...summarize(latencies), perSecond: latencies.length / ((performance.now() - start) / 1000) };
  } finally {
    removeTempDir(dir);
  }
}

/** An echo server in its own process (so the round trip crosses processes, as client and member do). */
const echoServer = `
const server = require('node:net').createServer((s) => { s.setNoDelay(true); s.on('data', (d) => s.write(d)); });
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
setTimeout(() => process.exit(0), 120000).unref();
`;

async function loopbackRoundTrip(durationMs: number): Promise<LatencySummary & { perSecond: number }> {
  const server = ManagedProcess.spawn('echo-server', process.execPath, ['-e', echoServer]);
  try {
    const port = await waitFor('the echo server', () => Number(/port (\d+)/.exec(server.output)?.[1] ?? 0) || undefined, 10_000, 10);
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    await withTimeout(new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject)), 5_000, 'a loopback connection');
    const latencies: number[] = [];
    const start = performance.now();
    try {
      while (performance.now() - start < durationMs) {
        const t0 = performance.now();
        const answered = new Promise<void>((resolve) => socket.once('data', () => resolve()));
        socket.write('p');
        await withTimeout(answered, 5_000, 'an echo');
        latencies.push(performance.now() - t0);
      }
    } finally {
      socket.destroy();
    }
    return { ...summarize(latencies), perSecond: latencies.length / ((performance.now() - start) / 1000) };
  } finally {
    await server.kill();
  }
}

export async function measureFloor(quick: boolean): Promise<Floor> {
  const durationMs = quick ? 1_500 : 5_000;
  return { fdatasync: fdatasyncLatency(durationMs), loopbackRoundTrip: await loopbackRoundTrip(durationMs) };
}
