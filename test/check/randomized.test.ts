// Randomized evidence: histories of a simulated linearizable service always pass, one falsified read is caught
// in most cases, and on tiny histories the checker always agrees with a brute-force search of every order.

import { describe, expect, it } from 'vitest';
import { bruteForceLinearizable } from './brute-force.ts';
import { checkLinearizable, checkRevisions, formatReport } from './index.ts';
import { mutateRead, simulateHistory, smallSimulation, tinyHistory } from './simulation.ts';

const seeds = Array.from({ length: 60 }, (_, i) => i + 1);

describe('simulated linearizable service', () => {
  it('passes every unmutated history, and its revisions are consistent', () => {
    for (const seed of seeds) {
      const history = simulateHistory({ ...smallSimulation, seed });
      const result = checkLinearizable(history);
      if (result.ok !== true) throw new Error(`seed ${seed}: ${formatReport(result)}`);
      const revisions = checkRevisions(history);
      if (!revisions.ok) throw new Error(`seed ${seed}: ${formatReport(revisions)}`);
    }
  });

  it('catches one falsified read in most histories, and by kind of falsification', () => {
    const tally = { caught: 0, missed: 0, undecided: 0 };
    const neverWritten = { caught: 0, total: 0 };
    for (const seed of seeds) {
      const mutation = mutateRead(simulateHistory({ ...smallSimulation, seed }), seed);
      if (mutation === null) continue;
      const result = checkLinearizable(mutation.history);
      const verdict = result.ok === false ? 'caught' : result.ok === true ? 'missed' : 'undecided';
      tally[verdict]++;
      if (mutation.kind === 'never_written') {
        neverWritten.total++;
        if (verdict === 'caught') neverWritten.caught++;
      }
      // The report must point at the partition of the falsified read.
      if (result.ok === false) expect(result.operations.map((indexed) => indexed.index)).toContain(mutation.index);
    }
    console.log(`falsified reads: ${JSON.stringify(tally)}; never-written values caught ${JSON.stringify(neverWritten)}`);
    expect(tally.caught).toBeGreaterThanOrEqual(0.85 * seeds.length);
    expect(neverWritten.caught).toBe(neverWritten.total);
  });
});

describe('agreement with brute force', () => {
  it('gives the brute-force verdict on 2,000 tiny histories with txns, unknown outcomes and failures', () => {
    const verdicts = { linearizable: 0, violation: 0 };
    for (let seed = 1; seed <= 2000; seed++) {
      const history = tinyHistory(seed);
      const expected = bruteForceLinearizable(history);
      const result = checkLinearizable(history);
      if (result.ok !== expected) throw new Error(`seed ${seed}: brute force says ${expected}, checker ${result.ok}`);
      verdicts[expected ? 'linearizable' : 'violation']++;
    }
    expect(verdicts.violation).toBeGreaterThan(200);
  });
});
