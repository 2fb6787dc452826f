// Workloads 4 and 5: watch fan-out (one writer, 50 watchers of a folder) and lock hand-off under
// contention (8 contenders on one mutex).

import type { BenchClient, Driver, HeldLock, SystemName, Unwatch } from '../driver.ts';
import { sleep, withTimeout } from '../processes.ts';
import { percentile } from '../stats.ts';
import { closeAll, cpuMetrics, payload, pinnedClients, waitForLeader, withCpu, withSystemState, type Workload, type WorkloadContext } from './common.ts';

// ---------------------------------------------------------------------------------------------------------
// 4. Watch fan-out

const watcherCount = 50;
const watchKeyCount = 200;
const watchFolder = '/bench/w4';
const valueBytes = 64;
/** How long to wait after the last write for events still on their way. */
const drainMs = 3_000;

/** What the watchers of one system have received in the current round. */
class EventSink {
  round = -1;
  latenciesMs: number[] = [];
  received = 0;
  lastReceivedAt = 0;

  reset(round: number): void {
    this.round = round;
    this.latenciesMs = [];
    this.received = 0;
    this.lastReceivedAt = 0;
  }

  /** The value is `r<round> t<performance.now() at the write>`: same process, same clock. */
  onValue(value: Uint8Array): void {
    const now = performance.now();
    const match = /^r(\d+) t([\d.]+)/.exec(Buffer.from(value).toString('latin1'));
    if (match === null || Number(match[1]) !== this.round) return; // the prefill, or a straggler of an earlier round
    this.latenciesMs.push(now - Number(match[2]));
    this.received++;
    this.lastReceivedAt = now;
  }
}

interface FanOutState {
  readonly writer: BenchClient;
  readonly watchers: BenchClient[];
  readonly unwatches: Unwatch[];
  readonly sink: EventSink;
}

async function setUpFanOut(driver: Driver): Promise<FanOutState> {
  // The writer talks to the leader in every system, so no system's writes take an extra forwarding hop.
  const writer = await driver.connect({ kind: 'member', index: await waitForLeader(driver) });
  const watchers: BenchClient[] = [];
  const unwatches: Unwatch[] = [];
  const sink = new EventSink();
  try {
    await writer.ensureFolder(watchFolder);
    for (let k = 0; k < watchKeyCount; k++) await writer.put(`${watchFolder}/k${k}`, payload(valueBytes, 'prefill'));
    watchers.push(...(await pinnedClients(driver, watcherCount)));
    for (const w of watchers) unwatches.push(await w.watchFolder(watchFolder, { onChange: (_key, value) => sink.onValue(value), onDelete: () => {} }));
  } catch (error) {
    await tearDownFanOut({ writer, watchers, unwatches, sink });
    throw error;
  }
  return { writer, watchers, unwatches, sink };
}

async function tearDownFanOut(state: FanOutState): Promise<void> {
  await Promise.all(state.unwatches.map((u) => u().catch(() => {})));
  await closeAll([state.writer, ...state.watchers]);
}

async function fanOutRound(state: FanOutState, round: number, durationMs: number): Promise<Record<string, number>> {
  const { sink, writer } = state;
  sink.reset(round);
  const start = performance.now();
  let writes = 0;
  // One writer, one write at a time, as fast as the acknowledgements come; keys in turn, so a key is
  // rewritten only after 199 others (ZooKeeper's one-shot watches have long been re-armed by then).
  while (performance.now() - start < durationMs) {
    const value = payload(valueBytes, `r${round} t${performance.now().toFixed(3)} `);
    await withTimeout(writer.put(`${watchFolder}/k${writes % watchKeyCount}`, value), 10_000, 'a write');
    writes++;
  }
  const writesEnd = performance.now();
  const expected = writes * watcherCount;
  while (sink.received < expected && performance.now() - writesEnd < drainMs) await sleep(10);
  const spanSeconds = ((sink.lastReceivedAt || writesEnd) - start) / 1000;
  return {
    eventsPerSecond: sink.received / spanSeconds,
    p50Ms: percentile(sink.latenciesMs, 50),
    p99Ms: percentile(sink.latenciesMs, 99),
    deliveredPercent: (100 * sink.received) / Math.max(1, expected),
    writesPerSecond: writes / ((writesEnd - start) / 1000),
  };
}

