// A member's handling of removal notices, on one real runtime member over the simulator's clock and disk: a
// notice for a removal it never applied starts its retirement, in which it asks the others each election
// timeout and stops only once most of its configuration answered; a notice older than what it applied, while
// it is in its configuration, is stale (it was added again since) and changes nothing. Peers that do not count
// a member answer its question; a removed member counts only answers from members that reached its removal.

import { describe, expect, it } from 'vitest';
import { nodeId } from '../../server/raft/index.ts';
import { seededRandom } from '../../server/raft/random.ts';
import { resolveMemberConfig } from '../../server/runtime/config.ts';
import { bootstrapIfNew, Member } from '../../server/runtime/member.ts';
import type { PeerItem, PeerNetwork, PeerReceiver } from '../../server/runtime/peers.ts';
import { openLog } from '../../server/storage/log.ts';
import { SimDisk } from '../../server/storage/sim-disk.ts';
import { decodeFrame, encodeFrame } from '../../sdk/protocol/codec.ts';
import { Owner, Scheduler } from '../sim/ensemble/scheduler.ts';
import { electionMs, memberOf, singleMember } from './sim-member.ts';

describe('removal notices', () => {
  it('ignores a notice for a removal older than what the member applied while it is in its configuration', async () => {
    const { member, scheduler, from, stopped } = await singleMember();
    expect(member.consensus.role).toBe('leader');
    expect(member.consensus.applied).toBeGreaterThan(1);
    from('n2', { kind: 'removed', index: 1 });
    await scheduler.run(scheduler.now + 30 * electionMs, stopped);
    expect(stopped()).toBe(false);
    await member.stop();
  });

  it('on a notice for a removal it has not applied, asks the others each election timeout and stops once most answered', async () => {
    const { member, scheduler, sent, from, stopped } = await memberOf(['n1', 'n2', 'n3']);
    const index = member.consensus.applied + 10;
    from('n2', { kind: 'removed', index });
    await scheduler.run(scheduler.now + 30 * electionMs, stopped);
    // n2's word alone is one of three: it keeps serving (its vote may still be needed), and asks n3 again and
    // again (not n2, which answered).
    expect(stopped()).toBe(false);
    const asked = sent.filter(({ item }) => item.kind === 'retiring');
    expect(asked.filter(({ to }) => to === 'n3').length).toBeGreaterThanOrEqual(29);
    expect(asked.filter(({ to }) => to === 'n2')).toEqual([]);
    scheduler.at(1, () => from('n3', { kind: 'removed', index }));
    await scheduler.run(scheduler.now + electionMs, stopped);
    expect(stopped()).toBe(true);
  });

  it('answers the question of a member outside its configuration, and only of one', async () => {
    const { member, scheduler, sent, from } = await singleMember();
    from('n9', { kind: 'retiring' });
    expect(sent).toEqual([{ to: 'n9', item: { kind: 'removed', index: member.consensus.applied } }]);
    await scheduler.run(scheduler.now + electionMs); // the leader's first entry applies: changes may follow
    const added = member.consensus.proposeConfChange({ type: 'addLearner', node: nodeId('n9') });
    await scheduler.run(scheduler.now + electionMs, () => member.consensus.status().confState.learners.length > 0);
    await added;
    sent.length = 0;
    from('n9', { kind: 'retiring' });
    await scheduler.run(scheduler.now + electionMs, () => false);
    expect(sent.filter(({ item }) => item.kind === 'removed')).toEqual([]);
    await member.stop();
  });

  it('tells a removed member it applied the removal only once that commit survives a crash', async () => {
    // The removed member stops for good on the word of most of the others: a member that forgot the commit in a
    // crash would count it again, and the new configuration could be left without a majority that knows it
    // (seed 38514 of the ensemble simulation: the commit index alone moved, and was not synced).
    const harness = await singleMember();
    const { member, scheduler, disk } = harness;
    await scheduler.run(scheduler.now + electionMs); // the leader's first entry applies: changes may follow
    const added = member.consensus.proposeConfChange({ type: 'addLearner', node: nodeId('n9') });
    await scheduler.run(scheduler.now + electionMs, () => member.consensus.status().confState.learners.length > 0);
    await added;
    // What a crash at the moment of the notice would leave on the disk.
    const notices: Array<{ index: number; survivor: SimDisk }> = [];
    harness.onSend = (to, item) => void (to === 'n9' && item.kind === 'removed' && notices.push({ index: Number(item.index), survivor: disk.cloneDurable() }));
    const removal = member.consensus.proposeConfChange({ type: 'removeNode', node: nodeId('n9') });
    await scheduler.run(scheduler.now + electionMs, () => notices.length > 0);
    await removal;
    expect(notices.length).toBe(1);
    const { index, survivor } = notices[0]!;
    expect(index).toBe(member.consensus.applied);
    const recovered = await openLog({ dir: '/data', disk: survivor.mount(), segmentBytesMax: 1 << 20 });
    expect(recovered.storage.hardState().commit).toBeGreaterThanOrEqual(index);
    await member.stop();
  });

  it('stays when it has applied past the removal a notice named and is in its configuration', async () => {
    // A member added again under its old name can hear a notice of its old removal before it has caught up
    // (from a member that has not applied the re-adding yet): the notice looks fresh then, and is stale later.
    const { member, scheduler, sent, from, stopped } = await singleMember();
    const index = member.consensus.applied + 5;
    from('n2', { kind: 'removed', index });
    for (let i = 0; i < 10; i++) void member.consensus.propose({ op: 'memberSet', name: `x${i}`, peerUrl: 'sim-x:2', clientUrl: 'sim-x:1' });
    await scheduler.run(scheduler.now + 3 * electionMs, stopped);
    expect(member.consensus.applied).toBeGreaterThanOrEqual(index);
    // It stopped asking the others (the x members it registered) whether it was removed, and stays.
    const asked = sent.filter(({ item }) => item.kind === 'retiring').length;
    await scheduler.run(scheduler.now + 30 * electionMs, stopped);
    expect(stopped()).toBe(false);
    expect(sent.filter(({ item }) => item.kind === 'retiring').length).toBe(asked);
    await member.stop();
  });
});

