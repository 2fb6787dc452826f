// What every workload shares: its shape (metrics with the direction in which they are better), the context
// it runs in, rotation of the system order between rounds, closed-loop load with N requests in flight,
// and clients spread over the members.

import type { BenchClient, Driver, SystemName } from '../driver.ts';
import { ensembleSize } from '../ensemble.ts';
import { cpuSeconds, waitFor } from '../processes.ts';
import { medianOfRounds } from '../stats.ts';

/** One figure a workload reports, and which way is better (for the ratio: >1 means Synod is better). */
export interface MetricSpec {
  readonly key: string;
  readonly label: string;
  readonly better: 'higher' | 'lower' | 'none';
  readonly digits: number;
}

/** A system's figures in one workload, or why it has none. */
export type SystemOutcome =
  | { readonly kind: 'measured'; readonly figures: Readonly<Record<string, number>>; readonly rounds: ReadonlyArray<Readonly<Record<string, number>>>; readonly details?: Readonly<Record<string, unknown>> }
  | { readonly kind: 'failed'; readonly error: string };

export interface WorkloadResult {
  /** The parameters used (sizes, durations, counts), for the JSON. */
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly outcomes: ReadonlyMap<SystemName, SystemOutcome>;
  /** Remarks printed under the table (e.g. what was not possible). */
  readonly notes: readonly string[];
}

export interface WorkloadContext {
  readonly quick: boolean;
  /** Running ensembles, in table order. */
  readonly drivers: ReadonlyMap<SystemName, Driver>;
  log(line: string): void;
}

export interface Workload {
  readonly id: string;
  readonly title: string;
  /** What it does exactly (docs/performance.md repeats it). */
  readonly description: string;
  readonly metrics: readonly MetricSpec[];
  run(context: WorkloadContext): Promise<WorkloadResult>;
}

/** The systems in round `round`'s order: rotated by one each round, so none is always first or last. */
export function rotated<T>(items: readonly T[], round: number): T[] {
  const shift = round % Math.max(1, items.length);
  return [...items.slice(shift), ...items.slice(0, shift)];
}

/** A value of `bytes` bytes: printable, so every system stores the same thing. */
export function payload(bytes: number, text = ''): Uint8Array {
  return new TextEncoder().encode(text.padEnd(bytes, '.').slice(0, bytes));
}

/** `count` clients, client i pinned to member i mod 3 (clients spread evenly over the members). */
export async function pinnedClients(driver: Driver, count: number): Promise<BenchClient[]> {
  const clients: BenchClient[] = [];
  try {
    for (let i = 0; i < count; i++) clients.push(await driver.connect({ kind: 'member', index: i % ensembleSize }));
  } catch (error) {
    await closeAll(clients);
    throw error;
  }
  return clients;
}

export async function closeAll(clients: readonly BenchClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
}

/** The leader's index, polling the members until one says it leads. */
export function waitForLeader(driver: Driver, timeoutMs = 15_000): Promise<number> {
  return waitFor(`a ${driver.system} leader`, async () => (await driver.leader()) ?? undefined, timeoutMs);
}

/** Errors tolerated in one measured run before it is abandoned (a healthy ensemble gives none). */
const loopErrorsMax = 100;

export interface LoopResult {
  readonly operations: number;
  readonly seconds: number;
  readonly latenciesMs: number[];
  readonly errors: number;
}

/**
 * Closed-loop load: `inFlight` workers, each issuing `operation(n)` (n counts up across workers) and the next
 * one as soon as it completes, until `durationMs` passes. Latency is measured per operation.
 */
