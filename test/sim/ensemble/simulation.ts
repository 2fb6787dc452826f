// One run of the whole-node simulation: N complete members (Raft core, WAL on a simulated disk, state machine,
// runtime) and M SDK clients in one process under one seeded scheduler. A fault phase injects faults while the
// workloads run; then everything heals and the ensemble must converge and serve every client within a bound;
// then the checkers judge what happened. The same seed gives the same run (the trace hash shows it).

import { seededRandom } from '../../../server/raft/random.ts';
import { Client, SynodError, text } from '../../../sdk/index.ts';
import { HistoryRecorder } from '../../check/index.ts';
import { isStorageError } from '../../../server/storage/errors.ts';
import { TraceHasher } from '../trace.ts';
import { EnsembleCheckers, EnsembleViolation } from './checkers.ts';
import { SimClient, emptyRecords, type ClientContext, type ClientProcess, type WorkloadRecords } from './clients.ts';
import { defaultDiskLatency } from './disk.ts';
import { SimMember, simEndpoint, simPeerAddress, type SimMemberContext } from './member.ts';
import { Nemesis } from './nemesis.ts';
import { SimNetwork } from './network.ts';
import { resolveEnsembleOptions, type CheckerName, type EnsembleOptions, type FaultKind, type ResolvedEnsembleOptions } from './options.ts';
import { Owner, Scheduler } from './scheduler.ts';

export interface EnsembleResult {
  readonly seed: number;
  readonly clusterSize: number;
  readonly simulatedMs: number;
  readonly steps: number;
  readonly traceHash: string;
  readonly operations: number;
  readonly watchEvents: number;
  readonly lockGrants: number;
  readonly staleWritesRejected: number;
  readonly unfencedStaleWrites: number;
  readonly sessionsExpired: number;
  readonly sequentialCreates: number;
  readonly applied: number;
  readonly leaderTerms: number;
  readonly restarts: number;
  readonly faults: Readonly<Record<FaultKind, number>>;
}

export interface EnsembleFailure {
  readonly seed: number;
  readonly checker: CheckerName;
  readonly message: string;
  /** The offending operations, readable. */
  readonly report: string;
}

/** Runs one seed; throws EnsembleViolation (with the checker's name) on the first broken guarantee. */
export function simulateEnsemble(options: EnsembleOptions): Promise<EnsembleResult> {
  return new EnsembleRun(options).run();
}

const lockName = 'sim/one';

class EnsembleRun {
  readonly random;
  readonly options: ResolvedEnsembleOptions;
  readonly scheduler: Scheduler;
  readonly network: SimNetwork;
  readonly checkers: EnsembleCheckers;
  readonly members: SimMember[] = [];
  readonly clients: SimClient[] = [];
  readonly records: WorkloadRecords = emptyRecords();
  readonly recorder: HistoryRecorder;
  private readonly hasher = new TraceHasher();
  private readonly nemesis: Nemesis;
  private readonly memberContext: SimMemberContext;
  private readonly clientContext: ClientContext;
  private admin: Client | null = null;
  private phase: 'setup' | 'faults' | 'liveness' | 'done' = 'setup';
  private restarts = 0;
  private membershipRound = false;
  private nextMember = 0;

