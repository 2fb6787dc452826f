// Turns a failed search into an explanation: where the longest linearization found got stuck, in what state, and
// what each operation that could have come next would have answered there, beside what its client recorded.

import type { IndexedEntry } from './history.ts';
import { type Cells, type ModelOutcome, outcomesEqual, type Register, stepCells } from './model.ts';
import type { SearchInput, SearchOperation } from './prepare.ts';

/** A key's register (null: absent) at the point of failure. */
export interface KeyState {
  readonly key: string;
  readonly register: Register | null;
}

/** An operation that could have taken effect next, and what the model would have answered then. */
export interface Candidate {
  readonly entry: IndexedEntry;
  readonly model: ModelOutcome;
  /**
   * Whether the model's answer is the recorded one (always true for an unknown outcome). A candidate that fits
   * was tried and led to a dead end later; one that does not fit could not go here at all.
   */
  readonly fits: boolean;
}

/** Why a partition has no linearization, as seen from the deepest point the search reached. */
export interface Explanation {
  /** The longest linearization of a prefix found, in linearization order. */
  readonly linearized: readonly IndexedEntry[];
  /** The model state after it. */
  readonly state: readonly KeyState[];
  /**
   * The operation not yet placed with the earliest deadline: its completion, or for an unknown outcome whose
   * written value a read returned, that read's completion.
   */
  readonly deadline: IndexedEntry;
  readonly deadlineMs: number;
  /** Every operation that could have been placed next (invoked by the deadline), by invocation. */
  readonly candidates: readonly Candidate[];
}

/**
 * Builds the explanation of a failed search from its deepest path. It replays the entries' own operations (not
 * the search's rewritten ones), so states and answers show the real values.
 */
export function explainFailure(input: SearchInput, deepest: readonly SearchOperation[]): Explanation {
  const slots = new Map(input.keys.map((key, slot) => [key, slot]));
  const slotOf = (key: string): number => slots.get(key) as number;
  let cells: Cells = input.keys.map(() => null);
  for (const { indexed } of deepest) cells = stepCells(cells, slotOf, indexed.entry.operation).cells;
  const placed = new Set(deepest.map(({ indexed }) => indexed.index));
  const open = input.required.filter(({ indexed }) => !placed.has(indexed.index));
  const deadline = open.reduce((best, operation) => (operation.deadlineMs < best.deadlineMs ? operation : best));
  const pending = [...open, ...input.optional.filter(({ indexed }) => !placed.has(indexed.index))]
    .filter(({ indexed }) => indexed.entry.invokeMs <= deadline.deadlineMs)
    .sort((a, b) => a.indexed.entry.invokeMs - b.indexed.entry.invokeMs || a.indexed.index - b.indexed.index);
  return {
    linearized: deepest.map(({ indexed }) => indexed),
    state: input.keys.map((key, slot) => ({ key, register: cells[slot] ?? null })),
    deadline: deadline.indexed,
    deadlineMs: deadline.deadlineMs,
    candidates: pending.map(({ indexed }) => candidate(indexed, cells, slotOf)),
  };
}

function candidate(indexed: IndexedEntry, cells: Cells, slotOf: (key: string) => number): Candidate {
  const model = stepCells(cells, slotOf, indexed.entry.operation).outcome;
  const recorded = indexed.entry.outcome;
  switch (recorded.status) {
    case 'ok':
    case 'error':
      return { entry: indexed, model, fits: outcomesEqual(model, recorded) };
    case 'failed':
      return { entry: indexed, model, fits: false };
    case 'unknown':
      return { entry: indexed, model, fits: true };
  }
}
