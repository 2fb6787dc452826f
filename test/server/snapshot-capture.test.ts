// A member takes its snapshots a part per turn of the event loop: the Raft loop goes on between the parts
// (a member with a large state that stopped for seconds would lose its leadership or its followers), entries
// committed meanwhile are held back, since the state must not change under the snapshot, and apply in order
// once it is whole. One Consensus over the simulator's clock and disk, with an application that counts.

import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../server/raft/random.ts';
import { bootstrapState } from '../../server/raft/raw-node.ts';
import { nodeId, type ConfChange, type LogIndex } from '../../server/raft/types.ts';
import { Consensus, type Application } from '../../server/runtime/consensus.ts';
import { openLog, type DurableLog } from '../../server/storage/log.ts';
import { SimDisk } from '../../server/storage/sim-disk.ts';
import { Owner, Scheduler } from '../sim/ensemble/scheduler.ts';

const snapshotEntries = 20;
const captureParts = 1_200;

/** Applies nothing but a count; its snapshot has `captureParts` parts and records what happened between them. */
class CountingApp implements Application {
  readonly applied: LogIndex[] = [];
  /** At each part of each capture: the consensus's commit index and how many entries had been applied. */
  readonly parts: Array<{ capture: number; commit: number; applied: number }> = [];
  captures = 0;
  commit: () => number = () => 0;

  apply(index: LogIndex): unknown {
    this.applied.push(index);
    return index;
  }

  restore(): void {}

  *snapshotSteps(): Generator<void, Uint8Array> {
    const capture = ++this.captures;
    for (let part = 0; part < captureParts; part++) {
      this.parts.push({ capture, commit: this.commit(), applied: this.applied.length });
      yield;
    }
    return new Uint8Array([capture]);
  }

  onConfChange(_change: ConfChange, _index: LogIndex): void {}
  onRoleChange(): void {}
}

/** One voter over the simulated clock and disk, leader already. */
async function leader(): Promise<{ scheduler: Scheduler; log: DurableLog; app: CountingApp; consensus: Consensus }> {
  const scheduler = new Scheduler(seededRandom(3));
  const owner = new Owner('n1');
  // A turn of the event loop takes a simulated millisecond here, as the parts of a large snapshot take real
  // time: what arrives meanwhile (a proposal a millisecond) gets its turn between them.
  const clock = { ...scheduler.memberClock(owner, 1), defer: (callback: () => void) => void scheduler.at(1, callback, owner) };
  const log = await openLog({ dir: '/data', disk: new SimDisk({ fileBytesMax: 64 << 20 }).mount(), segmentBytesMax: 1 << 20 });
  const { entries, hardState } = bootstrapState([nodeId('n1')]);
  await log.save({ hardState, entries, snapshot: null, mustSync: true });
  const app = new CountingApp();
  const consensus = new Consensus({
    raft: { id: nodeId('n1'), storage: log.storage, random: seededRandom(4), electionTicks: 10, heartbeatTicks: 2 },
    log,
    clock,
    tickMs: 10,
    send: () => {},
    app,
    snapshotEntries,
    proposalTimeoutMs: 60_000,
  });
  app.commit = () => consensus.status().commit;
  consensus.start();
  await scheduler.run(1_000, () => consensus.role === 'leader');
  expect(consensus.role).toBe('leader');
  return { scheduler, log, app, consensus };
}

describe('snapshot capture', () => {
  it('takes a snapshot a part per turn while the log goes on committing, and applies what it held back in order', async () => {
    const { scheduler, log, app, consensus } = await leader();

    // A steady writer: one proposal per millisecond, each awaited by its own promise.
    let proposed = 0;
    let answered = 0;
    const write = (): void => {
      proposed++;
      void consensus.propose({ n: proposed }).then(() => answered++);
      if (proposed < 4_000) scheduler.at(1, write);
    };
    write();
    await scheduler.run(20_000, () => answered === 4_000 && app.parts.length >= 3 * captureParts);

    expect(app.captures).toBeGreaterThanOrEqual(3);
    for (let capture = 1; capture <= 3; capture++) {
      const parts = app.parts.filter((p) => p.capture === capture);
      expect(parts).toHaveLength(captureParts);
      // Nothing applied while the snapshot was taken...
      expect(new Set(parts.map((p) => p.applied)).size).toBe(1);
      // ...yet the log went on committing between its parts: they did not all run in one turn.
      expect(parts[parts.length - 1]!.commit).toBeGreaterThan(parts[0]!.commit);
    }
    // Every entry applied once, in order, and every proposal answered.
    expect(app.applied).toEqual([...app.applied].sort((a, b) => a - b));
    expect(new Set(app.applied).size).toBe(app.applied.length);
    expect(answered).toBe(4_000);
    // The newest snapshot is the last capture whole.
    expect(log.storage.snapshot().data).toEqual(new Uint8Array([app.captures]));
    consensus.stop();
  });

  it('reads the state for a backup a step per turn with applies held back, and fails it when the member stops', async () => {
    const { scheduler, app, consensus } = await leader();
    let proposed = 0;
    const write = (): void => {
      proposed++;
      void consensus.propose({ n: proposed }).catch(() => {});
      if (proposed < 500) scheduler.at(1, write);
    };
    write();
    const seen: number[] = [];
    function* backup(parts = 100): Generator<void, string> {
      for (let part = 0; part < parts; part++) {
        seen.push(app.applied.length);
        yield;
      }
      return 'whole';
    }
    let result: string | null = null;
    void consensus.captureState(backup()).then((value) => (result = value));
    await scheduler.run(scheduler.now + 1_000, () => result !== null);
    expect(result).toBe('whole');
    expect(seen).toHaveLength(100);
    expect(new Set(seen).size).toBe(1);

    let failure: unknown = null;
    void consensus.captureState(backup(100_000)).catch((error: unknown) => (failure = error));
    await scheduler.run(scheduler.now + 20);
    consensus.stop();
    await scheduler.run(scheduler.now + 10);
    expect(failure).toMatchObject({ code: 'unavailable' });
  });
});