  constructor(private readonly input: EnsembleOptions) {
    this.random = seededRandom(input.seed);
    this.options = resolveEnsembleOptions(input, this.random);
    this.scheduler = new Scheduler(this.random);
    this.network = new SimNetwork(this.scheduler, this.random, this.options.latencyMs);
    if (input.traceClients !== undefined) this.network.frameTrace = { clients: new Set(input.traceClients), trace: (who, line) => this.trace(who, line) };
    this.checkers = new EnsembleCheckers(this.options.checkers, () => this.scheduler.now);
    this.recorder = new HistoryRecorder({ nowMs: () => this.scheduler.now });
    this.memberContext = {
      scheduler: this.scheduler,
      network: this.network,
      random: this.random,
      settings: this.options.settings,
      latency: defaultDiskLatency,
      observer: (name) => {
        const checking = this.checkers.observer(name, () => this.member(name).incarnation);
        return {
          ...checking,
          roleChanged: (role, leader, term) => {
            checking.roleChanged(role, leader, term);
            if (role === 'leader') this.onLeaderElected(name);
          },
        };
      },
      plantedBugs: this.options.bugs.runtime ?? {},
      raftTuning: this.options.raft,
      peerDownRate: 0.8,
      trace: (who, line) => this.trace(who, line),
      onStopped: (member, error) => this.onMemberStopped(member, error),
      onVoteSent: (member, candidate, term) => this.checkers.voteDurable(member.name, member.disk.cloneDurable(), candidate, term),
      onCrashAfterVote: (member) => this.scheduler.at(this.random.float(), () => this.crashAndRestart(member, 'after a vote', 1 + this.random.float() * 30)),
    };
    this.clientContext = {
      spawn: (name) => this.spawnClient(name),
      now: () => this.scheduler.now,
      random: this.random,
      endpoints: [],
      recorder: this.recorder,
      records: this.records,
      keys: this.options.keys,
      sessionTtlMs: this.options.sessionTtlMs,
      requestTimeoutMs: 1_500,
      plantedBugs: this.options.bugs.sdk ?? {},
      trace: (who, line) => this.trace(who, line),
      running: () => this.phase === 'faults' || this.phase === 'liveness',
    };
    this.nemesis = new Nemesis({
      scheduler: this.scheduler,
      network: this.network,
      random: this.random,
      options: this.options,
      members: () => this.members,
      clients: () => this.clients,
      leader: () => this.leader(),
      restartLater: (member, ms) => this.scheduler.at(ms, () => this.restart(member)),
      restartClientLater: (client, ms) => this.scheduler.at(ms, () => client.running || this.phase === 'done' || client.start()),
      startMembershipRound: () => void this.membershipRoundOnce(),
      transferLeadership: () => void this.transfer(),
      armLeaderChurn: () => (this.churnLeaders = 1 + this.random.int(3)),
      trace: (who, line) => this.trace(who, line),
    });
  }

  /** A simulated client process: its own owner (so it can die or pause), clock and sockets. */
  private spawnClient(name: string): ClientProcess {
    const owner = new Owner(name);
    const scheduler = this.scheduler;
    return {
      deps: { clock: scheduler.clientClock(owner), random: { int: (bound) => this.random.int(bound) }, connect: this.network.socketFactory(name, owner) },
      crash: () => {
        owner.alive = false;
        this.network.detachClient(name);
      },
      pause: () => void (owner.paused = true),
      resume: () => {
        if (owner.paused) scheduler.resume(owner);
      },
      get paused() {
        return owner.paused;
      },
    };
  }

  trace(who: string, line: string): void {
    const text = `${this.scheduler.now.toFixed(3).padStart(10)} ${who.padEnd(8)} ${line}`;
    this.hasher.line(text);
    this.input.trace?.(text);
  }

  member(name: string): SimMember {
    const member = this.members.find((m) => m.name === name);
    if (member === undefined) throw new Error(`no member ${name}`);
    return member;
  }

  leader(): SimMember | null {
    let best: SimMember | null = null;
    let bestTerm = -1;
    for (const m of this.members) {
      const status = m.member?.consensus.status();
      if (status?.role === 'leader' && status.term > bestTerm && !m.paused) {
        best = m;
        bestTerm = status.term;
      }
    }
    return best;
  }

  // --- the run -----------------------------------------------------------------------------------------------

