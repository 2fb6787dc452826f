// The vocabulary of the Raft core: ids, log entries, persistent state, messages and the Ready batch.
// Everything here is plain data so it can cross the wire (CBOR) and the disk unchanged.

/** A member's id, unique in the cluster for its whole life (never reused after removal). */
export type NodeId = string & { readonly __brand: 'NodeId' };
/** A Raft term. Grows by one per election; safe integer. */
export type Term = number & { readonly __brand: 'Term' };
/** A position in the replicated log, starting at 1; 0 means "before the first entry". */
export type LogIndex = number & { readonly __brand: 'LogIndex' };

export const nodeId = (id: string): NodeId => id as NodeId;
export const term = (t: number): Term => t as Term;
export const logIndex = (i: number): LogIndex => i as LogIndex;

/** A change to the membership, one server at a time (see docs/raft.md for why this is safe). */
export type ConfChange =
  | { readonly type: 'addVoter'; readonly node: NodeId }
  | { readonly type: 'addLearner'; readonly node: NodeId }
  | { readonly type: 'removeNode'; readonly node: NodeId };

/** The membership: voters decide elections and commitment; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export type Entry =
  | {
      readonly kind: 'normal';
      readonly term: Term;
      readonly index: LogIndex;
      /** Empty for the no-op a new leader appends at the start of its term. */
      readonly data: Uint8Array;
    }
  | {
      readonly kind: 'config';
      readonly term: Term;
      readonly index: LogIndex;
      readonly change: ConfChange;
    };

/** What must be on stable storage before any message that depends on it leaves. */
export interface HardState {
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly commit: LogIndex;
}

export interface SnapshotMetadata {
  readonly index: LogIndex;
  readonly term: Term;
  readonly confState: ConfState;
}

/** The state machine's state as of `metadata.index`; it replaces every entry up to that index. */
export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** A linearizable read may be served once the local member has applied up to `index`. */
export interface ReadState {
  readonly index: LogIndex;
  readonly context: number;
}

// ---------------------------------------------------------------------------------------------------------
// Messages. `term` is the sender's term, 0 for messages that carry no term (forwarded proposals and reads).

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
}

/** AppendEntries: `index`/`logTerm` name the entry that precedes `entries` (the log-matching check). */
export interface AppendMessage extends MessageBase {
  readonly type: 'append';
  readonly index: LogIndex;
  readonly logTerm: Term;
  readonly entries: readonly Entry[];
  readonly commit: LogIndex;
}

/**
 * Answer to an append. On success `index` is the follower's last matching index. On reject, `index` is the
 * rejected `index` of the append and `hintIndex`/`hintTerm` let the leader skip back a whole term at a time.
 */
export interface AppendResponseMessage extends MessageBase {
  readonly type: 'appendResponse';
  readonly index: LogIndex;
  readonly reject: boolean;
  readonly hintIndex: LogIndex;
  readonly hintTerm: Term;
}

export interface VoteMessage extends MessageBase {
  readonly type: 'vote' | 'preVote';
  readonly lastIndex: LogIndex;
  readonly lastTerm: Term;
  /** Set by a leadership transfer: voters ignore their leader lease. */
  readonly transfer: boolean;
}

export interface VoteResponseMessage extends MessageBase {
  readonly type: 'voteResponse' | 'preVoteResponse';
  readonly reject: boolean;
}

/** `context` names a ReadIndex round (0: none); the follower echoes it. */
export interface HeartbeatMessage extends MessageBase {
  readonly type: 'heartbeat';
  readonly commit: LogIndex;
  readonly context: number;
}

export interface HeartbeatResponseMessage extends MessageBase {
  readonly type: 'heartbeatResponse';
  readonly context: number;
}

/** One chunk of a snapshot; chunks arrive in order, `offset` is the chunk's first byte. */
export interface SnapshotMessage extends MessageBase {
  readonly type: 'snapshot';
  readonly metadata: SnapshotMetadata;
  readonly offset: number;
  readonly totalBytes: number;
  readonly chunk: Uint8Array;
}

/** Acknowledges snapshot bytes received so far, for snapshot `index` (a rewind when lower than sent). */
export interface SnapshotResponseMessage extends MessageBase {
  readonly type: 'snapshotResponse';
  readonly index: LogIndex;
  readonly offset: number;
}

export interface TimeoutNowMessage extends MessageBase {
  readonly type: 'timeoutNow';
}

/** Proposals forwarded by a follower to its leader. */
export interface ProposeMessage extends MessageBase {
  readonly type: 'propose';
  readonly entries: readonly ProposalData[];
}

export interface ReadIndexMessage extends MessageBase {
  readonly type: 'readIndex';
  readonly context: number;
}

export interface ReadIndexResponseMessage extends MessageBase {
  readonly type: 'readIndexResponse';
  readonly context: number;
  readonly index: LogIndex;
}

export interface TransferLeaderMessage extends MessageBase {
  readonly type: 'transferLeader';
  readonly target: NodeId;
}

export type Message =
  | AppendMessage
  | AppendResponseMessage
  | VoteMessage
  | VoteResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | SnapshotMessage
  | SnapshotResponseMessage
  | TimeoutNowMessage
  | ProposeMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage
  | TransferLeaderMessage;

export type MessageType = Message['type'];

/** What a proposal carries: application bytes or a membership change. */
export type ProposalData =
  | { readonly kind: 'normal'; readonly data: Uint8Array }
  | { readonly kind: 'config'; readonly change: ConfChange };

export type ProposeResult =
  | { readonly status: 'appended'; readonly index: LogIndex; readonly term: Term }
  | { readonly status: 'forwarded'; readonly leader: NodeId }
  | { readonly status: 'dropped'; readonly reason: DropReason; readonly leader: NodeId | null };

export type DropReason = 'no_leader' | 'transferring' | 'config_pending' | 'invalid_config' | 'not_member';

export interface SoftState {
  readonly leader: NodeId | null;
  readonly role: Role;
}

/**
 * One batch of work for the caller, in this order: persist `hardState`, `snapshot` and `entries` (one sync
 * when `mustSync`), then send `messages`, then apply `snapshot` and `committedEntries` to the state machine and
 * serve `readStates` once applied, then call `advance(ready)`.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  /**
   * New entries, a snapshot, a new term or vote, or the commit of a membership entry. A commit index alone is
   * learnt again after a crash, but not a membership change the caller acted on: a member tells a removed peer
   * it applied the removal, and the peer stops for good (seed 38514 of the ensemble simulation).
   */
  readonly mustSync: boolean;
}
