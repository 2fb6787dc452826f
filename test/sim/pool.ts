// Runs many seeds across child processes (one per core) and adds up what they did. Each worker takes small
// batches of consecutive seeds from a shared queue, so both cores stay busy until the end.

import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { PlantedBugs } from '../../server/raft/index.ts';
import type { SimResult } from './cluster.ts';
import type { CheckerName } from './errors.ts';
import { type FaultKind, faultKinds, type FaultMixName, type HarnessBugs, type RaftTuning } from './options.ts';

/** The options shared by every seed of a run (plain data: they cross to the workers). */
export interface RunOptions {
  readonly mix?: FaultMixName;
  readonly clusterSize?: 3 | 5;
  readonly faultMs?: number;
  readonly livenessMs?: number;
  readonly bugs?: PlantedBugs;
  readonly harnessBugs?: HarnessBugs;
  readonly checkers?: readonly CheckerName[];
  readonly raft?: Partial<RaftTuning>;
}

export interface Failure {
  readonly seed: number;
  readonly checker: CheckerName;
  readonly message: string;
}

/** Sums over many seeds. */
export interface Totals {
  seeds: number;
  steps: number;
  simulatedMs: number;
  ticks: number;
  messagesSent: number;
  messagesDelivered: number;
  messagesDropped: number;
  entriesCommitted: number;
  proposals: number;
  proposalsAcked: number;
  readsServed: number;
  leaderTerms: number;
  snapshotsInstalled: number;
  compactions: number;
  restarts: number;
  faults: Record<FaultKind, number>;
  mixes: Record<string, number>;
  failures: Failure[];
}

export function emptyTotals(): Totals {
  return {
    seeds: 0,
    steps: 0,
    simulatedMs: 0,
    ticks: 0,
    messagesSent: 0,
    messagesDelivered: 0,
    messagesDropped: 0,
    entriesCommitted: 0,
    proposals: 0,
    proposalsAcked: 0,
    readsServed: 0,
    leaderTerms: 0,
    snapshotsInstalled: 0,
    compactions: 0,
    restarts: 0,
    faults: Object.fromEntries(faultKinds.map((kind) => [kind, 0])) as Record<FaultKind, number>,
    mixes: {},
    failures: [],
  };
}

const summed = [
  'steps',
  'simulatedMs',
  'ticks',
  'messagesSent',
  'messagesDelivered',
  'messagesDropped',
  'entriesCommitted',
  'proposals',
  'proposalsAcked',
  'readsServed',
  'leaderTerms',
  'snapshotsInstalled',
  'compactions',
  'restarts',
] as const satisfies readonly (keyof Totals & keyof SimResult)[];

export function addResult(totals: Totals, result: SimResult): void {
  totals.seeds++;
  for (const field of summed) totals[field] += result[field];
  for (const kind of faultKinds) totals.faults[kind] += result.faults[kind];
  totals.mixes[result.mix] = (totals.mixes[result.mix] ?? 0) + 1;
}

export function addTotals(into: Totals, from: Totals): void {
  into.seeds += from.seeds;
  for (const field of summed) into[field] += from[field];
  for (const kind of faultKinds) into.faults[kind] += from.faults[kind];
  for (const [mix, count] of Object.entries(from.mixes)) into.mixes[mix] = (into.mixes[mix] ?? 0) + count;
  into.failures.push(...from.failures);
}

/** Parent -> worker. */
export type WorkerRequest = { readonly type: 'batch'; readonly start: number; readonly count: number; readonly options: RunOptions; readonly stopAtFailure: boolean };
/** Worker -> parent. */
export type WorkerReply = { readonly type: 'done'; readonly totals: Totals };

export interface PoolRun {
  readonly start: number;
  readonly count: number;
  readonly options: RunOptions;
  readonly workers?: number;
  /** Seeds per batch handed to a worker. */
  readonly batch?: number;
  /** Stop handing out seeds after the first failure (the result still holds every seed run). */
  readonly stopAtFailure?: boolean;
  readonly onProgress?: (totals: Totals) => void;
}

/** Runs seeds start..start+count-1 over worker processes. */
export async function runPool(run: PoolRun): Promise<Totals> {
  const workers = Math.max(1, Math.min(run.workers ?? availableParallelism(), run.count));
  const batch = run.batch ?? 25;
  const end = run.start + run.count;
  const totals = emptyTotals();
  let next = run.start;
  const workerUrl = new URL('./worker.ts', import.meta.url);

  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const child = fork(workerUrl, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const dispatch = (): void => {
        if (next >= end || (run.stopAtFailure === true && totals.failures.length > 0)) {
          child.send({ type: 'exit' });
          return;
        }
        const count = Math.min(batch, end - next);
        const request: WorkerRequest = { type: 'batch', start: next, count, options: run.options, stopAtFailure: run.stopAtFailure === true };
        next += count;
        child.send(request);
      };
      child.on('message', (reply: WorkerReply) => {
        addTotals(totals, reply.totals);
        run.onProgress?.(totals);
        dispatch();
      });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`simulation worker exited with ${code}`))));
      dispatch();
    });

  await Promise.all(Array.from({ length: workers }, one));
  totals.failures.sort((a, b) => a.seed - b.seed);
  return totals;
}
