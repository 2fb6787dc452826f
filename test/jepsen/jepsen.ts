// A Jepsen-style run against real member processes: the whole-node simulation's workloads (through the SDK,
// over real sockets) run while a nemesis kills (-9), pauses (SIGSTOP), partitions (through the peer proxies),
// bounces (rolling restarts) and replaces members; then everything heals, the ensemble must serve every client
// again, and the same checkers judge the recorded histories against the ensemble's own event history.

import { Client, SynodError, text, type WatchEvent } from '../../sdk/index.ts';
import { systemDeps, webSocketFactory, type ClientSocket, type Deps } from '../../sdk/deps.ts';
import { seededRandom, type Random } from '../../server/raft/random.ts';
import { HistoryRecorder } from '../check/index.ts';
import { EnsembleCheckers, EnsembleViolation } from '../sim/ensemble/checkers.ts';
import { SimClient, emptyRecords, type ClientContext, type ClientProcess, type Workload } from '../sim/ensemble/clients.ts';
import type { CheckerName } from '../sim/ensemble/options.ts';
import { shuffle } from '../sim/nemesis.ts';
import { JepsenCluster, type JepsenMember } from './cluster.ts';

export interface JepsenOptions {
  readonly durationMs: number;
  readonly size: 3 | 5;
  readonly seed: number;
  /** Faults go on past `durationMs` until this many kinds were injected (a slow machine takes longer). */
  readonly faultKindsMin?: number;
  readonly log?: (line: string) => void;
}

export interface JepsenResult {
  readonly operations: number;
  readonly watchEvents: number;
  readonly lockGrants: number;
  readonly staleWritesRejected: number;
  readonly unfencedStaleWrites: number;
  readonly sessionsExpired: number;
  readonly sequentialCreates: number;
  readonly revisions: number;
  readonly faults: Record<string, number>;
  /** Violations found (empty: none). */
  readonly anomalies: readonly { checker: CheckerName; message: string; report: string }[];
}

const workloads: readonly Workload[] = ['kv', 'kv', 'kv', 'kv', 'sequential', 'watch', 'watch', 'lock', 'lock', 'lock', 'session', 'session'];
/** Every kind of fault, drawn in turn. */
const faultKinds = ['kill', 'killLeader', 'pause', 'partition', 'isolateLeader', 'oneWay', 'bounce', 'membership', 'crashClient'] as const;
type FaultKind = (typeof faultKinds)[number];

export async function runJepsen(options: JepsenOptions): Promise<JepsenResult> {
  const log = options.log ?? (() => {});
  const random = seededRandom(options.seed);
  // Short sessions so pauses outlive them; the whole history kept, so every stream can be checked against it.
  const cluster = await JepsenCluster.start({
    size: options.size,
    env: { SYNOD_SESSION_TTL_MIN_MS: '300', SYNOD_HISTORY_REVISIONS: '5000000', SYNOD_HISTORY_EVENTS: '5000000', SYNOD_SNAPSHOT_ENTRIES: '5000' },
    log,
  });
  const run = new JepsenRun(cluster, random, options, log);
  try {
    return await run.run();
  } finally {
    await run.closeClients();
    await cluster.stop();
  }
}

class JepsenRun {
  private readonly started = performance.now();
  readonly recorder = new HistoryRecorder({ nowMs: () => this.now() });
  readonly records = emptyRecords();
  readonly checkers: EnsembleCheckers;
  private readonly clients: SimClient[] = [];
  private readonly extraClients: Client[] = [];
  private workloadsRunning = true;
  private readonly faults: Record<string, number> = {};
  private readonly anomalies: { checker: CheckerName; message: string; report: string }[] = [];

  constructor(
    private readonly cluster: JepsenCluster,
    private readonly random: Random,
    private readonly options: JepsenOptions,
    private readonly log: (line: string) => void,
  ) {
    // Everything but the checks that need a view inside the members (the simulation's observers).
    this.checkers = new EnsembleCheckers(new Set<CheckerName>(['linearizability', 'revisions', 'watches', 'sessions', 'locks', 'idempotency']), () => this.now());
  }

  /** The SDK's clock (performance.now): session heartbeat times and every record share it. */
  private now(): number {
    return performance.now();
  }

  /** Seconds since the run started, for the log. */
  private clock(): string {
    return `${((performance.now() - this.started) / 1000).toFixed(1)}s`;
  }

  private client(clientId: string, deps: Deps = systemDeps): Client {
    const client = new Client({ endpoints: this.cluster.endpoints, clientId, requestTimeoutMs: 5_000, backoffMinMs: 10, backoffMaxMs: 200, stallTimeoutMs: 2_000, deps });
    this.extraClients.push(client);
    return client;
  }

