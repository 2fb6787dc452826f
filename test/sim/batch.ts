// Runs consecutive seeds in this process, collecting totals and failures.

import { simulate } from './cluster.ts';
import { SimulationViolation } from './errors.ts';
import { addResult, emptyTotals, type RunOptions, type Totals } from './pool.ts';

export function runSeeds(start: number, count: number, options: RunOptions, stopAtFailure = false): Totals {
  const totals = emptyTotals();
  for (let seed = start; seed < start + count; seed++) {
    try {
      addResult(totals, simulate({ ...options, seed }));
    } catch (error) {
      if (!(error instanceof SimulationViolation)) throw error;
      totals.seeds++;
      totals.failures.push({ seed, checker: error.checker, message: error.message });
      if (stopAtFailure) break;
    }
  }
  return totals;
}
