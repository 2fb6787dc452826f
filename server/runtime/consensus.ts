// Drives one RawNode: the tick timer, the Ready loop (persist, send, apply, advance), proposals and their
// promises, and batched linearizable reads. Everything impure about consensus lives here.

import { RawNode } from '../raft/raw-node.ts';
import type { RaftConfigInput } from '../raft/config.ts';
import type { ConfChange, ConfState, Entry, LogIndex, Message, NodeId, Ready, Role } from '../raft/types.ts';
import type { DurableLog as StorageLog } from '../storage/index.ts';
import { decodeFrame, encodeFrame } from '../../sdk/protocol/codec.ts';
import type { Clock, TimerHandle } from './deps.ts';
import { RuntimeError } from './errors.ts';

/** The durable log as the loop needs it (server/storage's DurableLog): one save per Ready. */
export type DurableLog = Pick<StorageLog, 'storage' | 'save' | 'saveSnapshot'>;

/** What the replicated application does with committed entries. */
export interface Application {
  /** Applies one client command; the result goes to the proposer if it is waiting on this member. */
  apply(index: LogIndex, command: unknown): unknown;
  /** Replaces the whole state (a snapshot from the leader, or recovery). */
  restore(data: Uint8Array, index: LogIndex): void;
  /**
   * The whole state at the last applied index, a part per step (see state/snapshot.ts's snapshotSteps):
   * nothing is applied until the generator is done.
   */
  snapshotSteps(): Generator<void, Uint8Array>;
  /** Membership entries (at their log index), after the core applied them. */
  onConfChange(change: ConfChange, index: LogIndex): void;
  onRoleChange(role: Role, leader: NodeId | null): void;
}

export interface ConsensusOptions {
  readonly raft: RaftConfigInput;
  readonly log: DurableLog;
  readonly clock: Clock;
  readonly tickMs: number;
  readonly send: (message: Message) => void;
  readonly app: Application;
  /**
   * Take a snapshot and compact after this many applied entries (plus up to a quarter more, drawn at random
   * each time, so the members of an ensemble do not all pause their applies at once).
   */
  readonly snapshotEntries: number;
  readonly proposalTimeoutMs: number;
  /** Planted bug (tests only): vote answers leave before the vote is persisted. */
  readonly sendVoteBeforePersist?: boolean;
}

/**
 * The state being read a step per turn of the event loop (a snapshot, a backup), so a member with a large
 * state goes on exchanging messages with its peers (a leader blocked for seconds would be voted out). Entries
 * committed meanwhile wait in `deferred`, since the state must not change until the capture is whole.
 */
interface Capture {
  readonly steps: Generator<void, unknown>;
  result: { readonly value: unknown } | null;
  /** With the result, between Readies. */
  readonly done: (value: unknown) => void;
  /** The capture could not finish: the member stopped, or a snapshot from the leader replaced the state. */
  readonly fail: (error: Error) => void;
}

/** Held-back entries applied per turn once a capture is whole. */
const deferredPerTurn = 250;
/**
 * A capture runs steps for up to this long per turn (by the member's clock), and at most `captureStepsPerTurn`
 * of them: applies are held back for the whole capture, so it should take little more than its own work,
 * yet no turn should keep the member from its peers for long.
 */
const captureMsPerTurn = 10;
const captureStepsPerTurn = 64;

interface Waiter {
  resolve(value: unknown): void;
  reject(error: RuntimeError): void;
  timer: TimerHandle;
}

/** The envelope of every proposed command: who proposed it, so that member can answer its client. */
interface Envelope {
  readonly origin: string;
  readonly request: number;
  readonly command: unknown;
}

