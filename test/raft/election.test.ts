// Goal: leader election follows the Raft paper (§5.1, §5.2, §5.4.1) and the thesis' PreVote, CheckQuorum and
// leader-lease extensions, checked on an in-memory network with seeded randomness.

import { describe, expect, it } from 'vitest';
import { logIndex, term, type NodeId, type VoteMessage } from '../../server/raft/index.ts';
import { Network, appendTerms, appendedIndex, ids, ofType, type NetworkOptions, type NodeOptions } from './network.ts';

const electionTicks = 10;
const [a, b, c, d, e] = ids('a', 'b', 'c', 'd', 'e') as [NodeId, NodeId, NodeId, NodeId, NodeId];

function cluster(voters: readonly NodeId[], config: NodeOptions = {}, extra: Partial<NetworkOptions> = {}): Network {
  return new Network({ voters, config: { electionTicks, heartbeatTicks: 1, ...config }, ...extra });
}

/** A vote request from `from` to `to` naming the candidate's last log position. */
function voteRequest(from: NodeId, to: NodeId, t: number, lastIndex: number, lastTerm: number, transfer = false): VoteMessage {
  return { type: 'vote', from, to, term: term(t), lastIndex: logIndex(lastIndex), lastTerm: term(lastTerm), transfer };
}

/** The votes `voter` answered to `candidate` since event `since`: true for granted, false for rejected. */
function answers(net: Network, voter: NodeId, candidate: NodeId, since: number): boolean[] {
  return net
    .sent(ofType('voteResponse'), since)
    .filter((m) => m.from === voter && m.to === candidate)
    .map((m) => !m.reject);
}

describe('election (§5.2)', () => {
  it('a follower that hears from no leader for its election timeout becomes a pre-candidate without raising its term', () => {
    const net = cluster([a, b, c]);
    const before = net.status(a).term;
    net.isolate(a);
    const ticks = net.tickUntil(() => net.status(a).role !== 'follower', 2 * electionTicks, [a]);
    expect(ticks).toBeGreaterThanOrEqual(electionTicks);
    expect(net.status(a).role).toBe('preCandidate');
    expect(net.status(a).term).toBe(before);
    expect(net.member(a).storage.hardState().term).toBe(before);
    const preVotes = net.sent(ofType('preVote')).filter((m) => m.from === a);
    expect(preVotes.map((m) => m.to).sort()).toEqual([b, c]);
    expect(net.sent(ofType('vote'))).toEqual([]);
  });

  it('without PreVote, a timed-out follower increments its term, votes for itself and requests votes, persisting both first', () => {
    const net = cluster([a, b, c], { preVote: false });
    const before = net.status(a).term;
    net.isolate(a);
    net.tickUntil(() => net.status(a).role !== 'follower', 2 * electionTicks, [a]);
    expect(net.status(a)).toMatchObject({ role: 'candidate', term: before + 1, vote: a });
    const carrying = net.readyLog.find((r) => r.id === a && r.ready.messages.some((m) => m.type === 'vote'));
    expect(carrying?.ready.hardState).toMatchObject({ term: before + 1, vote: a });
    const requests = net.sent(ofType('vote')).filter((m) => m.from === a);
    expect(requests.map((m) => m.to).sort()).toEqual([b, c]);
    expect(requests.every((m) => m.term === before + 1 && m.lastIndex === net.status(a).lastIndex)).toBe(true);
  });

  it('election timeouts are randomized in [electionTicks, 2 * electionTicks) and differ between seeds', () => {
    const timeouts: number[] = [];
    for (let seed = 1; seed <= 20; seed++) {
      const net = cluster([a, b, c], {}, { seed });
      net.isolate(a);
      timeouts.push(net.tickUntil(() => net.status(a).role !== 'follower', 3 * electionTicks, [a]));
    }
    for (const ticks of timeouts) {
      expect(ticks).toBeGreaterThanOrEqual(electionTicks);
      expect(ticks).toBeLessThan(2 * electionTicks);
    }
    expect(new Set(timeouts).size).toBeGreaterThanOrEqual(3);
  });

  it('a candidate that wins votes from a majority becomes leader and announces itself', () => {
    const net = cluster([a, b, c, d, e]);
    net.cut(a, d);
    net.cut(a, e);
    const before = net.status(a).term;
    net.node(a).campaign();
    net.deliverAll();
    expect(net.status(a)).toMatchObject({ role: 'leader', term: before + 1, leader: a });
    expect(net.status(b)).toMatchObject({ role: 'follower', term: before + 1, leader: a });
    expect(net.status(c)).toMatchObject({ role: 'follower', term: before + 1, leader: a });
  });

  it('a candidate without a majority stays a candidate and no one leads', () => {
    const net = cluster([a, b, c, d, e], { preVote: false });
    for (const other of [c, d, e]) net.cut(a, other);
    const before = net.status(a).term;
    net.node(a).campaign();
    net.deliverAll();
    expect(net.status(a)).toMatchObject({ role: 'candidate', term: before + 1 });
    expect(net.leader()).toBeNull();
  });

  it('a pre-candidate without a majority of pre-votes never raises its term', () => {
    const net = cluster([a, b, c, d, e]);
    for (const other of [c, d, e]) net.cut(a, other);
    const before = net.status(a).term;
    net.node(a).campaign();
    net.deliverAll();
    expect(net.status(a)).toMatchObject({ role: 'preCandidate', term: before });
    expect(net.status(b).term).toBe(before);
    expect(net.sent(ofType('vote'))).toEqual([]);
  });

  it('a split vote elects no one, and randomized timeouts then elect a single leader in a later term', () => {
    const net = cluster([a, b, c, d], { preVote: false });
    net.cut(a, d);
    net.cut(c, b);
    const before = net.status(a).term;
    net.node(a).campaign();
    net.node(c).campaign();
    net.deliverAll();
    expect(net.status(a)).toMatchObject({ role: 'candidate', term: before + 1 });
    expect(net.status(c)).toMatchObject({ role: 'candidate', term: before + 1 });
    expect(net.leader()).toBeNull();

    net.heal();
    net.tickUntil(() => net.leader() !== null, 5 * electionTicks);
    const leader = net.leader()!;
    const leaderTerm = net.status(leader).term;
    expect(leaderTerm).toBeGreaterThan(before + 1);
    for (const id of [a, b, c, d]) {
      if (id !== leader) expect(net.status(id).role).not.toBe('leader');
    }
  });

  it('a candidate that hears from a leader of its own term returns to follower', () => {
    const net = cluster([a, b, c], { preVote: false });
    net.isolate(a);
    net.tickUntil(() => net.status(a).role === 'candidate', 2 * electionTicks, [a]);
    const { term: t, lastIndex } = net.status(a);
    net.step({ type: 'append', from: b, to: a, term: t, index: lastIndex, logTerm: net.lastTerm(a), entries: [], commit: net.status(a).commit });
    expect(net.status(a)).toMatchObject({ role: 'follower', term: t, leader: b });
  });
});

