// The safety checkers. Each keeps the small history it needs (terms' leaders, the (index, term) pairs ever seen,
// what was committed and applied at each index) and is fed incrementally by the simulation after every step,
// so checking costs O(new facts), never O(log) per step.

import type { Entry, LogIndex, LogStorage, Message, NodeId, RaftStatus, Snapshot } from '../../server/raft/index.ts';
import { type CheckerName, type SimulationPoint, SimulationViolation } from './errors.ts';
import { type AppState, contentCode, describeContent, mixDigest } from './state-machine.ts';

/** Terms must stay below this for (index, term) pairs to pack into one safe integer. */
const termLimit = 1 << 21;
const key = (index: number, t: number): number => index * termLimit + t;

/** What the checkers remember of one member while it stays up (reset by a restart). */
interface LiveTrack {
  term: number;
  commit: number;
  applied: number;
}

/** What the checkers remember of one member's stable storage (kept across restarts). */
interface DurableTrack {
  term: number;
  vote: NodeId | null;
  commit: number;
}

export class Checkers {
  // Election Safety: the leader of each term ever seen.
  private readonly leaderOfTerm = new Map<number, NodeId>();
  // Log Matching: for every (index, term) ever seen in a log or an append, its content and predecessor's term.
  private readonly contentAt = new Map<number, number>();
  private readonly previousTermAt = new Map<number, number>();
  // Committed prefix as observed through members' commit indexes: committedTerm[i] is the term at index i.
  private readonly committedTerm: number[] = [0];
  // The highest index known committed by a leader of each term (Leader Completeness concerns later terms only).
  private readonly committedByTerm = new Map<number, number>();
  // State Machine Safety: what was applied at each index, the digest and proposal count after it.
  private readonly appliedTerm: number[] = [0];
  private readonly appliedContent: number[] = [0];
  private readonly digestAfter: number[] = [0];
  private readonly countAfter: number[] = [0];
  // Vote once: the candidate each (voter, term) granted its vote to.
  private readonly votes = new Map<string, NodeId>();
  private readonly live = new Map<NodeId, LiveTrack>();
  private readonly durable = new Map<NodeId, DurableTrack>();

  constructor(
    private readonly enabled: ReadonlySet<CheckerName>,
    private readonly where: () => SimulationPoint,
  ) {}

  private fail(checker: CheckerName, detail: string): never {
    throw new SimulationViolation(checker, this.where(), detail);
  }

  private on(checker: CheckerName): boolean {
    return this.enabled.has(checker);
  }

  /** The highest index known committed. */
  get committedIndex(): number {
    return this.committedTerm.length - 1;
  }

  /** The highest index some member applied (every index up to it has a recorded entry). */
  get appliedIndex(): number {
    return this.appliedTerm.length - 1;
  }

  /** Client proposals in the log prefix up to `index` (known once some member applied it). */
  proposalsUpTo(index: number): number | undefined {
    return this.countAfter[index];
  }

  digestUpTo(index: number): number | undefined {
    return this.digestAfter[index];
  }

