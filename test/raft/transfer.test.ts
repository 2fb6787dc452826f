// Goal: leadership transfer (thesis §3.10): the leader brings the target up to date, sends TimeoutNow, refuses
// proposals meanwhile, and gives up after an election timeout if the target does not take over.

import { describe, expect, it } from 'vitest';
import type { Message, NodeId } from '../../server/raft/index.ts';
import { Network, appendedIndex, ids, ofType, type NodeOptions } from './network.ts';

const electionTicks = 10;
const [a, b, c] = ids('a', 'b', 'c') as [NodeId, NodeId, NodeId];

function cluster(config: NodeOptions = {}): Network {
  return new Network({ voters: [a, b, c], config: { electionTicks, heartbeatTicks: 1, ...config } });
}

describe('leadership transfer (thesis §3.10)', () => {
  it('to an up-to-date follower: TimeoutNow makes it leader at once, in the next term', () => {
    const net = cluster();
    net.elect(a);
    const t = net.status(a).term;
    const since = net.events.length;
    net.node(a).transferLeadership(b);
    net.deliverAll(); // no ticks: nobody waits for an election timeout
    expect(net.sent(ofType('timeoutNow'), since).map((m) => [m.from, m.to])).toEqual([[a, b]]);
    expect(net.status(b)).toMatchObject({ role: 'leader', term: t + 1 });
    for (const id of [a, c]) expect(net.status(id)).toMatchObject({ role: 'follower', term: t + 1, leader: b });
    // The campaign was a transfer: the voters' leases did not stop it.
    expect(net.sent(ofType('vote'), since).every((m) => m.transfer)).toBe(true);
    appendedIndex(net.propose(b, 'after transfer'));
    net.tickUntil(() => [a, b, c].every((id) => net.state(id).includes('after transfer')), 5);
  });

  it('to a lagging follower: the leader first brings its log up to date, then sends TimeoutNow', () => {
    const net = cluster();
    net.elect(a);
    const held: Message[] = [];
    net.filter = (m) => {
      if (m.type !== 'append' || m.to !== c) return m;
      held.push(m);
      return null;
    };
    for (let i = 0; i < 5; i++) appendedIndex(net.propose(a, `p${i}`));
    net.deliverAll();
    const last = net.status(a).lastIndex;
    expect(net.status(c).lastIndex).toBeLessThan(last);

    const since = net.events.length;
    net.node(a).transferLeadership(c);
    net.deliverAll();
    expect(net.sent(ofType('timeoutNow'), since)).toEqual([]); // not while c lags
    net.filter = null;
    net.enqueue(...held.splice(0));
    net.tickUntil(() => net.status(c).role === 'leader', electionTicks - 1, [a]);

    // TimeoutNow left only after c acknowledged the leader's last entry.
    const events = net.events.slice(since);
    const timeoutNow = events.findIndex((ev) => ev.kind === 'send' && ev.message.type === 'timeoutNow');
    const caughtUp = events.findIndex((ev) => ev.kind === 'deliver' && ev.message.type === 'appendResponse' && ev.message.from === c && !ev.message.reject && ev.message.index >= last);
    expect(caughtUp).toBeGreaterThanOrEqual(0);
    expect(timeoutNow).toBeGreaterThan(caughtUp);
    expect(net.state(c)).toEqual(net.state(a));
  });

  it('proposals are dropped with transferring while a transfer is in progress', () => {
    const net = cluster();
    net.elect(a);
    net.cut(a, c);
    net.node(a).transferLeadership(c);
    expect(net.status(a).leadTransferee).toBe(c);
    expect(net.propose(a, 'x')).toEqual({ status: 'dropped', reason: 'transferring', leader: a });
    expect(net.propose(b, 'y')).toEqual({ status: 'forwarded', leader: a });
    net.deliverAll();
    expect(net.state(a)).toEqual([]);
  });

  it('a transfer to an unreachable target is abandoned after an election timeout, and the leader carries on', () => {
    const net = cluster();
    net.elect(a);
    const t = net.status(a).term;
    net.cut(a, c);
    net.node(a).transferLeadership(c);
    net.tickAll(electionTicks - 1);
    expect(net.status(a).leadTransferee).toBe(c);
    net.tickAll(1);
    expect(net.status(a)).toMatchObject({ role: 'leader', term: t, leadTransferee: null });
    const index = appendedIndex(net.propose(a, 'after the abandoned transfer'));
    net.tickUntil(() => net.status(b).commit >= index, 5, [a]);
  });

  it('a follower asked to transfer passes the request to its leader', () => {
    const net = cluster();
    net.elect(a);
    const since = net.events.length;
    net.node(b).transferLeadership(c);
    net.deliverAll();
    expect(net.sent(ofType('transferLeader'), since).map((m) => [m.from, m.to, m.target])).toEqual([[b, a, c]]);
    expect(net.status(c).role).toBe('leader');
  });

  it('a transfer to the leader itself, or to a non-member, changes nothing', () => {
    const net = cluster();
    net.elect(a);
    const t = net.status(a).term;
    net.node(a).transferLeadership(a);
    net.node(a).transferLeadership(ids('z')[0]!);
    net.deliverAll();
    expect(net.status(a)).toMatchObject({ role: 'leader', term: t, leadTransferee: null });
    expect(net.propose(a, 'x').status).toBe('appended');
  });
});
