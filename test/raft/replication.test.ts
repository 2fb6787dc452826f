// Goal: log replication and commitment follow the Raft paper (§5.3, §5.4.2, figure 2 AppendEntries, figure 8),
// including the leader's no-op, fast backtracking, pipelining, batching and proposal forwarding.

import { describe, expect, it } from 'vitest';
import { logIndex, term, type Message, type NodeId } from '../../server/raft/index.ts';
import { Network, appendTerms, appendedIndex, entry, ids, ofType, type NodeOptions } from './network.ts';

const electionTicks = 10;
const [a, b, c, d, e] = ids('a', 'b', 'c', 'd', 'e') as [NodeId, NodeId, NodeId, NodeId, NodeId];

function cluster(voters: readonly NodeId[], config: NodeOptions = {}): Network {
  return new Network({ voters, config: { electionTicks, heartbeatTicks: 1, ...config } });
}

/** Whether two members hold the same term at every index of `reference`'s log. */
function sameLog(net: Network, reference: NodeId, other: NodeId): boolean {
  const last = net.status(reference).lastIndex;
  if (net.status(other).lastIndex !== last) return false;
  for (let index = net.status(reference).firstIndex; index <= last; index++) {
    if (net.termAt(reference, index) !== net.termAt(other, index)) return false;
  }
  return true;
}

describe('the leader (§5.3, §5.4.2)', () => {
  it('a new leader appends an empty no-op entry of its term and commits it', () => {
    const net = cluster([a, b, c]);
    const before = net.status(a).lastIndex;
    net.elect(a);
    const t = net.status(a).term;
    const [noop] = net.member(a).storage.entries(logIndex(before + 1), logIndex(before + 2), Number.MAX_SAFE_INTEGER);
    expect(noop).toMatchObject({ kind: 'normal', term: t, index: before + 1 });
    expect(noop?.kind === 'normal' && noop.data.byteLength).toBe(0);
    for (const id of [a, b, c]) {
      expect(net.termAt(id, before + 1)).toBe(t);
      expect(net.status(id).commit).toBe(before + 1);
    }
  });
});

