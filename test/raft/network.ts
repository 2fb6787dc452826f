// An in-memory cluster for tests of the Raft core: members by id, each Ready handled in the caller protocol's
// order (persist, send, apply, advance), and a FIFO message queue that can cut, isolate, crash and filter, in
// the style of etcd-io/raft's test network. Every run is deterministic: each member's Random comes from the seed.

import {
  MemoryStorage,
  RawNode,
  bootstrap,
  logIndex,
  nodeId,
  seededRandom,
  term,
  type ConfChange,
  type Entry,
  type Message,
  type MessageType,
  type NodeId,
  type ProposeResult,
  type RaftConfigInput,
  type RaftStatus,
  type ReadState,
  type Ready,
  type Snapshot,
  type Term,
} from '../../server/raft/index.ts';

/** Everything of a RawNode's configuration except what the network supplies itself. */
export type NodeOptions = Omit<RaftConfigInput, 'id' | 'storage' | 'random'>;

export interface NetworkOptions {
  /** Members whose logs bootstrap() fills with this initial membership. */
  readonly voters: readonly NodeId[];
  readonly seed?: number;
  /** Configuration shared by every member. */
  readonly config?: NodeOptions;
  /** Per-member overrides, on top of `config`. */
  readonly configFor?: (id: NodeId) => NodeOptions;
  /** Called with each member's storage after bootstrap and before its RawNode is made, to give it a prepared log. */
  readonly prepare?: (id: NodeId, storage: MemoryStorage) => void;
}

/**
 * Returns the message to deliver (possibly rewritten, as if changed in transit) or null to drop it.
 * Held messages can be put back later with `enqueue`.
 */
export type MessageFilter = (message: Message) => Message | null;

export type NetworkEvent =
  | { readonly kind: 'send'; readonly message: Message }
  | { readonly kind: 'deliver'; readonly message: Message }
  | { readonly kind: 'drop'; readonly message: Message };

export interface Member {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  readonly options: NodeOptions;
  node: RawNode;
  up: boolean;
  /** How many times this member has been started; mixed into its Random seed. */
  starts: number;
  /** The replicated state machine: the text of every applied non-empty normal entry, in log order. */
  state: string[];
  appliedIndex: number;
  /** ReadStates the member has served, in order. */
  readonly readStates: ReadState[];
}

const deliveriesMax = 200_000;
const readiesPerFlushMax = 1_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const bytes = (text: string): Uint8Array => encoder.encode(text);
export const text = (data: Uint8Array): string => decoder.decode(data);
export const ids = (...names: string[]): NodeId[] => names.map(nodeId);

/** A type guard for one message type, for `filter` and `find` over the message log. */
export function ofType<T extends MessageType>(type: T): (m: Message) => m is Message & { readonly type: T } {
  return (m: Message): m is Message & { readonly type: T } => m.type === type;
}

/** The index of an appended proposal; throws (failing the test) for any other result. */
export function appendedIndex(result: ProposeResult): number {
  if (result.status !== 'appended') throw new Error(`proposal not appended: ${JSON.stringify(result)}`);
  return result.index;
}

export function encodeState(state: readonly string[]): Uint8Array {
  return bytes(JSON.stringify(state));
}

export function decodeState(data: Uint8Array): string[] {
  if (data.byteLength === 0) return [];
  const parsed: unknown = JSON.parse(text(data));
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) {
    throw new Error('snapshot data is not a list of strings');
  }
  return parsed;
}

/** A normal entry, for hand-made append messages and prepared logs. */
export function entry(index: number, t: number, data = ''): Entry {
  return { kind: 'normal', term: term(t), index: logIndex(index), data: bytes(data) };
}

/** Appends normal entries with the given terms after the storage's last entry (for prepared logs). */
export function appendTerms(storage: MemoryStorage, terms: readonly number[]): void {
  const first = storage.lastIndex() + 1;
  storage.append(terms.map((t, i) => entry(first + i, t, `t${t}@${first + i}`)));
}

export class Network {
  readonly members = new Map<NodeId, Member>();
  /** Messages sent and not yet delivered, oldest first. */
  readonly queue: Message[] = [];
  /** Every send, delivery and drop, in order: what tests count and order-check. */
  readonly events: NetworkEvent[] = [];
  /** Every Ready handled, with its member, in order. */
  readonly readyLog: { readonly id: NodeId; readonly ready: Ready }[] = [];
  filter: MessageFilter | null = null;

