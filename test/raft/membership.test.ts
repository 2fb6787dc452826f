// Goal: single-server membership changes (thesis §4.1–§4.3): learners replicate without voting or counting,
// promotion and removal change the quorum, a removed leader hands over, and at most one change is pending.

import { describe, expect, it } from 'vitest';
import type { ConfChange, Message, NodeId } from '../../server/raft/index.ts';
import { Network, appendedIndex, ids, ofType, type NodeOptions } from './network.ts';

const electionTicks = 10;
const [a, b, c, d, e] = ids('a', 'b', 'c', 'd', 'e') as [NodeId, NodeId, NodeId, NodeId, NodeId];

function cluster(voters: readonly NodeId[], config: NodeOptions = {}): Network {
  return new Network({ voters, config: { electionTicks, heartbeatTicks: 1, ...config } });
}

/** Proposes a change on `leader` and ticks the leader until every member of `appliers` applied it. */
function change(net: Network, leader: NodeId, proposal: ConfChange, appliers: readonly NodeId[]): number {
  const index = appendedIndex(net.proposeConfChange(leader, proposal));
  net.tickUntil(() => appliers.every((id) => net.member(id).appliedIndex >= index), 5 * electionTicks, [leader]);
  return index;
}

/** Voters a and b (a leads) and learner c, which has caught up with the whole log. */
function withLearner(): Network {
  const net = cluster([a, b]);
  net.add(c);
  net.elect(a);
  change(net, a, { type: 'addLearner', node: c }, [a, b]);
  net.tickUntil(() => net.isCaughtUp(c, a), 5 * electionTicks, [a]);
  expect(net.status(a).confState).toEqual({ voters: [a, b], learners: [c] });
  return net;
}

describe('learners', () => {
  it('a learner receives and applies the whole log, including the configuration that added it', () => {
    const net = withLearner();
    appendedIndex(net.propose(a, 'x'));
    net.tickUntil(() => net.isCaughtUp(c, a), 5, [a]);
    expect(net.state(c)).toEqual(['x']);
    expect(net.status(c).confState).toEqual({ voters: [a, b], learners: [c] });
  });

  it("a learner's acknowledgement does not count toward commitment", () => {
    const net = withLearner();
    net.cut(a, b);
    const index = appendedIndex(net.propose(a, 'x'));
    net.deliverAll();
    expect(net.status(c).lastIndex).toBe(index); // stored on a and c...
    expect(net.status(a).commit).toBeLessThan(index); // ...but c is no voter: one of two voters
    expect(net.state(a)).toEqual([]);
  });

  it('a learner never campaigns, however long it hears from no leader', () => {
    const net = withLearner();
    const since = net.events.length;
    net.isolate(c);
    net.tick([c], 5 * electionTicks);
    expect(net.status(c).role).toBe('follower');
    expect(net.sent((m) => m.from === c && (m.type === 'vote' || m.type === 'preVote'), since)).toEqual([]);
  });

  it('a leader whose only contact is a learner steps down (CheckQuorum counts voters)', () => {
    const net = withLearner();
    net.cut(a, b);
    net.tickUntil(() => net.status(a).role !== 'leader', 2 * electionTicks, [a, c]);
    expect(net.status(a).role).toBe('follower');
  });

  it('a promoted learner counts toward commitment', () => {
    const net = withLearner();
    change(net, a, { type: 'addVoter', node: c }, [a, b, c]);
    expect(net.status(a).confState).toEqual({ voters: [a, b, c], learners: [] });
    net.cut(a, b);
    const index = appendedIndex(net.propose(a, 'x'));
    net.deliverAll();
    expect(net.status(a).commit).toBeGreaterThanOrEqual(index); // a and c: two of three voters
    expect(net.state(a)).toEqual(['x']);
  });
});