  async run(): Promise<EnsembleResult> {
    const o = this.options;
    this.trace('sim', `seed ${o.seed}: ${o.clusterSize} members, ${JSON.stringify(o.settings)}, clients ${o.clients.join(',')}`);
    const names = Array.from({ length: o.clusterSize }, () => `n${++this.nextMember}`);
    for (const name of names) this.members.push(new SimMember(name, names, false, this.memberContext));
    (this.clientContext.endpoints as string[]).push(...names.map(simEndpoint));
    for (const member of this.members) void member.start();
    await this.setup();
    this.phase = 'faults';
    o.clients.forEach((workload, i) => {
      const client = new SimClient(`c${i + 1}`, workload, this.clientContext);
      this.clients.push(client);
      client.start();
    });
    this.scheduleFaults();
    this.scheduleInvariantChecks();
    await this.runUntil(o.faultMs);
    this.heal();
    const healedAt = this.scheduler.now;
    // Liveness: every workload process completes an operation after the heal, within the bound.
    await this.runUntil(healedAt + o.livenessMs, () => this.clients.every((c) => (this.records.progress.get(c.name) ?? 0) > healedAt));
    this.checkLiveness(healedAt);
    this.phase = 'done';
    const finalState = await this.finalReads();
    return this.judge(finalState);
  }

  /** Runs the scheduler; stops at the first violation the observers found, and throws it. */
  private async runUntil(untilMs: number, stop: () => boolean = () => false): Promise<void> {
    await this.scheduler.run(untilMs, () => this.checkers.violation !== null || stop());
    if (this.checkers.violation !== null) throw this.checkers.violation;
  }

  /** Creates the folders the workloads use, before any fault. */
  private async setup(): Promise<void> {
    const owner = new Owner('admin');
    this.admin = new Client({
      endpoints: this.clientContext.endpoints,
      clientId: 'admin',
      requestTimeoutMs: 2_000,
      backoffMinMs: 5,
      backoffMaxMs: 100,
      stallTimeoutMs: 300,
      deps: { clock: this.scheduler.clientClock(owner), random: this.random, connect: this.network.socketFactory('admin', owner) },
    });
    let done = false;
    const admin = this.admin;
    void (async () => {
      for (const path of ['/kv', '/seq', '/eph']) {
        for (;;) {
          try {
            await admin.create(path, '');
            break;
          } catch (error) {
            if (error instanceof SynodError && error.code === 'exists') break;
          }
        }
      }
      done = true;
    })();
    await this.runUntil(10_000, () => done);
    if (!done) throw new EnsembleViolation('liveness', 'the ensemble did not serve a write within 10 s of starting');
    this.trace('sim', 'setup done');
  }

  private scheduleFaults(): void {
    const [lo, hi] = this.options.faultGapMs;
    const next = (): void => {
      if (this.phase !== 'faults') return;
      this.nemesis.act();
      this.scheduler.at(lo + this.random.float() * (hi - lo), next);
    };
    this.scheduler.at(lo + this.random.float() * (hi - lo), next);
  }

  private scheduleInvariantChecks(): void {
    const check = (): void => {
      if (this.phase === 'done') return;
      for (const m of this.members) if (m.member !== null && !m.paused) this.checkers.checkTree(m.name, m.member.app.machine);
      this.scheduler.at(250, check);
    };
    this.scheduler.at(250, check);
  }

  /** The faults stop: links heal, paused processes resume, crashed ones restart. */
  private heal(): void {
    this.phase = 'liveness';
    this.network.heal();
    for (const m of this.members) {
      m.resume();
      m.crashAfterVote = false;
      if (!m.running && m.inCluster) this.restart(m);
    }
    for (const c of this.clients) {
      c.resume();
      if (!c.running) c.start();
    }
    this.trace('sim', 'HEAL');
  }

  private restart(member: SimMember): void {
    if (member.up && !member.running) this.trace(member.name, 'still recovering: no second start');
    if (member.up || !member.inCluster || member.broken !== null) return;
    this.restarts++;
    void member.start();
  }

  private crashAndRestart(member: SimMember, why: string, restartAfterMs = 5 + this.random.float() * 200): void {
    if (!member.running) return;
    this.trace('nemesis', `crash ${member.name} (${why})`);
    member.crash();
    this.scheduler.at(restartAfterMs, () => this.restart(member));
  }