  private readonly seed: number;
  private readonly cuts = new Set<string>();
  /** The first entry applied at each index by any member: State Machine Safety says all others must agree. */
  private readonly appliedAt = new Map<number, Entry>();

  constructor(private readonly options: NetworkOptions) {
    this.seed = options.seed ?? 1;
    for (const id of options.voters) {
      const storage = new MemoryStorage();
      bootstrap(storage, [...options.voters]);
      options.prepare?.(id, storage);
      this.start(id, storage);
    }
  }

  /** Adds a member with an empty log and no membership of its own (to be added by a configuration change). */
  add(id: NodeId): Member {
    return this.start(id, new MemoryStorage());
  }

  member(id: NodeId): Member {
    const member = this.members.get(id);
    if (member === undefined) throw new Error(`no member ${id}`);
    return member;
  }

  node(id: NodeId): RawNode {
    return this.member(id).node;
  }

  status(id: NodeId): RaftStatus {
    return this.member(id).node.status();
  }

  state(id: NodeId): readonly string[] {
    return this.member(id).state;
  }

  readStates(id: NodeId): readonly ReadState[] {
    return this.member(id).readStates;
  }

  /** Term of the persisted entry at `index` on `id`, null when absent or compacted. */
  termAt(id: NodeId, index: number): Term | null {
    return this.member(id).storage.term(logIndex(index));
  }

  lastTerm(id: NodeId): Term {
    const storage = this.member(id).storage;
    const t = storage.term(storage.lastIndex());
    if (t === null) throw new Error(`${id} has no term for its last index`);
    return t;
  }

  /** The live leader with the highest term, if any. */
  leader(): NodeId | null {
    let best: { id: NodeId; term: number } | null = null;
    for (const member of this.members.values()) {
      if (!member.up) continue;
      const status = member.node.status();
      if (status.role === 'leader' && (best === null || status.term > best.term)) best = { id: member.id, term: status.term };
    }
    return best?.id ?? null;
  }

  upIds(): NodeId[] {
    return [...this.members.values()].filter((m) => m.up).map((m) => m.id);
  }

  propose(id: NodeId, data: string): ProposeResult {
    return this.node(id).propose(bytes(data));
  }

  proposeConfChange(id: NodeId, change: ConfChange): ProposeResult {
    return this.node(id).proposeConfChange(change);
  }

  // --- links ---------------------------------------------------------------------------------------------

  /** Drops every message from `from` to `to` (one direction). */
  drop(from: NodeId, to: NodeId): void {
    this.cuts.add(`${from}->${to}`);
  }

  /** Drops every message between `a` and `b`, both ways. */
  cut(a: NodeId, b: NodeId): void {
    this.drop(a, b);
    this.drop(b, a);
  }

  /** Cuts `id` off from every other member, present and future. */
  isolate(id: NodeId): void {
    this.cuts.add(`${id}->*`);
    this.cuts.add(`*->${id}`);
  }

  /** Restores every link (the filter stays). */
  heal(): void {
    this.cuts.clear();
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cuts.has(`${from}->${to}`) || this.cuts.has(`${from}->*`) || this.cuts.has(`*->${to}`);
  }

  // --- crash and restart ----------------------------------------------------------------------------------