export class Consensus {
  private readonly raw: RawNode;
  private readonly proposals = new Map<number, Waiter>();
  /** Membership changes proposed here, by log index, until they apply. */
  private readonly confChanges = new Map<number, { term: number; waiter: Waiter }>();
  private readonly readBatches = new Map<number, Waiter[]>();
  private readsWaiting: Waiter[] = [];
  private readsForIndex: Array<{ index: LogIndex; waiters: Waiter[] }> = [];
  private requestSequence = 0;
  /**
   * Names this process's proposals in their envelopes: the member id and a random nonce, so an entry proposed
   * by an earlier incarnation of this member (its request numbers restarted at 1) never answers a waiter of
   * this one. The simulator found that collision (seed 147 of the ensemble simulation).
   */
  private readonly origin: string;
  /**
   * ReadIndex contexts, counted from a random start: a late answer to a read of this member's previous
   * incarnation (which counted from 1 too) must not serve a read of this one at an older index.
   */
  private readContext: number;
  private loopScheduled = false;
  private inReady = false;
  private tickTimer: TimerHandle | null = null;
  private stopped = false;
  private lastSnapshotIndex: number;
  /** Applied entries between snapshots, this time (see ConsensusOptions.snapshotEntries). */
  private snapshotEvery: number;
  private capture: Capture | null = null;
  /** Captures asked for (backups), started one at a time between Readies. */
  private captureRequests: Capture[] = [];
  /** Committed entries waiting for the capture to finish; the core counts them applied already. */
  private deferred: Entry[] = [];
  /** The newest snapshot's save, until done: no capture starts before it is. */
  private snapshotSaving: Promise<void> | null = null;
  private fatal: Error | null = null;
  private persistedTerm: number;
  private persistedVote: NodeId | null;
  applied: LogIndex;
  role: Role = 'follower';
  leader: NodeId | null = null;

  constructor(private readonly options: ConsensusOptions) {
    this.raw = new RawNode(options.raft);
    this.origin = `${options.raft.id}:${options.raft.random.int(2 ** 48).toString(36)}`;
    this.readContext = 1 + options.raft.random.int(2 ** 48);
    const { hardState } = options.log.storage.initialState();
    this.persistedTerm = hardState.term;
    this.persistedVote = hardState.vote;
    const snapshot = options.log.storage.snapshot();
    this.lastSnapshotIndex = snapshot.metadata.index;
    this.snapshotEvery = this.nextSnapshotEvery();
    this.applied = snapshot.metadata.index;
    if (snapshot.metadata.index > 0) options.app.restore(snapshot.data, snapshot.metadata.index);
  }

  start(): void {
    const tick = (): void => {
      if (this.stopped) return;
      this.feed(null);
      if (!this.stopped) this.tickTimer = this.options.clock.setTimeout(tick, this.options.tickMs);
    };
    this.tickTimer = this.options.clock.setTimeout(tick, this.options.tickMs);
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.cancelCaptures(new RuntimeError('unavailable', 'the member is stopping'));
    this.deferred = [];
    if (this.tickTimer !== null) this.options.clock.clearTimeout(this.tickTimer);
    const error = new RuntimeError('unavailable', 'the member is stopping');
    for (const waiter of this.proposals.values()) this.fail(waiter, error);
    this.proposals.clear();
    for (const change of this.confChanges.values()) this.fail(change.waiter, error);
    this.confChanges.clear();
    this.failReads(error);
  }

  step(message: Message): void {
    if (this.stopped) return;
    this.feed(message);
  }

  /**
   * Feeds the core a message, or a tick (null); no closure per message, as this runs for every one. The core
   * throws only on a broken invariant (see raft/errors.ts): going on could break safety, so the member stops,
   * as on a disk failure, rather than throw into a timer or a socket.
   */
  private feed(message: Message | null): void {
    try {
      if (message === null) this.raw.tick();
      else this.raw.step(message);
    } catch (error) {
      this.crash(error);
      return;
    }
    this.schedule();
  }

  status() {
    return this.raw.status();
  }

  /** Proposes a command; resolves with its result once applied on this member. */
  propose(command: unknown, timeoutMs = this.options.proposalTimeoutMs): Promise<unknown> {
    const request = ++this.requestSequence;
    const data = encodeFrame({ origin: this.origin, request, command } satisfies Envelope);
    return this.submit(request, timeoutMs, () => this.raw.propose(data));
  }