describe('voting (§5.2, §5.4.1, figure 2 RequestVote)', () => {
  it('a voter grants at most one vote per term, and term and vote are in the hardState of the Ready that carries the grant', () => {
    const net = cluster([a, b, c]);
    const t = net.status(b).term + 1;
    const { lastIndex } = net.status(b);
    const lastTerm = net.lastTerm(b);

    const since = net.events.length;
    const readiesBefore = net.readyLog.length;
    net.step(voteRequest(c, b, t, lastIndex, lastTerm));
    expect(answers(net, b, c, since)).toEqual([true]);
    const carrying = net.readyLog
      .slice(readiesBefore)
      .find((r) => r.id === b && r.ready.messages.some((m) => m.type === 'voteResponse' && !m.reject));
    expect(carrying?.ready.hardState).toMatchObject({ term: t, vote: c });
    expect(net.member(b).storage.hardState()).toMatchObject({ term: t, vote: c });

    // Same term, another candidate with an equally good log: refused.
    net.step(voteRequest(a, b, t, lastIndex, lastTerm));
    expect(answers(net, b, a, since)).toEqual([false]);
    expect(net.status(b).vote).toBe(c);
    // The candidate it voted for may ask again (a lost answer) and is granted again.
    net.step(voteRequest(c, b, t, lastIndex, lastTerm));
    expect(answers(net, b, c, since)).toEqual([true, true]);
  });

  it('a vote survives a restart: the restarted voter still refuses a second candidate in that term', () => {
    const net = cluster([a, b, c]);
    const t = net.status(b).term + 1;
    const { lastIndex } = net.status(b);
    const lastTerm = net.lastTerm(b);
    net.step(voteRequest(c, b, t, lastIndex, lastTerm));
    net.restart(b);
    expect(net.status(b)).toMatchObject({ term: t, vote: c });
    const since = net.events.length;
    net.step(voteRequest(a, b, t, lastIndex, lastTerm));
    expect(answers(net, b, a, since)).toEqual([false]);
  });

  it('a voter refuses a candidate whose log is less up-to-date: last term first, then length (§5.4.1)', () => {
    // b's log: the bootstrap entries 1..3 at term 1, then 4..6 at term 2.
    const net = cluster([a, b, c], {}, {
      prepare: (id, storage) => {
        if (id !== b) return;
        appendTerms(storage, [2, 2, 2]);
        storage.setHardState({ ...storage.hardState(), term: term(2) });
      },
    });
    expect(net.status(b).lastIndex).toBe(6);
    const cases = [
      { lastTerm: 1, lastIndex: 9, granted: false }, // longer, but an older last term
      { lastTerm: 2, lastIndex: 5, granted: false }, // same last term, shorter
      { lastTerm: 2, lastIndex: 6, granted: true }, // identical
      { lastTerm: 2, lastIndex: 7, granted: true }, // same last term, longer
      { lastTerm: 3, lastIndex: 4, granted: true }, // shorter, but a newer last term
    ];
    let t = 2;
    for (const { lastTerm, lastIndex, granted } of cases) {
      t += 1; // a fresh term each time, so the one-vote rule does not interfere
      const since = net.events.length;
      net.step(voteRequest(c, b, t, lastIndex, lastTerm));
      expect({ lastTerm, lastIndex, answers: answers(net, b, c, since) }).toEqual({ lastTerm, lastIndex, answers: [granted] });
      expect(net.status(b).term).toBe(t);
    }
  });

  it('a member missing a committed entry cannot be elected (Leader Completeness, §5.4)', () => {
    const net = cluster([a, b, c]);
    net.elect(a);
    net.cut(a, c);
    const result = net.propose(a, 'committed while c was away');
    expect(result.status).toBe('appended');
    net.deliverAll();
    expect(net.status(a).commit).toBe(net.status(a).lastIndex);
    net.crash(a);
    net.heal();
    net.tickUntil(() => net.leader() !== null, 10 * electionTicks);
    expect(net.leader()).toBe(b);
    net.tickUntil(() => net.state(c).includes('committed while c was away'), 5);
  });
});