describe('voters', () => {
  it('removing a voter shrinks the quorum', () => {
    const net = cluster([a, b, c, d]);
    net.elect(a);
    const held: Message[] = [];
    net.filter = (m) => {
      if (m.type !== 'append' || (m.to !== c && m.to !== d)) return m;
      held.push(m);
      return null;
    };
    const before = appendedIndex(net.propose(a, 'before'));
    net.deliverAll();
    expect(net.status(a).commit).toBeLessThan(before); // a and b: two of four

    net.filter = null;
    net.enqueue(...held.splice(0));
    net.deliverAll();
    expect(net.status(a).commit).toBeGreaterThanOrEqual(before);
    change(net, a, { type: 'removeNode', node: d }, [a, b, c]);
    expect(net.status(a).confState).toEqual({ voters: [a, b, c], learners: [] });

    net.cut(a, c);
    net.cut(a, d);
    const after = appendedIndex(net.propose(a, 'after'));
    net.deliverAll();
    expect(net.status(a).commit).toBeGreaterThanOrEqual(after); // a and b: two of three
  });

  it('a removed leader gives way: the remaining voters elect a leader and go on committing', () => {
    const net = cluster([a, b, c]);
    net.elect(a);
    const index = appendedIndex(net.proposeConfChange(a, { type: 'removeNode', node: a }));
    net.tickUntil(() => [b, c].some((id) => net.status(id).role === 'leader') && [b, c].every((id) => net.member(id).appliedIndex >= index), 10 * electionTicks);
    for (const id of [b, c]) expect(net.status(id).confState).toEqual({ voters: [b, c], learners: [] });
    const leader = net.leader()!;
    expect([b, c]).toContain(leader);
    appendedIndex(net.propose(leader, 'without a'));
    net.tickUntil(() => [b, c].every((id) => net.state(id).includes('without a')), 5);
    expect(net.status(a).role).not.toBe('leader');
  });

  it('a removed member that alone holds entries the others lack campaigns, so they can apply its removal', () => {
    // d's removal commits on the leader a and reaches d, but b and c have the entry without knowing it
    // committed (a crashes first): they still count d, one of four. d holds an entry they lack, so it refuses
    // them its vote; only d can win, with b and c, for the configuration without it (found by the whole-node
    // simulator, seed 22777).
    const net = cluster([a, b, c, d]);
    net.elect(a);
    const removal = appendedIndex(net.proposeConfChange(a, { type: 'removeNode', node: d }));
    net.deliverOnce(); // the removal reaches b, c and d; their answers wait
    appendedIndex(net.propose(a, 'held by d alone'));
    net.filter = (m) => {
      if (m.to !== b && m.to !== c) return m;
      if (m.type === 'heartbeat' && m.commit >= removal) return null;
      if (m.type === 'append' && (m.commit >= removal || m.entries.some((e) => e.index > removal))) return null;
      return m;
    };
    net.deliverAll();
    expect(net.status(d).confState).toEqual({ voters: [a, b, c], learners: [] });
    for (const id of [b, c]) expect(net.status(id).confState.voters).toContain(d);
    net.crash(a);
    net.filter = null;

    net.tickUntil(() => [b, c].some((id) => net.status(id).role === 'leader' && net.status(id).confState.voters.length === 3), 20 * electionTicks);
    for (const id of [b, c]) expect(net.state(id)).toContain('held by d alone');
    const leader = net.leader()!;
    appendedIndex(net.propose(leader, 'after'));
    net.tickUntil(() => [b, c].every((id) => net.state(id).includes('after')), 5);
    expect(net.status(d).role).not.toBe('leader');
  });

  it('a removed member campaigns without counting its own vote', () => {
    // c applied its removal: a and b are the configuration. With a down, b alone is one vote of two, and c's
    // own would make two: c asks for votes, b grants them, and c still must not win.
    const net = cluster([a, b, c]);
    net.elect(a);
    change(net, a, { type: 'removeNode', node: c }, [a, b, c]);
    const since = net.events.length;
    net.crash(a);
    net.tick([b, c], 10 * electionTicks);
    expect(net.sent((m) => m.from === b && m.to === c && m.type === 'preVoteResponse' && !m.reject, since).length).toBeGreaterThan(0);
    for (const id of [b, c]) expect(net.status(id).role).not.toBe('leader');
  });

  it('a voter added to three catches up, and the quorum becomes three of four', () => {
    const net = cluster([a, b, c]);
    net.add(d);
    net.elect(a);
    change(net, a, { type: 'addVoter', node: d }, [a, b, c]);
    net.tickUntil(() => net.isCaughtUp(d, a), 5 * electionTicks, [a]);
    expect(net.status(d).confState).toEqual({ voters: [a, b, c, d], learners: [] });
    net.cut(a, b);
    net.cut(a, c);
    const index = appendedIndex(net.propose(a, 'x'));
    net.deliverAll();
    expect(net.status(a).commit).toBeLessThan(index); // a and d: two of four
  });
});

describe('one change at a time', () => {
  it('a second configuration change is dropped while the first is not yet applied', () => {
    const net = cluster([a, b, c]);
    net.add(d);
    net.add(e);
    net.elect(a);
    appendedIndex(net.proposeConfChange(a, { type: 'addLearner', node: d }));
    expect(net.proposeConfChange(a, { type: 'addLearner', node: e })).toEqual({ status: 'dropped', reason: 'config_pending', leader: a });
    expect(net.propose(a, 'ordinary proposals still go in').status).toBe('appended');
    net.tickUntil(() => net.status(a).confState.learners.includes(d), 5, [a]);
    appendedIndex(net.proposeConfChange(a, { type: 'addLearner', node: e }));
  });

  it('a new leader accepts no configuration change before an entry of its term is committed', () => {
    const net = cluster([a, b, c]);
    net.add(d);
    net.filter = (m) => (m.type === 'append' ? null : m); // the no-op goes nowhere
    net.node(a).campaign();
    net.deliverAll();
    expect(net.status(a).role).toBe('leader');
    expect(net.status(a).commit).toBeLessThan(net.status(a).lastIndex);
    expect(net.proposeConfChange(a, { type: 'addLearner', node: d })).toEqual({ status: 'dropped', reason: 'config_pending', leader: a });

    net.filter = null;
    net.tickUntil(() => net.member(a).appliedIndex === net.status(a).lastIndex, 5, [a]);
    appendedIndex(net.proposeConfChange(a, { type: 'addLearner', node: d }));
  });

  it('configuration changes proposed to a follower are forwarded to the leader', () => {
    const net = cluster([a, b, c]);
    net.add(d);
    net.elect(a);
    expect(net.proposeConfChange(b, { type: 'addLearner', node: d })).toEqual({ status: 'forwarded', leader: a });
    net.tickUntil(() => net.status(a).confState.learners.includes(d), 5, [a]);
    expect(net.sent(ofType('propose')).map((m) => [m.from, m.to])).toEqual([[b, a]]);
  });
});
