// A real ensemble for fault runs: each member an OS process on loopback, with a fault-injecting proxy in front
// of its peer port (every other member reaches it through the proxy, so links can be cut one way or both).
// Faults: kill -9, SIGSTOP/SIGCONT, partitions, rolling restarts, removal of a member and the addition of a
// fresh one. Every process and directory is cleaned up; every wait is bounded.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts, waitFor } from '../e2e/harness.ts';
import { PeerProxy } from './proxy.ts';

const synodCli = fileURLToPath(new URL('../../cli/synod.ts', import.meta.url));

export interface JepsenMember {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly proxy: PeerProxy;
  readonly dataDir: string;
  process: ChildProcess | null;
  paused: boolean;
  /** Part of the cluster (removed members are not). */
  inCluster: boolean;
  output: string;
}

export interface JepsenClusterOptions {
  readonly size: 3 | 5;
  /** Extra SYNOD_* settings for every member. */
  readonly env?: Record<string, string>;
  /** Where a member that exited by itself is reported. */
  readonly log?: (line: string) => void;
}

export class JepsenCluster {
  readonly members: JepsenMember[] = [];
  private readonly root = mkdtempSync(join(tmpdir(), 'synod-jepsen-'));
  private nextName = 0;

  private constructor(private readonly options: JepsenClusterOptions) {}

