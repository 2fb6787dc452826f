// Measures how long checks take on large simulated histories and shows the budget stopping a pathological one;
// times are printed, and asserted only loosely, since the machine is shared.

import { describe, expect, it } from 'vitest';
import { create, lost, o, op, set, txn } from './builders.ts';
import { checkLinearizable, formatReport, type History, type LinearizabilityResult } from './index.ts';
import { simulateHistory, smallSimulation, type SimulationOptions } from './simulation.ts';

/** Checks a simulated history, printing wall time and CPU time (the machine may be shared, inflating the first). */
function measure(name: string, options: SimulationOptions): { result: LinearizabilityResult; checkMs: number } {
  const history = simulateHistory(options);
  const startMs = performance.now();
  const startCpu = process.cpuUsage();
  const result = checkLinearizable(history);
  const checkMs = performance.now() - startMs;
  const cpu = process.cpuUsage(startCpu);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const { stats } = result;
  console.log(
    `${name}: ${stats.operations} ops (${stats.unknown} with unknown outcome), ${stats.partitions} partition(s) ` +
      `(largest ${stats.partitionOperationsMax} ops), ${stats.configurations} configurations ` +
      `(hardest partition ${stats.partitionConfigurationsMax}): ${checkMs.toFixed(0)} ms wall, ${cpuMs.toFixed(0)} ms CPU`,
  );
  if (result.ok !== true) throw new Error(formatReport(result));
  return { result, checkMs };
}

describe('performance', () => {
  it('checks 20,000 operations over 50 keys from 10 processes', () => {
    const { checkMs } = measure('20k ops / 50 keys / 10 processes', {
      ...smallSimulation,
      seed: 1,
      operations: 20_000,
      keys: 50,
      processes: 10,
      timeoutRate: 0.01,
    });
    expect(checkMs).toBeLessThan(20_000);
  });

  it('checks 5,000 operations on one key from 20 processes', () => {
    const { checkMs } = measure('5k ops / 1 key / 20 processes', {
      ...smallSimulation,
      seed: 1,
      operations: 5_000,
      keys: 1,
      processes: 20,
      timeoutRate: 0,
    });
    expect(checkMs).toBeLessThan(20_000);
  });

  it('checks 20,000 operations over 50 keys with 5% unknown outcomes', () => {
    const { checkMs } = measure('20k ops / 50 keys / 10 processes / 5% timeouts', {
      ...smallSimulation,
      seed: 2,
      operations: 20_000,
      keys: 50,
      processes: 10,
      timeoutRate: 0.05,
    });
    expect(checkMs).toBeLessThan(20_000);
  });

  it("answers 'unknown' when the budget runs out, naming the partition", () => {
    // Twenty concurrent writes of unknown outcome and distinct values, in a partition that compares values (so
    // they cannot be told apart as unobserved), then a read no order explains: proving that takes every order.
    const history: History = [
      op(0, 0, 1, create('/a', 'v0'), o.created()),
      ...Array.from({ length: 20 }, (_, i) => lost(i + 1, 2, set('/a', `w${i}`))),
      op(0, 2, 3, txn([{ key: '/a', target: 'value', op: '=', value: 'v0' }], [], []), o.txn(true, [])),
      op(0, 10, 11, set('/a', 'last'), o.set(99)),
    ];
    const startMs = performance.now();
    const result = checkLinearizable(history, { configurationsMax: 20_000 });
    console.log(`pathological history: '${String(result.ok)}' after ${(performance.now() - startMs).toFixed(0)} ms`);
    expect(result).toMatchObject({ ok: 'unknown', keys: ['/a'], undecidedPartitions: 1, configurationsMax: 20_000 });
    expect(formatReport(result)).toContain('UNDECIDED: partition {/a}');
  });
});
