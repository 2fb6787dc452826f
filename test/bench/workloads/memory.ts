// Workload 8: memory per member (RSS) after loading many small nodes, and the restart time of the whole
// ensemble with that data. The full run loads 100,000 nodes, then 1,000,000 when the rate measured while
// loading the first 100,000 says the rest fits the time budget (otherwise the table says it was skipped).
// The quick run loads 20,000: loading 100,000 takes up to a minute per system here, too long for a quick run.

import type { BenchClient, Driver, SystemName } from '../driver.ts';
import { ensembleSize } from '../ensemble.ts';
import { rssBytes, sleep, waitFor } from '../processes.ts';
import { closeAll, describeError, payload, pinnedClients, type SystemOutcome, type Workload, type WorkloadContext } from './common.ts';

const valueBytes = 64;
/** Nodes per folder: parents of a sane size rather than one folder with a million children. */
const folderSize = 1_000;
const loaderInFlight = 256;
const loaderClients = 6;
const firstStepFull = 100_000;
const firstStepQuick = 20_000;
const secondStep = 1_000_000;
/** Time allowed for loading the second step, per system (full run). */
const secondStepBudgetMs = 7 * 60_000;
const restartTimeoutMs = 5 * 60_000;

function nodePath(n: number): string {
  return `/bench/mem/d${Math.floor(n / folderSize)}/k${n}`;
}

/** Creates nodes [from, to) with 256 in flight; returns how long it took. */
async function load(clients: readonly BenchClient[], from: number, to: number): Promise<number> {
  const start = performance.now();
  for (let f = Math.floor(from / folderSize); f * folderSize < to; f++) await clients[0]!.ensureFolder(`/bench/mem/d${f}`);
  const value = payload(valueBytes, 'mem');
  let next = from;
  let failures = 0;
  const worker = async (w: number): Promise<void> => {
    for (let n = next++; n < to; n = next++) {
      try {
        await clients[w % clients.length]!.create(nodePath(n), value);
      } catch (error) {
        if (++failures > 100) throw new Error(`loading failed: ${describeError(error)}`);
        await clients[w % clients.length]!.put(nodePath(n), value); // a retried create that had applied
      }
    }
  };
  await Promise.all(Array.from({ length: loaderInFlight }, (_, w) => worker(w)));
  return performance.now() - start;
}

/** RSS of each member in MB, after a pause for the members to settle (GC, snapshots). */
async function memberRssMegabytes(driver: Driver): Promise<number[]> {
  await sleep(2_000);
  const values = await Promise.all(driver.memberPids().map((pid) => (pid === null ? Promise.resolve(null) : rssBytes(pid))));
  return values.map((v) => (v === null ? Number.NaN : v / 1e6));
}

