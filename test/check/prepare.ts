// Prepares a partition for the search, shrinking its state space without changing the verdict: four reductions.
//
// Unobserved values. The model looks at a value only to return it from a get or to test it in a `value` compare.
// In a partition without value compares, a value that no completed get returned can never match a recorded
// result, so every such value can be replaced by one placeholder: the map from values to "value or placeholder"
// commutes with every step and keeps every recorded result matching or not matching as before. States that
// differ only in values nobody saw then become equal and share one cache entry.
//
// Effect form. Nobody saw the result of an unknown-outcome operation, so only its effect matters: a txn that
// guards one set, delete or create on its compare's key, and only reads otherwise, is written as that operation
// with the guard as its precondition (see effectForm).
//
// Interchangeable unknown operations. After those rewrites, unknown-outcome operations that are identical (two
// unguarded sets of unobserved values on one key, say) are interchangeable: whichever is linearized, the state is
// the same, and the earlier-invoked one is available wherever the later one is. So the search only ever takes the
// first not-yet-linearized member of such a class (see search.ts), instead of every permutation of them.
//
// Deadlines for observed unknown writes. If a completed read returned a value that exactly one operation of the
// partition writes, and that operation's outcome is unknown, then in every linearization it took effect before
// that read did, so before the read completed. It becomes a required operation with that deadline (its result
// still unconstrained), instead of one the search may place anywhere or leave out.

import type { IndexedEntry } from './history.ts';
import type { Compare, ModelOutcome, Operation, SubOperation } from './model.ts';
import type { Partition } from './partition.ts';

/** One operation as the search sees it. */
export interface SearchOperation {
  readonly indexed: IndexedEntry;
  /** The operation applied: the entry's own, or with unobserved values replaced by a placeholder. */
  readonly operation: Operation;
  /** The outcome the model must give; null when any will do (the client never learned it). */
  readonly expected: ModelOutcome | null;
  /** When it must have taken effect by: its completion, or a deadline derived above; Infinity if never. */
  readonly deadlineMs: number;
}

/** What the search needs. Both lists are in invocation order. */
export interface SearchInput {
  readonly keys: readonly string[];
  /** Operations every linearization must hold: completed ones, and unknown ones given a deadline. */
  readonly required: readonly SearchOperation[];
  /** Unknown-outcome operations that may take effect at any time after their invocation, or never. */
  readonly optional: readonly SearchOperation[];
}

/** Turns a partition (without `failed` entries) into the search's input, applying the reductions above. */
export function prepareSearch(partition: Partition): SearchInput {
  const rewrite = valueRewriter(partition.entries);
  const deadlines = observedWriteDeadlines(partition.entries);
  const required: SearchOperation[] = [];
  const optional: SearchOperation[] = [];
  for (const indexed of partition.entries) {
    const { entry } = indexed;
    const operation = rewrite(entry.operation);
    if (entry.outcome.status === 'ok' || entry.outcome.status === 'error') {
      required.push({ indexed, operation, expected: entry.outcome, deadlineMs: entry.completeMs ?? Infinity });
      continue;
    }
    const deadlineMs = deadlines.get(indexed.index);
    const effect = effectForm(operation);
    if (deadlineMs === undefined) optional.push({ indexed, operation: effect, expected: null, deadlineMs: Infinity });
    else required.push({ indexed, operation: effect, expected: null, deadlineMs });
  }
  return { keys: partition.keys, required, optional };
}

/** A key naming a class of interchangeable operations: equal keys, equal operations. */
export function operationClass(operation: Operation): string {
  switch (operation.op) {
    case 'get':
      return `get\u0001${operation.key}`;
    case 'create':
      return `create\u0001${operation.key}\u0001${operation.value}`;
    case 'set':
      return `set\u0001${operation.key}\u0001${operation.value}\u0001${operation.expectedVersion ?? '*'}`;
    case 'delete':
      return `delete\u0001${operation.key}\u0001${operation.expectedVersion ?? '*'}`;
    case 'txn':
      return `txn\u0001${JSON.stringify(operation)}`;
  }
}

/**
 * The effect of an operation whose outcome nobody saw, in its simplest form: a txn that guards a single set,
 * delete or create with one compare on the same key, and only reads otherwise, has the effect of that operation
 * with the guard as its own precondition. Such txns then share a class with the plain operations.
 */
