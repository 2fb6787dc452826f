// Whole clusters under seeded faults keep Raft's safety properties and converge after the faults stop; a seed
// replays exactly; and every checker catches a deliberately planted bug within a bounded number of seeds.

import { describe, expect, it } from 'vitest';
import { simulate } from './cluster.ts';
import { type CheckerName, SimulationViolation } from './errors.ts';
import { runSeeds } from './batch.ts';
import { runPool, type RunOptions } from './pool.ts';
import { formatTotals, replayCommand } from './report.ts';
import { TraceHasher } from './trace.ts';

const seedsInTest = 1000;

function traceHash(seed: number, options: RunOptions = {}): { hash: string; lines: number; failure: string | null } {
  const hasher = new TraceHasher();
  let failure: string | null = null;
  try {
    simulate({ ...options, seed, trace: hasher });
  } catch (error) {
    if (!(error instanceof SimulationViolation)) throw error;
    failure = error.message;
  }
  return { hash: hasher.digest(), lines: hasher.lines, failure };
}

describe('deterministic cluster simulation', () => {
  it(`keeps every invariant and converges over ${seedsInTest} seeds of mixed faults`, async () => {
    const started = performance.now();
    const totals = await runPool({ start: 1, count: seedsInTest, options: {}, workers: 2 });
    const elapsedMs = performance.now() - started;
    console.log(`simulation, seeds 1..${seedsInTest}:\n${formatTotals(totals, elapsedMs)}`);
    const shown = totals.failures.slice(0, 10).map((failure) => `${failure.message}\n  replay: ${replayCommand(failure.seed, [])}`);
    const more = totals.failures.length > shown.length ? `\n... and ${totals.failures.length - shown.length} more` : '';
    expect(totals.seeds).toBe(seedsInTest);
    expect(totals.failures.length, `${totals.failures.length} violations:\n${shown.join('\n')}${more}`).toBe(0);
  });

  // Seeds that once found a bug in the core (docs/testing.md, "Findings"); each replays its scenario.
  it.each([
    { seed: 4, finding: 'a full in-flight window of lost appends never drained' },
    { seed: 641, finding: 'stale snapshot answers rewound the sender into a message storm' },
    { seed: 3280, finding: 'stale snapshot answers rewound the sender into a message storm' },
    { seed: 8164, finding: 'reordered snapshot chunks were dropped, so a transfer crawled' },
    { seed: 8562, finding: 'reordered snapshot chunks were dropped, so a transfer crawled' },
  ])('seed $seed no longer finds: $finding', ({ seed }) => {
    expect(traceHash(seed).failure).toBeNull();
  });

  it('replays a seed exactly: the same seed gives the same trace hash', () => {
    const first = traceHash(7);
    const second = traceHash(7);
    expect(first.lines).toBeGreaterThan(1000);
    expect(second).toEqual(first);
    expect(traceHash(8).hash).not.toBe(first.hash);
    // Faults, membership changes and crashes in the middle of a Ready replay too.
    expect(traceHash(3, { mix: 'chaos' })).toEqual(traceHash(3, { mix: 'chaos' }));
  });
});

interface PlantedBugCase {
  readonly name: string;
  readonly options: RunOptions;
  /** The only checker enabled: it alone must find the bug. */
  readonly checker: CheckerName;
  readonly seedsMax: number;
}

/** Liveness is off in these runs: a planted bug may stall the cluster, and only the named checker counts. */
const plantedBugs: readonly PlantedBugCase[] = [
  { name: 'core: voting without the log check', options: { bugs: { voteWithoutLogCheck: true } }, checker: 'leaderCompleteness', seedsMax: 50 },
  {
    name: 'core: committing an old term by counting (figure 8)',
    options: { mix: 'figure8', clusterSize: 3, raft: { appendBytesMax: 64 }, bugs: { commitOldTermByCounting: true } },
    checker: 'leaderCompleteness',
    seedsMax: 200,
  },
  {
    name: 'core: committing an old term by counting (figure 8)',
    options: { mix: 'figure8', clusterSize: 3, raft: { appendBytesMax: 64 }, bugs: { commitOldTermByCounting: true } },
    checker: 'stateMachineSafety',
    seedsMax: 200,
  },
  { name: 'core: ReadIndex without a quorum round', options: { mix: 'staleReads', bugs: { readWithoutQuorum: true } }, checker: 'linearizableRead', seedsMax: 100 },
  { name: 'harness: sending before persisting', options: { mix: 'votes', harnessBugs: { sendBeforePersist: true } }, checker: 'durability', seedsMax: 5 },
  { name: 'harness: sending before persisting', options: { mix: 'votes', harnessBugs: { sendBeforePersist: true } }, checker: 'electionSafety', seedsMax: 200 },
  { name: 'harness: the vote is never persisted', options: { mix: 'votes', harnessBugs: { skipVotePersist: true } }, checker: 'voteOnce', seedsMax: 50 },
  { name: 'harness: the vote is never persisted', options: { mix: 'votes', harnessBugs: { skipVotePersist: true } }, checker: 'electionSafety', seedsMax: 200 },
  { name: 'harness: the vote is never persisted', options: { mix: 'votes', harnessBugs: { skipVotePersist: true } }, checker: 'logMatching', seedsMax: 600 },
  { name: 'harness: hard-state writes landing out of order', options: { harnessBugs: { staleHardStateWrite: true } }, checker: 'monotonicity', seedsMax: 5 },
  { name: 'harness: cut links never re-dialled', options: { mix: 'partitions', harnessBugs: { neverRedial: true } }, checker: 'liveness', seedsMax: 20 },
];

describe('each checker catches a planted bug', () => {
  it.each(plantedBugs)('$checker catches $name', ({ options, checker, seedsMax }) => {
    const started = performance.now();
    const totals = runSeeds(1, seedsMax, { ...options, checkers: [checker] }, true);
    const failure = totals.failures[0];
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`${checker}: ${failure === undefined ? `NOT found in ${seedsMax} seeds` : `found at seed ${failure.seed} (${totals.seeds} seeds, ${seconds} s): ${failure.message}`}`);
    expect(failure?.checker).toBe(checker);
  });
});
