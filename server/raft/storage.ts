// The read interface the Raft core has onto stable storage, and the in-memory implementation that the
// durable log (server/storage/) fills on recovery and keeps up to date as it persists each Ready.

import { RaftError } from './errors.ts';
import type { ConfState, Entry, HardState, LogIndex, Snapshot, Term } from './types.ts';
import { logIndex, term } from './types.ts';

export interface InitialState {
  readonly hardState: HardState;
  readonly confState: ConfState;
}

/**
 * What the core reads of persisted state. Entries in [firstIndex, lastIndex] are available; the entry at
 * firstIndex - 1 is the snapshot's last entry, whose term is still known.
 */
export interface LogStorage {
  initialState(): InitialState;
  /** Entries in [lo, hi), at least one if any, stopping before `bytesMax` is passed. */
  entries(lo: LogIndex, hi: LogIndex, bytesMax: number): Entry[];
  /** Term of the entry at `index`, or null when it was compacted away or is past the end. */
  term(index: LogIndex): Term | null;
  firstIndex(): LogIndex;
  lastIndex(): LogIndex;
  /** The newest snapshot; its index is firstIndex - 1. */
  snapshot(): Snapshot;
}

const emptyConf: ConfState = { voters: [], learners: [] };

/** Size of an entry for batching decisions: payload plus a fixed overhead. */
export function entryBytes(entry: Entry): number {
  return entry.kind === 'normal' ? entry.data.byteLength + 24 : 64;
}

/** Entries and state in memory. Not durable by itself: the WAL makes it so. */
export class MemoryStorage implements LogStorage {
  private hard: HardState = { term: term(0), vote: null, commit: logIndex(0) };
  private snap: Snapshot;
  // log[0] is a dummy entry standing for the snapshot's last entry (index/term only).
  private log: Entry[];

  constructor(confState: ConfState = emptyConf) {
    this.snap = { metadata: { index: logIndex(0), term: term(0), confState }, data: new Uint8Array(0) };
    this.log = [dummy(logIndex(0), term(0))];
  }

  initialState(): InitialState {
    return { hardState: this.hard, confState: this.snap.metadata.confState };
  }

  setHardState(hardState: HardState): void {
    this.hard = hardState;
  }

  hardState(): HardState {
    return this.hard;
  }

  firstIndex(): LogIndex {
    return logIndex(this.offset() + 1);
  }

  lastIndex(): LogIndex {
    return logIndex(this.offset() + this.log.length - 1);
  }

  term(index: LogIndex): Term | null {
    const i = index - this.offset();
    if (i < 0 || i >= this.log.length) return null;
    return this.log[i]!.term;
  }

  entries(lo: LogIndex, hi: LogIndex, bytesMax: number): Entry[] {
    const offset = this.offset();
    if (lo <= offset) throw new RaftError('compacted', `entries from ${lo} were compacted (first is ${offset + 1})`);
    if (hi > this.lastIndex() + 1) throw new RaftError('unavailable', `entries up to ${hi} are past the end`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo - offset; i < hi - offset; i++) {
      const entry = this.log[i]!;
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(entry);
    }
    return out;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Appends entries, truncating any conflicting suffix first. Entries already compacted are skipped. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const lastNew = entries[entries.length - 1]!.index;
    if (lastNew < first) return;
    const skip = first > entries[0]!.index ? first - entries[0]!.index : 0;
    const start = entries[skip]!.index - this.offset();
    if (start > this.log.length) {
      throw new RaftError('unavailable', `append at ${entries[skip]!.index} leaves a gap after ${this.lastIndex()}`);
    }
    this.log.length = start;
    for (let i = skip; i < entries.length; i++) this.log.push(entries[i]!);
  }

  /** Replaces the whole log with a snapshot (a follower installing one from its leader, or recovery). */
  applySnapshot(snapshot: Snapshot): void {
    if (snapshot.metadata.index < this.snap.metadata.index) {
      throw new RaftError('snapshot_out_of_date', `snapshot ${snapshot.metadata.index} is older than ${this.snap.metadata.index}`);
    }
    this.snap = snapshot;
    this.log = [dummy(snapshot.metadata.index, snapshot.metadata.term)];
  }

  /** Records a snapshot of the applied state at `index` (which must be in the log); does not compact. */
  createSnapshot(index: LogIndex, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) return this.snap;
    const t = this.term(index);
    if (t === null) throw new RaftError('unavailable', `snapshot index ${index} is not in the log`);
    this.snap = { metadata: { index, term: t, confState }, data };
    return this.snap;
  }

  /** Drops entries before `index`; the entry at `index` becomes the new dummy. */
  compact(index: LogIndex): void {
    const offset = this.offset();
    if (index <= offset) return;
    if (index > this.lastIndex()) throw new RaftError('unavailable', `compact ${index} is past the end ${this.lastIndex()}`);
    const i = index - offset;
    const kept = this.log.slice(i);
    kept[0] = dummy(index, this.log[i]!.term);
    this.log = kept;
  }

  private offset(): number {
    return this.log[0]!.index;
  }
}

function dummy(index: LogIndex, t: Term): Entry {
  return { kind: 'normal', index, term: t, data: new Uint8Array(0) };
}