  async run(): Promise<JepsenResult> {
    const admin = this.client('admin');
    for (const path of ['/kv', '/seq', '/eph']) await admin.create(path, '').catch((e: unknown) => (e instanceof SynodError && e.code === 'exists' ? null : Promise.reject(e)));
    const monitor = this.watchExpiries();
    const cluster = this.cluster;
    const context: ClientContext = {
      get endpoints() {
        return cluster.endpoints;
      },
      spawn: (_name, process) => this.spawn(process),
      now: () => this.now(),
      random: this.random,
      recorder: this.recorder,
      records: this.records,
      keys: ['k0', 'k1', 'k2', 'k3', 'k4'],
      sessionTtlMs: [300, 800],
      requestTimeoutMs: 5_000,
      plantedBugs: {},
      trace: () => {},
      running: () => this.workloadsRunning,
    };
    workloads.forEach((workload, i) => {
      const client = new SimClient(`c${i + 1}`, workload, context);
      this.clients.push(client);
      client.start();
    });
    await this.nemesis(admin);
    await this.heal();
    const healedAt = this.now();
    await this.waitForProgress(healedAt);
    this.workloadsRunning = false;
    await sleep(500);
    monitor.abort();
    return this.judge(admin);
  }

  /**
   * A client process inside this one: its sockets and timers die with it (otherwise the SDK clients of every
   * process crashed so far would go on redialling to the end of the run, and keep this one alive after it).
   */
  private spawn(name: string): ClientProcess {
    const sockets = new Set<ClientSocket>();
    const timers = new Set<NodeJS.Timeout>();
    let dead = false;
    return {
      deps: {
        ...systemDeps,
        clock: {
          ...systemDeps.clock,
          setTimeout: (callback, delayMs) => {
            if (dead) return { handle: null }; // never runs (clearing it is a no-op)
            const handle = setTimeout(() => (timers.delete(handle), callback()), delayMs);
            timers.add(handle);
            return { handle };
          },
          clearTimeout: (timer) => {
            clearTimeout(timer.handle as NodeJS.Timeout);
            timers.delete(timer.handle as NodeJS.Timeout);
          },
          defer: (callback) => void setImmediate(() => dead || callback()),
        },
        connect: (url, events, options) => {
          if (dead) return { send: () => {}, terminate: () => {}, close: () => {} }; // a dead process opens nothing
          const socket = webSocketFactory(url, { ...events, onClose: () => (sockets.delete(socket), dead || events.onClose()) }, options);
          sockets.add(socket);
          return socket;
        },
      },
      crash: () => {
        dead = true;
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        for (const socket of sockets) socket.terminate();
      },
      pause: () => {},
      resume: () => {},
      paused: false,
    };
  }

  /** Sees every ephemeral node's deletion, and when (an upper bound on when its session expired). */
  private watchExpiries(): AbortController {
    const controller = new AbortController();
    const monitor = this.client('monitor');
    void (async () => {
      for await (const item of monitor.watch('/eph', { recursive: true, signal: controller.signal })) {
        if (item.type !== 'delete' || item.stat.ephemeralOwner === 0) continue;
        if (!this.checkers.expiredAt.has(item.stat.ephemeralOwner)) this.checkers.expiredAt.set(item.stat.ephemeralOwner, this.now());
      }
    })().catch(() => {});
    return controller;
  }

  // --- the nemesis -----------------------------------------------------------------------------------------

  private pick<T>(items: readonly T[]): T | undefined {
    return items[this.random.int(items.length)];
  }

  private async nemesis(admin: Client): Promise<void> {
    const end = performance.now() + this.options.durationMs;
    const kindsMin = this.options.faultKindsMin ?? 0;
    // Every kind once per round, in a seeded order, so that even a short run meets many of them.
    let round: FaultKind[] = [];
    while (performance.now() < end || Object.keys(this.faults).length < kindsMin) {
      await sleep(300 + this.random.int(1200));
      if (round.length === 0) round = shuffle(this.random, faultKinds);
      const kind = round.pop()!;
      try {
        if (await this.inject(kind, admin)) this.faults[kind] = (this.faults[kind] ?? 0) + 1;
      } catch (error) {
        this.log(`nemesis ${kind} failed: ${String(error)}`);
      }
    }
  }