  /**
   * Proposes a membership change on the leader; resolves once it applied here (so it is committed: a quorum
   * holds it). A follower refuses with `no_leader` naming the leader, where the caller should ask.
   */
  proposeConfChange(change: ConfChange, timeoutMs = this.options.proposalTimeoutMs): Promise<void> {
    if (this.fatal !== null) return Promise.reject(new RuntimeError('unavailable', this.fatal.message));
    if (this.role !== 'leader') return Promise.reject(new RuntimeError('no_leader', 'membership changes go to the leader', { leader: this.leader }));
    return new Promise((resolve, reject) => {
      const result = this.raw.proposeConfChange(change);
      if (result.status !== 'appended') {
        reject(result.status === 'dropped' ? dropError(result.reason, result.leader) : new RuntimeError('no_leader', 'not the leader', { leader: this.leader }));
        return;
      }
      const timer = this.options.clock.setTimeout(() => {
        this.confChanges.delete(result.index);
        reject(new RuntimeError('timeout', `membership change not applied within ${timeoutMs} ms`));
      }, timeoutMs);
      this.confChanges.set(result.index, { term: result.term, waiter: { resolve: () => resolve(), reject, timer } });
      this.schedule();
    });
  }

  transferLeadership(target: NodeId): void {
    this.raw.transferLeadership(target);
    this.schedule();
  }

  campaign(): void {
    this.raw.campaign();
    this.schedule();
  }

  peerDown(id: NodeId): void {
    this.raw.reportPeerDown(id);
    this.schedule();
  }

  private submit(request: number, timeoutMs: number, propose: () => ReturnType<RawNode['propose']>): Promise<unknown> {
    if (this.fatal !== null) return Promise.reject(new RuntimeError('unavailable', this.fatal.message));
    return new Promise((resolve, reject) => {
      const result = propose();
      if (result.status === 'dropped') {
        reject(dropError(result.reason, result.leader));
        return;
      }
      const timer = this.options.clock.setTimeout(() => {
        this.proposals.delete(request);
        reject(new RuntimeError('timeout', `proposal not applied within ${timeoutMs} ms`));
      }, timeoutMs);
      this.proposals.set(request, { resolve, reject, timer });
      this.schedule();
    });
  }

