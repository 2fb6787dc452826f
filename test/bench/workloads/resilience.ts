// Workloads 6 and 7: failover (kill -9 of the leader under a continuous writer) and session expiry (a client
// process holding an ephemeral node is killed; how long until a watcher sees the node go).

import { fileURLToPath } from 'node:url';
import type { BenchClient, Driver } from '../driver.ts';
import { GiveUp, ManagedProcess, sleep, waitFor, withTimeout } from '../processes.ts';
import { describeError, interleavedRounds, payload, waitForLeader, type Workload, type WorkloadContext } from './common.ts';

// ---------------------------------------------------------------------------------------------------------
// 6. Failover

/** The writer issues a write this often, whether or not earlier ones have been answered (open loop). */
const writeIntervalMs = 5;
/** Writes in flight at most; past it the writer skips a beat (bounded memory when a system stalls). */
const writesInFlightMax = 2_000;

interface WriteRecord {
  readonly issuedAt: number;
  settledAt: number | null;
  acked: boolean;
}

/**
 * A writer that issues a 64-byte write every 5 ms and records when each is acknowledged or fails. Open loop,
 * so one write stuck in a dead member does not hide when the ensemble accepts writes again.
 */
class ContinuousWriter {
  private readonly writes: WriteRecord[] = [];
  private inFlight = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly client: BenchClient) {
    let n = 0;
    this.timer = setInterval(() => {
      if (this.inFlight >= writesInFlightMax) return;
      this.issue(n++);
    }, writeIntervalMs);
  }

  private issue(n: number): void {
    const record: WriteRecord = { issuedAt: performance.now(), settledAt: null, acked: false };
    this.writes.push(record);
    this.inFlight++;
    withTimeout(this.client.put(`/bench/w6/k${n % 100}`, payload(64, `w${n}`)), 60_000, 'a write').then(
      () => this.settle(record, true),
      () => this.settle(record, false),
    );
  }

  private settle(record: WriteRecord, acked: boolean): void {
    record.settledAt = performance.now();
    record.acked = acked;
    this.inFlight--;
  }

  get acknowledged(): number {
    return this.writes.filter((w) => w.acked).length;
  }

  /** The first acknowledgement of a write issued at or after `t`. */
  firstAckIssuedAfter(t: number): number | undefined {
    let first: number | undefined;
    for (const w of this.writes) if (w.issuedAt >= t && w.acked && (first === undefined || w.settledAt! < first)) first = w.settledAt!;
    return first;
  }

  /** How long after `t` the writes issued before `t` took to settle (the longest); NaN while some are open. */
  stallAfter(t: number): number {
    let last = t;
    for (const w of this.writes) {
      if (w.issuedAt >= t) continue;
      if (w.settledAt === null) return Number.NaN;
      last = Math.max(last, w.settledAt);
    }
    return last - t;
  }

  failedSince(t: number): number {
    return this.writes.filter((w) => w.settledAt !== null && w.settledAt >= t && !w.acked).length;
  }

  /** Stops issuing and waits (bounded) for the writes in flight. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await waitFor('the writes in flight to settle', () => this.inFlight === 0, 70_000, 10).catch(() => {});
  }
}

/** Polls the surviving members until one other than `killed` says it leads; resolves with that time. */
async function newLeaderAt(driver: Driver, killed: number): Promise<number> {
  return waitFor(
    `a new ${driver.system} leader`,
    async () => {
      const leader = await driver.leader();
      return leader !== null && leader !== killed ? performance.now() : undefined;
    },
    60_000,
    5,
  );
}

/** One failover: steady writes, kill -9 the leader, time the new leader and the first write issued after the kill. */
async function failoverOnce(driver: Driver, steadyMs: number): Promise<Record<string, number>> {
  const client = await driver.connect({ kind: 'ensemble' });
  let killed: number | null = null;
  try {
    await client.ensureFolder('/bench/w6');
    const writer = new ContinuousWriter(client);
    try {
      await sleep(steadyMs);
      if (writer.acknowledged === 0) throw new Error('no write was acknowledged before the kill');
      const leader = await waitForLeader(driver);
      const killedAt = performance.now();
      killed = leader;
      await driver.killMember(leader);
      const [electedAt, ackedAt] = await Promise.all([
        newLeaderAt(driver, leader),
        waitFor('a write acknowledged after the leader was killed', () => writer.firstAckIssuedAfter(killedAt), 60_000, 2),
      ]);
      await writer.stop();
      return { failoverMs: ackedAt - killedAt, newLeaderMs: electedAt - killedAt, stalledMs: writer.stallAfter(killedAt), failedWrites: writer.failedSince(killedAt) };
    } finally {
      await writer.stop();
    }
  } finally {
    await client.close().catch(() => {});
    if (killed !== null) {
      await driver.restartMember(killed);
      await driver.waitHealthy(60_000);
    }
  }
}

