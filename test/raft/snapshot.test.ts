// Goal: log compaction and snapshots (§7): a follower behind a compacted log catches up from a snapshot sent in
// bounded chunks, lost chunks are sent again, and a restart from snapshot plus remaining log restores the state.

import { describe, expect, it } from 'vitest';
import type { Message, NodeId, SnapshotMessage } from '../../server/raft/index.ts';
import { Network, appendedIndex, ids, ofType, type NodeOptions } from './network.ts';

const electionTicks = 10;
const snapshotChunkBytes = 256;
const snapshotChunksInflightMax = 2;
const [a, b, c] = ids('a', 'b', 'c') as [NodeId, NodeId, NodeId];

function cluster(config: NodeOptions = {}): Network {
  return new Network({
    voters: [a, b, c],
    config: { electionTicks, heartbeatTicks: 1, snapshotChunkBytes, snapshotChunksInflightMax, ...config },
  });
}

/** A 100-character payload, so a few dozen entries make a snapshot of many chunks. */
const payload = (i: number): string => `entry ${String(i).padStart(3, '0')} `.padEnd(100, '.');

/**
 * Elects a, commits 30 entries while c is cut off, then snapshots and compacts a's log so that c can only
 * catch up from the snapshot. Leaves c cut off.
 */
function lagBehindCompaction(net: Network) {
  net.elect(a);
  net.isolate(c);
  for (let i = 0; i < 30; i++) appendedIndex(net.propose(a, payload(i)));
  net.deliverAll();
  expect(net.status(a).commit).toBe(net.status(a).lastIndex);
  const snapshot = net.snapshotAndCompact(a);
  expect(net.status(a).firstIndex).toBe(snapshot.metadata.index + 1);
  expect(net.status(c).lastIndex).toBeLessThan(snapshot.metadata.index);
  return snapshot;
}

/**
 * Restores c's links while the cluster keeps taking writes. (That an idle leader also notices a follower
 * whose appends were lost is checked in replication.test.ts; here a new entry starts the catch-up.)
 */
function rejoin(net: Network): void {
  net.heal();
  appendedIndex(net.propose(a, 'after the partition'));
}

const chunksTo = (net: Network, to: NodeId, since = 0): SnapshotMessage[] =>
  net.sent(ofType('snapshot'), since).filter((m) => m.to === to);

