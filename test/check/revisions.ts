// checkRevisions: a cross-key check of the revisions Synod reports. Each successful write commits at its own
// revision, and revisions never go back in real time: an operation invoked after another completed sees at least
// that one's revision, and a write commits strictly after it. Linearizability per key cannot see a read of one key
// that is stale with respect to a write of another; this can.

import { type History, type HistoryEntry, type IndexedEntry, validateHistory } from './history.ts';
import type { Operation, Result } from './model.ts';

/** Limits of a revision check. */
export interface RevisionOptions {
  /** Violations reported at most (the count in `stats` is complete). Default 20. */
  readonly violationsMax?: number;
}

/** A broken revision rule. */
export type RevisionViolation =
  | {
      /** Two different successful writes reported the same revision. */
      readonly kind: 'duplicate';
      readonly revision: number;
      readonly first: IndexedEntry;
      readonly second: IndexedEntry;
    }
  | {
      /**
       * `later` was invoked after `earlier` completed, yet its revision is lower (or equal, for a write): the
       * highest revision that completed before `later` began is `earlier`'s.
       */
      readonly kind: 'back_in_time';
      readonly earlier: IndexedEntry;
      readonly later: IndexedEntry;
      readonly earlierRevision: number;
      readonly laterRevision: number;
      readonly laterIsWrite: boolean;
    };

/** What a revision check looked at. */
export interface RevisionStats {
  readonly operations: number;
  /** Successful writes that carry a revision. */
  readonly writes: number;
  /** Other completed entries that carry one: reads, and refused writes (they saw a state at that revision). */
  readonly reads: number;
  /** All violations found, reported or not. */
  readonly violations: number;
}

/** The verdict of `checkRevisions`. */
export type RevisionResult =
  | { readonly checker: 'revisions'; readonly ok: true; readonly stats: RevisionStats }
  | {
      readonly checker: 'revisions';
      readonly ok: false;
      /** The first `violationsMax` violations, duplicates first, then by the later operation's invocation. */
      readonly violations: readonly RevisionViolation[];
      readonly stats: RevisionStats;
    };

interface Revisioned {
  readonly indexed: IndexedEntry;
  readonly revision: number;
  readonly write: boolean;
}

/** Checks revision uniqueness of writes and real-time monotonicity of all revisions. O(n log n). */
export function checkRevisions(history: History, options: RevisionOptions = {}): RevisionResult {
  validateHistory(history);
  const revisioned = collect(history);
  const violations = [...duplicates(revisioned), ...backInTime(revisioned)];
  const writes = revisioned.filter((item) => item.write).length;
  const stats = { operations: history.length, writes, reads: revisioned.length - writes, violations: violations.length };
  if (violations.length === 0) return { checker: 'revisions', ok: true, stats };
  return { checker: 'revisions', ok: false, violations: violations.slice(0, options.violationsMax ?? 20), stats };
}

/** Whether a successful outcome wrote: a create, set or delete, or a txn whose branch held one. */
export function isWrite(operation: Operation, result: Result): boolean {
  if (operation.op !== 'txn' || result.op !== 'txn') return operation.op !== 'get';
  const branch = result.succeeded ? operation.success : operation.failure;
  return branch.some((sub) => sub.op !== 'get');
}

function collect(history: History): Revisioned[] {
  const items: Revisioned[] = [];
  history.forEach((entry: HistoryEntry, index) => {
    const outcome = entry.outcome;
    if ((outcome.status !== 'ok' && outcome.status !== 'error') || outcome.revision === undefined) return;
    const write = outcome.status === 'ok' && isWrite(entry.operation, outcome.result);
    items.push({ indexed: { index, entry }, revision: outcome.revision, write });
  });
  return items;
}

function duplicates(items: readonly Revisioned[]): RevisionViolation[] {
  const byRevision = new Map<number, IndexedEntry>();
  const found: RevisionViolation[] = [];
  for (const item of items) {
    if (!item.write) continue;
    const first = byRevision.get(item.revision);
    if (first === undefined) byRevision.set(item.revision, item.indexed);
    else found.push({ kind: 'duplicate', revision: item.revision, first, second: item.indexed });
  }
  return found;
}

/**
 * Sweeps operations by invocation while folding in, by completion, every operation that completed strictly
 * before: the highest revision among those is the floor for the next invocation.
 */
function backInTime(items: readonly Revisioned[]): RevisionViolation[] {
  const byComplete = [...items].sort((a, b) => completeMs(a) - completeMs(b));
  const byInvoke = [...items].sort((a, b) => a.indexed.entry.invokeMs - b.indexed.entry.invokeMs);
  const found: RevisionViolation[] = [];
  let floor: Revisioned | null = null;
  let next = 0;
  for (const later of byInvoke) {
    for (; next < byComplete.length && completeMs(byComplete[next] as Revisioned) < later.indexed.entry.invokeMs; next++) {
      const candidate = byComplete[next] as Revisioned;
      if (floor === null || candidate.revision > floor.revision) floor = candidate;
    }
    if (floor === null) continue;
    const ok = later.write ? later.revision > floor.revision : later.revision >= floor.revision;
    if (ok) continue;
    found.push({
      kind: 'back_in_time',
      earlier: floor.indexed,
      later: later.indexed,
      earlierRevision: floor.revision,
      laterRevision: later.revision,
      laterIsWrite: later.write,
    });
  }
  return found;
}

function completeMs(item: Revisioned): number {
  return item.indexed.entry.completeMs ?? Number.POSITIVE_INFINITY;
}