describe('log matching (§5.3, figure 2 AppendEntries)', () => {
  it('a follower rejects an append whose previous entry it lacks or holds with another term', () => {
    const net = cluster([a, b, c]);
    net.elect(a);
    const { term: t, lastIndex: last, commit } = net.status(b);
    const since = net.events.length;

    net.step({ type: 'append', from: a, to: b, term: t, index: logIndex(last + 5), logTerm: t, entries: [entry(last + 6, t, 'gap')], commit });
    net.step({ type: 'append', from: a, to: b, term: t, index: last, logTerm: term(t - 1), entries: [entry(last + 1, t, 'mismatch')], commit });

    const responses = net.sent(ofType('appendResponse'), since).filter((m) => m.from === b);
    expect(responses.map((m) => ({ reject: m.reject, index: m.index }))).toEqual([
      { reject: true, index: last + 5 },
      { reject: true, index: last },
    ]);
    expect(net.status(b).lastIndex).toBe(last);
    expect(net.termAt(b, last)).toBe(t);
  });

  it('a follower deletes a conflicting entry and all after it, but keeps its entries when an append only repeats them', () => {
    // b: bootstrap entries 1..3 at term 1, then 4..6 from a term-2 leader that never committed them.
    const net = new Network({
      voters: [a, b, c],
      config: { electionTicks },
      prepare: (id, storage) => {
        if (id === b) appendTerms(storage, [2, 2, 2]);
        storage.setHardState({ ...storage.hardState(), term: term(3) });
      },
    });
    const commit = net.status(b).commit;
    const since = net.events.length;

    // A delayed append that repeats entry 4: nothing after it may be lost.
    net.step({ type: 'append', from: a, to: b, term: term(3), index: logIndex(3), logTerm: term(1), entries: [net.member(b).storage.entries(logIndex(4), logIndex(5), 1)[0]!], commit });
    expect(net.status(b).lastIndex).toBe(6);

    // Entry 5 of term 3 conflicts with b's entry 5 of term 2: 5 and 6 go, the leader's 5 stays.
    net.step({ type: 'append', from: a, to: b, term: term(3), index: logIndex(4), logTerm: term(2), entries: [entry(5, 3, 'new')], commit });
    expect(net.status(b).lastIndex).toBe(5);
    expect([net.termAt(b, 4), net.termAt(b, 5), net.termAt(b, 6)]).toEqual([2, 3, null]);
    const responses = net.sent(ofType('appendResponse'), since).filter((m) => m.from === b);
    expect(responses.map((m) => ({ reject: m.reject, index: m.index }))).toEqual([
      { reject: false, index: 4 },
      { reject: false, index: 5 },
    ]);
  });

  it('a leader skips back over a whole conflicting term per round trip, not one entry at a time', () => {
    // a and its ally hold 50 entries of term 3; b holds 50 uncommitted entries of term 2; c only the bootstrap.
    const net = new Network({
      voters: [a, b, c, d],
      config: { electionTicks },
      prepare: (id, storage) => {
        if (id === a || id === d) appendTerms(storage, Array<number>(50).fill(3));
        if (id === b) appendTerms(storage, Array<number>(50).fill(2));
        storage.setHardState({ ...storage.hardState(), term: term(3) });
      },
    });
    const since = net.events.length;
    net.node(a).campaign();
    net.deliverAll();
    expect(net.status(a).role).toBe('leader');

    const rejections = (id: NodeId): number =>
      net.sent(ofType('appendResponse'), since).filter((m) => m.from === id && m.reject).length;
    // One entry at a time would take 50 rejections; a term at a time takes one or two.
    expect(rejections(b)).toBeGreaterThanOrEqual(1);
    expect(rejections(b)).toBeLessThanOrEqual(2);
    expect(rejections(c)).toBeGreaterThanOrEqual(1);
    expect(rejections(c)).toBeLessThanOrEqual(2);
    // Counted in appends: those a sent b up to the first one b accepted.
    const events = net.events.slice(since);
    const accepted = events.findIndex((ev) => ev.kind === 'send' && ev.message.type === 'appendResponse' && ev.message.from === b && !ev.message.reject);
    expect(accepted).toBeGreaterThan(0);
    const appendsToB = events.slice(0, accepted).filter((ev) => ev.kind === 'send' && ev.message.type === 'append' && ev.message.to === b);
    expect(appendsToB.length).toBeLessThanOrEqual(3);
    // And the follower's conflicting suffix was replaced by the leader's log.
    for (const id of [b, c, d]) expect(sameLog(net, a, id)).toBe(true);
    expect(net.status(a).commit).toBe(net.status(a).lastIndex);
  });

  it("a partitioned old leader's uncommitted entries are overwritten and its proposals never commit", () => {
    const net = cluster([a, b, c]);
    net.elect(a);
    net.isolate(a);
    const lost = [0, 1, 2].map((i) => appendedIndex(net.propose(a, `lost ${i}`)));
    net.deliverAll();
    net.tickUntil(() => net.leader() !== null && net.leader() !== a, 5 * electionTicks, [b, c]);
    const leader = net.leader()!;
    appendedIndex(net.propose(leader, 'kept'));
    net.deliverAll();

    net.heal();
    net.tickUntil(() => net.status(a).role === 'follower' && net.isCaughtUp(a, leader), 5 * electionTicks);
    expect(sameLog(net, leader, a)).toBe(true);
    for (const index of lost) expect(net.termAt(a, index)).toBe(net.termAt(leader, index));
    for (const id of [a, b, c]) {
      expect(net.state(id)).toContain('kept');
      expect(net.state(id).filter((data) => data.startsWith('lost'))).toEqual([]);
    }
  });
});

describe('retransmission (§5.1: servers retry RPCs that go unanswered)', () => {
  it('a follower whose appends were lost while it was cut off catches up once the partition heals, with no new proposals', () => {
    const net = cluster([a, b, c]);
    net.elect(a);
    net.isolate(c);
    for (let i = 0; i < 3; i++) appendedIndex(net.propose(a, `while c was away ${i}`));
    net.deliverAll();
    expect(net.status(a).commit).toBe(net.status(a).lastIndex);
    net.heal();
    net.tickUntil(() => net.isCaughtUp(c, a), 3 * electionTicks);
    expect(net.state(c)).toEqual(net.state(a));
  });
});