export async function closedLoop(inFlight: number, durationMs: number, operation: (n: number, worker: number) => Promise<void>): Promise<LoopResult> {
  const latenciesMs: number[] = [];
  let next = 0;
  let errors = 0;
  let lastError: unknown = null;
  const start = performance.now();
  const end = start + durationMs;
  let finished = start;
  const worker = async (w: number): Promise<void> => {
    while (performance.now() < end && errors < loopErrorsMax) {
      const t0 = performance.now();
      try {
        await operation(next++, w);
        const t1 = performance.now();
        latenciesMs.push(t1 - t0);
        if (t1 > finished) finished = t1;
      } catch (error) {
        errors++;
        lastError = error;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, (_, w) => worker(w)));
  if (errors >= loopErrorsMax) throw new Error(`${errors} operations failed; the last: ${describeError(lastError)}`);
  return { operations: latenciesMs.length, seconds: (finished - start) / 1000, latenciesMs, errors };
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return String(error);
}

/**
 * Runs `rounds` rounds; in each, every system (in rotated order) runs `measure` once. A system whose
 * measurement throws is dropped from the later rounds with its error. Figures are medians over rounds.
 */
export async function interleavedRounds(
  context: WorkloadContext,
  rounds: number,
  measure: (system: SystemName, driver: Driver, round: number) => Promise<Record<string, number>>,
): Promise<Map<SystemName, SystemOutcome>> {
  const systems = [...context.drivers.keys()];
  const perRound = new Map<SystemName, Array<Record<string, number>>>(systems.map((s) => [s, []]));
  const failures = new Map<SystemName, string>();
  for (let round = 0; round < rounds; round++) {
    for (const system of rotated(systems, round)) {
      if (failures.has(system)) continue;
      try {
        const figures = await measure(system, context.drivers.get(system)!, round);
        perRound.get(system)!.push(figures);
        context.log(`  round ${round + 1}/${rounds} ${system}: ${formatFigures(figures)}`);
      } catch (error) {
        failures.set(system, describeError(error));
        context.log(`  round ${round + 1}/${rounds} ${system}: FAILED ${describeError(error)}`);
      }
    }
  }
  const outcomes = new Map<SystemName, SystemOutcome>();
  for (const system of systems) {
    const failure = failures.get(system);
    const rows = perRound.get(system)!;
    outcomes.set(system, failure !== undefined ? { kind: 'failed', error: failure } : { kind: 'measured', figures: medianOfRounds(rows), rounds: rows });
  }
  return outcomes;
}

function formatFigures(figures: Readonly<Record<string, number>>): string {
  return Object.entries(figures)
    .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(2)}`)
    .join(' ');
}

/**
 * Per-system state that lives across the rounds of a workload (clients, watchers): set up for every system
 * first, torn down for every system at the end, even when a round throws. A system whose setup fails is
 * reported as failed and left out of the rounds.
 */
export async function withSystemState<S>(
  context: WorkloadContext,
  setup: (system: SystemName, driver: Driver) => Promise<S>,
  teardown: (state: S) => Promise<void>,
  rounds: number,
  measure: (system: SystemName, state: S, round: number, driver: Driver) => Promise<Record<string, number>>,
): Promise<Map<SystemName, SystemOutcome>> {
  const states = new Map<SystemName, S>();
  const setupFailures = new Map<SystemName, string>();
  try {
    for (const [system, driver] of context.drivers) {
      try {
        states.set(system, await setup(system, driver));
      } catch (error) {
        setupFailures.set(system, describeError(error));
        context.log(`  ${system}: setup FAILED ${describeError(error)}`);
      }
    }
    const ready = new Map([...context.drivers].filter(([system]) => states.has(system)));
    const outcomes = await interleavedRounds({ ...context, drivers: ready }, rounds, (system, driver, round) => measure(system, states.get(system)!, round, driver));
    for (const [system, error] of setupFailures) outcomes.set(system, { kind: 'failed', error: `setup: ${error}` });
    return new Map([...context.drivers.keys()].map((s) => [s, outcomes.get(s)!]));
  } finally {
    for (const state of states.values()) await teardown(state).catch(() => {});
  }
}

/**
 * Measures CPU use while `body` runs, in cores: this benchmark process (the clients) and the members together.
 * On a 2-core machine shared by clients and servers, this says which side was the limit.
 */
export async function withCpu<T extends Record<string, number>>(driver: Driver, body: () => Promise<T>): Promise<T & { clientCpuCores: number; membersCpuCores: number }> {
  const pids = driver.memberPids().filter((p): p is number => p !== null);
  const membersBefore = pids.map(cpuSeconds);
  const clientBefore = process.cpuUsage();
  const start = performance.now();
  const result = await body();
  const seconds = (performance.now() - start) / 1000;
  const client = process.cpuUsage(clientBefore);
  const members = pids.reduce((sum, pid, i) => sum + ((cpuSeconds(pid) ?? Number.NaN) - (membersBefore[i] ?? Number.NaN)), 0);
  return { ...result, clientCpuCores: (client.user + client.system) / 1e6 / seconds, membersCpuCores: members / seconds };
}

/** The two CPU columns every timed workload shows (not compared: they explain the other figures). */
export const cpuMetrics: readonly MetricSpec[] = [
  { key: 'clientCpuCores', label: 'client CPU', better: 'none', digits: 2 },
  { key: 'membersCpuCores', label: 'members CPU', better: 'none', digits: 2 },
];
