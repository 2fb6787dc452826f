// Process and time hygiene for the benchmark: every child process and temp directory it makes is registered
// here, so one cleanup (on normal end, on an exception, on Ctrl-C or SIGTERM) kills them all and removes the
// data. Every wait is bounded: polls with deadlines, promises raced against timers.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Bytes of a child's output kept for error messages (the tail). */
const outputTailBytesMax = 16_000;

/** A child process with a bounded tail of its output and a promise of its exit. */
export class ManagedProcess {
  private tail = '';
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined = undefined;
  private exitSignal: NodeJS.Signals | null = null;

  private constructor(
    readonly label: string,
    readonly child: ChildProcess,
  ) {
    const append = (chunk: Buffer): void => {
      this.tail = (this.tail + chunk.toString()).slice(-outputTailBytesMax);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        live.delete(this);
        resolve(code);
      });
      child.once('error', (error) => {
        append(Buffer.from(`\nspawn error: ${error.message}\n`));
        this.exitCode = null;
        live.delete(this);
        resolve(null);
      });
    });
  }

  /** Spawns `command`; stdin is closed and output is kept (tail only). */
  static spawn(label: string, command: string, args: readonly string[], options: SpawnOptions = {}): ManagedProcess {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    const managed = new ManagedProcess(label, child);
    live.add(managed);
    return managed;
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.label} has no pid (it failed to spawn)`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  get output(): string {
    return this.tail;
  }

  /** How it ended, for error messages: `exit code 1`, `signal SIGKILL`, or `running`. */
  get status(): string {
    if (this.exitCode === undefined) return 'running';
    return this.exitSignal !== null ? `signal ${this.exitSignal}` : `exit code ${this.exitCode}`;
  }

  /** kill -9 and wait (bounded) for the exit. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await withTimeout(this.exited, 10_000, `${this.label} to exit after SIGKILL`);
  }
}

const live = new Set<ManagedProcess>();
const tempDirs = new Set<string>();

/** A fresh directory under the OS temp dir, removed by `cleanupAll`. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** A file or directory made by a child process (not under our temp dirs) that `cleanupAll` must remove too. */
export function registerForCleanup(path: string): void {
  tempDirs.add(path);
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Synchronous, so it also works from an 'exit' handler: SIGKILL every child, remove every temp dir. */
export function cleanupAll(): void {
  for (const p of live) {
    try {
      p.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** Installs the last-resort cleanup: Ctrl-C, SIGTERM and process exit kill children and remove data. */
export function installCleanupHandlers(): void {
  const onSignal = (signal: NodeJS.Signals): void => {
    console.error(`\nbench: ${signal}, stopping every process it started and removing its data`);
    cleanupAll();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', cleanupAll);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with a clear message when `promise` has not settled within `timeoutMs`. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Polling with a deadline and free ports: the end-to-end tests' own helpers.
export { freePorts, GiveUp, waitFor } from '../e2e/harness.ts';

/** Runs a command to completion with a deadline; resolves with its output, rejects on failure. */
export async function run(command: string, args: readonly string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const p = ManagedProcess.spawn(command, command, args, { env });
  let code: number | null;
  try {
    code = await withTimeout(p.exited, timeoutMs, `${command} ${args.join(' ')}`);
  } catch (error) {
    await p.kill();
    throw error;
  }
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}:\n${p.output.slice(-2000)}`);
  return p.output;
}

/** A member's resident set size in bytes (VmRSS of /proc/PID/status), or null if unreadable. */
export async function rssBytes(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/PID/stat; null if unreadable. */
export function cpuSeconds(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    // utime and stime are fields 14 and 15 of stat(5), counted from the state (field 3) here; in clock ticks.
    return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;
  } catch {
    return null;
  }
}

/** USER_HZ: 100 on every Linux the benchmark targets (it is fixed in the kernel ABI for /proc). */
const clockTicksPerSecond = 100;