  /** Resolves once this member has applied everything committed when the call was made (ReadIndex). */
  linearizable(timeoutMs = this.options.proposalTimeoutMs): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: () => resolve(),
        reject,
        timer: this.options.clock.setTimeout(() => {
          this.readsWaiting = this.readsWaiting.filter((w) => w !== waiter);
          for (const batch of this.readBatches.values()) removeFrom(batch, waiter);
          for (const wait of this.readsForIndex) removeFrom(wait.waiters, waiter);
          reject(new RuntimeError('timeout', `read not confirmed within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      // Reads that arrive in the same turn share one ReadIndex request.
      this.readsWaiting.push(waiter);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.loopScheduled || this.stopped) return;
    this.loopScheduled = true;
    this.options.clock.defer(() => {
      this.loopScheduled = false;
      void this.drive();
    });
  }

  private issueReads(): void {
    if (this.readsWaiting.length === 0) return;
    const context = ++this.readContext;
    const batch = this.readsWaiting;
    this.readsWaiting = [];
    if (!this.raw.readIndex(context)) {
      const error = new RuntimeError('no_leader', 'no leader is known to confirm the read', { leader: null });
      for (const waiter of batch) this.fail(waiter, error);
      return;
    }
    this.readBatches.set(context, batch);
  }

  private async drive(): Promise<void> {
    if (this.inReady || this.stopped) return;
    this.inReady = true;
    try {
      // Each pass picks up what arrived while the previous Ready was being persisted: that is group commit.
      for (;;) {
        this.issueReads();
        // Between Readies, the core has applied all it handed over: a capture starts (and ends) only here.
        this.finishCapture();
        this.applyDeferred();
        this.maybeStartCapture();
        if (this.stopped || !this.raw.hasReady()) break;
        await this.handleReady(this.raw.ready());
      }
    } catch (error) {
      this.crash(error);
    } finally {
      this.inReady = false;
    }
  }

  private async handleReady(ready: Ready): Promise<void> {
    if (ready.softState !== null) this.onSoftState(ready.softState.role, ready.softState.leader);
    // A leader may replicate before its own fsync (Raft dissertation §10.2.1): it counts itself toward
    // commitment only once persisted. Anything that depends on a new term or vote waits for the disk.
    const hard = ready.hardState;
    const termOrVoteChanged = hard !== null && (hard.term !== this.persistedTerm || hard.vote !== this.persistedVote);
    const early: Message[] = [];
    const late: Message[] = [];
    const voteEarly = this.options.sendVoteBeforePersist === true;
    for (const message of ready.messages) {
      if (!termOrVoteChanged && this.role === 'leader' && (message.type === 'append' || message.type === 'heartbeat')) early.push(message);
      else if (voteEarly && message.type === 'voteResponse') early.push(message);
      else late.push(message);
    }
    for (const message of early) this.options.send(message);
    // Committed entries are durable on a quorum already: apply them (and answer their clients) while this
    // member's own write is under way, so the answer never waits for this disk. Only a snapshot must be on
    // disk first, since it replaces the log.
    let held = ready.snapshot === null && this.applyCommitted(ready);
    const mustWrite = ready.hardState !== null || ready.entries.length > 0 || ready.snapshot !== null;
    // The disk write blocks this thread (see storage/real-disk.ts): let the transports send what is queued
    // (appends to followers, answers to clients) first, so followers write in parallel with us and clients
    // do not wait for our disk. Twice: the answers to the entries applied above are queued by promise
    // continuations that run after this point, and a deferred callback runs after those queued before it.
    if (mustWrite && (early.length > 0 || ready.committedEntries.length > 0)) {
      await new Promise<void>((resolve) => this.options.clock.defer(resolve));
      if (ready.committedEntries.length > 0) await new Promise<void>((resolve) => this.options.clock.defer(resolve));
    }
    const saving = mustWrite ? this.options.log.save(ready) : null;
    if (saving !== null) {
      if (ready.mustSync) {
        await saving;
      } else {
        // Only the commit index moved: nothing waits on it (a lost commit index is learnt again), and the
        // log runs its operations in order, so the next save queues behind this one.
        saving.catch((error: unknown) => this.crash(error));
      }
      if (ready.hardState !== null) {
        this.persistedTerm = ready.hardState.term;
        this.persistedVote = ready.hardState.vote;
      }
    }
    for (const message of late) this.options.send(message);
    if (ready.snapshot !== null) {
      // The leader's snapshot replaces the state, and everything committed here (the core takes a snapshot
      // only past its commit index): a capture under way and the entries it held back are moot.
      this.cancelCaptures(new RuntimeError('unavailable', 'a snapshot from the leader replaced the state; retry'));
      this.deferred = [];
      this.options.app.restore(ready.snapshot.data, ready.snapshot.metadata.index);
      this.applied = ready.snapshot.metadata.index;
      this.lastSnapshotIndex = ready.snapshot.metadata.index;
      held = this.applyCommitted(ready);
    }
    this.raw.advance(ready);
    if (!held) this.confChangesApplied(ready.committedEntries);
    this.serveReads();
  }

  /** Tells the application of membership entries, after the core applied them. */
  private confChangesApplied(entries: readonly Entry[]): void {
    for (const entry of entries) if (entry.kind === 'config') this.options.app.onConfChange(entry.change, entry.index);
  }

  /**
   * Applies a Ready's committed entries (or holds them back while a snapshot is taken) and queues its read
   * states for serving once applied. True when it held them back.
   */
  private applyCommitted(ready: Ready): boolean {
    const held = this.capture !== null || this.deferred.length > 0;
    if (held) for (const entry of ready.committedEntries) this.deferred.push(entry);
    else this.applyEntries(ready.committedEntries);
    for (const state of ready.readStates) {
      const batch = this.readBatches.get(state.context);
      if (batch === undefined) continue;
      this.readBatches.delete(state.context);
      this.readsForIndex.push({ index: state.index, waiters: batch });
    }
    return held;
  }

  private applyEntries(entries: readonly Entry[]): void {
    const self = this.origin;
    for (const entry of entries) {
      this.applied = entry.index;
      const change = this.confChanges.get(entry.index);
      if (change !== undefined) {
        this.confChanges.delete(entry.index);
        this.options.clock.clearTimeout(change.waiter.timer);
        // Another entry at that index: our change was overwritten by a new leader's log.
        if (entry.term === change.term && entry.kind === 'config') change.waiter.resolve(undefined);
        else change.waiter.reject(new RuntimeError('leader_changed', 'the membership change was lost with its leader; retry', { leader: this.leader }));
      }
      if (entry.kind !== 'normal' || entry.data.byteLength === 0) continue;
      const envelope = decodeFrame(entry.data) as Envelope;
      const result = this.options.app.apply(entry.index, envelope.command);
      if (envelope.origin !== self) continue;
      const waiter = this.proposals.get(envelope.request);
      if (waiter === undefined) continue;
      this.proposals.delete(envelope.request);
      this.options.clock.clearTimeout(waiter.timer);
      waiter.resolve(result);
    }
  }

  private serveReads(): void {
    if (this.readsForIndex.length === 0) return;
    const still: typeof this.readsForIndex = [];
    for (const wait of this.readsForIndex) {
      if (wait.index > this.applied) {
        still.push(wait);
        continue;
      }
      for (const waiter of wait.waiters) {
        this.options.clock.clearTimeout(waiter.timer);
        waiter.resolve(undefined);
      }
    }
    this.readsForIndex = still;
  }

  private onSoftState(role: Role, leader: NodeId | null): void {
    const leaderChanged = leader !== this.leader;
    this.role = role;
    this.leader = leader;
    if (leaderChanged) {
      // Forwarded proposals and reads may have been lost with the old leader. Failing them now (rather than
      // at their timeout) lets clients retry at once; retries are idempotent (client id + sequence).
      const error = new RuntimeError('leader_changed', 'the leader changed; retry', { leader });
      for (const [request, waiter] of this.proposals) {
        this.fail(waiter, error);
        this.proposals.delete(request);
      }
      for (const [index, change] of this.confChanges) {
        this.fail(change.waiter, error);
        this.confChanges.delete(index);
      }
      this.failReads(error);
    }
    this.options.app.onRoleChange(role, leader);
  }

  private failReads(error: RuntimeError): void {
    for (const batch of this.readBatches.values()) for (const waiter of batch) this.fail(waiter, error);
    this.readBatches.clear();
    for (const wait of this.readsForIndex) for (const waiter of wait.waiters) this.fail(waiter, error);
    this.readsForIndex = [];
  }

  private fail(waiter: Waiter, error: RuntimeError): void {
    this.options.clock.clearTimeout(waiter.timer);
    waiter.reject(error);
  }

  /**
   * Reads the state with `steps`, a step per turn of the event loop, with applies held back until it is
   * whole (as a snapshot is taken); resolves with what the generator returns.
   */
  captureState<T>(steps: Generator<void, T>): Promise<T> {
    if (this.fatal !== null || this.stopped) return Promise.reject(new RuntimeError('unavailable', this.fatal?.message ?? 'the member is stopping'));
    return new Promise((resolve, reject) => {
      this.captureRequests.push({ steps, result: null, done: (value) => resolve(value as T), fail: reject });
      this.schedule();
    });
  }

  /** Starts a capture asked for, or a snapshot once enough entries were applied since the last. */
  private maybeStartCapture(): void {
    if (this.capture !== null || this.deferred.length > 0 || this.stopped) return;
    const asked = this.captureRequests.shift();
    if (asked !== undefined) {
      this.startCapture(asked);
      return;
    }
    if (this.snapshotSaving !== null || this.applied - this.lastSnapshotIndex < this.snapshotEvery) return;
    const index = this.applied;
    const confState = this.raw.status().confState;
    this.startCapture({
      steps: this.options.app.snapshotSteps(),
      result: null,
      done: (data) => this.recordSnapshot(index, confState, data as Uint8Array),
      fail: () => {},
    });
  }

  private startCapture(capture: Capture): void {
    this.capture = capture;
    const clock = this.options.clock;
    const step = (): void => {
      if (this.capture !== capture) return; // cancelled
      const started = clock.now();
      try {
        for (let steps = 0; steps < captureStepsPerTurn && clock.now() - started < captureMsPerTurn; steps++) {
          const next = capture.steps.next();
          if (next.done === true) {
            capture.result = { value: next.value };
            this.schedule();
            return;
          }
        }
      } catch (error) {
        this.crash(error);
        return;
      }
      clock.defer(step);
    };
    this.options.clock.defer(step);
  }

  /** Once the capture is whole, hands over its result; `applyDeferred` then applies what it held back. */
  private finishCapture(): void {
    const capture = this.capture;
    if (capture === null || capture.result === null) return;
    this.capture = null;
    capture.done(capture.result.value);
  }

  private cancelCaptures(error: RuntimeError): void {
    const cancelled = this.capture === null ? this.captureRequests : [this.capture, ...this.captureRequests];
    this.capture = null;
    this.captureRequests = [];
    for (const capture of cancelled) capture.fail(error);
  }

  /** Records a snapshot taken at `index` and saves it in the background (the log writes the file beside its saves). */
  private recordSnapshot(index: LogIndex, confState: ConfState, data: Uint8Array): void {
    const snapshot = this.options.log.storage.createSnapshot(index, confState, data);
    this.lastSnapshotIndex = index;
    this.snapshotEvery = this.nextSnapshotEvery();
    // The log keeps some entries before the snapshot in memory so a slightly lagging follower needs none.
    this.snapshotSaving = this.options.log.saveSnapshot(snapshot).then(
      () => {
        this.snapshotSaving = null;
        this.schedule();
      },
      (error: unknown) => this.crash(error),
    );
  }

  /**
   * Applies the entries a capture held back, a slice per turn (seconds of writes may have piled up); entries
   * committed meanwhile queue behind them. Runs between Readies.
   */
  private applyDeferred(): void {
    if (this.capture !== null || this.deferred.length === 0) return;
    const slice = this.deferred.slice(0, deferredPerTurn);
    this.deferred = this.deferred.length > deferredPerTurn ? this.deferred.slice(deferredPerTurn) : [];
    this.applyEntries(slice);
    this.confChangesApplied(slice);
    this.serveReads();
    if (this.deferred.length > 0) this.options.clock.defer(() => this.schedule());
  }

  private nextSnapshotEvery(): number {
    const entries = this.options.snapshotEntries;
    return entries + this.options.raft.random.int(Math.floor(entries / 4) + 1);
  }

  /** A storage failure (an fsync error above all) is fatal: the member stops rather than risk its promises. */
  private crash(error: unknown): void {
    this.fatal = error instanceof Error ? error : new Error(String(error));
    this.stop();
    this.onFatal?.(this.fatal);
  }

  onFatal: ((error: Error) => void) | undefined;
}

function dropError(reason: string, leader: NodeId | null): RuntimeError {
  if (reason === 'no_leader') return new RuntimeError('no_leader', 'no leader is known; retry', { leader });
  if (reason === 'transferring') return new RuntimeError('leader_changed', 'leadership is being transferred; retry', { leader });
  if (reason === 'config_pending') return new RuntimeError('too_many_requests', 'a membership change is already in progress');
  return new RuntimeError('bad_request', `proposal dropped: ${reason}`);
}

function removeFrom<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}
