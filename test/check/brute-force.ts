// A naive linearizability checker for tiny histories, straight from the definition: try every order of the
// operations that respects real time, with every subset of the unknown-outcome ones. No partitions, no cache, no
// reductions: the reference the real checker is compared against.

import type { History, HistoryEntry } from './history.ts';
import { applyOperation, outcomesEqual, type Register } from './model.ts';

/** Whether some order of `history` explains every recorded outcome. Exponential: keep histories under ~9 ops. */
export function bruteForceLinearizable(history: History): boolean {
  const entries = history.filter((entry) => entry.outcome.status !== 'failed');
  return search(entries, new Set(), new Map());
}

function search(entries: readonly HistoryEntry[], placed: ReadonlySet<number>, state: ReadonlyMap<string, Register>): boolean {
  const open = entries.map((_, i) => i).filter((i) => !placed.has(i));
  if (open.every((i) => (entries[i] as HistoryEntry).completeMs === null)) return true;
  for (const i of open) {
    const entry = entries[i] as HistoryEntry;
    // Real time: nothing still open may have completed before this one was invoked.
    const blocked = open.some((j) => {
      const other = entries[j] as HistoryEntry;
      return other.completeMs !== null && other.completeMs < entry.invokeMs;
    });
    if (blocked) continue;
    const step = applyOperation(state, entry.operation);
    const recorded = entry.outcome;
    if ((recorded.status === 'ok' || recorded.status === 'error') && !outcomesEqual(step.outcome, recorded)) continue;
    if (search(entries, new Set([...placed, i]), step.state)) return true;
  }
  return false;
}
