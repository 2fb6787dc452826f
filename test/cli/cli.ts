// Runs the built binaries (dist/cli/synodctl.js, dist/cli/synod.js) as a user would: arguments, stdin,
// environment, exit status, stdout and stderr. Long-running commands run in the background and are stopped
// with a signal; every wait is bounded.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessCluster, waitFor } from '../e2e/harness.ts';

export const synodctlBin = fileURLToPath(new URL('../../dist/cli/synodctl.js', import.meta.url));
export const synodBin = fileURLToPath(new URL('../../dist/cli/synod.js', import.meta.url));

/** Fails clearly when the binaries were not built (npm test builds them before vitest runs). */
export function requireBuilt(): void {
  for (const bin of [synodctlBin, synodBin]) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: build first with npm run build (npm test does it before vitest)`);
  }
}

export interface Result {
  readonly status: number;
  readonly stdout: string;
  /** stdout as bytes (for binary values). */
  readonly stdoutBytes: Buffer;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: Record<string, string>;
  readonly input?: string | Uint8Array;
  readonly timeoutMs?: number;
  readonly cwd?: string;
}

/** Runs a command to its end (killed, and failing, if it outlives `timeoutMs`). */
export function run(bin: string, args: readonly string[], options: RunOptions = {}): Promise<Result> {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'], ...(options.cwd !== undefined ? { cwd: options.cwd } : {}) });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => err.push(chunk));
  child.stdin!.end(options.input ?? '');
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} ran longer than ${timeoutMs} ms; stderr: ${Buffer.concat(err).toString()}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({ status: code ?? 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 9), stdout: stdoutBytes.toString(), stdoutBytes, stderr: Buffer.concat(err).toString() });
    });
  });
}

/** synodctl against `endpoints`, with any extra environment. */
export function ctl(endpoints: readonly string[], args: readonly string[], options: RunOptions = {}): Promise<Result> {
  return run(synodctlBin, ['--endpoints', endpoints.join(','), ...args], options);
}

/** Runs synodctl with `-o json` and parses stdout; fails with stderr when the status is not `status`. */
export async function ctlJson<T = any>(endpoints: readonly string[], args: readonly string[], options: RunOptions & { status?: number } = {}): Promise<T> {
  const result = await ctl(endpoints, [...args, '-o', 'json'], options);
  if (result.status !== (options.status ?? 0)) throw new Error(`synodctl ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** A command left running: its output so far, a wait for a line, signals, and its end. */
export class Background {
  stdout = '';
  stderr = '';
  status: number | null = null;
  readonly exited: Promise<number>;

  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.status = code ?? 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 9);
        resolve(this.status);
      });
    });
  }

  /** Waits until stdout (or stderr) matches. */
  async waitFor(pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout', timeoutMs = 15_000): Promise<RegExpMatchArray> {
    return waitFor(`${pattern} on ${stream} (stdout so far: ${JSON.stringify(this.stdout)}, stderr: ${JSON.stringify(this.stderr)})`, () => {
      const match = this[stream].match(pattern);
      if (match !== null) return match;
      if (this.status !== null) throw new Error(`exited ${this.status} first; stderr: ${this.stderr}`);
      return undefined;
    }, timeoutMs);
  }

  /** Lines of stdout parsed as JSON. */
  jsonLines<T = any>(): T[] {
    return this.stdout.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as T);
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Waits for the end, bounded; kills it if it does not end in time. */
  async end(timeoutMs = 15_000): Promise<number> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ctrl-C, then the exit status. */
  async interrupt(timeoutMs = 15_000): Promise<number> {
    this.signal('SIGINT');
    return this.end(timeoutMs);
  }
}

export function background(bin: string, args: readonly string[], env: Record<string, string> = {}): Background {
  return new Background(spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

export function ctlBackground(endpoints: readonly string[], args: readonly string[], env: Record<string, string> = {}): Background {
  return background(synodctlBin, ['--endpoints', endpoints.join(','), ...args], env);
}

/**
 * Watch requests the members have received (their metrics), summed: a watch is registered once counted. Fails
 * if a member does not answer, since leaving it out would make the sum too low.
 */
async function countWatchRequests(endpoints: readonly string[]): Promise<number> {
  const counts = await Promise.all(
    endpoints.map(async (endpoint) => {
      const text = await fetch(`http://${endpoint}/metrics`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.text());
      const line = text.split('\n').find((l) => l.startsWith('synod_client_requests_total{op="watch"}'));
      return line === undefined ? 0 : Number(line.split(' ')[1]);
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/** The watch requests counted so far, asking again until every member answers. */
export async function watchRequests(endpoints: readonly string[]): Promise<number> {
  return waitFor('every member to report its watch requests', () => countWatchRequests(endpoints));
}

/** Waits until the members have received at least `count` watch requests in all. */
export async function waitForWatchRequests(endpoints: readonly string[], count: number): Promise<void> {
  await waitFor(`${count} watch requests`, async () => (await countWatchRequests(endpoints)) >= count || undefined, 15_000);
}

/** A 3-member ensemble and a temp folder for one test file (after checking the binaries are built). */
export async function startCliEnsemble(dirPrefix: string): Promise<{ cluster: ProcessCluster; endpoints: string[]; dir: string }> {
  requireBuilt();
  const cluster = await ProcessCluster.start({ size: 3 });
  return { cluster, endpoints: cluster.endpoints, dir: mkdtempSync(join(tmpdir(), dirPrefix)) };
}

export async function stopCliEnsemble(cluster: ProcessCluster | undefined, dir: string | undefined): Promise<void> {
  await cluster?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}