  private async inject(kind: FaultKind, admin: Client): Promise<boolean> {
    const cluster = this.cluster;
    const running = cluster.running();
    const holdMs = 300 + this.random.int(2500);
    switch (kind) {
      case 'kill':
      case 'killLeader': {
        const victim = kind === 'killLeader' ? await cluster.leader() : this.pick(running);
        if (victim === null || victim === undefined) return false;
        this.log(`${this.clock()} kill -9 ${victim.name}`);
        await cluster.kill(victim);
        await sleep(holdMs);
        await cluster.restart(victim);
        return true;
      }
      case 'pause': {
        const victim = this.pick(running);
        if (victim === undefined) return false;
        this.log(`${this.clock()} SIGSTOP ${victim.name} for ${holdMs} ms`);
        cluster.pause(victim);
        await sleep(holdMs);
        cluster.resume(victim);
        return true;
      }
      case 'partition':
      case 'isolateLeader': {
        const leader = kind === 'isolateLeader' ? await cluster.leader() : null;
        const side = leader !== null ? [leader] : running.filter(() => this.random.float() < 0.5);
        if (side.length === 0 || side.length === running.length) return false;
        this.log(`${this.clock()} partition [${side.map((m) => m.name).join(',')}] | rest for ${holdMs} ms`);
        cluster.partition(side);
        await sleep(holdMs);
        cluster.healNetwork();
        return true;
      }
      case 'oneWay': {
        const [a, b] = [this.pick(running), this.pick(running)];
        if (a === undefined || b === undefined || a === b) return false;
        this.log(`${this.clock()} cut ${a.name} -> ${b.name} for ${holdMs} ms`);
        cluster.cut(a, b);
        await sleep(holdMs);
        cluster.healNetwork();
        return true;
      }
      case 'bounce': {
        const victim = this.pick(running);
        if (victim === undefined) return false;
        this.log(`${this.clock()} rolling restart of ${victim.name}`);
        await cluster.bounce(victim);
        return true;
      }
      case 'membership':
        return this.replaceMember(admin);
      case 'crashClient': {
        // A client process dies: its sessions must expire after their TTL (not before), its locks pass on.
        const victim = this.pick(this.clients.filter((c) => c.running));
        if (victim === undefined) return false;
        this.log(`${this.clock()} client ${victim.process} dies`);
        victim.crash();
        await sleep(holdMs);
        if (this.workloadsRunning) victim.start();
        return true;
      }
    }
  }

  /**
   * Adds a member (learner, then voter) and removes another, through the API, as an operator would. Half the
   * time the one added is one removed earlier, under its old name with fresh data.
   */
  private async replaceMember(admin: Client): Promise<boolean> {
    const cluster = this.cluster;
    if (cluster.members.filter((m) => m.inCluster).length > this.options.size) return false;
    const removed = cluster.members.filter((m) => !m.inCluster && m.process === null);
    const again = this.random.float() < 0.5 ? this.pick(removed) : undefined;
    const joiner = await cluster.prepareJoiner(again);
    this.log(`${this.clock()} add ${joiner.name}${again !== undefined ? ' again' : ''} as a learner`);
    // Each change is resent through the faults, as an operator would: a resent add that finds the member
    // added, or a resent removal that finds it gone, had succeeded the first time.
    await untilDone(() => admin.addMember(joiner.name, `127.0.0.1:${joiner.proxy.port}`, `127.0.0.1:${joiner.clientPort}`, { retry: true }), 'exists');
    await cluster.launchJoiner(joiner);
    await waitUntil(async () => ((await cluster.status(joiner))?.applied ?? 0) > 0, 30_000);
    await untilDone(() => admin.promoteMember(joiner.name, { retry: true }));
    const victim = this.pick(cluster.running().filter((m) => m !== joiner));
    if (victim === undefined) return true;
    this.log(`${this.clock()} ${joiner.name} promoted; remove ${victim.name}`);
    await untilDone(() => admin.removeMember(victim.name, { retry: true }), 'not_found');
    if (!(await cluster.retire(victim))) this.log(`${this.clock()} ${victim.name} did not stop by itself within 30 s of its removal: killed`);
    return true;
  }

  // --- after the faults ------------------------------------------------------------------------------------

  private async heal(): Promise<void> {
    this.cluster.healNetwork();
    for (const member of this.cluster.members) {
      this.cluster.resume(member);
      if (member.inCluster && member.process === null) await this.cluster.restart(member);
    }
    await this.cluster.waitForLeader(60_000);
    this.log(`${this.clock()} healed`);
  }

  /** Liveness: every workload process completes an operation within 30 s of the heal. */
  private async waitForProgress(healedAt: number): Promise<void> {
    const progressed = (): boolean => this.clients.every((c) => (this.records.progress.get(c.name) ?? 0) > healedAt);
    const reached = await waitUntil(async () => progressed(), 30_000);
    if (!reached) {
      const stuck = this.clients.filter((c) => (this.records.progress.get(c.name) ?? 0) <= healedAt).map((c) => `${c.name}(${c.workload}: ${c.describe()})`);
      this.anomalies.push({ checker: 'liveness', message: `no progress within 30 s of the heal for ${stuck.join(', ')}`, report: '' });
    }
  }

