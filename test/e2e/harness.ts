// Runs an ensemble of real member processes on loopback for integration tests: start, kill -9, pause,
// restart, and always clean up. Waits are bounded polls on conditions, never fixed sleeps.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const synodCli = fileURLToPath(new URL('../../cli/synod.ts', import.meta.url));

export interface ClusterOptions {
  readonly size: number;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly snapshotEntries?: number;
  readonly extraArgs?: readonly string[];
  readonly env?: Record<string, string>;
}

export interface ProcessMember {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  process: ChildProcess | null;
  output: string;
}

/** Free TCP ports on loopback (bound and released; the window for a race is small). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<import('node:net').Server>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** Thrown by a `waitFor` condition when waiting longer cannot help (a process died): ends the wait at once. */
export class GiveUp extends Error {}

/** Polls `condition` every `intervalMs` until it returns a value other than undefined/false, or throws on timeout. */
export async function waitFor<T>(what: string, condition: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = await condition();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export class ProcessCluster {
  readonly members: ProcessMember[];
  readonly root: string;

  private constructor(
    readonly options: ClusterOptions,
    members: ProcessMember[],
    root: string,
  ) {
    this.members = members;
    this.root = root;
  }

  static async start(options: ClusterOptions): Promise<ProcessCluster> {
    const root = mkdtempSync(join(tmpdir(), 'synod-e2e-'));
    const ports = await freePorts(options.size * 2);
    const members: ProcessMember[] = Array.from({ length: options.size }, (_, i) => ({
      name: `n${i + 1}`,
      clientPort: ports[i]!,
      peerPort: ports[options.size + i]!,
      dataDir: join(root, `n${i + 1}`),
      process: null,
      output: '',
    }));
    const cluster = new ProcessCluster(options, members, root);
    try {
      await Promise.all(members.map((m) => cluster.launch(m)));
      await cluster.waitForLeader();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  get endpoints(): string[] {
    return this.members.map((m) => `127.0.0.1:${m.clientPort}`);
  }

  member(name: string): ProcessMember {
    const member = this.members.find((m) => m.name === name);
    if (member === undefined) throw new Error(`no member ${name}`);
    return member;
  }

  private initialCluster(): string {
    return this.members.map((m) => `${m.name}=127.0.0.1:${m.peerPort}`).join(',');
  }

  /** Starts a member process and waits until it listens. */
  async launch(member: ProcessMember): Promise<void> {
    const args = [
      '--import', 'tsx', synodCli, 'start',
      '--name', member.name,
      '--data-dir', member.dataDir,
      '--listen-client', `127.0.0.1:${member.clientPort}`,
      '--listen-peer', `127.0.0.1:${member.peerPort}`,
      '--initial-cluster', this.initialCluster(),
      ...(this.options.tickMs !== undefined ? ['--tick-ms', String(this.options.tickMs)] : []),
      ...(this.options.electionTicks !== undefined ? ['--election-ticks', String(this.options.electionTicks)] : []),
      ...(this.options.extraArgs ?? []),
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.options.env, ...(this.options.snapshotEntries ? { SYNOD_SNAPSHOT_ENTRIES: String(this.options.snapshotEntries) } : {}) } });
    member.process = child;
    member.output = '';
    const append = (chunk: Buffer): void => {
      member.output = (member.output + chunk.toString()).slice(-20_000);
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    child.on('exit', () => {
      if (member.process === child) member.process = null;
    });
    await waitFor(`${member.name} to listen`, () => member.output.includes('clients on') || (member.process === null ? Promise.reject(new Error(member.output)) : false), 20_000);
  }

  /** Fetches a member's /status (null when it does not answer). */
  async status(member: ProcessMember): Promise<{ role: string; leader: string | null; term: number; commit: number; applied: number; revision: number } | null> {
    try {
      const res = await fetch(`http://127.0.0.1:${member.clientPort}/status`, { signal: AbortSignal.timeout(1000) });
      return (await res.json()) as { role: string; leader: string | null; term: number; commit: number; applied: number; revision: number };
    } catch {
      return null;
    }
  }

  /** Waits until every running member agrees on one leader; returns its name. */
  async waitForLeader(timeoutMs = 15_000): Promise<string> {
    return waitFor('a leader agreed by every running member', async () => {
      const running = this.members.filter((m) => m.process !== null);
      const statuses = await Promise.all(running.map((m) => this.status(m)));
      const leaders = new Set(statuses.map((s) => s?.leader ?? null));
      if (leaders.size !== 1) return undefined;
      const [leader] = leaders;
      return leader !== null && leader !== undefined && running.some((m) => m.name === leader) ? leader : undefined;
    }, timeoutMs);
  }

  /** Sends a signal to a member's process (SIGKILL: kill -9; SIGSTOP/SIGCONT: pause/resume). */
  signal(name: string, signal: NodeJS.Signals): void {
    this.member(name).process?.kill(signal);
  }

  async kill(name: string): Promise<void> {
    const member = this.member(name);
    const child = member.process;
    if (child === null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    member.process = null;
  }

  async restart(name: string): Promise<void> {
    await this.launch(this.member(name));
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.members.map(async (m) => {
        const child = m.process;
        if (child === null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGCONT');
        child.kill('SIGKILL');
        await exited;
      }),
    );
    rmSync(this.root, { recursive: true, force: true });
  }
}
