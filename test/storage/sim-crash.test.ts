// Goal: under random workloads on SimDisk, a crash at any moment (between operations or in the middle of a
// save, a roll, a snapshot) loses only what was not acknowledged as durable: recovery always yields the
// acknowledged log plus a prefix of the records still in flight, for hundreds of seeds.

import { describe, expect, it } from 'vitest';
import type { Random } from '../../server/raft/random.ts';
import { seededRandom } from '../../server/raft/random.ts';
import type { Entry, HardState } from '../../server/raft/types.ts';
import { StorageError } from '../../server/storage/errors.ts';
import type { DurableLog } from '../../server/storage/log.ts';
import { openLog } from '../../server/storage/log.ts';
import { SimDisk } from '../../server/storage/sim-disk.ts';
import { LogModel, differenceFromModel, hard, normal, snapshotAt } from './helpers.ts';

type Logical =
  | { readonly kind: 'entry'; readonly entry: Entry }
  | { readonly kind: 'hard'; readonly hardState: HardState }
  | { readonly kind: 'install'; readonly index: number; readonly term: number };

function apply(model: LogModel, records: readonly Logical[]): LogModel {
  const m = model.clone();
  for (const r of records) {
    if (r.kind === 'entry') m.append(r.entry);
    else if (r.kind === 'hard') m.setHardState(r.hardState);
    else m.install(r.index, r.term);
  }
  return m;
}

interface Operation {
  readonly records: Logical[];
  readonly synced: boolean;
  readonly run: (log: DurableLog) => Promise<void>;
}

/** The next operation of the workload, given the state as the writer believes it. */
function nextOperation(random: Random, model: LogModel, term: { value: number }, lastSnapshot: { value: number }): Operation {
  const roll = random.int(100);
  const commit = model.hardState.commit;
  if (roll < 5 && commit > lastSnapshot.value && model.termAt(commit) !== null) {
    const at = commit;
    lastSnapshot.value = at;
    const t = model.termAt(at)!;
    return { records: [], synced: true, run: (log) => log.saveSnapshot(snapshotAt(at, t, 40)) };
  }
  if (roll < 7) {
    term.value++;
    const at = model.lastIndex + 1 + random.int(30);
    lastSnapshot.value = at;
    const h = hard(term.value, at);
    const t = term.value;
    return {
      records: [{ kind: 'install', index: at, term: t }, { kind: 'hard', hardState: h }],
      synced: true,
      run: (log) => log.save({ snapshot: snapshotAt(at, t, 60), entries: [], hardState: h }),
    };
  }
  let from = model.lastIndex + 1;
  if (roll < 17 && model.lastIndex > commit) {
    term.value++;
    from = commit + 1 + random.int(model.lastIndex - commit);
  }
  const entries: Entry[] = [];
  const count = 1 + random.int(8);
  for (let k = 0; k < count; k++) entries.push(normal(from + k, term.value, random.int(200)));
  const last = from + count - 1;
  const h = hard(term.value, Math.max(commit, Math.min(last, commit + random.int(6))));
  const synced = random.int(8) !== 0;
  return {
    records: [...entries.map((entry) => ({ kind: 'entry', entry }) as const), { kind: 'hard', hardState: h }],
    synced,
    run: (log) => log.save({ entries, hardState: h, snapshot: null, mustSync: synced }),
  };
}

/** The recovered storage must be `durable` plus some prefix of `inFlight`; returns that state. */
function matchPrefix(log: DurableLog, durable: LogModel, inFlight: readonly Logical[], where: string): LogModel {
  const tried: string[] = [];
  for (let m = inFlight.length; m >= 0; m--) {
    const candidate = apply(durable, inFlight.slice(0, m));
    const difference = differenceFromModel(log.storage, candidate);
    if (difference === null) return candidate;
    tried.push(`${m}: ${difference}`);
  }
  throw new Error(`${where}: recovered state matches no prefix of the records in flight (${tried.join('; ')})`);
}

async function runSeed(seed: number): Promise<{ crashes: number; midOperation: number }> {
  const random = seededRandom(seed);
  const sim = new SimDisk();
  const options = { dir: '/data', segmentBytesMax: 4096, snapshotsKept: 2, snapshotCatchUpEntries: random.int(50) };
  let log = await openLog({ ...options, disk: sim.mount() });
  let durable = new LogModel(); // acknowledged durable
  let inFlight: Logical[] = []; // written (maybe) but not known durable, in order
  const term = { value: 1 };
  const lastSnapshot = { value: 0 };
  let crashes = 0;
  let midOperation = 0;
  for (let step = 0; step < 120; step++) {
    const believed = apply(durable, inFlight);
    const op = nextOperation(random, believed, term, lastSnapshot);
    const crashNow = random.int(12) === 0;
    if (random.int(40) === 0) sim.injectSyncFailure('/data');
    let done = false;
    let failed: unknown = null;
    const running = op.run(log).then(
      () => {
        done = true;
      },
      (error: unknown) => {
        failed = error;
      },
    );
    if (crashNow) {
      // Let the operation get a random distance in, then pull the plug.
      const ticks = random.int(60);
      for (let t = 0; t < ticks; t++) await Promise.resolve();
      if (!done && failed === null) midOperation++;
    } else {
      await running;
    }
    if (done) {
      inFlight = inFlight.concat(op.records);
      if (op.synced) {
        durable = apply(durable, inFlight);
        inFlight = [];
      }
    } else {
      inFlight = inFlight.concat(op.records);
    }
    const failedNow = failed !== null;
    if (failedNow && !(failed instanceof StorageError)) throw failed;
    if (crashNow || failedNow) {
      sim.crash(random);
      crashes++;
      await running;
      log = await openLog({ ...options, disk: sim.mount() });
      durable = matchPrefix(log, durable, inFlight, `seed ${seed} step ${step}`);
      inFlight = [];
      term.value = Math.max(term.value, durable.hardState.term, durable.termAt(durable.lastIndex) ?? 0, durable.baseTerm);
      lastSnapshot.value = log.storage.snapshot().metadata.index;
    }
  }
  await log.close();
  const final = await openLog({ ...options, disk: sim.mount() });
  matchPrefix(final, durable, inFlight, `seed ${seed} at the end`);
  await final.close();
  return { crashes, midOperation };
}

describe('crashes on the simulated disk', () => {
  it('never lose an acknowledged record, over 300 seeds', async () => {
    let crashes = 0;
    let midOperation = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const result = await runSeed(seed);
      crashes += result.crashes;
      midOperation += result.midOperation;
    }
    expect(crashes).toBeGreaterThan(1000);
    expect(midOperation).toBeGreaterThan(500);
  });

  it('replays a seed exactly', async () => {
    const a = await runSeed(77);
    const b = await runSeed(77);
    expect(a).toEqual(b);
  });
});