  static async start(options: JepsenClusterOptions): Promise<JepsenCluster> {
    const cluster = new JepsenCluster(options);
    try {
      const members = await Promise.all(Array.from({ length: options.size }, () => cluster.newMember()));
      await Promise.all(members.map((m) => cluster.launch(m, false)));
      await cluster.waitForLeader();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  private async newMember(): Promise<JepsenMember> {
    const [clientPort, peerPort] = await freePorts(2);
    const name = `n${++this.nextName}`;
    const proxy = new PeerProxy(name, peerPort!);
    await proxy.listen(0);
    const member: JepsenMember = { name, clientPort: clientPort!, peerPort: peerPort!, proxy, dataDir: join(this.root, name), process: null, paused: false, inCluster: true, output: '' };
    this.members.push(member);
    return member;
  }

  get endpoints(): string[] {
    return this.members.filter((m) => m.inCluster).map((m) => `127.0.0.1:${m.clientPort}`);
  }

  member(name: string): JepsenMember {
    const member = this.members.find((m) => m.name === name);
    if (member === undefined) throw new Error(`no member ${name}`);
    return member;
  }

  /** Peers reach each member through its proxy. */
  private initialCluster(members: readonly JepsenMember[]): string {
    return members.map((m) => `${m.name}=127.0.0.1:${m.proxy.port}`).join(',');
  }

  private async launch(member: JepsenMember, join: boolean): Promise<void> {
    await member.proxy.listen();
    const initial = join ? this.members.filter((m) => m.inCluster) : this.members;
    const args = [
      '--import', 'tsx', synodCli, 'start',
      '--name', member.name,
      '--data-dir', member.dataDir,
      '--listen-client', `127.0.0.1:${member.clientPort}`,
      '--listen-peer', `127.0.0.1:${member.peerPort}`,
      '--initial-cluster', this.initialCluster(initial),
      ...(join ? ['--join'] : []),
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.options.env } });
    member.process = child;
    member.paused = false;
    member.output = '';
    const append = (chunk: Buffer): void => {
      member.output = (member.output + chunk.toString()).slice(-20_000);
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    child.on('exit', (code, signal) => {
      if (member.process === child) member.process = null;
      // Killed (a signal), stopped by SIGTERM or retired after its removal (0): expected. A fatal error is news.
      if (signal === null && code !== 0) this.options.log?.(`${member.name} exited with status ${code}:\n${member.output.slice(-3_000)}`);
    });
    await waitFor(`${member.name} to listen`, () => member.output.includes('clients on') || (member.process === null ? Promise.reject(new Error(member.output)) : false), 30_000);
  }

  async status(member: JepsenMember): Promise<{ role: string; leader: string | null; term: number; applied: number; commit: number } | null> {
    try {
      const res = await fetch(`http://127.0.0.1:${member.clientPort}/status`, { signal: AbortSignal.timeout(1000) });
      return (await res.json()) as { role: string; leader: string | null; term: number; applied: number; commit: number };
    } catch {
      return null;
    }
  }

  running(): JepsenMember[] {
    return this.members.filter((m) => m.process !== null && m.inCluster);
  }

  async leader(): Promise<JepsenMember | null> {
    for (const member of this.running()) {
      if (member.paused) continue;
      if ((await this.status(member))?.role === 'leader') return member;
    }
    return null;
  }

  /** Waits until every running member names the same, running leader. */
  async waitForLeader(timeoutMs = 30_000): Promise<string> {
    let last = '';
    try {
      return await waitFor('a leader every running member names', async () => {
        const running = this.running().filter((m) => !m.paused);
        const statuses = await Promise.all(running.map((m) => this.status(m)));
        last = running.map((m, i) => `${m.name}: ${JSON.stringify(statuses[i])}`).join('; ');
        const leaders = new Set(statuses.map((s) => s?.leader ?? null));
        const [leader] = leaders;
        return leaders.size === 1 && leader !== null && leader !== undefined && running.some((m) => m.name === leader) ? leader : undefined;
      }, timeoutMs);
    } catch (error) {
      // What each member said last, and its last words: a stalled election is read from these.
      const outputs = this.running().map((m) => `--- ${m.name}\n${m.output.slice(-2_000)}`).join('\n');
      throw new Error(`${(error as Error).message}\nmembers: ${last}\n${outputs}`);
    }
  }

  // --- faults ---------------------------------------------------------------------------------------------

  async kill(member: JepsenMember): Promise<void> {
    const child = member.process;
    if (child === null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
    member.process = null;
    member.paused = false;
    await member.proxy.close();
  }

  async restart(member: JepsenMember): Promise<void> {
    if (member.process !== null || !member.inCluster) return;
    await this.launch(member, false);
  }

  /** Graceful stop (SIGTERM: it hands leadership over first) and start again. */
  async bounce(member: JepsenMember): Promise<void> {
    const child = member.process;
    if (child === null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    member.process = null;
    member.paused = false;
    await member.proxy.close();
    await this.launch(member, false);
  }

  pause(member: JepsenMember): void {
    if (member.process === null || member.paused) return;
    member.process.kill('SIGSTOP');
    member.paused = true;
  }

  resume(member: JepsenMember): void {
    if (member.process === null || !member.paused) return;
    member.process.kill('SIGCONT');
    member.paused = false;
  }

  /** Cuts the link from `from` to `to` (one way). */
  cut(from: JepsenMember, to: JepsenMember): void {
    to.proxy.setCut(from.name, true);
  }

  /** Splits the members into two sides that cannot hear each other. */
  partition(side: readonly JepsenMember[]): void {
    for (const a of this.members) {
      for (const b of this.members) {
        if (a !== b && side.includes(a) !== side.includes(b)) this.cut(a, b);
      }
    }
  }

  healNetwork(): void {
    for (const member of this.members) member.proxy.healAll();
  }

  /**
   * A member to join as a learner and promote (the caller drives the API): a new one with a fresh name and
   * data, or `again`, a removed one added back under its name with its data wiped, as a fresh machine's.
   */
  async prepareJoiner(again?: JepsenMember): Promise<JepsenMember> {
    if (again !== undefined) {
      if (again.inCluster || again.process !== null) throw new Error(`${again.name} is not a stopped, removed member`);
      rmSync(again.dataDir, { recursive: true, force: true });
      again.output = '';
      return again;
    }
    const member = await this.newMember();
    member.inCluster = false;
    return member;
  }

  async launchJoiner(member: JepsenMember): Promise<void> {
    member.inCluster = true;
    await this.launch(member, true);
  }

  /**
   * A removed member stops by itself once most of the others applied its removal; it is killed here if it
   * has not within 30 s (or was paused). Returns false when it had to be killed.
   */
  async retire(member: JepsenMember): Promise<boolean> {
    member.inCluster = false;
    const stopped = await waitFor(`${member.name} to stop after its removal`, () => member.process === null || member.paused || undefined, 30_000).then(
      () => true,
      () => false,
    );
    await this.kill(member);
    return stopped;
  }

  /** Ends every process and removes every file. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => this.kill(m)));
    await Promise.all(this.members.map((m) => m.proxy.close()));
    rmSync(this.root, { recursive: true, force: true });
  }
}
