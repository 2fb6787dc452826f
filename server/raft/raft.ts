// The Raft roles and their rules (the paper's figure 2, with PreVote, CheckQuorum, ReadIndex, chunked
// InstallSnapshot, one-at-a-time membership changes and leadership transfer). Pure: no clock, no I/O, no
// global randomness. RawNode (raw-node.ts) wraps it with the Ready/advance protocol.

import type { RaftConfig } from './config.ts';
import { invariant, RaftError } from './errors.ts';
import { RaftLog } from './log.ts';
import { Progress } from './progress.ts';
import { committedIndex, quorumSize, tallyVotes } from './quorum.ts';
import type {
  AppendMessage,
  AppendResponseMessage,
  ConfChange,
  ConfState,
  DropReason,
  Entry,
  HeartbeatMessage,
  LogIndex,
  Message,
  NodeId,
  ProposalData,
  ProposeResult,
  ReadState,
  Role,
  Snapshot,
  SnapshotMessage,
  SnapshotResponseMessage,
  Term,
  VoteMessage,
} from './types.ts';
import { logIndex, term as asTerm } from './types.ts';

/** Outgoing messages are built without `from`; the core stamps its own id. */
type Outgoing = Message extends infer M ? (M extends Message ? Omit<M, 'from'> : never) : never;

interface PendingRead {
  readonly from: NodeId;
  readonly context: number;
  readonly index: LogIndex;
}

/** One ReadIndex round: a heartbeat broadcast whose quorum of answers confirms leadership for its reads. */
interface ReadRound {
  readonly sequence: number;
  readonly acks: Set<NodeId>;
  readonly reads: PendingRead[];
}

/** A snapshot arriving in chunks on a follower. */
interface IncomingSnapshot {
  readonly index: LogIndex;
  readonly term: Term;
  /** The sending leader's term: one leader sends one snapshot's bytes, so chunks of one term fit together. */
  readonly leaderTerm: Term;
  readonly chunks: Uint8Array[];
  received: number;
  /** Chunks that arrived before the one at `received`, by offset. */
  readonly ahead: Map<number, Uint8Array>;
}

/** Out-of-order snapshot chunks a follower keeps for the transfer in progress. */
const snapshotChunksAheadMax = 64;

type CampaignKind = 'preElection' | 'election' | 'transfer';

export class Raft {
  readonly id: NodeId;
  term: Term;
  vote: NodeId | null;
  leader: NodeId | null = null;
  role: Role = 'follower';
  readonly log: RaftLog;

  readonly voters = new Set<NodeId>();
  readonly learners = new Set<NodeId>();
  readonly progress = new Map<NodeId, Progress>();

  messages: Message[] = [];
  readStates: ReadState[] = [];

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private readonly votes = new Map<NodeId, boolean>();
  leadTransferee: NodeId | null = null;
  /** The index of the latest config entry this leader appended; no new change until it is applied. */
  private pendingConfIndex: LogIndex = logIndex(0);
  /** Set when entries or the commit index must go out to followers at the next flush. */
  private broadcastPending = false;

  private readSequence = 0;
  private readRound: ReadRound | null = null;
  private readsQueued: PendingRead[] = [];
  /** Reads that arrived before this leader committed an entry of its own term. */
  private readsBeforeCommit: Array<{ from: NodeId; context: number }> = [];
  private incoming: IncomingSnapshot | null = null;