export const failover: Workload = {
  id: 'failover',
  title: '6. Failover: kill -9 of the leader under a continuous writer',
  description:
    `A client connected to the whole ensemble (each library's own failover and retries) issues a 64-byte write every ${writeIntervalMs} ms without waiting for ` +
    'earlier answers. After a steady period the leader is killed with SIGKILL. Figures (median of runs): the time from the kill to the acknowledgement of the ' +
    'first write issued after it; the time until a surviving member reports itself leader (polled every 5 ms); how long the writes that were in flight at the ' +
    'kill took to be answered (acknowledged or failed); and how many writes failed. The killed member is then restarted and the ensemble settles before the next run.',
  metrics: [
    { key: 'failoverMs', label: 'kill -> next ack ms', better: 'lower', digits: 0 },
    { key: 'newLeaderMs', label: 'kill -> new leader ms', better: 'lower', digits: 0 },
    { key: 'stalledMs', label: 'in-flight stalled ms', better: 'lower', digits: 0 },
    { key: 'failedWrites', label: 'failed writes', better: 'none', digits: 0 },
  ],
  async run(context: WorkloadContext) {
    const runs = context.quick ? 2 : 5;
    const steadyMs = context.quick ? 500 : 2_000;
    const outcomes = await interleavedRounds(context, runs, (_system, driver) => failoverOnce(driver, steadyMs));
    const notes = [
      'all members share one host: a killed member\'s ports refuse connections at once, which each system may notice sooner than a dead machine; ' +
        'Synod\'s followers then campaign within a quarter of the election timeout (its peer-down hint), instead of a whole one',
    ];
    return { parameters: { runs, steadySeconds: steadyMs / 1000, writeIntervalMs }, outcomes, notes };
  },
};

// ---------------------------------------------------------------------------------------------------------
// 7. Session expiry

const sessionHolder = fileURLToPath(new URL('../session-holder.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const requestedTtlMs = 2_000;

/** One expiry: a child process creates an ephemeral node, is killed, and a watcher times the node's deletion. */
async function expiryOnce(driver: Driver, watcher: BenchClient, key: string): Promise<Record<string, number>> {
  const holder = ManagedProcess.spawn('session-holder', process.execPath, ['--import', 'tsx', sessionHolder, JSON.stringify(driver.clientSpec()), key, String(requestedTtlMs)], { cwd: repoRoot });
  try {
    const grantedTtlMs = await waitFor(
      'the session holder to create its node',
      () => {
        if (!holder.running) throw new GiveUp(`the session holder ended (${holder.status}): ${holder.output.slice(-500)}`);
        const match = /^ready (\d+)$/m.exec(holder.output);
        return match === null ? undefined : Number(match[1]);
      },
      30_000,
      10,
    );
    const { deleted } = await watcher.watchDeletion(key);
    const killedAt = performance.now();
    await holder.kill();
    await withTimeout(deleted, grantedTtlMs + 30_000, `the deletion of ${key}`);
    const expiryMs = performance.now() - killedAt;
    return { expiryMs, grantedTtlMs, overshootMs: expiryMs - grantedTtlMs };
  } finally {
    await holder.kill();
  }
}

export const sessionExpiry: Workload = {
  id: 'session-expiry',
  title: `7. Session expiry: holder killed, TTL ${requestedTtlMs} ms asked`,
  description:
    `A separate client process (test/bench/session-holder.ts) creates an ephemeral node owned by a session of TTL ${requestedTtlMs} ms (Synod: a session; ` +
    'etcd: a lease of 2 s kept alive by etcd3; ZooKeeper: a connection with a 2 s session timeout, which the server clamps to at least 2 x tickTime = 4 s) ' +
    'and is killed with SIGKILL. A watcher in the bench process times the kill to the node\'s deletion. Figures: that time, the TTL the system granted, ' +
    'and the time beyond the granted TTL (median of runs).',
  metrics: [
    { key: 'expiryMs', label: 'kill -> deleted ms', better: 'lower', digits: 0 },
    { key: 'grantedTtlMs', label: 'granted TTL ms', better: 'none', digits: 0 },
    { key: 'overshootMs', label: 'beyond TTL ms', better: 'none', digits: 0 },
  ],
  async run(context: WorkloadContext) {
    const runs = context.quick ? 2 : 3;
    const watchers = new Map<string, BenchClient>();
    try {
      const outcomes = await interleavedRounds(context, runs, async (system, driver, round) => {
        let watcher = watchers.get(system);
        if (watcher === undefined) {
          watcher = await driver.connect({ kind: 'ensemble' });
          watchers.set(system, watcher);
          await watcher.ensureFolder('/bench/w7');
        }
        return expiryOnce(driver, watcher, `/bench/w7/holder-${round}`);
      });
      const notes: string[] = [];
      const zk = outcomes.get('zookeeper');
      if (zk?.kind === 'measured' && (zk.figures['grantedTtlMs'] ?? 0) > requestedTtlMs) {
        notes.push(`ZooKeeper granted ${zk.figures['grantedTtlMs']} ms for the ${requestedTtlMs} ms asked: its minimum session timeout is 2 x tickTime (Debian's tickTime is 2000 ms)`);
      }
      return { parameters: { runs, requestedTtlMs }, outcomes, notes };
    } finally {
      await Promise.all([...watchers.values()].map((w) => w.close().catch((error: unknown) => context.log(`  closing a watcher: ${describeError(error)}`))));
    }
  },
};
