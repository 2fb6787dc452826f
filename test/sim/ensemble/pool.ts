// Runs many seeds of the ensemble simulation over worker processes (one per core), adding up what they did.
// Each worker takes small batches of consecutive seeds; a failure carries its checker, message and report.

import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { EnsembleFailure, EnsembleResult } from './simulation.ts';
import { faultKinds, type EnsembleOptions, type FaultKind } from './options.ts';

/** The options shared by every seed of a run (plain data: they cross to the workers). */
export type EnsembleRunOptions = Omit<EnsembleOptions, 'seed' | 'trace' | 'traceClients'>;

export interface EnsembleTotals {
  seeds: number;
  simulatedMs: number;
  steps: number;
  operations: number;
  watchEvents: number;
  lockGrants: number;
  staleWritesRejected: number;
  unfencedStaleWrites: number;
  sessionsExpired: number;
  sequentialCreates: number;
  applied: number;
  leaderTerms: number;
  restarts: number;
  faults: Record<FaultKind, number>;
  failures: EnsembleFailure[];
}

const summed = [
  'simulatedMs',
  'steps',
  'operations',
  'watchEvents',
  'lockGrants',
  'staleWritesRejected',
  'unfencedStaleWrites',
  'sessionsExpired',
  'sequentialCreates',
  'applied',
  'leaderTerms',
  'restarts',
] as const satisfies readonly (keyof EnsembleTotals & keyof EnsembleResult)[];

export function emptyEnsembleTotals(): EnsembleTotals {
  return {
    seeds: 0,
    simulatedMs: 0,
    steps: 0,
    operations: 0,
    watchEvents: 0,
    lockGrants: 0,
    staleWritesRejected: 0,
    unfencedStaleWrites: 0,
    sessionsExpired: 0,
    sequentialCreates: 0,
    applied: 0,
    leaderTerms: 0,
    restarts: 0,
    faults: Object.fromEntries(faultKinds.map((kind) => [kind, 0])) as Record<FaultKind, number>,
    failures: [],
  };
}

export function addEnsembleResult(totals: EnsembleTotals, result: EnsembleResult): void {
  totals.seeds++;
  for (const field of summed) totals[field] += result[field];
  for (const kind of faultKinds) totals.faults[kind] += result.faults[kind];
}

export function addEnsembleTotals(into: EnsembleTotals, from: EnsembleTotals): void {
  into.seeds += from.seeds;
  for (const field of summed) into[field] += from[field];
  for (const kind of faultKinds) into.faults[kind] += from.faults[kind];
  into.failures.push(...from.failures);
}

export type EnsembleWorkerRequest = { readonly type: 'batch'; readonly start: number; readonly count: number; readonly options: EnsembleRunOptions; readonly stopAtFailure: boolean } | { readonly type: 'exit' };
export type EnsembleWorkerReply = { readonly type: 'done'; readonly totals: EnsembleTotals };

export interface EnsemblePoolRun {
  readonly start: number;
  readonly count: number;
  readonly options: EnsembleRunOptions;
  readonly workers?: number;
  readonly batch?: number;
  readonly stopAtFailure?: boolean;
  readonly onProgress?: (totals: EnsembleTotals) => void;
}

/** Runs seeds start..start+count-1 over worker processes. */
export async function runEnsemblePool(run: EnsemblePoolRun): Promise<EnsembleTotals> {
  const workers = Math.max(1, Math.min(run.workers ?? availableParallelism(), run.count));
  const batch = run.batch ?? 4;
  const end = run.start + run.count;
  const totals = emptyEnsembleTotals();
  let next = run.start;
  const workerUrl = new URL('./worker.ts', import.meta.url);
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      // One worker per core keeps every core busy: the collector's helper threads would only contend with them.
      const execArgv = ['--import', 'tsx', '--max-semi-space-size=32', '--single-threaded-gc'];
      const child = fork(workerUrl, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const dispatch = (): void => {
        if (next >= end || (run.stopAtFailure === true && totals.failures.length > 0)) {
          child.send({ type: 'exit' } satisfies EnsembleWorkerRequest);
          return;
        }
        const count = Math.min(batch, end - next);
        child.send({ type: 'batch', start: next, count, options: run.options, stopAtFailure: run.stopAtFailure === true } satisfies EnsembleWorkerRequest);
        next += count;
      };
      child.on('message', (reply: EnsembleWorkerReply) => {
        addEnsembleTotals(totals, reply.totals);
        run.onProgress?.(totals);
        dispatch();
      });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ensemble simulation worker exited with ${code}`))));
      dispatch();
    });
  await Promise.all(Array.from({ length: workers }, one));
  totals.failures.sort((a, b) => a.seed - b.seed);
  return totals;
}
