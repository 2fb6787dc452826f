// The deterministic cluster simulator: RawNodes in one process, driven by one seeded generator through an
// event queue in simulated time. Members tick on their own (slightly drifting) clocks, messages cross a
// faulty network, a client proposes and reads, a nemesis injects faults, and the checkers look at every step.
// After the fault phase everything heals and the cluster must converge within a bound (liveness).

import {
  bootstrap,
  type ConfChange,
  type Entry,
  MemoryStorage,
  type Message,
  type NodeId,
  nodeId,
  type Random,
  RawNode,
  type Ready,
  type Role,
  seededRandom,
} from '../../server/raft/index.ts';
import { Checkers } from './checkers.ts';
import { Client, type PendingAck } from './client.ts';
import { type SimulationPoint, SimulationViolation } from './errors.ts';
import { EventQueue } from './event-queue.ts';
import { Nemesis } from './nemesis.ts';
import { calmNetwork, Network } from './network.ts';
import { between, type CrashPoint, crashPoints, type FaultKind, pick, resolveOptions, type ResolvedOptions, type SimOptions } from './options.ts';
import { type AppState, decodeState, emptyAppState, encodeState } from './state-machine.ts';
import { formatMessage } from './trace.ts';

/** What reaches a member: a peer's message, a client request, or an operator's command. */
export type NodeInput =
  | { readonly kind: 'message'; readonly message: Message }
  | { readonly kind: 'propose'; readonly id: number; readonly data: Uint8Array; readonly sentAt: number }
  | { readonly kind: 'read'; readonly context: number }
  | { readonly kind: 'confChange'; readonly change: ConfChange }
  | { readonly kind: 'transfer'; readonly target: NodeId }
  | { readonly kind: 'campaign' }
  /** The transport's hint that `peer`'s process is gone (its port refuses), true or not. */
  | { readonly kind: 'peerDown'; readonly peer: NodeId };

export type SimEvent =
  | { readonly kind: 'tick'; readonly node: SimNode }
  | { readonly kind: 'deliver'; readonly node: SimNode; readonly input: NodeInput }
  | { readonly kind: 'client' }
  | { readonly kind: 'nemesis' }
  | { readonly kind: 'membership' }
  | { readonly kind: 'churn'; readonly node: SimNode; readonly term: number }
  | { readonly kind: 'restart'; readonly node: SimNode; readonly incarnation: number }
  | { readonly kind: 'resume'; readonly node: SimNode; readonly pause: number }
  | { readonly kind: 'lift'; readonly condition: 'links' | 'loss' | 'duplicate' | 'longDelay'; readonly generation: number }
  | { readonly kind: 'heal' }
  | { readonly kind: 'check' };

/** One member: its durable storage survives crashes; everything else is rebuilt on restart. */
export class SimNode {
  raw: RawNode | null = null;
  state: AppState = emptyAppState();
  life: 'running' | 'crashed' | 'retired' = 'crashed';
  incarnation = 0;
  pause = 0;
  paused = false;
  inbox: NodeInput[] = [];
  armedCrash: CrashPoint | null = null;
  retireAfterReady = false;
  readonly pendingAcks = new Map<number, PendingAck>();
  waitingReads: { context: number; index: number }[] = [];
  /** Last observed role, term and commit of the running incarnation. */
  role: Role = 'follower';
  term = 0;
  commit = 0;

  constructor(
    readonly id: NodeId,
    readonly storage: MemoryStorage,
    readonly tickMs: number,
  ) {}

  get up(): boolean {
    return this.life === 'running' && !this.paused;
  }
}

export interface SimResult {
  readonly seed: number;
  readonly mix: string;
  readonly clusterSize: number;
  readonly steps: number;
  readonly simulatedMs: number;
  readonly ticks: number;
  readonly messagesSent: number;
  readonly messagesDelivered: number;
  readonly messagesDropped: number;
  readonly entriesCommitted: number;
  readonly proposals: number;
  readonly proposalsAcked: number;
  readonly readsServed: number;
  readonly leaderTerms: number;
  readonly snapshotsInstalled: number;
  readonly compactions: number;
  readonly restarts: number;
  readonly faults: Readonly<Record<FaultKind, number>>;
  /** Simulated time from the heal until the cluster converged. */
  readonly convergedMs: number;
}