/** Three real members on the simulator's clock and disks, over an in-memory network that can drop items. */
async function threeMembers(): Promise<{ members: Map<string, Member>; scheduler: Scheduler; drop: { when: (from: string, to: string, item: PeerItem) => boolean }; deliver: (from: string, to: string, item: PeerItem) => void }> {
  const scheduler = new Scheduler(seededRandom(3));
  const names = ['n1', 'n2', 'n3'];
  const receivers = new Map<string, PeerReceiver<PeerItem>>();
  const drop = { when: (_from: string, _to: string, _item: PeerItem): boolean => false };
  const deliver = (from: string, to: string, item: PeerItem): void => receivers.get(to)?.onItems(from, decodeFrame(encodeFrame([item])) as PeerItem[]);
  const members = new Map<string, Member>();
  for (const [i, name] of names.entries()) {
    const clock = scheduler.memberClock(new Owner(name), 1);
    const initialCluster = names.map((n) => `${n}=sim-${n}:2`).join(',');
    const config = resolveMemberConfig({ name, dataDir: '/data', listenClient: `sim-${name}:1`, listenPeer: `sim-${name}:2`, initialCluster, tickMs: 10, electionTicks: 20, heartbeatTicks: 2 });
    const log = await openLog({ dir: '/data', disk: new SimDisk({ fileBytesMax: 64 << 20 }).mount(), segmentBytesMax: 1 << 20 });
    await bootstrapIfNew(log, config);
    const peers: PeerNetwork<PeerItem> = {
      attach: (r) => void receivers.set(name, r),
      setPeers: () => {},
      send: (to, item) => void (drop.when(name, to, item) || scheduler.at(0.2, () => deliver(name, to, item))),
      close: () => Promise.resolve(),
    };
    members.set(name, new Member(config, log, { clock, wallClock: () => 1_700_000_000_000 + clock.now(), random: seededRandom(10 + i), peers }));
  }
  for (const member of members.values()) member.start();
  return { members, scheduler, drop, deliver };
}

describe('a removed member among others', () => {
  it('counts only answers from members that reached the removal it applied, and stops on those', async () => {
    const { members, scheduler, drop, deliver } = await threeMembers();
    const leader = (): Member | undefined => [...members.values()].find((m) => m.consensus.role === 'leader');
    await scheduler.run(scheduler.now + 20 * electionMs, () => leader() !== undefined);
    const lead = leader()!;
    const victim = [...members.entries()].find(([, m]) => m !== lead)!;
    const [victimName, removed] = victim;
    let stopped = false;
    void removed.stopped.then(() => (stopped = true));
    // The others' own answers are lost, so that only the ones below reach it.
    drop.when = (_from, to, item) => to === victimName && item.kind === 'removed';
    await scheduler.run(scheduler.now + electionMs); // the leader's first entry applies: changes may follow
    const removal = lead.consensus.proposeConfChange({ type: 'removeNode', node: nodeId(victimName) });
    await scheduler.run(scheduler.now + 10 * electionMs, () => !removed.consensus.status().confState.voters.includes(nodeId(victimName)));
    await removal;
    const removedAt = removed.consensus.applied;
    const others = [...members.keys()].filter((name) => name !== victimName);
    // Answers from members that had not reached its removal: it may still be needed by them; it stays.
    for (const name of others) scheduler.at(1, () => deliver(name, victimName, { kind: 'removed', index: 1 }));
    await scheduler.run(scheduler.now + 10 * electionMs, () => stopped);
    expect(stopped).toBe(false);
    for (const name of others) scheduler.at(1, () => deliver(name, victimName, { kind: 'removed', index: removedAt }));
    await scheduler.run(scheduler.now + electionMs, () => stopped);
    expect(stopped).toBe(true);
    let all = false;
    void Promise.all([...members.values()].map((m) => m.stop())).then(() => (all = true));
    await scheduler.run(scheduler.now + 20 * electionMs, () => all);
  });
});
