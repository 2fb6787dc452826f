// The core's outer interface: inputs (tick, step, propose, readIndex, transfer) and one Ready batch at a
// time, acknowledged by advance() once the caller has persisted, sent and applied it.

import { resolveConfig, type RaftConfigInput } from './config.ts';
import { invariant } from './errors.ts';
import { Raft } from './raft.ts';
import type { MemoryStorage } from './storage.ts';
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  LogIndex,
  Message,
  NodeId,
  ProposeResult,
  Ready,
  Role,
  SoftState,
  Term,
} from './types.ts';
import { logIndex, term } from './types.ts';

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly leader: NodeId | null;
  readonly commit: LogIndex;
  readonly applied: LogIndex;
  readonly firstIndex: LogIndex;
  readonly lastIndex: LogIndex;
  readonly confState: ConfState;
  readonly leadTransferee: NodeId | null;
}

/** Committed entries handed out per Ready are bounded so one batch cannot grow without limit. */
const committedBytesMaxPerReady = 64 * 1024 * 1024;

export class RawNode {
  private readonly raft: Raft;
  private previousSoft: SoftState;
  private previousHard: HardState;
  private outstanding: Ready | null = null;

  constructor(input: RaftConfigInput) {
    this.raft = new Raft(resolveConfig(input));
    this.previousSoft = this.softState();
    this.previousHard = this.hardState();
  }

  tick(): void {
    this.raft.tick();
  }

  step(message: Message): void {
    this.raft.step(message);
  }

  /** Proposes application data. On a leader the entry is appended at once and its index returned. */
  propose(data: Uint8Array): ProposeResult {
    return this.raft.propose({ kind: 'normal', data });
  }

  /** Proposes one membership change; dropped while another is not yet applied. */
  proposeConfChange(change: ConfChange): ProposeResult {
    return this.raft.propose({ kind: 'config', change });
  }

  /** Asks for a linearizable read point; a ReadState with `context` arrives in a later Ready. */
  readIndex(context: number): boolean {
    return this.raft.readIndex(context);
  }

  transferLeadership(target: NodeId): void {
    this.raft.transferLeadership(target);
  }

  campaign(): void {
    this.raft.hup();
  }

  /** A hint from the transport that `id`'s process is gone (see Raft.peerDown). */
  reportPeerDown(id: NodeId): void {
    this.raft.peerDown(id);
  }

  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    const raft = this.raft;
    raft.flush();
    return (
      raft.messages.length > 0 ||
      raft.readStates.length > 0 ||
      raft.log.unstableEntries().length > 0 ||
      raft.log.pendingSnapshot() !== null ||
      raft.log.hasNextCommittedEntries() ||
      !sameHard(this.hardState(), this.previousHard) ||
      !sameSoft(this.softState(), this.previousSoft)
    );
  }

  ready(): Ready {
    invariant(this.outstanding === null, 'ready() called again before advance()');
    const raft = this.raft;
    raft.flush();
    const soft = this.softState();
    const hard = this.hardState();
    const entries = [...raft.log.unstableEntries()];
    const snapshot = raft.log.pendingSnapshot();
    const committedEntries = snapshot === null ? raft.log.nextCommittedEntries(committedBytesMaxPerReady) : [];
    const hardChanged = !sameHard(hard, this.previousHard);
    const ready: Ready = {
      softState: sameSoft(soft, this.previousSoft) ? null : soft,
      hardState: hardChanged ? hard : null,
      entries,
      snapshot,
      committedEntries,
      messages: raft.messages,
      readStates: raft.readStates,
      mustSync: entries.length > 0 || snapshot !== null || hard.term !== this.previousHard.term || hard.vote !== this.previousHard.vote || committedEntries.some((entry) => entry.kind === 'config'),
    };
    raft.messages = [];
    raft.readStates = [];
    this.previousSoft = soft;
    if (hardChanged) this.previousHard = hard;
    this.outstanding = ready;
    return ready;
  }

  advance(ready: Ready): void {
    invariant(this.outstanding === ready, 'advance() must acknowledge the last Ready');
    this.outstanding = null;
    const raft = this.raft;
    if (ready.snapshot !== null) {
      const index = ready.snapshot.metadata.index;
      raft.log.stableSnapshotTo(index);
      if (index > raft.log.applied) raft.log.appliedTo(index);
    }
    const lastPersisted = ready.entries[ready.entries.length - 1];
    if (lastPersisted !== undefined) {
      raft.log.stableTo(lastPersisted.index, lastPersisted.term);
      if (raft.log.term(lastPersisted.index) === lastPersisted.term) raft.selfPersisted(lastPersisted.index);
    }
    const lastApplied = ready.committedEntries[ready.committedEntries.length - 1];
    if (lastApplied !== undefined) {
      for (const entry of ready.committedEntries) applyConfig(raft, entry);
      raft.log.appliedTo(lastApplied.index);
    }
  }

  status(): RaftStatus {
    const raft = this.raft;
    return {
      id: raft.id,
      role: raft.role,
      term: raft.term,
      vote: raft.vote,
      leader: raft.leader,
      commit: raft.log.committed,
      applied: raft.log.applied,
      firstIndex: raft.log.firstIndex(),
      lastIndex: raft.log.lastIndex(),
      confState: raft.confState(),
      leadTransferee: raft.leadTransferee,
    };
  }

  private softState(): SoftState {
    return { leader: this.raft.leader, role: this.raft.role };
  }

  private hardState(): HardState {
    return { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
  }
}

function applyConfig(raft: Raft, entry: Entry): void {
  if (entry.kind === 'config') raft.applyConfChange(entry.change);
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoft(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}

/**
 * A new cluster's initial membership as committed config entries 1..n at term 1. Every initial member
 * persists the same entries, so members that join later learn the whole membership history from the log.
 */
export function bootstrapState(voters: readonly NodeId[]): { entries: Entry[]; hardState: HardState } {
  invariant(voters.length > 0 && new Set(voters).size === voters.length, 'bootstrap needs distinct voters');
  const entries: Entry[] = voters.map((node, i) => ({ kind: 'config', term: term(1), index: logIndex(i + 1), change: { type: 'addVoter', node } }));
  return { entries, hardState: { term: term(1), vote: null, commit: logIndex(voters.length) } };
}

/** Writes the initial membership (bootstrapState) into empty in-memory storage. */
export function bootstrap(storage: MemoryStorage, voters: readonly NodeId[]): void {
  invariant(storage.lastIndex() === 0, 'bootstrap needs empty storage');
  const { entries, hardState } = bootstrapState(voters);
  storage.append(entries);
  storage.setHardState(hardState);
}
