// A member's handling of removal notices, on one real runtime member over the simulator's clock and disk: a
// notice for a removal it never applied starts its retirement; a notice older than what it applied, while it
// is in its configuration, is stale (it was added again since) and changes nothing.

import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../server/raft/random.ts';
import { resolveMemberConfig } from '../../server/runtime/config.ts';
import { bootstrapIfNew, Member } from '../../server/runtime/member.ts';
import type { PeerItem, PeerNetwork, PeerReceiver } from '../../server/runtime/peers.ts';
import { openLog } from '../../server/storage/log.ts';
import { SimDisk } from '../../server/storage/sim-disk.ts';
import { Owner, Scheduler } from '../sim/ensemble/scheduler.ts';

const electionMs = 10 * 20;

async function singleMember(): Promise<{ member: Member; scheduler: Scheduler; notice: (index: number) => void; stopped: () => boolean }> {
  const scheduler = new Scheduler(seededRandom(1));
  const owner = new Owner('n1');
  const clock = scheduler.memberClock(owner, 1);
  const config = resolveMemberConfig({ name: 'n1', dataDir: '/data', listenClient: 'sim-n1:1', listenPeer: 'sim-n1:2', initialCluster: 'n1=sim-n1:2', tickMs: 10, electionTicks: 20, heartbeatTicks: 2 });
  const log = await openLog({ dir: '/data', disk: new SimDisk({ fileBytesMax: 64 << 20 }).mount(), segmentBytesMax: 1 << 20 });
  await bootstrapIfNew(log, config);
  let receiver: PeerReceiver<PeerItem> | null = null;
  const peers: PeerNetwork<PeerItem> = { attach: (r) => void (receiver = r), setPeers: () => {}, send: () => {}, close: () => Promise.resolve() };
  const member = new Member(config, log, { clock, wallClock: () => 1_700_000_000_000 + clock.now(), random: seededRandom(2), peers });
  let done = false;
  void member.stopped.then(() => (done = true));
  member.start();
  await scheduler.run(scheduler.now + 5 * electionMs, () => member.consensus.role === 'leader');
  return { member, scheduler, notice: (index) => receiver!.onItems('n2', [{ kind: 'removed', index }]), stopped: () => done };
}

describe('removal notices', () => {
  it('ignores a notice for a removal older than what the member applied while it is in its configuration', async () => {
    const { member, scheduler, notice, stopped } = await singleMember();
    expect(member.consensus.role).toBe('leader');
    expect(member.consensus.applied).toBeGreaterThan(1);
    notice(1);
    await scheduler.run(scheduler.now + 30 * electionMs, stopped);
    expect(stopped()).toBe(false);
    await member.stop();
  });

  it('retires on a notice for a removal it has not applied: at the latest twenty election timeouts later', async () => {
    const { member, scheduler, notice, stopped } = await singleMember();
    notice(member.consensus.applied + 10);
    const noticedAt = scheduler.now;
    await scheduler.run(scheduler.now + 30 * electionMs, stopped);
    expect(stopped()).toBe(true);
    expect(scheduler.now - noticedAt).toBeLessThanOrEqual(20 * electionMs + 50);
  });

  it('stays when, by the backstop, it has applied past the removal a notice named and is in its configuration', async () => {
    // A member added again under its old name can hear a notice of its old removal before it has caught up
    // (from a member that has not applied the re-adding yet): the notice looks fresh then, and is stale later.
    const { member, scheduler, notice, stopped } = await singleMember();
    const index = member.consensus.applied + 5;
    notice(index);
    for (let i = 0; i < 10; i++) void member.consensus.propose({ op: 'memberSet', name: `x${i}`, peerUrl: 'sim-x:2', clientUrl: 'sim-x:1' });
    await scheduler.run(scheduler.now + 30 * electionMs, stopped);
    expect(member.consensus.applied).toBeGreaterThanOrEqual(index);
    expect(stopped()).toBe(false);
    await member.stop();
  });
});