/** Hard limits per run: a run that needs more events, or holds more in flight, is broken (a message storm). */
const stepsMax = 1_000_000;
const queuedEventsMax = 50_000;
/** Readies handled back to back for one input before the core is deemed to loop. */
const readiesPerInputMax = 1_000;

export class Simulation {
  readonly random: Random;
  readonly options: ResolvedOptions;
  readonly network: Network;
  readonly checkers: Checkers;
  readonly nodes = new Map<NodeId, SimNode>();
  private readonly queue = new EventQueue<SimEvent>();
  private readonly nemesis: Nemesis;
  readonly tracing: boolean;
  now = 0;
  step = 0;
  phase: 'faults' | 'liveness' | 'done' = 'faults';
  healedAt = 0;
  private nextNodeNumber = 1;
  private readonly client: Client;

  private readonly stats = {
    ticks: 0,
    messagesSent: 0,
    messagesDelivered: 0,
    messagesDropped: 0,
    snapshotsInstalled: 0,
    compactions: 0,
    restarts: 0,
  };

  constructor(options: SimOptions) {
    this.random = seededRandom(options.seed);
    this.options = resolveOptions(options, this.random);
    this.tracing = this.options.trace !== null;
    this.network = new Network(this.random, this.options.harnessBugs.neverRedial === true);
    this.network.conditions = { ...calmNetwork, longDelayMinMs: this.options.mix.longDelayMs[0], longDelayMaxMs: this.options.mix.longDelayMs[1] };
    this.checkers = new Checkers(this.options.checkers, () => this.point());
    this.nemesis = new Nemesis(this);
    this.client = new Client(this);
  }

  point(): SimulationPoint {
    return { seed: this.options.seed, step: this.step, timeMs: Math.round(this.now * 100) / 100 };
  }

  /** Runs to convergence; throws SimulationViolation on the first broken invariant. */
  run(): SimResult {
    const o = this.options;
    this.trace('sim', `seed ${o.seed} mix=${o.mix.name} size=${o.clusterSize} raft=${JSON.stringify(o.raft)} compact=${o.compactEntries}/${o.compactKeep}`);
    const voters: NodeId[] = [];
    for (let i = 0; i < o.clusterSize; i++) voters.push(this.newNodeId());
    for (const id of voters) {
      const storage = new MemoryStorage();
      bootstrap(storage, voters);
      this.checkers.observePersisted(id, storage.hardState().term, null, storage.hardState().commit);
      this.addNode(id, storage);
    }
    this.schedule(between(this.random, o.mix.clientGapMs), { kind: 'client' });
    this.schedule(between(this.random, o.mix.gapMs), { kind: 'nemesis' });
    this.schedule(o.faultMs, { kind: 'heal' });
    try {
      this.loop();
    } catch (error) {
      if (error instanceof SimulationViolation) throw error;
      // The core threw (an invariant of its own, most likely): a finding, unless that checker is off.
      const frame = error instanceof Error ? error.stack?.split('\n')[1]?.trim() : undefined;
      const text = error instanceof Error ? `${error.name}: ${error.message}${frame === undefined ? '' : ` (${frame})`}` : String(error);
      this.trace('sim', `THREW ${text}`);
      if (this.options.checkers.has('coreError')) throw new SimulationViolation('coreError', this.point(), text, { cause: error });
    }
    return this.result();
  }

  private loop(): void {
    while (this.phase !== 'done') {
      const next = this.queue.pop();
      if (next === undefined) return this.stuck('the event queue ran dry');
      this.now = next.time;
      this.step++;
      if (this.step > stepsMax) return this.stuck(`more than ${stepsMax} events`);
      if (this.queue.size > queuedEventsMax) return this.stuck(`message storm: more than ${queuedEventsMax} events queued`);
      this.handle(next.item);
    }
  }