  constructor(readonly config: RaftConfig) {
    this.id = config.id;
    const { hardState, confState } = config.storage.initialState();
    this.log = new RaftLog(config.storage, config.applied);
    this.term = hardState.term;
    this.vote = hardState.vote;
    if (hardState.commit > 0) this.log.commitTo(hardState.commit);
    this.setConfState(confState);
    this.becomeFollower(this.term, null);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Inputs

  tick(): void {
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedElectionTimeout && this.promotable()) {
      this.electionElapsed = 0;
      this.campaign(this.config.preVote ? 'preElection' : 'election');
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, null);
        return;
      }
      for (const [id, pr] of this.progress) pr.recentActive = id === this.id;
      if (this.leadTransferee !== null) this.leadTransferee = null; // the transfer timed out
    }
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
      this.retransmitStalledSnapshots();
    }
  }

  /**
   * The caller learnt that `id`'s process is gone (its port refuses connections). A follower whose leader that
   * is stops honouring the leader's lease and campaigns after a short random delay (at most a quarter of the
   * election timeout) rather than a whole timeout; a leader probes that follower again once it returns. Only
   * liveness changes: votes and commitment follow the usual rules, so a wrong hint costs an election at most.
   */
  peerDown(id: NodeId): void {
    if (this.role === 'leader') {
      const pr = this.progress.get(id);
      if (pr?.state === 'replicate') pr.becomeProbe();
      return;
    }
    if (this.leader !== id) return;
    this.leader = null;
    const delayTicks = 1 + this.config.random.int(Math.max(1, Math.floor(this.config.electionTicks / 4)));
    this.electionElapsed = Math.max(this.electionElapsed, this.randomizedElectionTimeout - delayTicks);
  }

  /** Starts an election now (a pre-election first when PreVote is on). */
  hup(): void {
    if (this.role === 'leader') return;
    this.campaign(this.config.preVote ? 'preElection' : 'election');
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.type === 'propose' || m.type === 'readIndex' || m.type === 'transferLeader') {
      this.stepForwarded(m);
      return;
    }
    if (m.term > this.term) {
      if ((m.type === 'vote' || m.type === 'preVote') && this.inLeaderLease() && !m.transfer) return;
      if (m.type === 'preVote') {
        // A pre-vote never changes our term.
      } else if (m.type === 'preVoteResponse' && !m.reject) {
        // A granted pre-vote carries the term the candidate will campaign at; not a reason to step down.
      } else {
        const leader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot' ? m.from : null;
        this.becomeFollower(m.term, leader);
      }
    } else if (m.term < this.term) {
      this.stepStale(m);
      return;
    }

    switch (m.type) {
      case 'vote':
      case 'preVote':
        this.handleVote(m);
        return;
      case 'voteResponse':
      case 'preVoteResponse':
        if ((m.type === 'voteResponse') === (this.role === 'candidate') && this.role !== 'follower' && this.role !== 'leader') {
          this.handleVoteResponse(m.from, !m.reject);
        }
        return;
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        if (this.role === 'leader') return; // impossible by Election Safety; ignore rather than trust it
        if (this.role !== 'follower') this.becomeFollower(this.term, m.from);
        this.electionElapsed = 0;
        this.leader = m.from;
        if (m.type === 'append') this.handleAppend(m);
        else if (m.type === 'heartbeat') this.handleHeartbeat(m);
        else this.handleSnapshotChunk(m);
        return;
      case 'appendResponse':
        if (this.role === 'leader') this.handleAppendResponse(m);
        return;
      case 'heartbeatResponse':
        if (this.role === 'leader') this.handleHeartbeatResponse(m.from, m.context);
        return;
      case 'snapshotResponse':
        if (this.role === 'leader') this.handleSnapshotResponse(m);
        return;
      case 'timeoutNow':
        if (this.role !== 'leader' && this.promotable()) this.campaign('transfer');
        return;
      case 'readIndexResponse':
        this.readStates.push({ index: m.index, context: m.context });
        return;
    }
  }

  /** Messages from an older term: tell a stale leader or pre-candidate our term so it steps down. */
  private stepStale(m: Message): void {
    if ((this.config.checkQuorum || this.config.preVote) && (m.type === 'heartbeat' || m.type === 'append')) {
      this.send({ type: 'appendResponse', to: m.from, term: this.term, index: logIndex(0), reject: false, hintIndex: logIndex(0), hintTerm: asTerm(0) });
    } else if (m.type === 'preVote') {
      this.send({ type: 'preVoteResponse', to: m.from, term: this.term, reject: true });
    }
  }

  private stepForwarded(m: Extract<Message, { type: 'propose' | 'readIndex' | 'transferLeader' }>): void {
    // Only the leader acts on these; a member that is no longer leader drops them and the sender retries.
    if (this.role !== 'leader') return;
    switch (m.type) {
      case 'propose':
        for (const data of m.entries) this.proposeOnLeader(data);
        return;
      case 'readIndex':
        this.handleReadIndex(m.from, m.context);
        return;
      case 'transferLeader':
        this.transferLeadership(m.target);
        return;
    }
  }

  propose(data: ProposalData): ProposeResult {
    if (this.role === 'leader') return this.proposeOnLeader(data);
    if (this.leader === null) return { status: 'dropped', reason: 'no_leader', leader: null };
    this.send({ type: 'propose', to: this.leader, term: asTerm(0), entries: [data] });
    return { status: 'forwarded', leader: this.leader };
  }

  private proposeOnLeader(data: ProposalData): ProposeResult {
    const drop = (reason: DropReason): ProposeResult => ({ status: 'dropped', reason, leader: this.id });
    if (this.leadTransferee !== null) return drop('transferring');
    if (!this.progress.has(this.id)) return drop('not_member');
    if (data.kind === 'config') {
      if (this.pendingConfIndex > this.log.applied) return drop('config_pending');
      if (!this.validChange(data.change)) return drop('invalid_config');
    }
    const index = logIndex(this.log.lastIndex() + 1);
    const entry: Entry =
      data.kind === 'normal'
        ? { kind: 'normal', term: this.term, index, data: data.data }
        : { kind: 'config', term: this.term, index, change: data.change };
    this.appendEntry(entry);
    if (entry.kind === 'config') this.pendingConfIndex = index;
    return { status: 'appended', index, term: this.term };
  }

  readIndex(context: number): boolean {
    if (this.role === 'leader') {
      this.handleReadIndex(this.id, context);
      return true;
    }
    if (this.leader === null) return false;
    this.send({ type: 'readIndex', to: this.leader, term: asTerm(0), context });
    return true;
  }

  transferLeadership(target: NodeId): void {
    if (this.role !== 'leader') {
      if (this.leader !== null) this.send({ type: 'transferLeader', to: this.leader, term: asTerm(0), target });
      return;
    }
    const pr = this.progress.get(target);
    if (target === this.id || pr === undefined || pr.isLearner || this.leadTransferee === target) return;
    this.leadTransferee = target;
    this.electionElapsed = 0; // the transfer must finish within one election timeout
    if (pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to: target, term: this.term });
    else this.sendAppend(target, pr);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Roles

  private reset(newTerm: Term): void {
    if (this.term !== newTerm) {
      this.term = newTerm;
      this.vote = null;
    }
    this.leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.config.electionTicks + this.config.random.int(this.config.electionTicks);
    this.votes.clear();
    this.leadTransferee = null;
    this.pendingConfIndex = logIndex(0);
    this.broadcastPending = false;
    this.readRound = null;
    this.readsQueued = [];
    this.readsBeforeCommit = [];
    const next = logIndex(this.log.lastIndex() + 1);
    for (const [id, pr] of this.progress) {
      const fresh = new Progress(next, this.config.inflightMax, pr.isLearner);
      this.progress.set(id, fresh);
    }
  }

  becomeFollower(newTerm: Term, leader: NodeId | null): void {
    this.reset(newTerm);
    this.role = 'follower';
    this.leader = leader;
  }

  private becomePreCandidate(): void {
    invariant(this.role !== 'leader', 'a leader cannot become a pre-candidate');
    // Neither term nor vote change: a pre-election is only a poll.
    this.votes.clear();
    this.role = 'preCandidate';
    this.leader = null;
  }

  private becomeCandidate(): void {
    invariant(this.role !== 'leader', 'a leader cannot become a candidate');
    this.reset(asTerm(this.term + 1));
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    invariant(this.role === 'candidate', 'only a candidate becomes leader');
    this.reset(this.term);
    this.role = 'leader';
    this.leader = this.id;
    for (const [id, pr] of this.progress) {
      pr.recentActive = true;
      if (id === this.id) pr.becomeReplicate();
    }
    // The no-op of the new term: committing it commits every earlier entry (§5.4.2), and until it is
    // applied this leader proposes no membership change (the fix for one-at-a-time changes).
    const noop: Entry = { kind: 'normal', term: this.term, index: logIndex(this.log.lastIndex() + 1), data: new Uint8Array(0) };
    this.appendEntry(noop);
    this.pendingConfIndex = noop.index;
  }

  private campaign(kind: CampaignKind): void {
    if (!this.promotable()) return;
    let voteTerm: Term;
    if (kind === 'preElection') {
      this.becomePreCandidate();
      voteTerm = asTerm(this.term + 1);
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    this.handleVoteResponse(this.id, true);
    if (this.role === 'leader' || (kind === 'preElection' && this.role !== 'preCandidate')) return;
    if (this.role !== 'preCandidate' && this.role !== 'candidate') return;
    const type = kind === 'preElection' ? 'preVote' : 'vote';
    for (const voter of this.voters) {
      if (voter === this.id) continue;
      this.send({
        type,
        to: voter,
        term: voteTerm,
        lastIndex: this.log.lastIndex(),
        lastTerm: this.log.lastTerm(),
        transfer: kind === 'transfer',
      });
    }
  }

  private handleVote(m: VoteMessage): void {
    const responseType = m.type === 'vote' ? 'voteResponse' : 'preVoteResponse';
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.leader === null) ||
      (m.type === 'preVote' && m.term > this.term);
    const upToDate = this.config.bugs?.voteWithoutLogCheck === true || this.log.isUpToDate(m.lastIndex, m.lastTerm);
    if (canVote && upToDate) {
      // A granted pre-vote answers at the candidate's future term; the real vote is in our (new) term.
      this.send({ type: responseType, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      } else if (this.role === 'preCandidate' && m.from < this.id) {
        this.yieldPreElection();
      }
    } else {
      this.send({ type: responseType, to: m.from, term: this.term, reject: true });
    }
  }

  /**
   * Two members that polled each other at once would both win their pre-elections and split the real vote
   * (they often start together when both saw the leader's process die). The higher id yields to a viable
   * lower one and polls again only if that one has not won within half an election timeout. Nothing
   * persistent changes, so this only breaks the tie.
   */
  private yieldPreElection(): void {
    this.role = 'follower';
    this.votes.clear();
    this.electionElapsed = Math.max(0, this.randomizedElectionTimeout - Math.ceil(this.config.electionTicks / 2));
  }

  private handleVoteResponse(from: NodeId, granted: boolean): void {
    if (!this.voters.has(from) || this.votes.has(from)) return;
    this.votes.set(from, granted);
    let grantedCount = 0;
    for (const v of this.votes.values()) if (v) grantedCount++;
    const outcome = tallyVotes(this.voters.size, grantedCount, this.votes.size - grantedCount);
    if (outcome === 'won') {
      if (this.role === 'preCandidate') this.campaign('election');
      else this.becomeLeader();
    } else if (outcome === 'lost') {
      this.becomeFollower(this.term, null);
    }
  }

  /**
   * Whether this member may campaign: a voter, or a member its applied configuration removed (not a learner),
   * with no committed membership change left to apply. A removed member campaigns for the configuration
   * without it and does not count its own vote (the Raft dissertation, §4.2.2): the others may not have
   * applied the removal yet, still count it, and can lack entries only it holds; its vote alone would then
   * be refused to them (their logs are behind), and no one could be elected. Once its term's first entry
   * commits, everything before it has, and it hands over. Only with PreVote or CheckQuorum, which keep its
   * campaigns from disrupting a configuration that has a leader (§4.2.3).
   */
  promotable(): boolean {
    const removed = !this.voters.has(this.id) && !this.learners.has(this.id) && this.voters.size > 0;
    const member = this.voters.has(this.id) || (removed && (this.config.preVote || this.config.checkQuorum));
    return member && this.log.pendingSnapshot() === null && !this.log.hasUnappliedConfig();
  }

  /** A voter that heard from a leader within the election timeout ignores votes (CheckQuorum's lease). */
  private inLeaderLease(): boolean {
    return this.config.checkQuorum && this.leader !== null && this.electionElapsed < this.config.electionTicks;
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.voters) if (id === this.id || this.progress.get(id)?.recentActive === true) active++;
    return active >= quorumSize(this.voters.size);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Replication: leader side

  private appendEntry(entry: Entry): void {
    this.log.append([entry]);
    this.broadcastPending = true;
  }

  /**
   * Sends what accumulated since the last flush: new entries, the commit index when it moved, and one
   * ReadIndex round for every read queued meanwhile.
   */
  flush(): void {
    if (this.role !== 'leader') return;
    if (this.readRound === null && this.readsQueued.length > 0) this.startReadRound();
    if (!this.broadcastPending) return;
    this.broadcastPending = false;
    for (const [id, pr] of this.progress) if (id !== this.id) this.sendAppend(id, pr, true);
  }

  /** Sends appends to one follower until its window is full or it has everything. */
  private sendAppend(to: NodeId, pr: Progress, sendIfEmpty = true): void {
    let first = true;
    while (!pr.isPaused()) {
      const prevIndex = pr.next - 1;
      const prevTerm = this.log.term(prevIndex);
      if (prevTerm === null || pr.next < this.log.firstIndex()) {
        this.sendSnapshot(to, pr);
        return;
      }
      const entries = this.log.entriesFrom(pr.next, this.config.appendBytesMax);
      if (entries.length === 0 && !(sendIfEmpty && first)) return;
      first = false;
      this.send({
        type: 'append',
        to,
        term: this.term,
        index: logIndex(prevIndex),
        logTerm: prevTerm,
        entries,
        commit: this.log.committed,
      });
      const last = entries[entries.length - 1];
      if (pr.state === 'replicate' && last !== undefined) {
        pr.optimisticUpdate(last.index);
        pr.inflights.add(last.index);
      } else if (pr.state === 'probe') {
        pr.probeSent = true;
      }
      if (last === undefined) return;
    }
  }

  private handleAppendResponse(m: AppendResponseMessage): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    if (m.reject) {
      let hint = m.hintIndex;
      if (m.hintTerm > 0) hint = this.log.findConflictByTerm(m.hintIndex, m.hintTerm);
      if (pr.maybeDecreaseTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from, pr);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) {
      if (wasPaused && pr.state === 'probe') pr.probeSent = false;
      if (!pr.isPaused()) this.sendAppend(m.from, pr, false);
      return;
    }
    switch (pr.state) {
      case 'probe':
        pr.becomeReplicate();
        break;
      case 'snapshot':
        if (pr.match >= (pr.transfer?.snapshot.metadata.index ?? 0)) {
          pr.becomeProbe();
          pr.becomeReplicate();
        }
        break;
      case 'replicate':
        pr.inflights.freeTo(m.index);
        break;
    }
    if (this.maybeCommit()) this.broadcastPending = true;
    this.sendAppend(m.from, pr, false);
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send({ type: 'timeoutNow', to: m.from, term: this.term });
    }
  }

  /** Advances commit to what a majority of voters holds, for an entry of this term only (§5.4.2). */
  maybeCommit(): boolean {
    const matches: number[] = [];
    for (const id of this.voters) matches.push(this.progress.get(id)?.match ?? 0);
    const index = logIndex(committedIndex(matches));
    if (index <= this.log.committed) return false;
    if (this.config.bugs?.commitOldTermByCounting !== true && this.log.term(index) !== this.term) return false;
    const hadCommittedInTerm = this.committedInCurrentTerm();
    this.log.commitTo(index);
    if (!hadCommittedInTerm && this.committedInCurrentTerm()) {
      if (!this.voters.has(this.id)) this.stepDownRemoved();
      else this.releaseReadsBeforeCommit();
    }
    return true;
  }

  /** Records that this leader persisted its own log up to `index`. */
  selfPersisted(index: LogIndex): void {
    if (this.role !== 'leader') return;
    const pr = this.progress.get(this.id);
    if (pr !== undefined && pr.maybeUpdate(index) && this.maybeCommit()) this.broadcastPending = true;
  }

  private broadcastHeartbeat(): void {
    const context = this.readRound?.sequence ?? 0;
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      this.send({ type: 'heartbeat', to: id, term: this.term, commit: logIndex(Math.min(pr.match, this.log.committed)), context });
    }
  }

  private handleHeartbeatResponse(from: NodeId, context: number): void {
    const pr = this.progress.get(from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.probeSent = false;
    // A full window whose appends were lost would never drain: the follower is alive, so free one slot and
    // let it reject what it cannot place, which sends this follower back to probing (etcd does the same).
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    // Possibly empty: a follower whose appends were lost rejects it, and the leader probes back and resends.
    if (pr.match < this.log.lastIndex()) this.sendAppend(from, pr, true);
    const round = this.readRound;
    if (round === null || context !== round.sequence || !this.voters.has(from)) return;
    round.acks.add(from);
    if (round.acks.size < quorumSize(this.voters.size)) return;
    this.readRound = null;
    for (const read of round.reads) this.answerRead(read);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Replication: follower side

  private handleAppend(m: AppendMessage): void {
    const reply = (index: number, reject: boolean, hintIndex = 0, hintTerm = 0): void =>
      this.send({ type: 'appendResponse', to: m.from, term: this.term, index: logIndex(index), reject, hintIndex: logIndex(hintIndex), hintTerm: asTerm(hintTerm) });
    if (m.index < this.log.committed) {
      reply(this.log.committed, false);
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== null) {
      reply(lastNew, false);
      return;
    }
    const hintIndex = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    reply(m.index, true, hintIndex, this.log.term(hintIndex) ?? 0);
  }

  private handleHeartbeat(m: HeartbeatMessage): void {
    this.log.commitTo(logIndex(Math.min(m.commit, this.log.lastIndex())));
    this.send({ type: 'heartbeatResponse', to: m.from, term: this.term, context: m.context });
  }

  // ---------------------------------------------------------------------------------------------------------
  // Snapshots in chunks

  private sendSnapshot(to: NodeId, pr: Progress): void {
    const snapshot = this.log.snapshot();
    invariant(snapshot.metadata.index > 0, 'a compacted log always has a snapshot');
    pr.becomeSnapshot(snapshot);
    this.sendSnapshotChunks(to, pr);
  }

  private sendSnapshotChunks(to: NodeId, pr: Progress): void {
    const transfer = pr.transfer;
    if (transfer === null) return;
    const { snapshot } = transfer;
    const total = snapshot.data.byteLength;
    const chunkBytes = this.config.snapshotChunkBytes;
    const windowBytes = chunkBytes * this.config.snapshotChunksInflightMax;
    while ((transfer.sentBytes < total || !transfer.sentAny) && transfer.sentBytes - transfer.ackedBytes < windowBytes) {
      const end = Math.min(total, transfer.sentBytes + chunkBytes);
      this.send({
        type: 'snapshot',
        to,
        term: this.term,
        metadata: snapshot.metadata,
        offset: transfer.sentBytes,
        totalBytes: total,
        chunk: snapshot.data.subarray(transfer.sentBytes, end),
      });
      transfer.sentBytes = end;
      transfer.sentAny = true;
    }
  }

  private handleSnapshotResponse(m: SnapshotResponseMessage): void {
    const pr = this.progress.get(m.from);
    const transfer = pr?.transfer;
    if (pr === undefined || transfer == null || transfer.snapshot.metadata.index !== m.index) return;
    pr.recentActive = true;
    if (m.offset < transfer.ackedBytes) {
      transfer.rewindTo = Math.min(transfer.rewindTo ?? m.offset, m.offset);
      return;
    }
    if (m.offset === transfer.ackedBytes) return; // a duplicate: nothing new
    transfer.ackedBytes = m.offset;
    transfer.rewindTo = null;
    if (transfer.sentBytes < transfer.ackedBytes) transfer.sentBytes = transfer.ackedBytes;
    this.sendSnapshotChunks(m.from, pr);
  }

  /**
   * A transfer with no progress for a whole heartbeat interval resends from the last acknowledged byte (a lost
   * chunk or answer), or from where the follower said it stands when that was lower (it lost its copy).
   */
  private retransmitStalledSnapshots(): void {
    for (const [id, pr] of this.progress) {
      const transfer = pr.transfer;
      if (transfer === null) continue;
      if (transfer.sentAny && transfer.ackedBytes === transfer.ackedAtLastBeat) {
        if (transfer.rewindTo !== null) transfer.ackedBytes = transfer.rewindTo;
        transfer.rewindTo = null;
        transfer.sentBytes = transfer.ackedBytes;
        if (transfer.ackedBytes === 0) transfer.sentAny = false;
        this.sendSnapshotChunks(id, pr);
      }
      transfer.ackedAtLastBeat = transfer.ackedBytes;
    }
  }

  private handleSnapshotChunk(m: SnapshotMessage): void {
    const { metadata } = m;
    const reply = (offset: number): void =>
      this.send({ type: 'snapshotResponse', to: m.from, term: this.term, index: metadata.index, offset });
    if (metadata.index <= this.log.committed) {
      this.incoming = null;
      this.send({ type: 'appendResponse', to: m.from, term: this.term, index: this.log.committed, reject: false, hintIndex: logIndex(0), hintTerm: asTerm(0) });
      return;
    }
    let incoming = this.incoming;
    const same = incoming !== null && incoming.index === metadata.index && incoming.term === metadata.term && incoming.leaderTerm === m.term;
    if (incoming === null || !same) {
      if (m.offset !== 0) {
        reply(0);
        return;
      }
      incoming = { index: metadata.index, term: metadata.term, leaderTerm: m.term, chunks: [], received: 0, ahead: new Map() };
      this.incoming = incoming;
    } else if (m.offset !== incoming.received) {
      // A duplicate, or a chunk that overtook an earlier one: keep the latter (bounded) and say where we stand.
      if (m.offset > incoming.received && incoming.ahead.size < snapshotChunksAheadMax) incoming.ahead.set(m.offset, m.chunk);
      reply(incoming.received);
      return;
    }
    let chunk: Uint8Array | undefined = m.chunk;
    while (chunk !== undefined) {
      incoming.chunks.push(chunk);
      incoming.received += chunk.byteLength;
      chunk = incoming.ahead.get(incoming.received);
    }
    for (const offset of incoming.ahead.keys()) if (offset < incoming.received) incoming.ahead.delete(offset);
    if (incoming.received < m.totalBytes) {
      reply(incoming.received);
      return;
    }
    this.incoming = null;
    const data = concatChunks(incoming.chunks, incoming.received);
    this.restore({ metadata, data });
    this.send({ type: 'appendResponse', to: m.from, term: this.term, index: this.log.lastIndex(), reject: false, hintIndex: logIndex(0), hintTerm: asTerm(0) });
  }

  /** Installs a snapshot from the leader unless our log already holds its last entry. */
  private restore(snapshot: Snapshot): void {
    const { index, term: snapshotTerm } = snapshot.metadata;
    if (index <= this.log.committed) return;
    if (this.log.matchTerm(index, snapshotTerm)) {
      this.log.commitTo(index);
      return;
    }
    this.log.restore(snapshot);
    this.setConfState(snapshot.metadata.confState);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Linearizable reads

  private committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private handleReadIndex(from: NodeId, context: number): void {
    if (!this.committedInCurrentTerm()) {
      // Until an entry of this term commits, the commit index may lag what earlier leaders committed.
      this.readsBeforeCommit.push({ from, context });
      return;
    }
    const read: PendingRead = { from, context, index: this.log.committed };
    if (this.voters.size === 1 || this.config.readOnly === 'lease' || this.config.bugs?.readWithoutQuorum === true) {
      this.answerRead(read);
      return;
    }
    this.readsQueued.push(read); // the round starts at the next flush, shared by every read queued by then
  }

  private releaseReadsBeforeCommit(): void {
    const reads = this.readsBeforeCommit;
    this.readsBeforeCommit = [];
    for (const read of reads) this.handleReadIndex(read.from, read.context);
  }

  /** Every read queued so far shares one heartbeat round; reads that come later wait for the next one. */
  private startReadRound(): void {
    this.readRound = { sequence: ++this.readSequence, acks: new Set([this.id]), reads: this.readsQueued };
    this.readsQueued = [];
    this.broadcastHeartbeat();
  }

  private answerRead(read: PendingRead): void {
    if (read.from === this.id) this.readStates.push({ index: read.index, context: read.context });
    else this.send({ type: 'readIndexResponse', to: read.from, term: this.term, index: read.index, context: read.context });
  }

  // ---------------------------------------------------------------------------------------------------------
  // Membership

  private validChange(change: ConfChange): boolean {
    const isVoter = this.voters.has(change.node);
    const isLearner = this.learners.has(change.node);
    switch (change.type) {
      case 'addVoter':
        return !isVoter;
      case 'addLearner':
        return !isVoter && !isLearner;
      case 'removeNode':
        return (isVoter || isLearner) && !(isVoter && this.voters.size === 1);
    }
  }

  /** Applies a committed membership change; invalid ones (decided identically everywhere) are no-ops. */
  applyConfChange(change: ConfChange): void {
    if (!this.validChange(change)) return;
    const next = logIndex(this.log.lastIndex() + 1);
    switch (change.type) {
      case 'addVoter': {
        this.learners.delete(change.node);
        this.voters.add(change.node);
        const pr = this.progress.get(change.node);
        if (pr !== undefined) pr.isLearner = false;
        else this.progress.set(change.node, this.newProgress(next, false));
        break;
      }
      case 'addLearner':
        this.learners.add(change.node);
        this.progress.set(change.node, this.newProgress(next, true));
        break;
      case 'removeNode':
        this.voters.delete(change.node);
        this.learners.delete(change.node);
        this.progress.delete(change.node);
        if (this.leadTransferee === change.node) this.leadTransferee = null;
        break;
    }
    if (this.role !== 'leader') return;
    if (!this.voters.has(this.id)) {
      this.stepDownRemoved();
      return;
    }
    this.maybeCommit();
    this.broadcastPending = true; // new members need the log; a smaller quorum may have moved commit
  }

  /**
   * A leader removed from the membership tells everyone the commit index (so they apply the removal too),
   * hands over to an up-to-date voter, then steps down.
   */
  private stepDownRemoved(): void {
    for (const [id, pr] of this.progress) if (id !== this.id) this.sendAppend(id, pr, true);
    for (const [id, pr] of this.progress) {
      if (this.voters.has(id) && pr.match === this.log.lastIndex()) {
        this.send({ type: 'timeoutNow', to: id, term: this.term });
        break;
      }
    }
    this.becomeFollower(this.term, null);
  }

  private newProgress(next: LogIndex, isLearner: boolean): Progress {
    const pr = new Progress(next, this.config.inflightMax, isLearner);
    pr.recentActive = true;
    return pr;
  }

  private setConfState(confState: ConfState): void {
    this.voters.clear();
    this.learners.clear();
    this.progress.clear();
    const next = logIndex(this.log.lastIndex() + 1);
    for (const id of confState.voters) {
      this.voters.add(id);
      this.progress.set(id, this.newProgress(next, false));
    }
    for (const id of confState.learners) {
      this.learners.add(id);
      this.progress.set(id, this.newProgress(next, true));
    }
  }

  confState(): ConfState {
    return { voters: [...this.voters].sort(), learners: [...this.learners].sort() };
  }

  // ---------------------------------------------------------------------------------------------------------

  private send(m: Outgoing): void {
    invariant(m.to !== this.id, () => `message ${m.type} to self`);
    this.messages.push({ ...m, from: this.id } as Message);
  }
}

function concatChunks(chunks: readonly Uint8Array[], totalBytes: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(totalBytes);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

export { RaftError };
