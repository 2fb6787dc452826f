// Proves that the examples run from one command each against a real ensemble: copies of lock-job take turns and
// each completes its run, and copies of leader-worker elect one leader that works, another taking over when the
// leader's process is killed or resigns.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { json, type Client } from '../../sdk/index.ts';
import { ProcessCluster, waitFor } from './harness.ts';
import { connectTo } from './helpers.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** One line an example printed, with when the test received it. */
interface Line {
  readonly text: string;
  readonly atMs: number;
}

/** An example run as a user would: `node --import tsx examples/FILE.ts ARGS` from the repository root. */
class Example {
  readonly lines: Line[] = [];
  private buffered = '';
  private stderr = '';
  private closed = false;
  readonly exit: Promise<number | string>;

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    child.stdout!.on('data', (chunk: Buffer) => {
      this.buffered += chunk.toString();
      const parts = this.buffered.split('\n');
      this.buffered = parts.pop()!;
      for (const text of parts) this.lines.push({ text, atMs: Date.now() });
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-5000)));
    // 'close', not 'exit': it comes once the output pipes are read to their end, so every line is in.
    this.exit = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        this.closed = true;
        resolve(code ?? signal ?? 'unknown');
      }),
    );
  }

  static run(file: string, name: string, args: readonly string[]): Example {
    const child = spawn(process.execPath, ['--import', 'tsx', `examples/${file}`, '--name', name, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    return new Example(name, child);
  }

  get exited(): boolean {
    return this.closed;
  }

  /** The first line matching `pattern` that came after line `afterIndex`, waiting up to `timeoutMs`. */
  async line(pattern: RegExp, timeoutMs = 15_000, afterIndex = -1): Promise<{ line: Line; match: RegExpExecArray; index: number }> {
    return waitFor(`${this.name} to print ${pattern}`, () => {
      for (let i = afterIndex + 1; i < this.lines.length; i++) {
        const match = pattern.exec(this.lines[i]!.text);
        if (match !== null) return { line: this.lines[i]!, match, index: i };
      }
      if (this.exited) throw new Error(`${this.name} exited: ${this.output()}`);
      return undefined;
    }, timeoutMs, 10);
  }

  count(pattern: RegExp): number {
    return this.lines.filter((l) => pattern.test(l.text)).length;
  }

  output(): string {
    return `${this.lines.map((l) => l.text).join('\n')}\n${this.stderr}`;
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Waits for the process to end by itself, up to `timeoutMs`. */
  async waitExit(timeoutMs: number): Promise<number | string> {
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms:\n${this.output()}`)), timeoutMs).unref());
    return Promise.race([this.exit, timeout]);
  }

  async kill(): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGKILL');
    await this.exit;
  }
}

describe('examples against a real ensemble', () => {
  let cluster: ProcessCluster;
  let client: Client;
  const running: Example[] = [];

  beforeAll(async () => {
    cluster = await ProcessCluster.start({ size: 3 });
    client = await connectTo(cluster.endpoints);
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((e) => e.kill()));
  });

  afterAll(async () => {
    await Promise.all(running.map((e) => e.kill()));
    await client?.close();
    await cluster?.stop();
  });

  function run(file: string, name: string, args: readonly string[]): Example {
    const example = Example.run(file, name, ['--endpoints', cluster.endpoints.join(','), ...args]);
    running.push(example);
    return example;
  }

  it('lock-job: concurrent copies take the lock one at a time, each completes its run with a larger token, and exits 0', async () => {
    const jobs = ['j1', 'j2', 'j3'].map((name) => run('lock-job.ts', name, ['--lock', 'e2e/job', '--steps', '3', '--step-ms', '100']));
    const codes = await Promise.all(jobs.map((job) => job.waitExit(60_000)));
    expect(codes, jobs.map((j) => j.output()).join('\n---\n')).toEqual([0, 0, 0]);
    const spans = await Promise.all(
      jobs.map(async (job) => {
        const got = await job.line(/got the lock \(token (\d+)\)/, 0);
        await job.line(/run \d+ done after 3 steps/, 0);
        const releasing = await job.line(/releasing the lock/, 0);
        return { name: job.name, token: Number(got.match[1]), fromMs: got.line.atMs, toMs: releasing.line.atMs };
      }),
    );
    // In token order the holds do not overlap. The times are when this process read each line, from different
    // pipes: lines read in one turn may come in either order, so allow a few ms (a hold lasts 300 ms).
    spans.sort((a, b) => a.token - b.token);
    expect(new Set(spans.map((s) => s.token)).size).toBe(spans.length);
    for (let i = 1; i < spans.length; i++) {
      expect(spans[i]!.fromMs, `${spans[i]!.name} got the lock after ${spans[i - 1]!.name} released it`).toBeGreaterThanOrEqual(spans[i - 1]!.toMs - 50);
    }
    const state = json<{ runs: number; lastJob: string; lastToken: number; step: number }>((await client.get('/examples/lock-job/e2e/job')).data);
    expect(state).toEqual({ runs: 3, lastJob: spans[2]!.name, lastToken: spans[2]!.token, step: 3 });
    expect(await client.children('/synod/locks/e2e/job')).toEqual([]);
  });

  it('leader-worker: one of three copies leads and works; when it is killed another takes over, and a resignation hands over at once', async () => {
    const args = ['--election', 'e2e', '--interval-ms', '200', '--session-ttl-ms', '1500'];
    const workers = ['w1', 'w2', 'w3'].map((name) => run('leader-worker.ts', name, args));
    const leading = /leading \(token (\d+)\)/;
    const working = /work round \d+ done as leader \(token (\d+)\)/;
    await Promise.all(workers.map((w) => w.line(/campaigning/, 20_000)));
    const first = await waitFor('one worker to lead', () => workers.find((w) => w.count(leading) > 0), 15_000);
    const firstToken = Number((await first.line(leading)).match[1]);
    await waitFor('the leader to work twice', () => first.count(working) >= 2, 5_000);
    // Only the leader works.
    expect(workers.filter((w) => w !== first).map((w) => w.count(working))).toEqual([0, 0]);

    // kill -9 of the leader: another copy leads once the dead one's session expired, and works.
    await first.kill();
    const second = await waitFor('another worker to lead', () => workers.find((w) => w !== first && w.count(leading) > 0), 10_000);
    const secondToken = Number((await second.line(leading)).match[1]);
    expect(secondToken).toBeGreaterThan(firstToken);
    await waitFor('the new leader to work', () => second.count(working) >= 1, 5_000);
    const progress = json<{ worker: string; token: number }>((await client.get('/examples/leader-worker/e2e')).data);
    expect(progress.token).toBe(secondToken);

    // Ctrl-C (SIGTERM) of the new leader: it resigns and exits 0; the last copy leads at once (no TTL wait).
    const third = workers.find((w) => w !== first && w !== second)!;
    const resignedAtMs = Date.now();
    second.signal('SIGTERM');
    await second.line(/resigned/, 5_000);
    expect(await second.waitExit(10_000)).toBe(0);
    const thirdLeading = await third.line(leading, 5_000);
    expect(Number(thirdLeading.match[1])).toBeGreaterThan(secondToken);
    expect(thirdLeading.line.atMs - resignedAtMs, 'handed over without waiting for a TTL').toBeLessThan(1_500);
    await waitFor('the last leader to work', () => third.count(working) >= 1, 5_000);
    third.signal('SIGTERM');
    expect(await third.waitExit(10_000)).toBe(0);
    expect(await client.children('/synod/elections/e2e')).toEqual([]);
  });
});