  private handle(event: SimEvent): void {
    switch (event.kind) {
      case 'tick':
        this.tick(event.node);
        return;
      case 'deliver':
        this.deliver(event.node, event.input);
        return;
      case 'client':
        this.client.act();
        return;
      case 'nemesis':
        if (this.phase !== 'faults') return;
        this.nemesis.act();
        this.schedule(between(this.random, this.options.mix.gapMs), { kind: 'nemesis' });
        return;
      case 'membership':
        // A round under way when the faults stop still finishes (it is ordinary operation, not a fault).
        this.nemesis.membershipStep();
        return;
      case 'churn':
        if (this.phase === 'faults') this.nemesis.churn(event.node, event.term);
        return;
      case 'restart':
        if (event.node.incarnation === event.incarnation && this.phase === 'faults') this.restart(event.node);
        return;
      case 'resume':
        if (event.node.pause === event.pause) this.resume(event.node);
        return;
      case 'lift':
        this.nemesis.lift(event.condition, event.generation);
        return;
      case 'heal':
        this.heal();
        return;
      case 'check':
        this.checkConvergence();
        return;
    }
  }

  schedule(delayMs: number, event: SimEvent): void {
    this.queue.push(this.now + delayMs, event);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Members

  newNodeId(): NodeId {
    return nodeId(`n${this.nextNodeNumber++}`);
  }

  /** Starts a member on `storage` (bootstrapped, or empty for a member joining later). */
  addNode(id: NodeId, storage: MemoryStorage): SimNode {
    const drift = 0.97 + this.random.float() * 0.06;
    const node = new SimNode(id, storage, this.options.tickMs * drift);
    this.nodes.set(id, node);
    this.start(node);
    this.schedule(this.random.float() * node.tickMs, { kind: 'tick', node });
    return node;
  }

  private start(node: SimNode): void {
    const o = this.options;
    const snapshot = node.storage.snapshot();
    node.state = snapshot.metadata.index === 0 ? emptyAppState() : decodeState(snapshot.data);
    this.checkers.restore(node.id, 0, snapshot, node.state);
    node.raw = new RawNode({
      id: node.id,
      storage: node.storage,
      random: seededRandom(this.random.int(0x100000000)),
      ...o.raft,
      applied: snapshot.metadata.index,
      bugs: o.bugs,
    });
    node.life = 'running';
    node.role = 'follower';
    node.term = node.storage.hardState().term;
    node.commit = node.storage.hardState().commit;
    this.trace(node.id, `start term=${node.term} commit=${node.commit} snapshot=${snapshot.metadata.index} log=${node.storage.firstIndex()}..${node.storage.lastIndex()}`);
    this.afterInput(node);
  }

  /** Stops a member at once: whatever it had not persisted is lost. It restarts later (at once after the heal). */
  crash(node: SimNode, why: string): void {
    if (!this.stop(node, why)) return;
    // Most peers' transports notice the dead process (a refused redial) within a few milliseconds.
    for (const peer of this.runningNodes()) {
      if (peer !== node && this.random.float() < 0.7) this.schedule(1 + this.random.float() * 20, { kind: 'deliver', node: peer, input: { kind: 'peerDown', peer: node.id } });
    }
    if (this.phase === 'faults') {
      this.schedule(between(this.random, this.options.mix.downMs), { kind: 'restart', node, incarnation: node.incarnation });
    } else {
      this.restart(node);
    }
  }

  restart(node: SimNode): void {
    if (node.life !== 'crashed') return;
    this.stats.restarts++;
    this.start(node);
  }

  /** Stops a member for good (after it applied its own removal). */
  /** Stops a removed member for good (it may be down already). */
  retire(node: SimNode, why = 'retired after applying its removal'): void {
    if (node.life === 'crashed') {
      node.life = 'retired';
      node.incarnation++;
      this.trace(node.id, `RETIRE while down (${why})`);
    } else if (this.stop(node, why)) {
      node.life = 'retired';
    }
  }

  private stop(node: SimNode, why: string): boolean {
    if (node.life !== 'running') return false;
    node.raw = null;
    node.life = 'crashed';
    node.incarnation++;
    node.paused = false;
    node.pause++;
    node.inbox = [];
    node.armedCrash = null;
    node.retireAfterReady = false;
    node.role = 'follower';
    this.checkers.forgetLive(node.id);
    this.client.forget(node);
    this.trace(node.id, `STOP (${why})`);
    return true;
  }

  pauseNode(node: SimNode, durationMs: number): void {
    if (!node.up) return;
    node.paused = true;
    node.pause++;
    this.trace(node.id, `PAUSE for ${durationMs.toFixed(0)}ms`);
    this.schedule(durationMs, { kind: 'resume', node, pause: node.pause });
  }

  private resume(node: SimNode): void {
    if (!node.paused) return;
    node.paused = false;
    const inbox = node.inbox;
    node.inbox = [];
    this.trace(node.id, `RESUME with ${inbox.length} inputs queued`);
    inbox.forEach((input, i) => this.schedule(0.001 * (i + 1), { kind: 'deliver', node, input }));
  }

  /** The believed leader: an up member that last reported leading, in the highest term. */
  leaderNode(): SimNode | null {
    let best: SimNode | null = null;
    for (const node of this.nodes.values()) {
      if (node.up && node.role === 'leader' && (best === null || node.term > best.term)) best = node;
    }
    return best;
  }

  /** Members that are not retired. */
  liveNodes(): SimNode[] {
    const out: SimNode[] = [];
    for (const node of this.nodes.values()) if (node.life !== 'retired') out.push(node);
    return out;
  }

  runningNodes(): SimNode[] {
    const out: SimNode[] = [];
    for (const node of this.nodes.values()) if (node.life === 'running') out.push(node);
    return out;
  }

  /** An operator's or client's input, reaching `node` after a short hop. */
  sendInput(node: SimNode, input: NodeInput): void {
    this.schedule(0.5 + this.random.float() * 3, { kind: 'deliver', node, input });
  }

  // ---------------------------------------------------------------------------------------------------------
  // Inputs and the Ready loop

  private tick(node: SimNode): void {
    if (node.life === 'retired') return;
    this.schedule(node.tickMs, { kind: 'tick', node });
    if (!node.up) return;
    this.stats.ticks++;
    node.raw!.tick();
    this.afterInput(node);
  }

  private deliver(node: SimNode, input: NodeInput): void {
    if (node.life !== 'running') {
      if (input.kind === 'message') this.drop(input.message, 'down');
      return;
    }
    if (node.paused) {
      node.inbox.push(input);
      return;
    }
    const raw = node.raw!;
    switch (input.kind) {
      case 'message': {
        const m = input.message;
        if (!this.network.connected(m.from, m.to)) {
          this.drop(m, 'partition');
          return;
        }
        this.stats.messagesDelivered++;
        if (this.tracing) this.trace(node.id, `recv ${formatMessage(m)}`);
        raw.step(m);
        break;
      }
      case 'propose':
        this.client.proposed(node, input, raw.propose(input.data));
        break;
      case 'read':
        if (!raw.readIndex(input.context)) {
          this.client.readDropped(node, input.context);
        } else {
          this.trace(node.id, `read ${input.context} requested`);
        }
        break;
      case 'confChange': {
        const result = raw.proposeConfChange(input.change);
        this.trace(node.id, `conf change ${input.change.type} ${input.change.node}: ${result.status}${result.status === 'dropped' ? ` (${result.reason})` : ''}`);
        break;
      }
      case 'transfer':
        this.trace(node.id, `transfer leadership to ${input.target}`);
        raw.transferLeadership(input.target);
        break;
      case 'campaign':
        this.trace(node.id, 'campaign');
        raw.campaign();
        break;
      case 'peerDown':
        this.trace(node.id, `hint: ${input.peer} is down`);
        raw.reportPeerDown(input.peer);
        break;
    }
    this.afterInput(node);
  }

  /** After any input: check the member's status, then handle Readies until it has none. */
  private afterInput(node: SimNode): void {
    this.observe(node);
    const raw = node.raw;
    if (raw === null) return;
    let readies = 0;
    while (node.raw === raw && raw.hasReady()) {
      if (++readies > readiesPerInputMax) throw new SimulationViolation('coreError', this.point(), `${node.id} keeps producing Readies`);
      this.handleReady(node, raw, raw.ready());
    }
    if (node.retireAfterReady && node.raw === raw) this.retire(node);
  }

  private observe(node: SimNode): void {
    const raw = node.raw;
    if (raw === null) return;
    const status = raw.status();
    this.checkers.checkApplied(node.id, status.applied, node.state);
    if (this.checkers.observeStatus(status, node.storage)) {
      this.trace(node.id, `LEADER of term ${status.term}`);
      if (this.phase === 'faults') this.nemesis.newLeader(node, status.term);
    }
    if (this.tracing && (status.role !== node.role || status.term !== node.term)) {
      this.trace(node.id, `role ${status.role} term ${status.term} leader=${status.leader ?? '-'}`);
    }
    node.role = status.role;
    node.term = status.term;
  }

  private handleReady(node: SimNode, raw: RawNode, ready: Ready): void {
    let crash: CrashPoint | null = null;
    if (node.armedCrash !== null && (ready.hardState !== null || ready.entries.length > 0 || ready.snapshot !== null)) {
      crash = node.armedCrash;
      node.armedCrash = null;
    } else if (this.phase === 'faults' && this.grantsVote(ready) && this.random.float() < this.options.mix.voterCrashRate) {
      crash = pick(this.random, crashPoints);
      this.countFault('crashMidReady', `${node.id} in the Ready that grants a vote, ${crash}`);
    }
    const early = this.options.harnessBugs.sendBeforePersist === true;
    if (early) this.sendAll(node, ready.messages);
    if (crash === 'beforePersist') return this.crash(node, 'mid-Ready, before persisting');
    this.persist(node, ready);
    if (crash === 'afterPersist') return this.crash(node, 'mid-Ready, after persisting, before sending');
    if (!early) {
      if (crash === 'midSend') {
        this.sendAll(node, ready.messages.slice(0, this.random.int(ready.messages.length + 1)));
        return this.crash(node, 'mid-Ready, while sending');
      }
      this.sendAll(node, ready.messages);
    }
    if (crash === 'afterSend') return this.crash(node, 'mid-Ready, after sending, before applying');
    if (!this.applyReady(node, ready, crash === 'midApply')) return;
    for (const readState of ready.readStates) this.client.readState(node, readState.context, readState.index);
    raw.advance(ready);
    this.maybeCompact(node, raw);
  }

  private grantsVote(ready: Ready): boolean {
    for (const m of ready.messages) if (m.type === 'voteResponse' && !m.reject) return true;
    return false;
  }

  private persist(node: SimNode, ready: Ready): void {
    const storage = node.storage;
    if (ready.snapshot !== null) storage.applySnapshot(ready.snapshot);
    const first = ready.entries[0];
    if (first !== undefined) {
      storage.append(ready.entries);
      const previousTerm = storage.term((first.index - 1) as Entry['index']);
      if (previousTerm !== null) this.checkers.observeEntries(`${node.id}'s log`, first.index - 1, previousTerm, ready.entries);
    }
    const hard = ready.hardState;
    if (hard !== null) {
      const bugs = this.options.harnessBugs;
      const previous = storage.hardState();
      const written = bugs.skipVotePersist === true ? { ...hard, vote: null } : hard;
      storage.setHardState(written);
      this.checkers.observePersisted(node.id, written.term, written.vote, written.commit);
      if (bugs.staleHardStateWrite === true && this.random.float() < 0.2) {
        storage.setHardState(previous);
        this.checkers.observePersisted(node.id, previous.term, previous.vote, previous.commit);
      }
      if (hard.commit > node.commit) {
        if (this.tracing) this.trace(node.id, `commit ${hard.commit}`);
        this.checkers.observeCommit(node.id, node.commit, hard.commit, storage, this.leaders(), hard.term);
        node.commit = hard.commit;
      }
    }
  }

  private *leaders(): Iterable<{ id: NodeId; term: number; storage: MemoryStorage }> {
    for (const node of this.nodes.values()) {
      if (node.life === 'running' && node.role === 'leader') yield { id: node.id, term: node.term, storage: node.storage };
    }
  }

  private sendAll(node: SimNode, messages: readonly Message[]): void {
    for (const m of messages) {
      this.stats.messagesSent++;
      this.checkers.observeSend(m, node.storage);
      if (m.type === 'append' && m.entries.length > 0) this.checkers.observeEntries(`append ${m.from}->${m.to}`, m.index, m.logTerm, m.entries);
      const target = this.nodes.get(m.to);
      const plan = this.network.plan(m.from, m.to);
      if (typeof plan === 'string' || target === undefined) {
        this.drop(m, typeof plan === 'string' ? plan : 'down');
        continue;
      }
      for (const delay of plan) this.schedule(delay, { kind: 'deliver', node: target, input: { kind: 'message', message: m } });
      if (plan.length > 1 && this.tracing) this.trace(m.from, `DUPLICATE ${formatMessage(m)}`);
    }
  }

  private drop(m: Message, cause: string): void {
    this.stats.messagesDropped++;
    if (this.tracing) this.trace(m.to, `drop (${cause}) ${formatMessage(m)}`);
  }

  /** Applies the Ready's snapshot and committed entries; false when an armed crash struck midway. */
  private applyReady(node: SimNode, ready: Ready, crashMidway: boolean): boolean {
    const snapshot = ready.snapshot;
    if (snapshot !== null) {
      const previous = node.state.applied;
      node.state = decodeState(snapshot.data);
      this.checkers.restore(node.id, previous, snapshot, node.state);
      this.stats.snapshotsInstalled++;
      this.client.snapshotInstalled(node, snapshot.metadata.index);
      this.trace(node.id, `install snapshot ${snapshot.metadata.index}/${snapshot.metadata.term} (${snapshot.data.byteLength} bytes)`);
    }
    const entries = ready.committedEntries;
    const cut = crashMidway ? this.random.int(entries.length + 1) : -1;
    for (let i = 0; i < entries.length; i++) {
      if (i === cut) {
        this.crash(node, `mid-Ready, after applying ${i} of ${entries.length} entries`);
        return false;
      }
      const entry = entries[i]!;
      this.checkers.apply(node.id, node.state, entry);
      this.applied(node, entry);
    }
    if (cut === entries.length) {
      this.crash(node, 'mid-Ready, after applying, before advance');
      return false;
    }
    this.client.serveWaitingReads(node);
    return true;
  }

  private applied(node: SimNode, entry: Entry): void {
    this.client.applied(node, entry);
    if (entry.kind === 'config') {
      this.trace(node.id, `apply ${entry.change.type} ${entry.change.node} at ${entry.index}`);
      if (entry.change.type === 'removeNode' && entry.change.node === node.id && this.random.float() < 0.75) node.retireAfterReady = true;
    }
  }

  private maybeCompact(node: SimNode, raw: RawNode): void {
    if (node.state.applied - (node.storage.firstIndex() - 1) >= this.options.compactEntries) this.compact(node, raw);
  }

  /** Snapshots the applied state and drops the log up to it (keeping `compactKeep` entries). */
  compact(node: SimNode, raw: RawNode): void {
    const storage = node.storage;
    const applied = node.state.applied;
    if (applied <= storage.snapshot().metadata.index) return;
    storage.createSnapshot(applied as Entry['index'], raw.status().confState, encodeState(node.state));
    const to = Math.max(storage.firstIndex() - 1, applied - this.options.compactKeep);
    storage.compact(to as Entry['index']);
    this.stats.compactions++;
    this.trace(node.id, `snapshot at ${applied}, log now ${storage.firstIndex()}..${storage.lastIndex()}`);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Heal and liveness

  private heal(): void {
    this.phase = 'liveness';
    this.healedAt = this.now;
    this.trace('sim', 'HEAL: faults stop, links heal, crashed members restart');
    this.network.healLinks();
    this.network.conditions = { ...calmNetwork };
    for (const node of this.nodes.values()) {
      node.armedCrash = null;
      if (node.paused) this.resume(node);
      if (node.life === 'crashed') this.restart(node);
    }
    this.schedule(this.options.tickMs, { kind: 'check' });
  }

  private checkConvergence(): void {
    const lag = this.lagging();
    if (lag === null) {
      this.phase = 'done';
      this.trace('sim', `converged ${(this.now - this.healedAt).toFixed(0)}ms after the heal`);
      return;
    }
    if (this.now - this.healedAt > this.options.livenessMs) {
      return this.stuck(`not converged ${this.options.livenessMs}ms after the heal: ${lag}`);
    }
    this.schedule(this.options.tickMs, { kind: 'check' });
  }

  /** The run cannot go on or did not converge: a liveness violation, or just the end when that checker is off. */
  private stuck(why: string): void {
    this.phase = 'done';
    this.trace('sim', `STUCK: ${why}`);
    if (this.options.checkers.has('liveness')) throw new SimulationViolation('liveness', this.point(), why);
  }

  /** Why the cluster has not converged yet, or null when it has. */
  private lagging(): string | null {
    const leader = this.leaderNode();
    if (leader === null) return 'no leader';
    const client = this.client;
    if (client.finalAckIndex === 0) return 'no proposal made after the heal was acknowledged';
    if (!client.finalReadServed) return 'no read made after the heal was served';
    const target = Math.max(client.finalAckIndex, client.ackedMaxIndex);
    const conf = leader.raw!.status().confState;
    for (const id of [...conf.voters, ...conf.learners]) {
      const node = this.nodes.get(id);
      if (node === undefined || !node.up) return `member ${id} is not up`;
      if (node.state.applied < target) return `member ${id} applied ${node.state.applied} of ${target} (leader ${leader.id})`;
    }
    return null;
  }

  // ---------------------------------------------------------------------------------------------------------

  trace(who: string, text: string): void {
    const sink = this.options.trace;
    if (sink === null) return;
    sink.line(`${this.now.toFixed(3).padStart(10)} #${String(this.step).padEnd(7)} ${who.padEnd(4)} ${text}`);
  }

  countFault(kind: FaultKind, text: string): void {
    this.nemesis.counts[kind]++;
    this.trace('nem', `FAULT ${kind}: ${text}`);
  }

  private result(): SimResult {
    return {
      seed: this.options.seed,
      mix: this.options.mix.name,
      clusterSize: this.options.clusterSize,
      steps: this.step,
      simulatedMs: Math.round(this.now),
      ticks: this.stats.ticks,
      messagesSent: this.stats.messagesSent,
      messagesDelivered: this.stats.messagesDelivered,
      messagesDropped: this.stats.messagesDropped,
      entriesCommitted: this.checkers.committedIndex,
      proposals: this.client.proposals,
      proposalsAcked: this.client.ackedCount,
      readsServed: this.client.readsServed,
      leaderTerms: this.checkers.leaderTerms,
      snapshotsInstalled: this.stats.snapshotsInstalled,
      compactions: this.stats.compactions,
      restarts: this.stats.restarts,
      faults: { ...this.nemesis.counts },
      convergedMs: Math.round(this.now - this.healedAt),
    };
  }
}

/** Runs one seed. */
export function simulate(options: SimOptions): SimResult {
  return new Simulation(options).run();
}
