// Goal: for a log of many records, cutting the last segment at every byte offset and flipping single bits in
// every region of every frame (length, CRC, payload, segment header) and of snapshot files either recovers
// exactly the state of a prefix of the records or refuses with a `corrupt` error — never anything else.

import { beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../server/raft/random.ts';
import type { Entry, HardState } from '../../server/raft/types.ts';
import { StorageError } from '../../server/storage/errors.ts';
import type { DurableLog } from '../../server/storage/log.ts';
import { openLog } from '../../server/storage/log.ts';
import { SimDisk } from '../../server/storage/sim-disk.ts';
import { LogModel, config, differenceFromModel, hard, normal, snapshotAt } from './helpers.ts';

const dir = '/data';
const options = { dir, segmentBytesMax: 4096, snapshotsKept: 10, snapshotCatchUpEntries: 100_000 } as const;

/** What a record does to the log, for the model. */
type Logical =
  | { readonly kind: 'entry'; readonly entry: Entry }
  | { readonly kind: 'hard'; readonly hardState: HardState }
  | { readonly kind: 'install'; readonly index: number; readonly term: number }
  | { readonly kind: 'marker' };

interface Frame {
  readonly offset: number;
  readonly end: number;
}

/** One save as it landed: the frames of its records in the segment, and the model before it. */
interface Batch {
  readonly segment: string;
  readonly frames: readonly Frame[];
  readonly records: readonly Logical[];
  readonly before: LogModel;
}

/** The test's own reading of the framing: [u32 length][u32 crc][payload], a zero length ends it. */
function framesOf(content: Uint8Array): Frame[] {
  const view = new DataView(content.buffer, content.byteOffset, content.byteLength);
  const out: Frame[] = [];
  let at = 0;
  while (at + 8 <= content.length) {
    const length = view.getUint32(at, true);
    if (length === 0) break;
    out.push({ offset: at, end: at + 8 + length });
    at += 8 + length;
  }
  return out;
}

function applyLogical(model: LogModel, record: Logical): void {
  if (record.kind === 'entry') model.append(record.entry);
  else if (record.kind === 'hard') model.setHardState(record.hardState);
  else if (record.kind === 'install') model.install(record.index, record.term);
}

interface Built {
  readonly disk: SimDisk;
  readonly batches: readonly Batch[];
  readonly final: LogModel;
  readonly segments: readonly string[];
}

/** A deterministic workload: appends, overwrites by new leaders, votes, local snapshots and one install. */
async function build(): Promise<Built> {
  const disk = new SimDisk();
  const random = seededRandom(2024);
  const log = await openLog({ ...options, disk });
  const model = new LogModel();
  const batches: Batch[] = [];
  let term = 1;
  let lastSnapshot = 0;
  const record = async (records: Logical[], run: (l: DurableLog) => Promise<void>): Promise<void> => {
    const before = model.clone();
    await run(log);
    for (const r of records) applyLogical(model, r);
    const segment = log.stats().currentSegment;
    const frames = framesOf(disk.readCurrent(segment)!);
    batches.push({ segment, frames: frames.slice(frames.length - records.length), records, before });
  };
  const batchesInCurrentSegment = (): number => batches.filter((b) => b.segment === log.stats().currentSegment).length;
  // At least 160 steps, then on until the last segment holds a good number of batches.
  for (let step = 0; step < 160 || (batchesInCurrentSegment() < 10 && step < 1000); step++) {
    const roll = random.int(100);
    const commit = model.hardState.commit;
    if (roll < 6 && commit > lastSnapshot) {
      lastSnapshot = commit;
      const t = model.termAt(commit)!;
      await record([{ kind: 'marker' }], (l) => l.saveSnapshot(snapshotAt(commit, t, 50)));
      continue;
    }
    if (step === 90) {
      // A snapshot from a leader far ahead replaces the whole log.
      term++;
      const at = model.lastIndex + 40;
      const h = hard(term, at);
      const entries = [normal(at + 1, term, 10)];
      await record(
        [{ kind: 'install', index: at, term }, ...entries.map((entry) => ({ kind: 'entry', entry }) as const), { kind: 'hard', hardState: h }],
        (l) => l.save({ snapshot: snapshotAt(at, term, 80), entries, hardState: h }),
      );
      lastSnapshot = at;
      continue;
    }
    let from = model.lastIndex + 1;
    if (roll < 16 && model.lastIndex > commit) {
      // A new leader overwrites part of the uncommitted suffix.
      term++;
      from = commit + 1 + random.int(model.lastIndex - commit);
    }
    const entries: Entry[] = [];
    const count = random.int(6);
    for (let k = 0; k < count; k++) {
      const index = from + k;
      entries.push(random.int(10) === 0 ? config(index, term, `n${index}`) : normal(index, term, random.int(150)));
    }
    const last = entries.length > 0 ? from + entries.length - 1 : model.lastIndex;
    const h = random.int(3) === 0 ? null : hard(term, Math.max(commit, Math.min(last, commit + random.int(4))), random.int(2) ? 'n1' : null);
    const records: Logical[] = entries.map((entry) => ({ kind: 'entry', entry }));
    if (h !== null) records.push({ kind: 'hard', hardState: h });
    if (records.length === 0) continue;
    await record(records, (l) => l.save({ entries, hardState: h, snapshot: null }));
  }
  await log.close();
  const segments = (await disk.readdir(`${dir}/wal`)).filter((n) => n.endsWith('.wal')).map((n) => `${dir}/wal/${n}`);
  return { disk, batches, final: model, segments };
}

/** The model after every record whose frame in `segment` ends at or before `cut` (and all earlier segments). */
function prefixState(built: Built, segment: string, cut: number): LogModel {
  const inSegment = built.batches.filter((b) => b.segment === segment);
  const first = inSegment[0];
  if (first === undefined) return built.final.clone();
  const model = first.before.clone();
  for (const batch of inSegment) {
    for (let k = 0; k < batch.frames.length; k++) {
      if (batch.frames[k]!.end > cut) return model;
      applyLogical(model, batch.records[k]!);
    }
  }
  return model;
}

type Outcome = { readonly kind: 'recovered'; readonly log: DurableLog } | { readonly kind: 'refused'; readonly error: StorageError };

async function recover(disk: SimDisk): Promise<Outcome> {
  try {
    return { kind: 'recovered', log: await openLog({ ...options, disk }) };
  } catch (error) {
    if (error instanceof StorageError && error.code === 'corrupt') return { kind: 'refused', error };
    throw error;
  }
}

describe('crash consistency', () => {
  let built: Built;
  let last: string;
  let lastContent: Uint8Array;

  beforeAll(async () => {
    built = await build();
    last = built.segments[built.segments.length - 1]!;
    lastContent = built.disk.image().get(last)!;
  });

  it('builds a log of several segments with many records in the last', () => {
    expect(built.segments.length).toBeGreaterThanOrEqual(4);
    expect(built.batches.filter((b) => b.segment === last).length).toBeGreaterThanOrEqual(10);
    expect(built.final.entries.length).toBeGreaterThan(100);
  });

  it('recovers exactly the records before a cut, at every byte of the last segment (zeroed tail)', async () => {
    const end = framesOf(lastContent).at(-1)!.end;
    for (let cut = 0; cut <= end; cut++) {
      const disk = built.disk.cloneDurable();
      const content = lastContent.slice();
      content.fill(0, cut);
      disk.putDurable(last, content);
      const outcome = await recover(disk);
      if (outcome.kind === 'refused') throw new Error(`cut at ${cut} refused: ${outcome.error.message}`);
      const expected = prefixState(built, last, cut);
      const difference = differenceFromModel(outcome.log.storage, expected);
      if (difference !== null) throw new Error(`cut at ${cut}: ${difference}`);
      if (cut % 53 === 0) {
        // The cut-off tail was zeroed: appending and recovering again gives exactly what was appended.
        const next = expected.lastIndex + 1;
        const h = hard(Math.max(expected.hardState.term, expected.termAt(expected.lastIndex) ?? 0), expected.hardState.commit);
        await outcome.log.save({ entries: [normal(next, h.term, 3)], hardState: h, snapshot: null });
        await outcome.log.close();
        const again = await recover(disk);
        if (again.kind === 'refused') throw new Error(`after appending at cut ${cut}: ${again.error.message}`);
        expected.append(normal(next, h.term, 3));
        expected.setHardState(h);
        expect(differenceFromModel(again.log.storage, expected)).toBeNull();
        await again.log.close();
      } else {
        await outcome.log.close();
      }
    }
  });

  it('recovers exactly the records before a cut, at every byte of the last segment (shortened file)', async () => {
    const end = framesOf(lastContent).at(-1)!.end;
    for (let cut = 0; cut <= end; cut++) {
      const disk = built.disk.cloneDurable();
      disk.putDurable(last, lastContent.slice(0, cut));
      const outcome = await recover(disk);
      if (outcome.kind === 'refused') throw new Error(`cut at ${cut} refused: ${outcome.error.message}`);
      const difference = differenceFromModel(outcome.log.storage, prefixState(built, last, cut));
      if (difference !== null) throw new Error(`cut at ${cut}: ${difference}`);
      await outcome.log.close();
    }
  });

  it('flipping a bit in any region of any frame recovers a prefix or refuses, naming the frame', async () => {
    let refused = 0;
    let recoveredPrefix = 0;
    for (const segment of built.segments) {
      const content = built.disk.image().get(segment)!;
      const frames = framesOf(content);
      const isLast = segment === last;
      for (let f = 0; f < frames.length; f++) {
        const { offset, end } = frames[f]!;
        const targets = new Set<number>([offset, offset + 1, offset + 2, offset + 3, offset + 4, offset + 5, offset + 6, offset + 7]);
        targets.add(offset + 8).add(Math.floor((offset + 8 + end) / 2)).add(end - 1);
        // The segment header (the first frame) gets every byte flipped.
        if (f === 0) for (let b = offset; b < end; b++) targets.add(b);
        for (const byte of targets) {
          const disk = built.disk.cloneDurable();
          disk.corrupt(segment, byte, (byte * 5 + f) & 7);
          const outcome = await recover(disk);
          if (outcome.kind === 'refused') {
            refused++;
            expect(outcome.error.file).toBe(segment);
            expect(outcome.error.offset).toBe(offset);
            continue;
          }
          // Only the last frames of the last segment may be taken for a torn write and cut off.
          expect(isLast, `a flip at ${segment}:${byte} was not refused`).toBe(true);
          const difference = differenceFromModel(outcome.log.storage, prefixState(built, last, offset));
          if (difference !== null) throw new Error(`flip at ${segment}:${byte}: ${difference}`);
          recoveredPrefix++;
          await outcome.log.close();
        }
      }
    }
    expect(refused).toBeGreaterThan(500);
    expect(recoveredPrefix).toBeGreaterThan(0);
  });

  it('a bit flipped in the zero tail after the last frame is either ignored or refused', async () => {
    const end = framesOf(lastContent).at(-1)!.end;
    for (const byte of [end, end + 3, end + 4, end + 7, end + 8, end + 100, lastContent.length - 1]) {
      const disk = built.disk.cloneDurable();
      disk.corrupt(last, byte, 1);
      const outcome = await recover(disk);
      if (outcome.kind === 'refused') continue;
      expect(differenceFromModel(outcome.log.storage, built.final)).toBeNull();
      await outcome.log.close();
    }
  });

  it('a bit flipped anywhere in a snapshot file is caught: recovery falls back and the state is exact', async () => {
    const snapNames = (await built.disk.readdir(`${dir}/snap`)).filter((n) => n.endsWith('.snap'));
    const newest = snapNames.sort().at(-1)!;
    const path = `${dir}/snap/${newest}`;
    const size = built.disk.image().get(path)!.length;
    for (let byte = 0; byte < size; byte++) {
      const disk = built.disk.cloneDurable();
      disk.corrupt(path, byte, byte & 7);
      const outcome = await recover(disk);
      if (outcome.kind === 'refused') continue; // no older snapshot the WAL covers: refusing is right
      expect(outcome.log.recovery.brokenSnapshots).toEqual([newest]);
      expect(differenceFromModel(outcome.log.storage, built.final)).toBeNull();
      await outcome.log.close();
    }
  });

  it('a bit flipped on read (not at rest) is refused the same way', async () => {
    const disk = built.disk.cloneDurable();
    const middle = built.segments[1]!;
    const frame = framesOf(built.disk.image().get(middle)!)[3]!;
    disk.injectReadBitFlip(middle, frame.offset + 9, 2);
    const outcome = await recover(disk);
    expect(outcome.kind).toBe('refused');
    const again = await recover(disk); // the flip was transient: the next read is clean
    expect(again.kind).toBe('recovered');
    if (again.kind === 'recovered') {
      expect(differenceFromModel(again.log.storage, built.final)).toBeNull();
      await again.log.close();
    }
  });
});