export function effectForm(operation: Operation): Operation {
  if (operation.op !== 'txn' || operation.compares.length !== 1 || operation.success.length !== 1) return operation;
  const [compare] = operation.compares as [Compare];
  const [sub] = operation.success as [SubOperation];
  if (sub.key !== compare.key || !operation.failure.every((other) => other.op === 'get')) return operation;
  if (compare.op !== '=') return operation;
  if (sub.op === 'create' && compare.target === 'exists' && !compare.value) return sub;
  if ((sub.op !== 'set' && sub.op !== 'delete') || sub.expectedVersion !== undefined) return operation;
  // Both set and delete refuse an absent key, so "exists" adds nothing to them, and "version = N" is their guard
  // (where an absent key compares as version 0, the set or delete inside then fails and the txn does nothing).
  if (compare.target === 'exists' && compare.value) return sub;
  if (compare.target === 'version') return { ...sub, expectedVersion: compare.value };
  return operation;
}

/** The rewrite of unobserved values, or the identity when the partition compares values. */
function valueRewriter(entries: readonly IndexedEntry[]): (operation: Operation) => Operation {
  if (entries.some((indexed) => comparesValues(indexed.entry.operation))) return (operation) => operation;
  const observed = new Set(observations(entries).map((observation) => observation.value));
  let placeholder = '\u0000unobserved';
  while (observed.has(placeholder)) placeholder += '\u0000';
  return (operation) => withValues(operation, (value) => (observed.has(value) ? value : placeholder));
}

/** Deadlines of unknown-outcome operations that are the only writer of a value a completed read returned. */
function observedWriteDeadlines(entries: readonly IndexedEntry[]): Map<number, number> {
  const writers = new Map<string, number>();
  for (const { entry } of entries) {
    for (const value of writtenValues(entry.operation)) writers.set(value, (writers.get(value) ?? 0) + 1);
  }
  const firstSeenMs = new Map<string, number>();
  for (const { value, completeMs } of observations(entries)) {
    firstSeenMs.set(value, Math.min(completeMs, firstSeenMs.get(value) ?? Infinity));
  }
  const deadlines = new Map<number, number>();
  for (const { index, entry } of entries) {
    if (entry.outcome.status !== 'unknown') continue;
    for (const value of writtenValues(entry.operation)) {
      const seenMs = firstSeenMs.get(value);
      // A read that completed before the write was invoked cannot have seen it: leave that to the search.
      if (writers.get(value) !== 1 || seenMs === undefined || seenMs < entry.invokeMs) continue;
      deadlines.set(index, Math.min(seenMs, deadlines.get(index) ?? Infinity));
    }
  }
  return deadlines;
}

function comparesValues(operation: Operation): boolean {
  return operation.op === 'txn' && operation.compares.some((compare) => compare.target === 'value');
}

/** Every value a completed get (alone or in a txn) returned, with when that get completed. */
function observations(entries: readonly IndexedEntry[]): { value: string; completeMs: number }[] {
  const found: { value: string; completeMs: number }[] = [];
  for (const { entry } of entries) {
    if (entry.outcome.status !== 'ok' || entry.completeMs === null) continue;
    const result = entry.outcome.result;
    const results = result.op === 'txn' ? result.results : [result];
    for (const sub of results) if (sub.op === 'get' && sub.found) found.push({ value: sub.value, completeMs: entry.completeMs });
  }
  return found;
}

/** The distinct values an operation may write (either branch of a txn). */
function writtenValues(operation: Operation): readonly string[] {
  switch (operation.op) {
    case 'create':
    case 'set':
      return [operation.value];
    case 'get':
    case 'delete':
      return [];
    case 'txn': {
      const subs = [...operation.success, ...operation.failure];
      return [...new Set(subs.flatMap((sub) => (sub.op === 'create' || sub.op === 'set' ? [sub.value] : [])))];
    }
  }
}

/** The operation with every written value mapped; the same object when no value changes. */
function withValues(operation: Operation, map: (value: string) => string): Operation {
  if (operation.op !== 'txn') return withValue(operation, map);
  const success = operation.success.map((sub) => withValue(sub, map));
  const failure = operation.failure.map((sub) => withValue(sub, map));
  const same = success.every((sub, i) => sub === operation.success[i]) && failure.every((sub, i) => sub === operation.failure[i]);
  return same ? operation : { ...operation, success, failure };
}

function withValue<T extends SubOperation>(sub: T, map: (value: string) => string): T {
  if (sub.op !== 'create' && sub.op !== 'set') return sub;
  const value = map(sub.value);
  return value === sub.value ? sub : { ...sub, value };
}