  /**
   * Reads the final state and the ensemble's whole event history, then runs every checker. A cluster that
   * cannot answer those reads after the heal fails liveness, and there is nothing to judge the rest against.
   */
  private async judge(admin: Client): Promise<JepsenResult> {
    let finalState: { revisions: number; payloads: string[] };
    try {
      finalState = await this.readFinalState(admin);
    } catch (error) {
      if (!(error instanceof SynodError)) throw error;
      this.anomalies.push({ checker: 'liveness', message: `the final state could not be read after the heal: ${error.message}`, report: '' });
      return { operations: 0, watchEvents: 0, lockGrants: 0, staleWritesRejected: 0, unfencedStaleWrites: 0, sessionsExpired: 0, sequentialCreates: 0, revisions: 0, faults: this.faults, anomalies: this.anomalies };
    }
    const { revisions, payloads } = finalState;
    const check = (run: () => void): void => {
      try {
        run();
      } catch (error) {
        if (!(error instanceof EnsembleViolation)) throw error;
        this.anomalies.push({ checker: error.checker, message: error.message, report: error.report });
      }
    };
    let operations = 0;
    let watchEvents = 0;
    let expired = 0;
    let locks = { grants: 0, rejected: 0, unfencedStale: 0 };
    check(() => void (operations = this.checkers.linearizability(this.recorder.history()).operations));
    check(() => void (watchEvents = this.checkers.watches(this.records).events));
    check(() => void (expired = this.checkers.sessions(this.records).expired));
    check(() => void (locks = this.checkers.locks(this.records, '/synod/locks/sim/one')));
    check(() => void this.checkers.idempotency(this.records, payloads));
    return {
      operations,
      watchEvents,
      lockGrants: locks.grants,
      staleWritesRejected: locks.rejected,
      unfencedStaleWrites: locks.unfencedStale,
      sessionsExpired: expired,
      sequentialCreates: payloads.length,
      revisions,
      faults: this.faults,
      anomalies: this.anomalies,
    };
  }

  /** The final value of every key (recorded as reads), the revisions replayed and the sequential payloads. */
  private async readFinalState(admin: Client): Promise<{ revisions: number; payloads: string[] }> {
    const finalRevision = (await admin.range('/kv', { limit: 1 })).revision;
    for (const key of ['k0', 'k1', 'k2', 'k3', 'k4']) {
      const pending = this.recorder.invoke('final', { op: 'get', key });
      const node = await admin.get(`/kv/${key}`).catch((e: unknown) => (e instanceof SynodError && e.code === 'not_found' ? null : Promise.reject(e)));
      pending.complete({ status: 'ok', result: node === null ? { op: 'get', found: false } : { op: 'get', found: true, value: text(node.data), version: node.stat.version } });
    }
    return { revisions: await this.loadHistory(admin, finalRevision), payloads: await this.sequentialPayloads(admin) };
  }

  /** Every event from revision 1 to `until`, replayed by a watch: the authoritative history. */
  private async loadHistory(admin: Client, until: number): Promise<number> {
    const events = new Map<number, WatchEvent[]>();
    const controller = new AbortController();
    for await (const item of admin.watch('/', { recursive: true, fromRevision: 1, progress: true, signal: controller.signal })) {
      if (item.type === 'progress') {
        if (item.revision >= until) break;
        continue;
      }
      if (item.type === 'initial') continue;
      let list = events.get(item.revision);
      if (list === undefined) events.set(item.revision, (list = []));
      list.push(item);
      if (item.revision >= until) break;
    }
    controller.abort();
    for (const [revision, list] of events) this.checkers.events.set(revision, list as never);
    return events.size;
  }

  private async sequentialPayloads(admin: Client): Promise<string[]> {
    const payloads: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await admin.range('/seq', { limit: 1000, ...(after !== undefined ? { after } : {}) });
      for (const node of page.nodes) if (node.path !== '/seq') payloads.push(text(node.data));
      if (!page.more) return payloads;
      after = page.nodes[page.nodes.length - 1]!.path;
    }
  }

  async closeClients(): Promise<void> {
    this.workloadsRunning = false;
    for (const c of this.clients) c.crash();
    await Promise.all(this.extraClients.map((c) => c.close().catch(() => {})));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs a cluster change until it is done (or `doneCode` says it was done before), for up to a minute. */
async function untilDone(change: () => Promise<void>, doneCode?: string): Promise<void> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    try {
      await change();
      return;
    } catch (error) {
      if (error instanceof SynodError && error.code === doneCode) return;
      if (performance.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await condition().catch(() => false)) return true;
    await sleep(50);
  }
  return false;
}

export type { JepsenMember };