  /** Stops a member: it neither ticks nor receives; messages queued for it are lost. Its storage survives. */
  crash(id: NodeId): void {
    this.member(id).up = false;
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const message = this.queue[i]!;
      if (message.to === id) {
        this.queue.splice(i, 1);
        this.events.push({ kind: 'drop', message });
      }
    }
  }

  /**
   * Starts a member again from what its storage holds. By default the state machine is rebuilt from the
   * snapshot and the core replays committed entries after it; with `keepApplied` the state machine survives
   * and the core is told how far it had applied.
   */
  restart(id: NodeId, restartOptions: { readonly keepApplied?: boolean } = {}): Member {
    const member = this.member(id);
    if (member.up) this.crash(id);
    const snapshot = member.storage.snapshot();
    const applied: NodeOptions = restartOptions.keepApplied === true ? { applied: logIndex(member.appliedIndex) } : {};
    if (restartOptions.keepApplied !== true) {
      member.state = decodeState(snapshot.data);
      member.appliedIndex = snapshot.metadata.index;
    }
    member.starts += 1;
    member.node = new RawNode({ ...member.options, ...applied, id, storage: member.storage, random: this.randomFor(id, member.starts) });
    member.up = true;
    this.flush(id);
    return member;
  }

  // --- snapshots -----------------------------------------------------------------------------------------

  /** Records a snapshot of `id`'s state machine at its applied index and compacts its log up to there. */
  snapshotAndCompact(id: NodeId): Snapshot {
    const member = this.member(id);
    const index = logIndex(member.appliedIndex);
    const snapshot = member.storage.createSnapshot(index, member.node.status().confState, encodeState(member.state));
    member.storage.compact(index);
    return snapshot;
  }

  // --- time and delivery ---------------------------------------------------------------------------------

  /** Handles every pending Ready of the given (default: all live) members; their messages join the queue. */
  flush(...only: NodeId[]): void {
    const targets = only.length > 0 ? only : this.upIds();
    for (const id of targets) {
      const member = this.member(id);
      let readies = 0;
      while (member.up && member.node.hasReady()) {
        if (++readies > readiesPerFlushMax) throw new Error(`${id} produced more than ${readiesPerFlushMax} Readies in a row`);
        this.handleReady(member, member.node.ready());
      }
    }
  }

  /** Adds messages to the end of the queue (e.g. ones a filter held back). */
  enqueue(...messages: Message[]): void {
    this.queue.push(...messages);
  }

  /** Steps a message straight into its target, bypassing queue, links and filter, then handles its Readies. */
  step(message: Message): void {
    const member = this.member(message.to);
    member.node.step(message);
    this.flush(member.id);
  }

  /**
   * Delivers, once, the messages queued now that match `which` (default: all); the others stay queued.
   * Answers go to the end of the queue and are not delivered. Returns how many were taken off the queue.
   */
  deliverOnce(which: (message: Message) => boolean = () => true): number {
    this.flush();
    const taken = this.queue.filter(which);
    const kept = this.queue.filter((m) => !which(m));
    this.queue.length = 0;
    this.queue.push(...kept);
    for (const message of taken) this.deliver(message);
    return taken.length;
  }

  /** Handles Readies and delivers messages until nothing is left to do. Returns the number of deliveries. */
  deliverAll(): number {
    this.flush();
    let deliveries = 0;
    for (let message = this.queue.shift(); message !== undefined; message = this.queue.shift()) {
      if (++deliveries > deliveriesMax) throw new Error(`network not quiet after ${deliveriesMax} messages`);
      this.deliver(message);
    }
    return deliveries;
  }

  /** Ticks every live member `times` times, delivering everything after each round. */
  tickAll(times = 1): void {
    this.tick([], times);
  }

  /** Ticks the given (none given: all live) members `times` times, delivering everything after each round. */
  tick(only: readonly NodeId[], times = 1): void {
    for (let i = 0; i < times; i++) {
      const targets = only.length > 0 ? only : this.upIds();
      for (const id of targets) {
        const member = this.member(id);
        if (!member.up) continue;
        member.node.tick();
        this.flush(id);
      }
      this.deliverAll();
    }
  }

  /** Ticks (as `tick`) until `condition` holds; returns the ticks it took, or throws after `ticksMax`. */
  tickUntil(condition: () => boolean, ticksMax: number, only: readonly NodeId[] = []): number {
    this.deliverAll();
    for (let ticks = 0; ; ticks++) {
      if (condition()) return ticks;
      if (ticks === ticksMax) throw new Error(`condition not reached within ${ticksMax} ticks`);
      this.tick(only);
    }
  }

  /**
   * Makes `id` campaign and delivers until quiet; throws unless it became leader. With `settle` (default),
   * then ticks the leader until every live member applied the leader's whole log (its no-op included).
   */
  elect(id: NodeId, settle = true): void {
    this.node(id).campaign();
    this.deliverAll();
    if (this.status(id).role !== 'leader') throw new Error(`${id} did not win: ${JSON.stringify(this.status(id))}`);
    if (!settle) return;
    const { voters, learners } = this.status(id).confState;
    const reachable = [...voters, ...learners].filter((m) => this.members.get(m)?.up === true && !this.isCut(id, m) && !this.isCut(m, id));
    this.tickUntil(() => reachable.every((m) => this.isCaughtUp(m, id)), 10, [id]);
  }

  /** Makes `id` campaign (and deliver until quiet) until it leads; returns the attempts, throws after `attemptsMax`. */
  campaignUntilLeader(id: NodeId, attemptsMax: number): number {
    for (let attempt = 1; attempt <= attemptsMax; attempt++) {
      this.node(id).campaign();
      this.deliverAll();
      if (this.status(id).role === 'leader') return attempt;
    }
    throw new Error(`${id} did not win in ${attemptsMax} campaigns`);
  }

  /** Whether `id` has applied everything in `leader`'s log. */
  isCaughtUp(id: NodeId, leader: NodeId): boolean {
    return this.member(id).appliedIndex === this.status(leader).lastIndex && this.status(leader).commit === this.status(leader).lastIndex;
  }

  /** Messages sent (by any member) since event number `since`, optionally only those matching `which`. */
  sent<M extends Message>(which: (message: Message) => message is M, since?: number): M[];
  sent(which?: (message: Message) => boolean, since?: number): Message[];
  sent(which: (message: Message) => boolean = () => true, since = 0): Message[] {
    return this.eventsOfKind('send', which, since);
  }

  /** Messages delivered since event number `since` (as the filter passed them), optionally only matching ones. */
  delivered<M extends Message>(which: (message: Message) => message is M, since?: number): M[];
  delivered(which?: (message: Message) => boolean, since?: number): Message[];
  delivered(which: (message: Message) => boolean = () => true, since = 0): Message[] {
    return this.eventsOfKind('deliver', which, since);
  }

  // --- internals -----------------------------------------------------------------------------------------

  private start(id: NodeId, storage: MemoryStorage): Member {
    if (this.members.has(id)) throw new Error(`member ${id} exists`);
    const options: NodeOptions = { ...this.options.config, ...this.options.configFor?.(id) };
    const snapshot = storage.snapshot();
    const member: Member = {
      id,
      storage,
      options,
      node: new RawNode({ ...options, id, storage, random: this.randomFor(id, 0) }),
      up: true,
      starts: 0,
      state: decodeState(snapshot.data),
      appliedIndex: snapshot.metadata.index,
      readStates: [],
    };
    this.members.set(id, member);
    this.flush(id);
    return member;
  }

  private randomFor(id: NodeId, starts: number) {
    let hash = this.seed * 1_000_003 + starts * 7_919;
    for (const char of id) hash = (Math.imul(hash, 31) + char.charCodeAt(0)) >>> 0;
    return seededRandom(hash);
  }

  /** The caller protocol: persist, then send, then apply, then advance. */
  private handleReady(member: Member, ready: Ready): void {
    this.readyLog.push({ id: member.id, ready });
    if (ready.snapshot !== null) member.storage.applySnapshot(ready.snapshot);
    member.storage.append(ready.entries);
    if (ready.hardState !== null) member.storage.setHardState(ready.hardState);
    for (const message of ready.messages) {
      if (message.from !== member.id) throw new Error(`${member.id} sent a message from ${message.from}`);
      this.events.push({ kind: 'send', message });
      this.queue.push(message);
    }
    if (ready.snapshot !== null) {
      member.state = decodeState(ready.snapshot.data);
      member.appliedIndex = ready.snapshot.metadata.index;
    }
    for (const entry of ready.committedEntries) this.apply(member, entry);
    member.readStates.push(...ready.readStates);
    member.node.advance(ready);
  }

  private apply(member: Member, entry: Entry): void {
    if (entry.index !== member.appliedIndex + 1) {
      throw new Error(`${member.id} was given entry ${entry.index} to apply after ${member.appliedIndex}`);
    }
    const earlier = this.appliedAt.get(entry.index);
    if (earlier !== undefined && earlier.term !== entry.term) {
      throw new Error(`State Machine Safety broken at ${entry.index}: term ${earlier.term} applied elsewhere, ${entry.term} on ${member.id}`);
    }
    if (earlier === undefined) this.appliedAt.set(entry.index, entry);
    member.appliedIndex = entry.index;
    if (entry.kind === 'normal' && entry.data.byteLength > 0) member.state.push(text(entry.data));
  }

  private deliver(message: Message): void {
    const target = this.members.get(message.to);
    if (target === undefined || !target.up || this.isCut(message.from, message.to)) {
      this.events.push({ kind: 'drop', message });
      return;
    }
    const passed = this.filter === null ? message : this.filter(message);
    if (passed === null) {
      this.events.push({ kind: 'drop', message });
      return;
    }
    this.events.push({ kind: 'deliver', message: passed });
    target.node.step(passed);
    this.flush(target.id);
  }

  private eventsOfKind(kind: NetworkEvent['kind'], which: (message: Message) => boolean, since: number): Message[] {
    const out: Message[] = [];
    for (const event of this.events.slice(since)) {
      if (event.kind === kind && which(event.message)) out.push(event.message);
    }
    return out;
  }
}