  /** Armed by the nemesis: the next 1-3 members to become leader crash within 30 ms each (figure 8's soil). */
  private churnLeaders = 0;

  private onLeaderElected(name: string): void {
    if (this.churnLeaders === 0 || this.phase !== 'faults') return;
    this.churnLeaders--;
    const member = this.member(name);
    this.scheduler.at(this.random.float() * 30, () => this.crashAndRestart(member, 'right after its election', 1 + this.random.float() * 100));
  }

  private onMemberStopped(member: SimMember, error: Error | null): void {
    if (error === null) {
      member.inCluster = false; // removed: it stopped for good
      return;
    }
    // Only a disk error may stop a member (it refuses to go on without its promises kept); anything else is a
    // broken invariant of the code.
    if (!isStorageError(error)) this.checkers.internalError(member.name, error);
    // The process exits; an operator (or systemd) starts it again.
    member.disk.crash(this.random);
    this.scheduler.at(5 + this.random.float() * 100, () => this.restart(member));
  }

  // --- membership and leadership through the API -------------------------------------------------------------

  private async membershipRoundOnce(): Promise<void> {
    if (this.membershipRound || this.admin === null || this.members.filter((m) => m.inCluster).length >= 6) return;
    this.membershipRound = true;
    const admin = this.admin;
    const name = `n${++this.nextMember}`;
    const voters = this.members.filter((m) => m.inCluster).map((m) => m.name);
    const joining = new SimMember(name, voters, true, this.memberContext);
    this.members.push(joining);
    this.trace('nemesis', `membership: add ${name} as a learner`);
    if (!(await this.retry(() => admin.addMember(name, simPeerAddress(name), simEndpoint(name))))) return;
    joining.inCluster = true;
    void joining.start();
    (this.clientContext.endpoints as string[]).push(simEndpoint(name));
    // Promote once it caught up (the leader refuses nothing: Raft takes care of a lagging voter too).
    await this.until(() => (joining.member?.consensus.applied ?? 0) > 0 || this.phase !== 'faults');
    if (!(await this.retry(() => admin.promoteMember(name)))) return;
    this.trace('nemesis', `membership: ${name} promoted`);
    const victim = this.members.filter((m) => m.inCluster && m.name !== name)[this.random.int(voters.length)];
    if (victim === undefined) return;
    if (await this.retry(() => admin.removeMember(victim.name))) {
      // It stops by itself once a majority of the others applied its removal (never restarted from here on).
      this.trace('nemesis', `membership: ${victim.name} removed`);
      victim.inCluster = false;
    }
  }

  private async transfer(): Promise<void> {
    const leader = this.leader();
    const voters = leader?.member?.consensus.status().confState.voters.filter((v) => v !== leader.name) ?? [];
    const target = voters[this.random.int(voters.length)];
    if (leader === null || target === undefined || this.admin === null) return;
    this.trace('nemesis', `transfer leadership ${leader.name} -> ${target}`);
    await this.admin.moveLeader(target).catch(() => {});
  }

  /** Retries an admin call during the fault phase; true once it succeeded. */
  private async retry(call: () => Promise<void>): Promise<boolean> {
    while (this.phase === 'faults' || this.phase === 'liveness') {
      try {
        await call();
        return true;
      } catch (error) {
        this.trace('admin', `call failed: ${error instanceof Error ? error.message : String(error)}`);
        if (error instanceof SynodError && error.code === 'exists') return true;
        await new Promise<void>((resolve) => this.scheduler.at(50, resolve));
      }
    }
    return false;
  }

  private async until(condition: () => boolean): Promise<void> {
    while (!condition()) await new Promise<void>((resolve) => this.scheduler.at(20, resolve));
  }

  // --- judgement ----------------------------------------------------------------------------------------------