describe('snapshots (§7)', () => {
  it('a follower behind the compacted log receives the snapshot in chunks and catches up', () => {
    const net = cluster();
    const snapshot = lagBehindCompaction(net);
    const totalBytes = snapshot.data.byteLength;
    expect(totalBytes).toBeGreaterThan(4 * snapshotChunkBytes);

    rejoin(net);
    net.tickUntil(() => net.member(c).appliedIndex >= snapshot.metadata.index, 5 * electionTicks);
    net.tickUntil(() => net.isCaughtUp(c, a), 5);
    expect(net.state(c)).toEqual(net.state(a));
    expect(net.member(c).storage.snapshot().metadata).toEqual(snapshot.metadata);
    expect(net.status(c).firstIndex).toBe(snapshot.metadata.index + 1);

    const chunks = chunksTo(net, c);
    expect(chunks.length).toBeGreaterThanOrEqual(Math.ceil(totalBytes / snapshotChunkBytes));
    for (const chunk of chunks) {
      expect(chunk.chunk.byteLength).toBeLessThanOrEqual(snapshotChunkBytes);
      expect(chunk.totalBytes).toBe(totalBytes);
      expect(chunk.metadata).toEqual(snapshot.metadata);
    }
    // The chunks tile the snapshot from its first byte to its last.
    const offsets = [...new Set(chunks.map((m) => m.offset))].sort((x, y) => x - y);
    let next = 0;
    for (const offset of offsets) {
      expect(offset).toBe(next);
      next = offset + chunks.find((m) => m.offset === offset)!.chunk.byteLength;
    }
    expect(next).toBe(totalBytes);

    // Then c is an ordinary follower again.
    appendedIndex(net.propose(a, 'after the snapshot'));
    net.tickUntil(() => net.state(c).includes('after the snapshot'), 5);
    expect(net.state(c)).toEqual(net.state(a));
  });

  it('the leader keeps at most snapshotChunksInflightMax chunks unacknowledged', () => {
    const net = cluster();
    const snapshot = lagBehindCompaction(net);
    const since = net.events.length;
    rejoin(net);
    net.tickUntil(() => net.member(c).appliedIndex >= snapshot.metadata.index, 5 * electionTicks);

    // Replay a's view: a chunk is in flight from its send until a delivered answer acknowledges its bytes.
    let acknowledged = 0;
    let outstandingMax = 0;
    const outstanding: { end: number }[] = [];
    for (const event of net.events.slice(since)) {
      const m: Message = event.message;
      if (event.kind === 'send' && m.type === 'snapshot' && m.to === c) {
        outstanding.push({ end: m.offset + m.chunk.byteLength });
      } else if (event.kind === 'deliver' && m.type === 'snapshotResponse' && m.from === c) {
        acknowledged = Math.max(acknowledged, m.offset); // nothing is lost here, so answers only move forward
      }
      const inFlight = outstanding.filter((chunk) => chunk.end > acknowledged).length;
      outstandingMax = Math.max(outstandingMax, inFlight);
    }
    expect(outstandingMax).toBeGreaterThan(0);
    expect(outstandingMax).toBeLessThanOrEqual(snapshotChunksInflightMax);
  });

  it('a lost chunk is sent again and the follower still installs the whole snapshot', () => {
    const net = cluster();
    const snapshot = lagBehindCompaction(net);
    const lostOffset = 2 * snapshotChunkBytes;
    let lost = 0;
    net.filter = (m) => {
      if (m.type === 'snapshot' && m.offset === lostOffset && lost === 0) {
        lost += 1;
        return null;
      }
      return m;
    };
    rejoin(net);
    net.tickUntil(() => net.member(c).appliedIndex >= snapshot.metadata.index, 10 * electionTicks);
    net.tickUntil(() => net.isCaughtUp(c, a), 5);
    expect(lost).toBe(1);
    expect(chunksTo(net, c).filter((m) => m.offset === lostOffset).length).toBeGreaterThanOrEqual(2);
    expect(net.state(c)).toEqual(net.state(a));
    expect(net.member(c).storage.snapshot().data).toEqual(snapshot.data);
  });
});

describe('restart (§7)', () => {
  it('a member restarted from its snapshot and the rest of its log restores the same state', () => {
    const net = cluster();
    const snapshot = lagBehindCompaction(net);
    rejoin(net);
    for (let i = 30; i < 35; i++) appendedIndex(net.propose(a, payload(i)));
    net.tickUntil(() => [b, c].every((id) => net.isCaughtUp(id, a)), 5 * electionTicks);
    expect(net.status(a).lastIndex).toBeGreaterThan(snapshot.metadata.index); // state = snapshot + log suffix

    for (const id of [a, c]) {
      const before = [...net.state(id)];
      const applied = net.member(id).appliedIndex;
      net.restart(id);
      expect(net.member(id).appliedIndex).toBe(applied);
      expect(net.state(id)).toEqual(before);
      expect(net.state(id)).toHaveLength(36);
    }
    // The cluster goes on: a new leader commits new entries everywhere.
    net.tickUntil(() => net.leader() !== null, 10 * electionTicks);
    appendedIndex(net.propose(net.leader()!, 'after restart'));
    net.tickUntil(() => [a, b, c].every((id) => net.state(id).at(-1) === 'after restart'), 5);
  });

  it('a member restarted with `applied` replays only the entries after it', () => {
    const net = cluster();
    net.elect(a);
    for (let i = 0; i < 5; i++) appendedIndex(net.propose(a, payload(i)));
    net.tickUntil(() => net.isCaughtUp(b, a), 5);
    const readies = net.readyLog.length;
    net.restart(b, { keepApplied: true }); // the network throws if an entry is applied twice or out of order
    const replayed = net.readyLog.slice(readies).flatMap((r) => (r.id === b ? r.ready.committedEntries : []));
    expect(replayed).toEqual([]);
    expect(net.state(b)).toEqual(net.state(a));
  });
});