describe('terms (§5.1)', () => {
  it('a leader that sees a higher term steps down to follower', () => {
    const net = cluster([a, b, c]);
    net.elect(a);
    const t = net.status(a).term + 2;
    net.step({ type: 'heartbeat', from: b, to: a, term: term(t), commit: net.status(a).commit, context: 0 });
    expect(net.status(a)).toMatchObject({ role: 'follower', term: t, leader: b });
    expect(net.member(a).storage.hardState().term).toBe(t);
  });

  it('a paused leader that resumes steps down when its followers answer with their newer term', () => {
    const net = cluster([a, b, c]);
    net.elect(a);
    const old = net.status(a).term;
    net.isolate(a);
    // a is paused (not ticked); b and c time out and elect one of themselves.
    net.tickUntil(() => net.leader() !== null && net.leader() !== a, 5 * electionTicks, [b, c]);
    const newTerm = net.status(b).term;
    expect(newTerm).toBeGreaterThan(old);
    expect(net.status(a)).toMatchObject({ role: 'leader', term: old });

    net.heal();
    net.tick([a]); // a's heartbeat at its stale term is answered with the newer term
    expect(net.status(a).role).toBe('follower');
    expect(net.status(a).term).toBe(newTerm);
  });
});

describe('PreVote (thesis §9.6)', () => {
  it('a partitioned member that rejoins does not raise the term or disrupt the leader (flapping member)', () => {
    const net = cluster([a, b, c]);
    net.elect(a);
    const t = net.status(a).term;
    const since = net.events.length;
    net.isolate(c);
    net.tickAll(5 * electionTicks);
    expect(net.status(c).term).toBe(t);
    expect(net.sent(ofType('preVote'), since).some((m) => m.from === c)).toBe(true);

    net.heal();
    net.tickAll(3 * electionTicks);
    for (const id of [a, b, c]) expect(net.status(id)).toMatchObject({ term: t, leader: a });
    expect(net.status(a).role).toBe('leader');
    expect(net.sent(ofType('vote'), since)).toEqual([]);
  });

  it('without PreVote the same rejoin raises the cluster term and deposes the leader (the disruption PreVote prevents)', () => {
    const net = cluster([a, b, c], { preVote: false, checkQuorum: false });
    net.elect(a);
    const t = net.status(a).term;
    net.isolate(c);
    net.tickAll(5 * electionTicks);
    expect(net.status(c).term).toBeGreaterThan(t);

    net.heal();
    net.tickAll(5 * electionTicks);
    expect(net.status(a).term).toBeGreaterThan(t);
    expect(net.status(b).term).toBeGreaterThan(t);
  });
});

