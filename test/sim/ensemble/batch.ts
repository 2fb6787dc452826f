// Runs consecutive seeds in this process, turning each violation into a failure record.

import { EnsembleViolation } from './checkers.ts';
import { addEnsembleResult, emptyEnsembleTotals, type EnsembleRunOptions, type EnsembleTotals } from './pool.ts';
import { simulateEnsemble } from './simulation.ts';

export async function runEnsembleSeeds(start: number, count: number, options: EnsembleRunOptions, stopAtFailure: boolean): Promise<EnsembleTotals> {
  const totals = emptyEnsembleTotals();
  for (let seed = start; seed < start + count; seed++) {
    try {
      addEnsembleResult(totals, await simulateEnsemble({ ...options, seed }));
    } catch (error) {
      totals.seeds++;
      if (error instanceof EnsembleViolation) {
        totals.failures.push({ seed, checker: error.checker, message: error.message, report: error.report });
      } else {
        const text = error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);
        totals.failures.push({ seed, checker: 'crash', message: `the simulation threw: ${text.split('\n')[0]}`, report: text });
      }
      if (stopAtFailure) break;
    }
  }
  return totals;
}
