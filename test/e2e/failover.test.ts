// Proves that killing the leader with kill -9 in the middle of concurrent writes loses no acknowledged write,
// that a new leader takes over quickly (failover time measured over several kills), and that the killed
// member catches up when restarted, by snapshot when the others have compacted the entries it missed.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { text, type Client } from '../../sdk/index.ts';
import { ProcessCluster, waitFor } from './harness.ts';
import { connectTo, endpointOf, median, readSubtree, running, statusesOf, statusOf, waitForConvergence } from './helpers.ts';

/** Clients writing distinct keys in a loop, each waiting for its previous write; acknowledged writes are recorded. */
class Writers {
  /** path -> value, for every acknowledged write. */
  readonly acked = new Map<string, string>();
  /** When each acknowledged write came back, and the term in its answer. */
  readonly acks: Array<{ atMs: number; term: number }> = [];
  readonly errors: string[] = [];
  private stopping = false;
  private readonly loops: Promise<void>[];

  constructor(clients: readonly Client[], prefix: string) {
    this.loops = clients.map(async (client, c) => {
      for (let seq = 0; !this.stopping; seq++) {
        const path = `${prefix}/c${c}/${String(seq).padStart(6, '0')}`;
        const value = `${prefix}:${c}:${seq}`;
        try {
          const { header } = await client.create(path, value, { parents: true });
          this.acked.set(path, value);
          this.acks.push({ atMs: performance.now(), term: header.term });
        } catch (error) {
          this.errors.push(`${path}: ${String(error)}`);
        }
      }
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }
}

/** Checks that `member` holds every acknowledged write under `prefix`, reading its own state after a sync. */
async function expectAllAcked(endpoint: string, prefix: string, acked: ReadonlyMap<string, string>): Promise<void> {
  const reader = await connectTo([endpoint]);
  try {
    await reader.sync();
    const stored = await readSubtree(reader, prefix, { serializable: true });
    const missing = [...acked].filter(([path, value]) => stored.get(path) === undefined || text(stored.get(path)!) !== value);
    expect(missing, `acknowledged writes missing on ${endpoint}`).toEqual([]);
  } finally {
    await reader.close();
  }
}

describe('kill -9 of the leader during a stream of writes', () => {
  let cluster: ProcessCluster;
  let clients: Client[];

  beforeAll(async () => {
    // Small snapshot interval and catch-up margin, so a member down for a few hundred writes needs a snapshot.
    cluster = await ProcessCluster.start({ size: 3, snapshotEntries: 200, env: { SYNOD_COMPACTION_MARGIN_ENTRIES: '50' } });
    clients = await Promise.all(Array.from({ length: 4 }, () => connectTo(cluster.endpoints)));
  });

  afterAll(async () => {
    await Promise.all((clients ?? []).map((c) => c.close()));
    await cluster?.stop();
  });

  it('elects a new leader, resumes writes and loses no acknowledged write; the restarted member catches up (5 kills)', async () => {
    const failoverMs: number[] = [];
    for (let round = 0; round < 5; round++) {
      const prefix = `/fo/r${round}`;
      const leaderName = await cluster.waitForLeader();
      const writers = new Writers(clients, prefix);
      await waitFor('writes to flow', () => writers.acked.size >= 40, 10_000);
      const { term } = (await statusesOf([cluster.member(leaderName)]))[0]!;
      const killedAt = performance.now();
      await cluster.kill(leaderName);
      // Failover: from the kill to the first write acknowledged under a newer term.
      const first = await waitFor('a write acknowledged under a new term', () => writers.acks.find((a) => a.atMs > killedAt && a.term > term), 10_000);
      failoverMs.push(first.atMs - killedAt);
      const ackedAtFailover = writers.acked.size;
      await waitFor('writes to continue under the new leader', () => writers.acked.size >= ackedAtFailover + 40, 10_000);
      await writers.stop();
      const newLeader = await cluster.waitForLeader();
      expect(newLeader).not.toBe(leaderName);
      for (const member of running(cluster)) await expectAllAcked(endpointOf(member), prefix, writers.acked);

      await cluster.restart(leaderName);
      await waitForConvergence(cluster);
      await expectAllAcked(endpointOf(cluster.member(leaderName)), prefix, writers.acked);
    }
    const sorted = [...failoverMs].sort((a, b) => a - b);
    console.log(`failover (kill -9 of the leader -> first acknowledged write), ms: median ${median(failoverMs).toFixed(0)}; samples ${failoverMs.map((ms) => ms.toFixed(0)).join(', ')}; min ${sorted[0]!.toFixed(0)}, max ${sorted[sorted.length - 1]!.toFixed(0)}`);
    expect(median(failoverMs)).toBeLessThan(3000);
  });

  it('catches a restarted member up by snapshot when the entries it missed are compacted away', async () => {
    const prefix = '/fo/snap';
    const victimName = await cluster.waitForLeader();
    const writers = new Writers(clients, prefix);
    await waitFor('writes to flow', () => writers.acked.size >= 40, 10_000);
    await cluster.kill(victimName);
    // The killed leader's log ends at most a few unreplicated proposals past what the others hold now.
    const survivors = running(cluster);
    const atKill = await statusesOf(survivors);
    const victimLastIndexBound = Math.max(...atKill.map((s) => s.lastIndex)) + 50;
    // Write on until every survivor has compacted its log past that point: entries can no longer be sent.
    await waitFor(
      'every survivor to compact past the killed member',
      async () => {
        const statuses = await Promise.all(survivors.map(statusOf));
        return statuses.every((s) => s !== null && s.firstIndex > victimLastIndexBound + 1);
      },
      30_000,
      50,
    );
    await writers.stop();
    expect(writers.errors).toEqual([]);
    const restartedAt = performance.now();
    await cluster.restart(victimName);
    const converged = await waitForConvergence(cluster);
    console.log(`snapshot catch-up: ${writers.acked.size} writes while down; member caught up ${(performance.now() - restartedAt).toFixed(0)} ms after restart (process start included); applied ${converged[0]!.applied}, revision ${converged[0]!.revision}`);
    // Convergence is one poll in which every member, the restarted one included, showed the same applied index
    // and revision (separate reads could straddle a sweep entry, which moves applied on its own).
    const victim = converged.find((s) => s.member === victimName)!;
    expect(converged.map((s) => s.member).sort()).toEqual([victimName, ...survivors.map((m) => m.name)].sort());
    // Its log starts after the snapshot it was sent, past everything it had before.
    expect(victim.firstIndex).toBeGreaterThan(victimLastIndexBound);
    await expectAllAcked(endpointOf(cluster.member(victimName)), prefix, writers.acked);
  });

  it('keeps a client given one endpoint working when that member dies: it learned the others from the cluster', async () => {
    const leaderName = await cluster.waitForLeader();
    const follower = cluster.members.find((m) => m.name !== leaderName)!;
    const client = await connectTo([endpointOf(follower)]);
    try {
      await client.create('/failover-one-endpoint', 'before');
      await cluster.kill(follower.name);
      await client.set('/failover-one-endpoint', 'after');
      expect(text((await client.get('/failover-one-endpoint')).data)).toBe('after');
      expect(client.endpoint).not.toBe(endpointOf(follower));
    } finally {
      await client.close();
      await cluster.restart(follower.name);
    }
  });
});

describe('a member removed while it could not hear the removal', () => {
  let cluster: ProcessCluster;

  beforeAll(async () => {
    cluster = await ProcessCluster.start({ size: 3 });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('stops by itself soon after it restarts, told by the others that applied its removal', async () => {
    const leaderName = await cluster.waitForLeader();
    const victim = cluster.members.find((m) => m.name !== leaderName)!;
    const others = cluster.members.filter((m) => m !== victim).map(endpointOf);
    const admin = await connectTo(others);
    try {
      await cluster.kill(victim.name);
      await admin.removeMember(victim.name);
      await admin.create('/after-removal', 'written by the two left');
      // The removal committed while it was down and the notices sent then were lost; the leader no longer
      // replicates to it, so it learns from the others when it speaks to them.
      await cluster.restart(victim.name);
      await waitFor(`${victim.name} to stop`, () => victim.process === null, 20_000);
      expect(text((await admin.get('/after-removal')).data)).toBe('written by the two left');
    } finally {
      await admin.close();
    }
  });
});
