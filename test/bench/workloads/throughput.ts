// Workloads 1-3: closed-loop writes and reads. Sequential writes from one client (latency), writes with 256
// in flight over six clients (throughput), and reads, linearizable and serializable, with 256 in flight.

import type { BenchClient, ReadMode } from '../driver.ts';
import { summarize } from '../stats.ts';
import { closeAll, closedLoop, cpuMetrics, payload, pinnedClients, withCpu, withSystemState, type MetricSpec, type Workload, type WorkloadContext, type WorkloadResult } from './common.ts';

const valueBytes = 64;
const throughputMetrics: readonly MetricSpec[] = [
  { key: 'opsPerSecond', label: 'ops/s', better: 'higher', digits: 0 },
  { key: 'p50Ms', label: 'p50 ms', better: 'lower', digits: 2 },
  { key: 'p99Ms', label: 'p99 ms', better: 'lower', digits: 2 },
  ...cpuMetrics,
];

/** Rounds are a multiple of three so a pinned single client visits every member equally often. */
function timing(context: WorkloadContext): { rounds: number; roundMs: number; warmupMs: number } {
  return context.quick ? { rounds: 3, roundMs: 1_000, warmupMs: 300 } : { rounds: 6, roundMs: 4_000, warmupMs: 1_000 };
}

/** Writes every key once with up to 64 in flight (so later writes are updates, and the members are warm). */
async function prefill(clients: readonly BenchClient[], keys: readonly string[]): Promise<void> {
  const value = payload(valueBytes);
  let next = 0;
  const worker = async (w: number): Promise<void> => {
    for (let i = next++; i < keys.length; i = next++) await clients[w % clients.length]!.put(keys[i]!, value);
  };
  await Promise.all(Array.from({ length: Math.min(64, keys.length) }, (_, w) => worker(w)));
}

function keyNames(folder: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${folder}/k${i}`);
}

function figures(result: { operations: number; seconds: number; latenciesMs: number[] }): Record<string, number> {
  const summary = summarize(result.latenciesMs);
  return { opsPerSecond: result.operations / result.seconds, p50Ms: summary.p50Ms, p99Ms: summary.p99Ms, operations: result.operations };
}

interface Plan {
  readonly folder: string;
  readonly keyCount: number;
  readonly clients: number;
  readonly inFlight: number;
  /** Which client a worker uses in a round: the first (rotating over members) or its own. */
  readonly pinRoundToMember: boolean;
  readonly operation: (client: BenchClient, key: string, value: Uint8Array) => Promise<unknown>;
}

async function runPlan(context: WorkloadContext, plan: Plan): Promise<WorkloadResult> {
  const { rounds, roundMs, warmupMs } = timing(context);
  const keys = keyNames(plan.folder, plan.keyCount);
  const value = payload(valueBytes);
  const load = (clients: readonly BenchClient[], round: number, durationMs: number) =>
    closedLoop(plan.inFlight, durationMs, (n, w) => {
      const client = plan.pinRoundToMember ? clients[round % clients.length]! : clients[w % clients.length]!;
      return plan.operation(client, keys[n % keys.length]!, value).then(() => undefined);
    });
  const outcomes = await withSystemState(
    context,
    async (_system, driver) => {
      const clients = await pinnedClients(driver, plan.clients);
      try {
        await clients[0]!.ensureFolder(plan.folder);
        await prefill(clients, keys);
        for (let r = 0; r < Math.min(plan.clients, 3); r++) await load(clients, r, warmupMs / Math.min(plan.clients, 3));
      } catch (error) {
        await closeAll(clients);
        throw error;
      }
      return clients;
    },
    closeAll,
    rounds,
    async (_system, clients, round, driver) => withCpu(driver, async () => figures(await load(clients, round, roundMs))),
  );
  return {
    parameters: { valueBytes, keys: plan.keyCount, clients: plan.clients, inFlight: plan.inFlight, rounds, secondsPerRound: roundMs / 1000, warmupSeconds: warmupMs / 1000 },
    outcomes,
    notes: [],
  };
}

export const sequentialWrites: Workload = {
  id: 'writes-sequential',
  title: '1. Sequential writes, one client, one request at a time',
  description:
    'One client writes 64-byte values to 300 keys in turn, each write waiting for the previous acknowledgement (a durable, replicated write). ' +
    'The client is pinned to member (round mod 3), so rounds visit the leader and both followers equally. Figures: writes/s and latency p50/p99, medians over rounds.',
  metrics: throughputMetrics,
  run: (context) => runPlan(context, { folder: '/bench/w1', keyCount: 300, clients: 3, inFlight: 1, pinRoundToMember: true, operation: (c, k, v) => c.put(k, v) }),
};

export const concurrentWrites: Workload = {
  id: 'writes-concurrent',
  title: '2. Write throughput, 256 in flight over 6 clients',
  description:
    'Six clients (two per member) keep 256 writes in flight in total (64-byte values, 1,000 keys); each completed write is replaced at once. ' +
    'Figures: acknowledged writes/s and per-write latency p50/p99, medians over rounds.',
  metrics: throughputMetrics,
  run: (context) => runPlan(context, { folder: '/bench/w2', keyCount: 1_000, clients: 6, inFlight: 256, pinRoundToMember: false, operation: (c, k, v) => c.put(k, v) }),
};

function readWorkload(mode: ReadMode): Workload {
  const how =
    mode === 'linearizable'
      ? 'linearizable reads (Synod: ReadIndex through the leader; etcd: its default quorum read; ZooKeeper: sync(path) pipelined with getData in the same session)'
      : 'serializable reads (answered from the connected member\'s state: Synod serializable, etcd serializable, ZooKeeper plain getData)';
  return {
    id: `reads-${mode}`,
    title: `3${mode === 'linearizable' ? 'a' : 'b'}. ${mode === 'linearizable' ? 'Linearizable' : 'Serializable'} reads, 256 in flight over 6 clients`,
    description: `Six clients (two per member) keep 256 ${how} in flight over 1,000 keys of 64 bytes written beforehand. Figures: reads/s and latency p50/p99, medians over rounds.`,
    metrics: throughputMetrics,
    run: (context) => runPlan(context, { folder: '/bench/w3', keyCount: 1_000, clients: 6, inFlight: 256, pinRoundToMember: false, operation: (c, k) => c.get(k, mode) }),
  };
}

export const linearizableReads = readWorkload('linearizable');
export const serializableReads = readWorkload('serializable');
