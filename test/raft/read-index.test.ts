// Goal: linearizable reads through ReadIndex (thesis §6.4): a leader answers only after confirming its
// leadership with a quorum and committing an entry of its term, batches reads into one round, serves followers'
// forwarded reads, and in lease mode answers at once.

import { describe, expect, it } from 'vitest';
import type { NodeId } from '../../server/raft/index.ts';
import { Network, ids, ofType, type NodeOptions } from './network.ts';

const electionTicks = 10;
const [a, b, c] = ids('a', 'b', 'c') as [NodeId, NodeId, NodeId];

function cluster(config: NodeOptions = {}): Network {
  return new Network({ voters: [a, b, c], config: { electionTicks, heartbeatTicks: 1, ...config } });
}

describe('ReadIndex on the leader (thesis §6.4)', () => {
  it('answers only after a quorum acknowledges a heartbeat round, with the commit index of the request', () => {
    const net = cluster();
    net.elect(a);
    const commit = net.status(a).commit;
    const since = net.events.length;
    expect(net.node(a).readIndex(1)).toBe(true);
    net.flush();
    expect(net.readStates(a)).toEqual([]);
    const round = net.queue.filter(ofType('heartbeat')).filter((m) => m.context !== 0);
    expect(round.map((m) => m.to).sort()).toEqual([b, c]);

    net.deliverOnce((m) => m.type === 'heartbeat'); // the followers answer; the answers stay queued
    expect(net.readStates(a)).toEqual([]);
    net.deliverOnce((m) => m.type === 'heartbeatResponse' && m.from === b); // a and b: a quorum of three
    expect(net.readStates(a)).toEqual([{ index: commit, context: 1 }]);
    expect(net.sent(ofType('append'), since).filter((m) => m.entries.length > 0)).toEqual([]);
  });

  it('batches reads requested before one ready() into one heartbeat round', () => {
    const net = cluster();
    net.elect(a);
    const commit = net.status(a).commit;
    const since = net.events.length;
    for (let context = 1; context <= 5; context++) expect(net.node(a).readIndex(context)).toBe(true);
    net.deliverAll();
    for (const id of [b, c]) {
      const round = net.sent(ofType('heartbeat'), since).filter((m) => m.to === id && m.context !== 0);
      expect(round).toHaveLength(1);
    }
    expect(net.readStates(a)).toEqual([1, 2, 3, 4, 5].map((context) => ({ index: commit, context })));
  });

  it('never answers while the leader is cut off from the quorum', () => {
    const net = cluster();
    net.elect(a);
    net.isolate(a);
    expect(net.node(a).readIndex(1)).toBe(true);
    net.tick([a], electionTicks - 1);
    expect(net.readStates(a)).toEqual([]);
  });

  it('with the no-quorum read bug planted, the cut-off leader answers (the test above catches it)', () => {
    const net = cluster({ bugs: { readWithoutQuorum: true } });
    net.elect(a);
    net.isolate(a);
    net.node(a).readIndex(1);
    net.tick([a], electionTicks - 1);
    expect(net.readStates(a)).not.toEqual([]);
  });

  it('a new leader answers no read before it commits an entry of its own term', () => {
    // Plain elections (no PreVote or lease) so b can take over from a live leader by campaigning.
    const net = cluster({ preVote: false, checkQuorum: false });
    net.elect(a);
    net.filter = (m) => (m.type === 'append' && m.from === b ? null : m); // b's no-op reaches no one
    net.node(b).campaign();
    net.deliverAll();
    expect(net.status(b).role).toBe('leader');
    const noop = net.status(b).lastIndex;
    expect(net.status(b).commit).toBeLessThan(noop);

    const accepted = net.node(b).readIndex(7);
    net.tick([b], 3); // heartbeat rounds are acknowledged by a and c
    expect(net.readStates(b)).toEqual([]);

    net.filter = null;
    net.tickUntil(() => net.status(b).commit >= noop, 5, [b]);
    if (!accepted) expect(net.node(b).readIndex(7)).toBe(true); // refused earlier: ask again
    net.tickUntil(() => net.readStates(b).length > 0, 5, [b]);
    expect(net.readStates(b)).toHaveLength(1);
    expect(net.readStates(b)[0]!.context).toBe(7);
    expect(net.readStates(b)[0]!.index).toBeGreaterThanOrEqual(noop);
  });
});

describe('ReadIndex on a follower', () => {
  it("is forwarded to the leader and answered with the leader's commit index", () => {
    const net = cluster();
    net.elect(a);
    const commit = net.status(a).commit;
    expect(net.node(b).readIndex(9)).toBe(true);
    net.deliverAll();
    expect(net.sent(ofType('readIndex')).map((m) => [m.from, m.to, m.context])).toEqual([[b, a, 9]]);
    expect(net.readStates(b)).toEqual([{ index: commit, context: 9 }]);
    expect(net.readStates(a)).toEqual([]);
    expect(net.member(b).appliedIndex).toBeGreaterThanOrEqual(commit);
  });
});

describe('lease reads (readOnly: lease)', () => {
  it('the leader answers at once from its commit index, without a heartbeat round', () => {
    const net = cluster({ readOnly: 'lease' });
    net.elect(a);
    const commit = net.status(a).commit;
    net.isolate(a); // no round could complete; the lease (CheckQuorum) vouches for the leadership
    const since = net.events.length;
    expect(net.node(a).readIndex(3)).toBe(true);
    net.flush(a);
    expect(net.readStates(a)).toEqual([{ index: commit, context: 3 }]);
    expect(net.sent(ofType('heartbeat'), since).filter((m) => m.context !== 0)).toEqual([]);
  });
});