describe('throughput', () => {
  it('a leader pipelines appends without waiting for acknowledgements, at most inflightMax per follower', () => {
    const inflightMax = 3;
    const net = cluster([a, b, c], { inflightMax });
    net.elect(a);
    const held: Message[] = [];
    net.filter = (m) => {
      if (m.type !== 'appendResponse') return m;
      held.push(m);
      return null;
    };
    const since = net.events.length;
    for (let i = 0; i < 10; i++) {
      appendedIndex(net.propose(a, `p${i}`));
      net.deliverAll(); // one Ready per proposal
    }
    const appendsTo = (id: NodeId) => net.sent(ofType('append'), since).filter((m) => m.to === id && m.entries.length > 0);
    for (const id of [b, c]) expect(appendsTo(id).map((m) => m.entries.length)).toEqual([1, 1, 1]);

    net.filter = null;
    net.enqueue(...held.splice(0));
    net.tickUntil(() => net.isCaughtUp(b, a) && net.isCaughtUp(c, a), 5, [a]);
    for (const id of [b, c]) expect(net.state(id)).toEqual(net.state(a));
    expect(net.state(a)).toHaveLength(10);
  });

  it('proposals made before one ready() go out in one append per follower', () => {
    const net = cluster([a, b, c]);
    net.elect(a);
    const since = net.events.length;
    for (let i = 0; i < 5; i++) appendedIndex(net.propose(a, `batch ${i}`));
    net.deliverAll();
    for (const id of [b, c]) {
      const appends = net.sent(ofType('append'), since).filter((m) => m.to === id && m.entries.length > 0);
      expect(appends.map((m) => m.entries.length)).toEqual([5]);
    }
    expect(net.state(a)).toEqual([0, 1, 2, 3, 4].map((i) => `batch ${i}`));
  });
});

describe('commitment (§5.3, §5.4.2)', () => {
  it('an entry is committed once a majority stores it, not before', () => {
    const net = cluster([a, b, c, d, e]);
    net.elect(a);
    const held: Message[] = [];
    net.filter = (m) => {
      if (m.type !== 'append' || ![c, d, e].includes(m.to)) return m;
      held.push(m);
      return null;
    };
    const index = appendedIndex(net.propose(a, 'x'));
    net.deliverAll();
    expect(net.termAt(b, index)).not.toBeNull();
    expect(net.status(a).commit).toBeLessThan(index); // on a and b: two of five
    expect(net.state(a)).toEqual([]);

    net.filter = (m) => ([d, e].includes(m.to) ? null : m);
    net.enqueue(...held.filter((m) => m.to === c));
    net.deliverAll();
    expect(net.status(a).commit).toBeGreaterThanOrEqual(index); // on a, b and c: three of five
    expect(net.state(a)).toEqual(['x']);
  });
});