  /** After the heal, every workload process completed an operation within the bound. */
  private checkLiveness(healedAt: number): void {
    if (!this.options.checkers.has('liveness')) return;
    const stuck = this.clients.filter((c) => (this.records.progress.get(c.name) ?? 0) <= healedAt);
    if (stuck.length > 0) {
      // Each member's own view: a stall is often members that disagree on the configuration.
      const members = this.members
        .map((m) => {
          if (m.broken !== null) return `${m.name}:broken`;
          const status = m.member?.consensus.status();
          if (status === undefined) return `${m.name}:${m.inCluster ? 'down' : 'out'}`;
          return `${m.name}:${m.inCluster ? '' : 'removed '}${status.role} (term ${status.term}, last ${status.lastIndex}, commit ${status.commit}, voters ${status.confState.voters.join(',')}, learners ${status.confState.learners.join(',') || '-'})`;
        })
        .join('; ');
      const clients = stuck.map((c) => `${c.name}(${c.workload}, last progress ${(this.records.progress.get(c.name) ?? 0).toFixed(0)} ms, ${c.describe()})`).join('; ');
      this.checkers.liveness(`no progress within ${this.options.livenessMs} ms after the heal for ${clients}; members ${members}`);
    }
  }

  /** Reads the final state with a fresh client: every key (into the history) and the sequential nodes. */
  private async finalReads(): Promise<{ sequential: string[] | null }> {
    const owner = new Owner('final');
    const client = new Client({
      endpoints: this.clientContext.endpoints,
      clientId: 'final',
      requestTimeoutMs: 3_000,
      backoffMinMs: 5,
      backoffMaxMs: 100,
      stallTimeoutMs: 300,
      deps: { clock: this.scheduler.clientClock(owner), random: this.random, connect: this.network.socketFactory('final', owner) },
    });
    let sequential: string[] | null = null;
    void (async () => {
      for (const key of this.options.keys) {
        const pending = this.recorder.invoke('final', { op: 'get', key });
        const node = await client.get(`/kv/${key}`).catch((error: unknown) => (error instanceof SynodError && error.code === 'not_found' ? null : Promise.reject(error)));
        pending.complete({ status: 'ok', result: node === null ? { op: 'get', found: false } : { op: 'get', found: true, value: text(node.data), version: node.stat.version } });
      }
      const payloads: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await client.range('/seq', { limit: 1000, ...(after !== undefined ? { after } : {}) });
        for (const node of page.nodes) if (node.path !== '/seq') payloads.push(text(node.data));
        if (!page.more) break;
        after = page.nodes[page.nodes.length - 1]!.path;
      }
      sequential = payloads;
    })().catch((error: unknown) => this.trace('final', `reads failed: ${String(error)}`));
    await this.runUntil(this.scheduler.now + 5_000, () => sequential !== null);
    if (sequential === null) {
      if (this.options.checkers.has('liveness')) this.checkers.liveness('the final reads did not complete within 5 s');
      return { sequential: null };
    }
    return { sequential };
  }

  private judge(final: { sequential: string[] | null }): EnsembleResult {
    const { operations } = this.checkers.linearizability(this.recorder.history());
    const watches = this.checkers.watches(this.records);
    const sessions = this.checkers.sessions(this.records);
    const locks = this.checkers.locks(this.records, `/synod/locks/${lockName}`);
    const creates = final.sequential === null ? { creates: 0 } : this.checkers.idempotency(this.records, final.sequential);
    return {
      seed: this.options.seed,
      clusterSize: this.options.clusterSize,
      simulatedMs: this.scheduler.now,
      steps: this.scheduler.steps,
      traceHash: this.hasher.digest(),
      operations,
      watchEvents: watches.events,
      lockGrants: locks.grants,
      staleWritesRejected: locks.rejected,
      unfencedStaleWrites: locks.unfencedStale,
      sessionsExpired: sessions.expired,
      sequentialCreates: creates.creates,
      applied: this.checkers.stats.applied,
      leaderTerms: this.checkers.stats.leaderTerms,
      restarts: this.restarts,
      faults: { ...this.nemesis.counts },
    };
  }
}