describe('CheckQuorum and leader lease (thesis §6.2, §4.2.3)', () => {
  it('an isolated leader steps down within two election timeouts, and not before one', () => {
    const net = cluster([a, b, c]);
    net.elect(a);
    net.isolate(a);
    net.tick([a], electionTicks - 1);
    expect(net.status(a).role).toBe('leader');
    const more = net.tickUntil(() => net.status(a).role !== 'leader', electionTicks + 1, [a]);
    expect(electionTicks - 1 + more).toBeLessThanOrEqual(2 * electionTicks);
    expect(net.status(a)).toMatchObject({ role: 'follower', leader: null });
    expect(net.propose(a, 'x')).toEqual({ status: 'dropped', reason: 'no_leader', leader: null });
  });

  it('a voter that heard from its leader within the election timeout ignores vote requests', () => {
    const net = cluster([a, b, c]);
    net.elect(a);
    const t = net.status(b).term;
    const { lastIndex } = net.status(b);
    const since = net.events.length;
    net.step(voteRequest(c, b, t + 1, lastIndex, net.lastTerm(b)));
    expect(answers(net, b, c, since)).not.toContain(true);
    expect(net.status(b)).toMatchObject({ term: t, leader: a });
    net.step({ ...voteRequest(c, b, t + 1, lastIndex, net.lastTerm(b)), type: 'preVote' });
    expect(net.sent(ofType('preVoteResponse'), since).filter((m) => m.from === b && !m.reject)).toEqual([]);
    expect(net.status(b)).toMatchObject({ term: t, leader: a });
  });

  it('a voter disregards its lease for a leadership-transfer vote', () => {
    const net = cluster([a, b, c]);
    net.elect(a);
    const t = net.status(b).term;
    const since = net.events.length;
    net.step(voteRequest(c, b, t + 1, net.status(b).lastIndex, net.lastTerm(b), true));
    expect(answers(net, b, c, since)).toEqual([true]);
    expect(net.status(b)).toMatchObject({ term: t + 1, vote: c });
  });

  it('a voter grants votes again once an election timeout passed without hearing from the leader', () => {
    const net = cluster([a, b, c]);
    net.elect(a);
    const t = net.status(b).term;
    net.isolate(b);
    net.tick([b], electionTicks);
    const since = net.events.length;
    net.step(voteRequest(c, b, t + 1, net.status(b).lastIndex, net.lastTerm(b)));
    expect(answers(net, b, c, since)).toEqual([true]);
    expect(net.status(b)).toMatchObject({ term: t + 1, vote: c });
  });
});

describe('a hint that the leader process is gone (Raft.peerDown)', () => {
  it('followers told their leader is down elect a new one within a quarter of an election timeout, not a whole one', () => {
    const net = cluster([a, b, c]);
    net.elect(a);
    const t = net.status(a).term;
    net.crash(a);
    net.node(b).reportPeerDown(a);
    net.node(c).reportPeerDown(a);
    const ticks = net.tickUntil(() => [b, c].some((id) => net.status(id).role === 'leader'), electionTicks, [b, c]);
    expect(ticks).toBeLessThanOrEqual(Math.floor(electionTicks / 4) + 1);
    expect(net.status(b).term).toBeGreaterThan(t);
  });

  it('a false hint about a live leader costs at most an election: terms and logs stay consistent, one leader', () => {
    const net = cluster([a, b, c]);
    net.elect(a);
    appendedIndex(net.propose(a, 'before'));
    net.deliverAll();
    net.node(b).reportPeerDown(a);
    net.tickAll(3 * electionTicks);
    const leader = net.leader();
    expect(leader).not.toBeNull();
    appendedIndex(net.propose(leader!, 'after'));
    net.tickAll(electionTicks);
    for (const id of [a, b, c]) expect(net.state(id)).toEqual(['before', 'after']);
  });

  it('a hint about some other member than the leader changes nothing', () => {
    const net = cluster([a, b, c]);
    net.elect(a);
    const t = net.status(a).term;
    net.node(b).reportPeerDown(c);
    net.tickAll(3 * electionTicks);
    expect(net.status(b)).toMatchObject({ term: t, leader: a });
  });
});