describe('figure 8: a leader commits entries of older terms only by committing one of its own (§5.4.2)', () => {
  const [s1, s2, s3, s4, s5] = ids('s1', 's2', 's3', 's4', 's5') as [NodeId, NodeId, NodeId, NodeId, NodeId];
  const servers = [s1, s2, s3, s4, s5];

  /**
   * Replays figure 8 (a)-(c). Indices are shifted by the bootstrap entries (`base`) and terms by the bootstrap
   * term (`t0`); every leader's first entry is its no-op. Ends in (c): S1 leads term t0+3, and its
   * term-(t0+1) entries base+1..base+2 are stored on S1, S2 and S3.
   */
  function figure8(s1Config: NodeOptions = {}) {
    const net = new Network({
      voters: servers,
      config: { electionTicks, preVote: false, checkQuorum: false, appendBytesMax: 1 },
      configFor: (id) => (id === s1 ? s1Config : {}),
    });
    const base = net.status(s1).lastIndex;
    const t0 = net.status(s1).term;

    // (a) S1 leads term t0+1 and replicates its entries to S2 only.
    net.filter = (m) => (m.type === 'append' && m.from === s1 && m.to !== s2 ? null : m);
    net.node(s1).campaign();
    net.deliverAll();
    expect(net.status(s1)).toMatchObject({ role: 'leader', term: t0 + 1 });
    expect(appendedIndex(net.propose(s1, 'from term 2'))).toBe(base + 2);
    net.deliverAll();
    for (const id of [s1, s2]) expect([net.termAt(id, base + 1), net.termAt(id, base + 2)]).toEqual([t0 + 1, t0 + 1]);
    for (const id of [s3, s4, s5]) expect(net.status(id).lastIndex).toBe(base);
    expect(net.status(s1).commit).toBe(base);

    // (b) S1 crashes; S5 is elected for term t0+2 by S3, S4 and itself and appends an entry only locally.
    net.crash(s1);
    net.filter = (m) => (m.type === 'append' && m.from === s5 ? null : m);
    net.node(s5).campaign();
    net.deliverAll();
    expect(net.status(s5)).toMatchObject({ role: 'leader', term: t0 + 2 });
    expect(net.termAt(s5, base + 1)).toBe(t0 + 2);
    net.crash(s5);

    // (c) S1 restarts and is elected for term t0+3 by S2, S3 and itself (S4 hears nothing from it). It brings S3
    // up to date with its term-(t0+1) entries; the entries of its new term are lost in transit (an append that
    // carries them arrives without them the first time, and is lost outright when sent again).
    net.restart(s1);
    net.cut(s1, s4);
    const stripped = new Set<string>();
    net.filter = (m) => {
      if (m.type !== 'append' || m.from !== s1) return m;
      const kept = m.entries.filter((x) => x.term <= t0 + 1);
      if (kept.length === m.entries.length) return m;
      const key = `${m.to}@${m.index}`;
      if (stripped.has(key)) return null;
      stripped.add(key);
      return { ...m, entries: kept };
    };
    net.campaignUntilLeader(s1, 3);
    expect(net.status(s1).term).toBe(t0 + 3);
    expect(net.termAt(s1, base + 3)).toBe(t0 + 3);
    for (const id of [s2, s3]) {
      expect([net.termAt(id, base + 1), net.termAt(id, base + 2)]).toEqual([t0 + 1, t0 + 1]);
      expect(net.status(id).lastIndex).toBe(base + 2);
    }
    return { net, base, t0 };
  }

  it('(c) an entry of an older term stored on a majority is not committed', () => {
    const { net, base } = figure8();
    expect(net.status(s1).commit).toBe(base);
    expect(net.state(s1)).toEqual([]);
  });

  it('(d) so a later leader may overwrite it, and no member ever applies it', () => {
    const { net, base, t0 } = figure8();
    net.crash(s1);
    net.filter = null;
    net.heal();
    net.restart(s5);
    net.campaignUntilLeader(s5, 3);
    net.deliverAll();
    for (const id of [s2, s3, s4]) expect(net.termAt(id, base + 1)).toBe(t0 + 2);
    expect(net.status(s5).commit).toBeGreaterThanOrEqual(base + 2);
    for (const id of [s2, s3, s4, s5]) expect(net.state(id)).not.toContain('from term 2');
  });

  it('(e) once an entry of the current term is stored on a majority, it and all before it are committed for good', () => {
    const { net, base } = figure8();
    net.filter = null; // S1's own entries now reach S2 and S3 (S4 is still cut off from it)
    const index = appendedIndex(net.propose(s1, 'from term 4'));
    net.tickUntil(() => net.status(s1).commit >= index, 5, [s1]);
    expect(net.status(s1).commit).toBeGreaterThan(base + 2);
    expect(net.state(s1)).toEqual(['from term 2', 'from term 4']);

    // S5 can no longer win: S2 and S3 hold entries of a newer term than its last.
    net.crash(s1);
    net.heal();
    net.restart(s5);
    for (let attempt = 0; attempt < 3; attempt++) {
      net.node(s5).campaign();
      net.deliverAll();
      expect(net.status(s5).role).not.toBe('leader');
    }
    net.tickUntil(() => net.leader() !== null, 10 * electionTicks);
    expect([s2, s3]).toContain(net.leader());
    net.tickUntil(() => [s2, s3, s4, s5].every((id) => net.state(id).length === 2), 5 * electionTicks);
    for (const id of [s2, s3, s4, s5]) expect(net.state(id)).toEqual(['from term 2', 'from term 4']);
  });

  it('(c) with the figure 8 bug planted, the old-term entry is committed by counting (the scenario catches it)', () => {
    const { net, base } = figure8({ bugs: { commitOldTermByCounting: true } });
    expect(net.status(s1).commit).toBe(base + 2);
  });
});

describe('proposals', () => {
  it('are dropped with no_leader when no leader is known', () => {
    const net = cluster([a, b, c]);
    expect(net.propose(a, 'x')).toEqual({ status: 'dropped', reason: 'no_leader', leader: null });
    expect(net.sent(ofType('propose'))).toEqual([]);
  });

  it('are forwarded by a follower to its leader, which commits them', () => {
    const net = cluster([a, b, c]);
    net.elect(a);
    expect(net.propose(b, 'via b')).toEqual({ status: 'forwarded', leader: a });
    net.deliverAll();
    expect(net.sent(ofType('propose')).map((m) => [m.from, m.to])).toEqual([[b, a]]);
    net.tickUntil(() => [a, b, c].every((id) => net.state(id).includes('via b')), 5);
  });
});