/** Kills every member at once, starts them all, and times the start until a linearizable read succeeds. */
async function restartSeconds(driver: Driver, probeKey: string): Promise<number> {
  await Promise.all(Array.from({ length: ensembleSize }, (_, i) => driver.killMember(i)));
  const start = performance.now();
  const started = Promise.all(Array.from({ length: ensembleSize }, (_, i) => driver.restartMember(i)));
  await waitFor(
    `a read from the restarted ${driver.system} ensemble`,
    async () => {
      const client = await driver.connect({ kind: 'ensemble' });
      try {
        return (await client.get(probeKey, 'linearizable')) !== null;
      } finally {
        await client.close().catch(() => {});
      }
    },
    restartTimeoutMs,
    20,
  );
  const seconds = (performance.now() - start) / 1000;
  await started;
  await driver.waitHealthy(60_000);
  return seconds;
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

interface Step {
  readonly nodes: number;
  readonly loadSeconds: number;
  readonly rssMegabytes: number[];
  readonly restartSeconds: number;
  readonly rssAfterRestartMegabytes: number[];
}

async function step(driver: Driver, clients: readonly BenchClient[], from: number, to: number, log: (line: string) => void): Promise<Step> {
  const loadMs = await load(clients, from, to);
  const rss = await memberRssMegabytes(driver);
  log(`  ${driver.system}: ${to.toLocaleString('en-US')} nodes (loaded ${(to - from).toLocaleString('en-US')} in ${(loadMs / 1000).toFixed(1)} s), RSS per member ${rss.map((r) => r.toFixed(0)).join(' / ')} MB; restarting`);
  const seconds = await restartSeconds(driver, nodePath(to - 1));
  const after = await memberRssMegabytes(driver);
  log(`  ${driver.system}: restart ${seconds.toFixed(2)} s, RSS after ${after.map((r) => r.toFixed(0)).join(' / ')} MB`);
  return { nodes: to, loadSeconds: loadMs / 1000, rssMegabytes: rss, restartSeconds: seconds, rssAfterRestartMegabytes: after };
}

async function measureSystem(system: SystemName, driver: Driver, context: WorkloadContext, notes: string[]): Promise<SystemOutcome> {
  const idle = await memberRssMegabytes(driver);
  const firstStep = context.quick ? firstStepQuick : firstStepFull;
  let clients = await pinnedClients(driver, loaderClients);
  try {
    await clients[0]!.ensureFolder('/bench/mem');
    const first = await step(driver, clients, 0, firstStep, context.log);
    const figures: Record<string, number> = {
      nodes: firstStep,
      rssPerMember: sum(first.rssMegabytes) / ensembleSize,
      restartSeconds: first.restartSeconds,
      createsPerSecond: firstStep / first.loadSeconds,
    };
    const details: Record<string, unknown> = { idleRssMegabytes: idle, [firstStep]: first };
    if (!context.quick) {
      const projectedMs = ((secondStep - firstStep) / figures['createsPerSecond']!) * 1000;
      if (projectedMs > secondStepBudgetMs) {
        const why = `${system}: 1,000,000 nodes not loaded: at ${figures['createsPerSecond']!.toFixed(0)} nodes/s the remaining 900,000 would take ${(projectedMs / 60_000).toFixed(1)} min (budget ${secondStepBudgetMs / 60_000} min)`;
        notes.push(why);
        details['skipped1m'] = why;
      } else {
        await closeAll(clients); // the restart dropped their connections; fresh ones
        clients = await pinnedClients(driver, loaderClients);
        const second = await step(driver, clients, firstStep, secondStep, context.log);
        figures['rssPerMember1m'] = sum(second.rssMegabytes) / ensembleSize;
        figures['restart1m'] = second.restartSeconds;
        details[secondStep] = second;
      }
    }
    return { kind: 'measured', figures, rounds: [figures], details };
  } finally {
    await closeAll(clients);
  }
}

export const memory: Workload = {
  id: 'memory',
  title: '8. Memory per member and ensemble restart after loading small nodes (100,000 and 1,000,000; quick: 20,000)',
  description:
    `Six clients create ${firstStepFull.toLocaleString('en-US')} nodes (${firstStepQuick.toLocaleString('en-US')} in a quick run) of ${valueBytes} bytes (${folderSize.toLocaleString('en-US')} per folder, 256 creates in flight). ` +
    'Two seconds later each member\'s resident set (VmRSS in /proc/PID/status) is read. Then all three members are killed with SIGKILL, started again ' +
    'together, and the restart time runs from the start until a linearizable read of the last node succeeds. In the full run the same is repeated at ' +
    `${secondStep.toLocaleString('en-US')} nodes when the load rate measured so far says the remaining nodes fit in ${secondStepBudgetMs / 60_000} minutes per system. ` +
    'Systems run one after another here (load and restart are not interleaved).',
  metrics: [
    { key: 'nodes', label: 'nodes', better: 'none', digits: 0 },
    { key: 'rssPerMember', label: 'RSS/member MB', better: 'lower', digits: 0 },
    { key: 'restartSeconds', label: 'restart s', better: 'lower', digits: 2 },
    { key: 'createsPerSecond', label: 'creates/s (load)', better: 'higher', digits: 0 },
    { key: 'rssPerMember1m', label: 'RSS/member MB at 1M', better: 'lower', digits: 0 },
    { key: 'restart1m', label: 'restart s at 1M', better: 'lower', digits: 2 },
  ],
  async run(context: WorkloadContext) {
    const outcomes = new Map<SystemName, SystemOutcome>();
    const notes: string[] = [];
    for (const [system, driver] of context.drivers) {
      try {
        outcomes.set(system, await measureSystem(system, driver, context, notes));
      } catch (error) {
        context.log(`  ${system}: FAILED ${describeError(error)}`);
        outcomes.set(system, { kind: 'failed', error: describeError(error) });
      }
    }
    if (context.quick) notes.push(`quick run: ${firstStepQuick.toLocaleString('en-US')} nodes only (the full run loads 100,000, then tries 1,000,000)`);
    notes.push('Synod members run the compiled build (dist/); ZooKeeper runs with the JVM\'s default heap sizing');
    return { parameters: { valueBytes, folderSize, inFlight: loaderInFlight, clients: loaderClients, steps: context.quick ? [firstStepQuick] : [firstStepFull, secondStep], secondStepBudgetMinutes: secondStepBudgetMs / 60_000 }, outcomes, notes };
  },
};
