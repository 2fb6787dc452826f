// The Raft log as the core sees it: what stable storage holds plus an unstable tail (entries and perhaps a
// snapshot) not yet persisted, with the commit and apply cursors.

import { invariant, RaftError } from './errors.ts';
import type { LogStorage } from './storage.ts';
import { entryBytes } from './storage.ts';
import type { Entry, LogIndex, Snapshot, Term } from './types.ts';
import { logIndex, term as asTerm } from './types.ts';

/** Entries not yet on stable storage. `offset` is the index of entries[0]. */
class Unstable {
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];
  constructor(public offset: number) {}

  /** The term at `index` if the unstable part knows it, undefined when storage must answer. */
  maybeTerm(index: number): Term | undefined {
    if (index < this.offset) {
      const snap = this.snapshot;
      return snap !== null && snap.metadata.index === index ? snap.metadata.term : undefined;
    }
    return this.entries[index - this.offset]?.term;
  }

  lastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.metadata.index;
  }

  truncateAndAppend(entries: readonly Entry[]): void {
    const after = entries[0]!.index;
    if (after === this.offset + this.entries.length) {
      for (const entry of entries) this.entries.push(entry);
    } else if (after <= this.offset) {
      // Replaces the whole unstable tail, and shadows storage from `after` on.
      this.offset = after;
      this.entries = [...entries];
    } else {
      this.entries = this.entries.slice(0, after - this.offset);
      for (const entry of entries) this.entries.push(entry);
    }
  }

  stableTo(index: number, t: Term): void {
    const known = this.maybeTerm(index);
    // A different term means the entry was replaced after the Ready was handed out: it is not stable.
    if (known !== t || index < this.offset) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }
}

export class RaftLog {
  private readonly unstable: Unstable;
  committed: LogIndex;
  applied: LogIndex;

  constructor(
    private readonly storage: LogStorage,
    applied: LogIndex | undefined,
  ) {
    const first = storage.firstIndex();
    this.unstable = new Unstable(storage.lastIndex() + 1);
    this.committed = logIndex(first - 1);
    this.applied = applied ?? logIndex(first - 1);
  }

  firstIndex(): LogIndex {
    const snap = this.unstable.snapshot;
    return snap !== null ? logIndex(snap.metadata.index + 1) : this.storage.firstIndex();
  }

  lastIndex(): LogIndex {
    return logIndex(this.unstable.lastIndex() ?? this.storage.lastIndex());
  }

  lastTerm(): Term {
    const t = this.term(this.lastIndex());
    invariant(t !== null, 'the last entry always has a term');
    return t;
  }

  /** The term at `index`, or null when compacted or past the end. */
  term(index: number): Term | null {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return null;
    const t = this.unstable.maybeTerm(index);
    if (t !== undefined) return t;
    return this.storage.term(logIndex(index));
  }

  matchTerm(index: number, t: Term): boolean {
    return this.term(index) === t;
  }

  /** Raft's up-to-date rule (§5.4.1): a later last term wins, then a longer log. */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * The follower side of AppendEntries: if the entry before `entries` matches, append (truncating conflicts)
   * and advance commit; returns the last index now known to match the leader, or null on mismatch.
   */
  maybeAppend(index: LogIndex, logTerm: Term, commit: LogIndex, entries: readonly Entry[]): LogIndex | null {
    if (!this.matchTerm(index, logTerm)) return null;
    const lastNew = logIndex(index + entries.length);
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      invariant(conflict > this.committed, () => `conflict at ${conflict} is at or below commit ${this.committed}`);
      this.append(entries.slice(conflict - (index + 1)));
    }
    this.commitTo(logIndex(Math.min(commit, lastNew)));
    return lastNew;
  }

  append(entries: readonly Entry[]): LogIndex {
    if (entries.length === 0) return this.lastIndex();
    invariant(entries[0]!.index - 1 >= this.committed, 'append below the commit index');
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /** The first entry whose term differs from ours (or that we lack), 0 when all match. */
  private findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    return 0;
  }

  /**
   * Fast backtracking: the largest index <= `index` whose term is <= `t`. A leader and follower can skip a
   * whole term of mismatched entries per round trip this way.
   */
  findConflictByTerm(index: number, t: Term): LogIndex {
    for (let i = index; i >= this.firstIndex() - 1; i--) {
      const it = this.term(i);
      if (it === null) return logIndex(i);
      if (it <= t) return logIndex(i);
    }
    return logIndex(Math.max(0, this.firstIndex() - 1));
  }

  commitTo(index: LogIndex): void {
    if (index <= this.committed) return;
    invariant(index <= this.lastIndex(), () => `commit ${index} is past the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  appliedTo(index: LogIndex): void {
    invariant(index <= this.committed && index >= this.applied, () => `applied ${index} outside [${this.applied}, ${this.committed}]`);
    this.applied = index;
  }

  /** Entries from `lo` to the end, up to about `bytesMax`. Throws `compacted` when lo is before the log. */
  entriesFrom(lo: number, bytesMax: number): Entry[] {
    if (lo > this.lastIndex()) return [];
    return this.slice(lo, this.lastIndex() + 1, bytesMax);
  }

  slice(lo: number, hi: number, bytesMax: number): Entry[] {
    if (lo < this.firstIndex()) throw new RaftError('compacted', `entry ${lo} was compacted`);
    invariant(hi <= this.lastIndex() + 1, () => `slice end ${hi} past ${this.lastIndex() + 1}`);
    const out: Entry[] = [];
    const split = this.unstable.offset;
    if (lo < split) {
      const stored = this.storage.entries(logIndex(lo), logIndex(Math.min(hi, split)), bytesMax);
      for (const entry of stored) out.push(entry);
      if (stored.length < Math.min(hi, split) - lo) return out; // stopped by the byte limit
    }
    if (hi > split) {
      let bytes = 0;
      for (const entry of out) bytes += entryBytes(entry);
      for (let i = Math.max(lo, split); i < hi; i++) {
        const entry = this.unstable.entries[i - this.unstable.offset]!;
        bytes += entryBytes(entry);
        if (out.length > 0 && bytes > bytesMax) break;
        out.push(entry);
      }
    }
    return out;
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  nextCommittedEntries(bytesMax: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 <= lo) return [];
    return this.slice(lo, this.committed + 1, bytesMax);
  }

  unstableEntries(): readonly Entry[] {
    return this.unstable.entries;
  }

  pendingSnapshot(): Snapshot | null {
    return this.unstable.snapshot;
  }

  stableTo(index: LogIndex, t: Term): void {
    this.unstable.stableTo(index, t);
  }

  stableSnapshotTo(index: LogIndex): void {
    if (this.unstable.snapshot?.metadata.index === index) this.unstable.snapshot = null;
  }

  /** Replaces the log with a snapshot received from the leader. */
  restore(snapshot: Snapshot): void {
    const index = snapshot.metadata.index;
    this.committed = index;
    this.unstable.snapshot = snapshot;
    this.unstable.entries = [];
    this.unstable.offset = index + 1;
  }

  /** The snapshot to send a follower: the pending one if any, else storage's. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Whether a config entry is committed but not yet applied (a member then must not campaign). */
  hasUnappliedConfig(): boolean {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (lo > this.committed) return false;
    for (const entry of this.slice(lo, this.committed + 1, Number.POSITIVE_INFINITY)) {
      if (entry.kind === 'config') return true;
    }
    return false;
  }
}

export const zeroTerm = asTerm(0);
