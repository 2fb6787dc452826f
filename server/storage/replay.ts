// Rebuilding the log from WAL records on top of a snapshot, with Raft's truncation semantics: an entry
// record at index i means "the log is now [..i-1] followed by this entry", so a later record that overwrites
// an index drops the old suffix. Pure: records in, entries out. Whether a snapshot is usable ("covered") is
// decided here too: the WAL must describe the log from that snapshot on without a hole.

import type { ConfState, Entry, HardState, LogIndex, Term } from '../raft/types.ts';
import { corrupt } from './errors.ts';
import type { WalRecord } from './record.ts';

/** Records in WAL order, and where each was read (for error messages). */
export interface RecordSource {
  readonly records: readonly WalRecord[];
  locate(n: number): { readonly file: string; readonly offset: number };
}

export type ReplayOutcome =
  | {
      readonly status: 'covered';
      /** Entries after the snapshot, in order, ready for MemoryStorage.append. */
      readonly entries: Entry[];
      readonly hardState: HardState | null;
      /** The membership recorded for the empty log in the first segment, if that segment is still there. */
      readonly bootstrapConfState: ConfState | null;
      readonly lastIndex: LogIndex;
      readonly lastTerm: Term;
    }
  | { readonly status: 'not_covered'; readonly reason: string };

/**
 * Replays `records` (in WAL order, beginning with a segment header) on top of a snapshot at (index, term).
 * `not_covered` when the WAL cannot rebuild the log from that snapshot (its segments were released, or a
 * later snapshot replaced the log); throws `corrupt` when the records contradict each other (a hole, a term
 * going down, a segment that does not continue its predecessor).
 */
export function replay(source: RecordSource, snapshot: { readonly index: number; readonly term: number }): ReplayOutcome {
  const { records } = source;
  const s = snapshot.index;
  const entries: Entry[] = [];
  let hardState: HardState | null = null;
  let bootstrapConfState: ConfState | null = null;
  // The log as the records describe it ends at (endIndex, endTerm). Entries past the snapshot are in
  // `entries` (entries[k] has index s + 1 + k) when `knownAfterSnapshot`; otherwise `unknownReason` says why
  // they are not (their records were released, or a later snapshot replaced them). `termAtSnapshot` is the
  // term the records give the entry at the snapshot's index, and `attached` whether the entries after the
  // snapshot follow an entry with the snapshot's term. Both can still change: a later record at or before
  // the snapshot's index truncates the log there, so the verdict waits for the last record.
  let endIndex = -1;
  let endTerm = 0;
  let termAtSnapshot: number | null = null;
  let knownAfterSnapshot = true;
  let unknownReason = '';
  let attached = true;
  const truncateToSnapshot = (i: number, t: number): void => {
    entries.length = 0;
    knownAfterSnapshot = true;
    attached = true;
    termAtSnapshot = i === s ? t : null;
  };

  for (let n = 0; n < records.length; n++) {
    const record = records[n]!;
    const at = (what: string): Error => {
      const { file, offset } = source.locate(n);
      return corrupt(file, offset, what);
    };
    switch (record.kind) {
      case 'segmentHeader': {
        const before = record.firstIndex - 1;
        if (n === 0) {
          endIndex = before;
          endTerm = record.prevTerm;
          termAtSnapshot = before === s ? endTerm : null;
          knownAfterSnapshot = before <= s;
          unknownReason = `the WAL no longer holds the entries between ${s} and ${before}`;
          if (record.sequence === 1) bootstrapConfState = record.confState;
        } else if (before !== endIndex || record.prevTerm !== endTerm) {
          throw at(
            `the segment continues a log ending at (index ${before}, term ${record.prevTerm}) but the log before it ends at ` +
              `(index ${endIndex}, term ${endTerm}): a segment is missing or damaged`,
          );
        }
        break;
      }
      case 'normal':
      case 'config': {
        const { index: i, term: t } = record;
        if (i < 1 || i > endIndex + 1) throw at(`entry ${i} leaves a hole after ${endIndex}`);
        const before = i - 1 === endIndex ? endTerm : termAt(i - 1);
        if (before !== null && t < before) throw at(`entry ${i} has term ${t}, below ${before} before it`);
        if (i <= s) {
          // The log now ends at or before the snapshot: whatever we held after it is overwritten.
          truncateToSnapshot(i, t);
        } else if (knownAfterSnapshot) {
          const k = i - s - 1;
          if (k === 0) attached = termAtSnapshot === snapshot.term;
          entries.length = k;
          entries.push(record);
        }
        endIndex = i;
        endTerm = t;
        break;
      }
      case 'snapshot': {
        const { index: i, term: t } = record;
        if (record.reset) {
          // The log was replaced by a snapshot at i: past ours, rebuilding needs that snapshot (or a later one).
          if (i <= s) {
            truncateToSnapshot(i, t);
          } else {
            entries.length = 0;
            knownAfterSnapshot = false;
            unknownReason = `a snapshot at ${i} replaced the log later`;
          }
          endIndex = i;
          endTerm = t;
        } else {
          if (i > endIndex) throw at(`a snapshot marker at ${i} is past the log's end ${endIndex}`);
          const logTerm = termAt(i);
          if (logTerm !== null && logTerm !== t) {
            throw at(`a snapshot marker says entry ${i} has term ${t}, the log says ${logTerm}`);
          }
        }
        break;
      }
      case 'hardState':
        hardState = record.hardState;
        break;
    }
  }
  if (endIndex < s) return notCovered(`the WAL ends at ${endIndex}, before the snapshot at ${s}`);
  if (!knownAfterSnapshot) return notCovered(unknownReason);
  if (termAtSnapshot !== snapshot.term || !attached) {
    return notCovered(`the WAL's entry ${s} has term ${String(termAtSnapshot)}, the snapshot's is ${snapshot.term}`);
  }
  return { status: 'covered', entries, hardState, bootstrapConfState, lastIndex: endIndex as LogIndex, lastTerm: endTerm as Term };

  /** The term of entry `i` in the log rebuilt so far, when known. */
  function termAt(i: number): number | null {
    if (i === s) return termAtSnapshot;
    if (i > s && knownAfterSnapshot) return entries[i - s - 1]?.term ?? null;
    return null;
  }
}

function notCovered(reason: string): ReplayOutcome {
  return { status: 'not_covered', reason };
}