export const watchFanOut: Workload = {
  id: 'watch-fanout',
  title: `4. Watch fan-out: one writer, ${watcherCount} watchers of a folder`,
  description:
    `${watcherCount} clients (spread over the members) each watch the folder ${watchFolder} (Synod: a recursive watch; etcd: a prefix watch; ` +
    'ZooKeeper: the classic cache of one-shot watches, a child watch on the folder and a data watch per node, re-armed with getData after each event). ' +
    `One client connected to the leader writes 64-byte values to ${watchKeyCount} existing nodes in turn, one write at a time; each value carries the ` +
    'writer\'s clock (performance.now() just before the write, same process). Latency = receive time - write time, when the watcher has the new value ' +
    '(for ZooKeeper, after the getData that follows the notification). Figures: events delivered per second (all watchers), latency p50/p99, ' +
    'and the share of the expected events (writes x watchers) delivered within 3 s of the last write.',
  metrics: [
    { key: 'eventsPerSecond', label: 'events/s', better: 'higher', digits: 0 },
    { key: 'p50Ms', label: 'p50 ms', better: 'lower', digits: 2 },
    { key: 'p99Ms', label: 'p99 ms', better: 'lower', digits: 2 },
    { key: 'deliveredPercent', label: 'delivered %', better: 'higher', digits: 1 },
    { key: 'writesPerSecond', label: 'writes/s', better: 'higher', digits: 0 },
    ...cpuMetrics,
  ],
  async run(context: WorkloadContext) {
    const rounds = context.quick ? 2 : 4;
    const roundMs = context.quick ? 1_500 : 5_000;
    const outcomes = await withSystemState(context, (_s, driver) => setUpFanOut(driver), tearDownFanOut, rounds, (_s, state, round, driver) => withCpu(driver, () => fanOutRound(state, round, roundMs)));
    return { parameters: { watchers: watcherCount, keys: watchKeyCount, valueBytes, rounds, secondsPerRound: roundMs / 1000, drainSeconds: drainMs / 1000 }, outcomes, notes: [] };
  },
};

// ---------------------------------------------------------------------------------------------------------
// 5. Lock hand-off

const contenderCount = 8;
/** A bound on one acquisition: with 8 contenders a healthy hand-off takes milliseconds. */
const acquireTimeoutMs = 30_000;

interface Contest {
  readonly acquisitions: number;
  readonly waitsMs: number[];
  readonly seconds: number;
}

/** Every contender acquires, releases at once, and repeats until the deadline; those still queued finish their turn. */
async function contend(clients: readonly BenchClient[], lockName: string, durationMs: number): Promise<Contest> {
  const waitsMs: number[] = [];
  const start = performance.now();
  const end = start + durationMs;
  let lastRelease = start;
  const contender = async (client: BenchClient): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const held: HeldLock = await withTimeout(client.lock(lockName), acquireTimeoutMs, `lock ${lockName}`);
      waitsMs.push(performance.now() - t0);
      await withTimeout(held.release(), acquireTimeoutMs, `release of ${lockName}`);
      lastRelease = performance.now();
    }
  };
  await Promise.all(clients.map(contender));
  return { acquisitions: waitsMs.length, waitsMs, seconds: (lastRelease - start) / 1000 };
}

function lockName(system: SystemName, round: number): string {
  // A fresh lock per round: no queue left over from an earlier one. (Synod's lock names are relative.)
  return system === 'synod' ? `bench/w5-${round}` : `/bench/w5/lock-${round}`;
}

export const lockHandOff: Workload = {
  id: 'lock-handoff',
  title: `5. Lock hand-off: ${contenderCount} contenders on one lock`,
  description:
    `${contenderCount} clients (spread over the members) contend for one mutex: acquire, release at once, repeat. Each system's standard waiting ` +
    'recipe: Synod\'s SDK lock (ephemeral sequential node, watch on the predecessor); for etcd, client/v3/concurrency\'s Mutex written over etcd3 ' +
    '(a key per session lease, wait for the deletion of the newest older key); for ZooKeeper, the classic recipe (ephemeral sequential node, exists-watch ' +
    'on the predecessor). Figures: acquisitions per second (all contenders) and the wait from asking to holding, p50/p99.',
  metrics: [
    { key: 'acquisitionsPerSecond', label: 'acquisitions/s', better: 'higher', digits: 0 },
    { key: 'p50WaitMs', label: 'p50 wait ms', better: 'lower', digits: 1 },
    { key: 'p99WaitMs', label: 'p99 wait ms', better: 'lower', digits: 1 },
    ...cpuMetrics,
  ],
  async run(context: WorkloadContext) {
    const rounds = context.quick ? 2 : 4;
    const roundMs = context.quick ? 1_500 : 5_000;
    const outcomes = await withSystemState(
      context,
      async (system, driver) => {
        const clients = await pinnedClients(driver, contenderCount);
        await contend(clients, lockName(system, 999), 300).catch(async (error: unknown) => {
          await closeAll(clients);
          throw error;
        }); // warm-up: sessions, folders, JIT
        return clients;
      },
      closeAll,
      rounds,
      (system, clients, round, driver) =>
        withCpu(driver, async () => {
          const contest = await contend(clients, lockName(system, round), roundMs);
          return { acquisitionsPerSecond: contest.acquisitions / contest.seconds, p50WaitMs: percentile(contest.waitsMs, 50), p99WaitMs: percentile(contest.waitsMs, 99), acquisitions: contest.acquisitions };
        }),
    );
    return { parameters: { contenders: contenderCount, rounds, secondsPerRound: roundMs / 1000 }, outcomes, notes: [] };
  },
};