  /** Distinct terms that had a leader. */
  get leaderTerms(): number {
    return this.leaderOfTerm.size;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Per-step status: Election Safety, Leader Completeness (on election) and monotonic commit on a live member.

  /** Returns true when this is the first time `status.id` is seen leading `status.term`. */
  observeStatus(status: RaftStatus, storage: LogStorage): boolean {
    const id = status.id;
    let track = this.live.get(id);
    if (track === undefined) {
      track = { term: status.term, commit: status.commit, applied: status.applied };
      this.live.set(id, track);
    }
    if (this.on('monotonicity')) {
      if (status.term < track.term) this.fail('monotonicity', `${id}: term went back from ${track.term} to ${status.term}`);
      if (status.commit < track.commit) this.fail('monotonicity', `${id}: commit went back from ${track.commit} to ${status.commit}`);
      if (status.applied < track.applied) this.fail('monotonicity', `${id}: applied went back from ${track.applied} to ${status.applied}`);
      if (status.applied > status.commit) this.fail('monotonicity', `${id}: applied ${status.applied} is past commit ${status.commit}`);
    }
    track.term = status.term;
    track.commit = status.commit;
    track.applied = status.applied;
    if (status.role !== 'leader') return false;
    const known = this.leaderOfTerm.get(status.term);
    if (known === id) return false;
    if (known !== undefined && this.on('electionSafety')) {
      this.fail('electionSafety', `two leaders in term ${status.term}: ${known} and ${id}`);
    }
    if (known === undefined) this.leaderOfTerm.set(status.term, id);
    let committedBefore = 0;
    for (const [t, index] of this.committedByTerm) if (t < status.term && index > committedBefore) committedBefore = index;
    this.checkLeaderHolds(id, status.term, storage, committedBefore, 'on election');
    return true;
  }

  /** A member restarted: what it knew in memory is gone; what it persisted stays. */
  forgetLive(id: NodeId): void {
    this.live.delete(id);
  }

  /** Leader Completeness: the leader's log holds the entry committed at `index` (and so, by Log Matching, all before). */
  private checkLeaderHolds(id: NodeId, leaderTerm: number, storage: LogStorage, committed: number, when: string): void {
    const index = Math.min(committed, this.committedIndex);
    if (!this.on('leaderCompleteness') || index === 0) return;
    const first = storage.firstIndex();
    if (index < first - 1) return; // compacted into this leader's snapshot, which the digest check covers
    const t = storage.term(index as LogIndex);
    const expected = this.committedTerm[index]!;
    if (t !== expected) {
      this.fail(
        'leaderCompleteness',
        `${id} leads term ${leaderTerm} ${when} but its log has ${t === null ? 'no entry' : `term ${t}`} at ${index}, committed at term ${expected} (last index ${storage.lastIndex()})`,
      );
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Commitment: a member's commit index moved; learn the committed terms from its (persisted) log.

  /**
   * `id`, in term `observerTerm`, moved its commit index from `from` to `to`: a leader of that term decided it,
   * so the leaders of every later term must hold those entries.
   */
  observeCommit(id: NodeId, from: number, to: number, storage: LogStorage, leaders: Iterable<{ id: NodeId; term: number; storage: LogStorage }>, observerTerm: number): void {
    const before = this.committedIndex;
    const inTerm = this.committedByTerm.get(observerTerm) ?? 0;
    if (to > inTerm) this.committedByTerm.set(observerTerm, to);
    const first = storage.firstIndex() - 1;
    for (let i = Math.max(from + 1, first); i <= to; i++) {
      const t = storage.term(i as LogIndex);
      if (t === null) break;
      const known = this.committedTerm[i];
      if (known === undefined) {
        if (i !== this.committedTerm.length) break; // a gap below: learnt when the gap is filled
        this.committedTerm.push(t);
      } else if (known !== t && this.on('stateMachineSafety')) {
        this.fail('stateMachineSafety', `${id} committed index ${i} at term ${t}, but it was committed at term ${known}`);
      }
    }
    const after = Math.min(to, this.committedIndex);
    if (after > before || to > inTerm) {
      for (const leader of leaders) {
        if (leader.term > observerTerm) this.checkLeaderHolds(leader.id, leader.term, leader.storage, after, `after ${id} committed ${after} in term ${observerTerm}`);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Log Matching: every (index, term) names one entry, whose predecessor has one term.

  /** `entries` follow the entry at `previousIndex` with term `previousTerm` in some log (persisted or sent). */
  observeEntries(where: string, previousIndex: number, previousTerm: number, entries: readonly Entry[]): void {
    if (!this.on('logMatching')) return;
    let prevIndex = previousIndex;
    let prevTerm = previousTerm;
    for (const entry of entries) {
      if (entry.index !== prevIndex + 1) this.fail('logMatching', `${where}: entry ${entry.index} follows ${prevIndex}`);
      if (entry.term < prevTerm) this.fail('logMatching', `${where}: entry ${entry.index} has term ${entry.term} below its predecessor's ${prevTerm}`);
      if (entry.term >= termLimit) this.fail('logMatching', `term ${entry.term} is beyond what the checker packs`);
      const k = key(entry.index, entry.term);
      const content = contentCode(entry);
      const knownContent = this.contentAt.get(k);
      if (knownContent === undefined) {
        this.contentAt.set(k, content);
        this.previousTermAt.set(k, prevTerm);
      } else {
        const knownPrevious = this.previousTermAt.get(k)!;
        if (knownContent !== content || knownPrevious !== prevTerm) {
          this.fail(
            'logMatching',
            `${where}: entry ${entry.index}/${entry.term} is ${describeContent(content)} after term ${prevTerm}, elsewhere ${describeContent(knownContent)} after term ${knownPrevious}`,
          );
        }
      }
      prevIndex = entry.index;
      prevTerm = entry.term;
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // State Machine Safety: every member applies the same entry at each index, in order, across restarts.

  /** Applies one entry to `state` and checks it against what every other member applied there. */
  apply(id: NodeId, state: AppState, entry: Entry): void {
    const index = entry.index;
    if (index !== state.applied + 1 && this.on('stateMachineSafety')) {
      this.fail('stateMachineSafety', `${id} applies index ${index} right after ${state.applied}`);
    }
    const content = contentCode(entry);
    const digest = mixDigest(state.digest, index, entry.term, content);
    if (content > 0) {
      state.count++;
      state.ids.push(content - 1);
    }
    state.applied = index;
    state.digest = digest;
    if (index === this.committedTerm.length) this.committedTerm.push(entry.term);
    else if (this.committedTerm[index] !== undefined && this.committedTerm[index] !== entry.term && this.on('stateMachineSafety')) {
      this.fail('stateMachineSafety', `${id} applied index ${index} at term ${entry.term}, but term ${this.committedTerm[index]} was committed there`);
    }
    const knownTerm = this.appliedTerm[index];
    if (knownTerm === undefined) {
      if (index === this.appliedTerm.length) {
        this.appliedTerm.push(entry.term);
        this.appliedContent.push(content);
        this.digestAfter.push(digest);
        this.countAfter.push(state.count);
      }
      return;
    }
    if (!this.on('stateMachineSafety')) return;
    const knownContent = this.appliedContent[index]!;
    if (knownTerm !== entry.term || knownContent !== content) {
      this.fail(
        'stateMachineSafety',
        `${id} applied ${describeContent(content)} (term ${entry.term}) at ${index}, another member applied ${describeContent(knownContent)} (term ${knownTerm})`,
      );
    }
    if (this.digestAfter[index] !== digest) {
      this.fail('stateMachineSafety', `${id}'s state after ${index} differs from another member's (digest ${digest} vs ${this.digestAfter[index]})`);
    }
  }

  /** A member replaced its state with a snapshot (installed from the leader, or on restart). */
  restore(id: NodeId, previousApplied: number, snapshot: Snapshot, state: AppState): void {
    const index = snapshot.metadata.index;
    if (this.on('monotonicity') && index < previousApplied) {
      this.fail('monotonicity', `${id} installed snapshot ${index} below its applied index ${previousApplied}`);
    }
    if (!this.on('stateMachineSafety')) return;
    if (state.applied !== index) this.fail('stateMachineSafety', `${id}: snapshot ${index} holds a state applied to ${state.applied}`);
    const digest = this.digestAfter[index];
    if (index > 0 && digest === undefined) this.fail('stateMachineSafety', `${id}: snapshot ${index} is past anything any member applied`);
    if (index > 0 && digest !== state.digest) {
      this.fail('stateMachineSafety', `${id}: snapshot ${index} holds digest ${state.digest}, the applied log's is ${digest}`);
    }
    if (index > 0 && this.appliedTerm[index] !== snapshot.metadata.term) {
      this.fail('stateMachineSafety', `${id}: snapshot ${index} says term ${snapshot.metadata.term}, the entry applied there has ${this.appliedTerm[index]}`);
    }
  }

  /** The core and the application agree on how far the application got. */
  checkApplied(id: NodeId, coreApplied: number, state: AppState): void {
    if (coreApplied !== state.applied && this.on('stateMachineSafety')) {
      this.fail('stateMachineSafety', `${id}: the core says applied ${coreApplied}, the state machine is at ${state.applied}`);
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Persistence: terms and commit never go back on disk; a vote once written is not changed within its term.

  observePersisted(id: NodeId, term: number, vote: NodeId | null, commit: number): void {
    const previous = this.durable.get(id);
    if (previous !== undefined) {
      if (this.on('monotonicity') && (term < previous.term || commit < previous.commit)) {
        this.fail('monotonicity', `${id} persisted term ${term} commit ${commit} after term ${previous.term} commit ${previous.commit}`);
      }
      if (this.on('voteOnce') && term === previous.term && previous.vote !== null && vote !== previous.vote) {
        this.fail('voteOnce', `${id} persisted a vote for ${vote ?? 'nobody'} in term ${term} after voting for ${previous.vote}`);
      }
    }
    this.durable.set(id, { term, vote, commit });
  }

  // ---------------------------------------------------------------------------------------------------------
  // Messages leaving a member: at most one granted vote per (voter, term), and nothing sent before it is durable.

  observeSend(m: Message, storage: LogStorage & { hardState(): { term: number; vote: NodeId | null } }): void {
    if (m.type === 'voteResponse' && !m.reject && this.on('voteOnce')) {
      const k = `${m.from}:${m.term}`;
      const granted = this.votes.get(k);
      if (granted === undefined) this.votes.set(k, m.to);
      else if (granted !== m.to) this.fail('voteOnce', `${m.from} granted its term-${m.term} vote to ${granted} and then to ${m.to}`);
    }
    if (!this.on('durability')) return;
    if (m.term > 0 && m.type !== 'preVote' && m.type !== 'preVoteResponse') {
      const hard = storage.hardState();
      if (hard.term < m.term) this.fail('durability', `${m.from} sent ${m.type} in term ${m.term} with term ${hard.term} on disk`);
      if (m.type === 'voteResponse' && !m.reject && (hard.term !== m.term || hard.vote !== m.to)) {
        this.fail('durability', `${m.from} granted its term-${m.term} vote to ${m.to} with vote ${hard.vote ?? 'none'} (term ${hard.term}) on disk`);
      }
      if (m.type === 'appendResponse' && !m.reject && m.index > storage.lastIndex()) {
        this.fail('durability', `${m.from} acknowledged entries up to ${m.index} with only ${storage.lastIndex()} on disk`);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Linearizable reads: a read point covers every proposal acknowledged before the read began.

  checkRead(id: NodeId, context: number, readIndex: number, ackedMaxIndex: number, ackedCount: number): number {
    const value = this.countAfter[readIndex];
    if (!this.on('linearizableRead')) return value ?? -1;
    if (readIndex < ackedMaxIndex) {
      this.fail('linearizableRead', `${id} served read ${context} at index ${readIndex}, but a proposal at ${ackedMaxIndex} was acknowledged before it began`);
    }
    if (value === undefined) this.fail('linearizableRead', `${id} served read ${context} at index ${readIndex} before anything applied it`);
    if (value < ackedCount) {
      this.fail('linearizableRead', `${id} served read ${context} seeing ${value} proposals, but ${ackedCount} were acknowledged before it began`);
    }
    return value;
  }
}
