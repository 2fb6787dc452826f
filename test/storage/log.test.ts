// Goal: the durable log round-trips what it saves (entries, hard state, snapshots) through close and
// recovery with Raft's truncation semantics, one write and one fdatasync per save, and refuses damage it
// cannot repair with a typed error naming the file and offset.

import { describe, expect, it } from 'vitest';
import type { LogIndex } from '../../server/raft/types.ts';
import type { Disk, DiskFile } from '../../server/storage/disk.ts';
import { readWholeFile } from '../../server/storage/disk.ts';
import { StorageError } from '../../server/storage/errors.ts';
import type { DurableLog, OpenLogOptions } from '../../server/storage/log.ts';
import { openLog } from '../../server/storage/log.ts';
import { realDisk } from '../../server/storage/real-disk.ts';
import { replay } from '../../server/storage/replay.ts';
import type { WalRecord } from '../../server/storage/record.ts';
import { SimDisk } from '../../server/storage/sim-disk.ts';
import { writeSnapshotFile } from '../../server/storage/snapshot-store.ts';
import { segmentFileName } from '../../server/storage/wal.ts';
import { LogModel, config, differenceFromModel, hard, normal, snapshotAt, tempDir } from './helpers.ts';

const dir = '/data';

function open(disk: Disk, extra: Partial<OpenLogOptions> = {}): Promise<DurableLog> {
  return openLog({ dir, disk, segmentBytesMax: 4096, snapshotCatchUpEntries: 0, ...extra });
}

function isCode(code: StorageError['code']): (e: unknown) => boolean {
  return (e) => e instanceof StorageError && e.code === code;
}

/** Saves entries and hard state, mirroring them into the model. */
async function save(log: DurableLog, model: LogModel, entries: ReturnType<typeof normal>[], h: ReturnType<typeof hard> | null): Promise<void> {
  await log.save({ entries, hardState: h, snapshot: null });
  for (const e of entries) model.append(e);
  if (h !== null) model.setHardState(h);
}

async function fill(log: DurableLog, model: LogModel, from: number, to: number, term: number, perBatch = 5, bytes = 40): Promise<void> {
  for (let i = from; i <= to; i += perBatch) {
    const entries = [];
    for (let j = i; j <= Math.min(to, i + perBatch - 1); j++) entries.push(normal(j, term, bytes));
    await save(log, model, entries, hard(term, Math.max(0, i - 1)));
  }
}

/** Counts the calls that matter for performance: writes and syncs of files. */
class CountingDisk implements Disk {
  writes = 0;
  datasyncs = 0;
  constructor(private readonly inner: Disk) {}
  async open(path: string, mode: Parameters<Disk['open']>[1]): Promise<DiskFile> {
    const file = await this.inner.open(path, mode);
    if (!path.endsWith('.wal')) return file; // the segment being written, not the spare prepared meanwhile
    const counter = this;
    return {
      path: file.path,
      size: () => file.size(),
      read: (b, p) => file.read(b, p),
      write: (d, p) => (counter.writes++, file.write(d, p)),
      append: (d) => (counter.writes++, file.append(d)),
      datasync: () => (counter.datasyncs++, file.datasync()),
      truncate: (s) => file.truncate(s),
      preallocate: (s) => file.preallocate(s),
      close: () => file.close(),
    };
  }
  rename = (a: string, b: string): Promise<void> => this.inner.rename(a, b);
  unlink = (p: string): Promise<void> => this.inner.unlink(p);
  readdir = (p: string): Promise<string[]> => this.inner.readdir(p);
  mkdir = (p: string): Promise<void> => this.inner.mkdir(p);
  syncDir = (p: string): Promise<void> => this.inner.syncDir(p);
  lock = (p: string): ReturnType<Disk['lock']> => this.inner.lock(p);
}

describe('durable log', () => {
  it('round-trips entries, config entries and the hard state through a restart', async () => {
    const sim = new SimDisk();
    const model = new LogModel();
    let log = await open(sim);
    expect(log.recovery.created).toBe(true);
    await save(log, model, [config(1, 1, 'a'), config(2, 1, 'b'), normal(3, 1)], hard(1, 2, 'a'));
    await fill(log, model, 4, 60, 1);
    await save(log, model, [], hard(2, 58, 'b'));
    await log.close();
    log = await open(sim);
    expect(log.recovery.created).toBe(false);
    expect(differenceFromModel(log.storage, model)).toBeNull();
    await log.close();
  });

  it('replays an overwritten suffix as a truncation (a new leader replaced uncommitted entries)', async () => {
    const sim = new SimDisk();
    const model = new LogModel();
    let log = await open(sim);
    await fill(log, model, 1, 100, 1);
    await save(log, model, [normal(60, 2), normal(61, 2)], hard(2, 59)); // drops 62..100
    await fill(log, model, 62, 70, 2);
    await save(log, model, [normal(65, 3)], hard(3, 64)); // drops 66..70 again
    await log.close();
    log = await open(sim);
    expect(log.storage.lastIndex()).toBe(65);
    expect(differenceFromModel(log.storage, model)).toBeNull();
    await log.close();
  });

  it('drops stale entries past a snapshot when the log was truncated below it', async () => {
    // 1..100 at term 1, then a new leader rewrites from 50 up to 80 only, and a snapshot is taken at 80:
    // the old 81..100 are dead and must not come back after the snapshot.
    const sim = new SimDisk();
    const model = new LogModel();
    let log = await open(sim, { segmentBytesMax: 1 << 20 });
    await fill(log, model, 1, 100, 1);
    await save(log, model, [normal(50, 2)], hard(2, 49));
    await fill(log, model, 51, 80, 2);
    await save(log, model, [], hard(2, 80));
    await log.saveSnapshot(snapshotAt(80, 2));
    await log.close();
    log = await open(sim);
    expect(log.recovery.snapshot.index).toBe(80);
    expect(log.storage.lastIndex()).toBe(80);
    expect(differenceFromModel(log.storage, model)).toBeNull();
    await log.close();
  });

  it('rolls segments at the size limit, preallocated, each named by sequence and first index', async () => {
    const sim = new SimDisk();
    const model = new LogModel();
    let log = await open(sim);
    await fill(log, model, 1, 300, 1);
    expect(log.stats().segments).toBeGreaterThan(3);
    await log.close();
    const names = (await sim.readdir(`${dir}/wal`)).filter((n) => n.endsWith('.wal'));
    expect(names[0]).toBe(segmentFileName(1, 1));
    const sizes = await Promise.all(names.map(async (n) => (await readWholeFile(sim, `${dir}/wal/${n}`, 1 << 20)).length));
    // Full segments are cut to their used size at the roll; the current one keeps its preallocation.
    expect(sizes[sizes.length - 1]).toBe(4096);
    for (const size of sizes.slice(0, -1)) expect(size).toBeLessThanOrEqual(4096);
    log = await open(sim);
    expect(differenceFromModel(log.storage, model)).toBeNull();
    await log.close();
  });

  it('writes a save as one write and one fdatasync, however many entries it holds', async () => {
    const disk = new CountingDisk(new SimDisk());
    const log = await openLog({ dir, disk, segmentBytesMax: 8 * 1024 * 1024 });
    for (const count of [1, 16, 256]) {
      disk.writes = 0;
      disk.datasyncs = 0;
      const first = log.storage.lastIndex() + 1;
      const entries = Array.from({ length: count }, (_, k) => normal(first + k, 1, 256));
      await log.save({ entries, hardState: hard(1, first - 1), snapshot: null });
      expect([disk.writes, disk.datasyncs]).toEqual([1, 1]);
    }
    // Not durable when mustSync is false: written, not synced; the next synced save covers both.
    disk.writes = 0;
    disk.datasyncs = 0;
    await log.save({ entries: [], hardState: hard(1, 200), snapshot: null, mustSync: false });
    expect([disk.writes, disk.datasyncs]).toEqual([1, 0]);
    await log.save({ entries: [], hardState: hard(1, 201), snapshot: null });
    expect([disk.writes, disk.datasyncs]).toEqual([2, 1]);
    // Nothing to persist: no I/O at all.
    await log.save({ entries: [], hardState: null, snapshot: null });
    expect([disk.writes, disk.datasyncs]).toEqual([2, 1]);
    await log.close();
  });

  it('installs a snapshot from the leader: the log restarts after it, also after recovery', async () => {
    const sim = new SimDisk();
    const model = new LogModel();
    let log = await open(sim);
    await fill(log, model, 1, 30, 1);
    const snap = snapshotAt(500, 4, 1000, { voters: ['a' as never, 'b' as never], learners: [] });
    await log.save({ snapshot: snap, entries: [normal(501, 4), normal(502, 4)], hardState: hard(4, 500) });
    model.install(500, 4);
    model.append(normal(501, 4));
    model.append(normal(502, 4));
    model.setHardState(hard(4, 500));
    expect(log.storage.firstIndex()).toBe(501);
    expect(differenceFromModel(log.storage, model)).toBeNull();
    await fill(log, model, 503, 540, 4);
    await log.close();
    log = await open(sim);
    expect(log.recovery.snapshot.index).toBe(500);
    expect(log.storage.snapshot().metadata.confState.voters).toEqual(['a', 'b']);
    expect(Buffer.compare(log.storage.snapshot().data, snap.data)).toBe(0);
    expect(differenceFromModel(log.storage, model)).toBeNull();
    await log.close();
  });

  it('saves snapshots, compacts memory, keeps the newest files and releases older segments', async () => {
    const sim = new SimDisk();
    const model = new LogModel();
    let log = await open(sim, { snapshotsKept: 2, snapshotCatchUpEntries: 10 });
    await fill(log, model, 1, 400, 1);
    const segmentsBefore = log.stats().segments;
    for (const at of [100, 200, 300, 390]) await log.saveSnapshot(snapshotAt(at, 1));
    expect(log.storage.firstIndex()).toBe(381);
    expect(log.stats().segmentsReleased).toBeGreaterThan(0);
    expect(log.stats().segments).toBeLessThan(segmentsBefore);
    const snaps = (await sim.readdir(`${dir}/snap`)).sort();
    expect(snaps).toEqual(['0000000000000001-000000000000012c.snap', '0000000000000001-0000000000000186.snap']);
    await log.close();
    log = await open(sim);
    expect(log.recovery.snapshot.index).toBe(390);
    expect(differenceFromModel(log.storage, model)).toBeNull();
    await log.close();
  });

  it('falls back to the previous snapshot when the newest is damaged and the WAL still covers it', async () => {
    const sim = new SimDisk();
    const model = new LogModel();
    let log = await open(sim, { snapshotsKept: 3 });
    await fill(log, model, 1, 300, 1);
    await log.saveSnapshot(snapshotAt(100, 1));
    await log.saveSnapshot(snapshotAt(250, 1));
    await log.close();
    sim.corrupt(`${dir}/snap/0000000000000001-00000000000000fa.snap`, 40, 2);
    log = await open(sim);
    expect(log.recovery.brokenSnapshots).toEqual(['0000000000000001-00000000000000fa.snap']);
    expect(log.recovery.snapshot.index).toBe(100);
    expect(differenceFromModel(log.storage, model)).toBeNull();
    await log.close();
    expect(await sim.readdir(`${dir}/snap`)).toContain('0000000000000001-00000000000000fa.snap.broken');
  });

  it('refuses to start when the only snapshot the WAL needs is damaged', async () => {
    const sim = new SimDisk();
    const model = new LogModel();
    let log = await open(sim, { snapshotsKept: 1 });
    await fill(log, model, 1, 300, 1);
    await log.saveSnapshot(snapshotAt(250, 1));
    await log.close();
    sim.corrupt(`${dir}/snap/0000000000000001-00000000000000fa.snap`, 40, 2);
    await expect(open(sim)).rejects.toSatisfy(isCode('corrupt'));
    // The lock was released on the way out.
    await (await sim.lock(`${dir}/LOCK`)).release();
  });

  it('ignores a snapshot file whose install never reached the WAL', async () => {
    const sim = new SimDisk();
    const model = new LogModel();
    let log = await open(sim);
    await fill(log, model, 1, 40, 1);
    await log.close();
    // The file of an install is written first; a crash before the WAL batch leaves it alone on disk.
    await writeSnapshotFile(sim, `${dir}/snap`, snapshotAt(900, 7));
    log = await open(sim);
    expect(log.recovery.uncoveredSnapshots).toEqual(['0000000000000007-0000000000000384.snap']);
    expect(log.recovery.snapshot.index).toBe(0);
    expect(differenceFromModel(log.storage, model)).toBeNull();
    await log.close();
  });

  it('treats a failed fdatasync as fatal: that save and every later one is refused', async () => {
    const sim = new SimDisk();
    const model = new LogModel();
    const log = await open(sim);
    await fill(log, model, 1, 10, 1);
    sim.injectSyncFailure(`${dir}/wal`);
    await expect(log.save({ entries: [normal(11, 1)], hardState: null, snapshot: null })).rejects.toSatisfy(isCode('sync_failed'));
    expect(log.storage.lastIndex()).toBe(10);
    await expect(log.save({ entries: [normal(11, 1)], hardState: null, snapshot: null })).rejects.toSatisfy(isCode('failed'));
    await expect(log.saveSnapshot(snapshotAt(5, 1))).rejects.toSatisfy((e: unknown) => e instanceof StorageError);
    await log.close();
  });

  it('refuses a record over the limit without writing anything, and stays usable', async () => {
    const sim = new SimDisk();
    const model = new LogModel();
    const log = await open(sim, { recordBytesMax: 2048 });
    await fill(log, model, 1, 3, 1);
    await expect(log.save({ entries: [normal(4, 1, 4096)], hardState: null, snapshot: null })).rejects.toSatisfy(isCode('too_large'));
    await save(log, model, [normal(4, 1, 100)], hard(1, 3));
    await log.close();
    const again = await open(sim);
    expect(differenceFromModel(again.storage, model)).toBeNull();
    await again.close();
  });

  it('grows a fresh segment for a batch larger than a segment, and recovers it', async () => {
    const sim = new SimDisk();
    const model = new LogModel();
    let log = await open(sim);
    await fill(log, model, 1, 5, 1);
    await save(log, model, Array.from({ length: 40 }, (_, k) => normal(6 + k, 1, 300)), hard(1, 5));
    await fill(log, model, 46, 60, 1);
    await log.close();
    log = await open(sim);
    expect(differenceFromModel(log.storage, model)).toBeNull();
    await log.close();
  });

  it('lets one process at a time open a directory', async () => {
    const sim = new SimDisk();
    const log = await open(sim);
    await expect(open(sim)).rejects.toSatisfy(isCode('locked'));
    await log.close();
    const again = await open(sim);
    await again.close();
  });

  it('runs saves one at a time in call order', async () => {
    const sim = new SimDisk();
    const log = await open(sim);
    const saves = [];
    for (let i = 1; i <= 50; i++) saves.push(log.save({ entries: [normal(i, 1)], hardState: hard(1, i - 1), snapshot: null }));
    await Promise.all(saves);
    expect(log.storage.lastIndex()).toBe(50);
    await log.close();
    await expect(log.save({ entries: [], hardState: hard(1, 1), snapshot: null })).rejects.toSatisfy(isCode('closed'));
  });

  it('records the initial membership of a new directory', async () => {
    const sim = new SimDisk();
    const conf = { voters: ['n1', 'n2', 'n3'] as never[], learners: ['n4'] as never[] };
    let log = await openLog({ dir, disk: sim, initialConfState: conf, segmentBytesMax: 4096 });
    await log.close();
    log = await openLog({ dir, disk: sim, segmentBytesMax: 4096 });
    expect(log.storage.initialState().confState).toEqual(conf);
    await log.close();
  });

  it('works on the real disk and lays files out as documented', async () => {
    const { dir: root, cleanup } = tempDir('log');
    try {
      const model = new LogModel();
      let log = await openLog({ dir: root, disk: realDisk, segmentBytesMax: 16 * 1024 });
      await fill(log, model, 1, 200, 1, 7, 100);
      await log.saveSnapshot(snapshotAt(150, 1));
      await log.close();
      expect(await realDisk.readdir(root)).toEqual(['VERSION', 'snap', 'wal']);
      expect(new TextDecoder().decode(await readWholeFile(realDisk, `${root}/VERSION`, 100))).toBe('synod-storage 1\n');
      log = await openLog({ dir: root, disk: realDisk, segmentBytesMax: 16 * 1024 });
      expect(differenceFromModel(log.storage, model)).toBeNull();
      await expect(openLog({ dir: root, disk: realDisk })).rejects.toSatisfy(isCode('locked'));
      await log.close();
    } finally {
      cleanup();
    }
  });
});

describe('recovery refuses damage', () => {
  async function build(sim: SimDisk): Promise<LogModel> {
    const model = new LogModel();
    const log = await open(sim);
    await fill(log, model, 1, 400, 1);
    await log.close();
    return model;
  }

  it('names the file and byte offset of a bad record with good ones after it', async () => {
    const sim = new SimDisk();
    await build(sim);
    const names = (await sim.readdir(`${dir}/wal`)).filter((n) => n.endsWith('.wal'));
    const target = `${dir}/wal/${names[1]!}`;
    sim.corrupt(target, 300, 4);
    const error = await open(sim).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StorageError);
    const e = error as StorageError;
    expect(e.code).toBe('corrupt');
    expect(e.file).toBe(target);
    expect(e.offset).toBeLessThanOrEqual(300);
    expect(e.message).toContain(target);
    expect(e.message).toContain(`byte ${e.offset}`);
  });

  it('refuses a gap in the segment sequence', async () => {
    const sim = new SimDisk();
    await build(sim);
    const names = (await sim.readdir(`${dir}/wal`)).filter((n) => n.endsWith('.wal'));
    await sim.unlink(`${dir}/wal/${names[2]!}`);
    await expect(open(sim)).rejects.toSatisfy((e: unknown) => isCode('corrupt')(e) && (e as StorageError).file === `${dir}/wal/${names[3]!}`);
  });

  it('refuses a segment that lost its last records while a later segment exists', async () => {
    const sim = new SimDisk();
    await build(sim);
    const names = (await sim.readdir(`${dir}/wal`)).filter((n) => n.endsWith('.wal'));
    const path = `${dir}/wal/${names[1]!}`;
    const content = await readWholeFile(sim, path, 1 << 20);
    sim.putDurable(path, content.subarray(0, content.length - 200));
    await expect(open(sim)).rejects.toSatisfy(isCode('corrupt'));
  });

  it('cuts a torn tail off the last segment, zeroes it, and appends after it', async () => {
    const sim = new SimDisk();
    const model = await build(sim);
    const names = (await sim.readdir(`${dir}/wal`)).filter((n) => n.endsWith('.wal'));
    const last = `${dir}/wal/${names[names.length - 1]!}`;
    // A batch of garbage-ish bytes that starts like a frame but never completed.
    let log = await open(sim);
    const end = (await readWholeFile(sim, last, 1 << 20)).findLastIndex((b) => b !== 0) + 1;
    await log.close();
    sim.putDurable(last, (() => {
      const c = sim.image().get(last)!;
      c.set([50, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9], end);
      return c;
    })());
    log = await open(sim);
    expect(log.recovery.tornTail).toMatchObject({ file: last, offset: end, bytesZeroed: 11 });
    expect(differenceFromModel(log.storage, model)).toBeNull();
    await save(log, model, [normal(401, 1, 3)], hard(1, 400));
    await log.close();
    log = await open(sim);
    expect(log.recovery.tornTail).toBeNull();
    expect(differenceFromModel(log.storage, model)).toBeNull();
    await log.close();
  });

  it('removes a last segment whose header never reached the disk', async () => {
    const sim = new SimDisk();
    const model = await build(sim);
    const names = (await sim.readdir(`${dir}/wal`)).filter((n) => n.endsWith('.wal'));
    const unborn = `${dir}/wal/${segmentFileName(names.length + 1, 401)}`;
    sim.putDurable(unborn, new Uint8Array(4096));
    const log = await open(sim);
    expect(log.recovery.removedSegment).toBe(unborn);
    expect(differenceFromModel(log.storage, model)).toBeNull();
    await log.close();
  });

  it('checks the VERSION file', async () => {
    const sim = new SimDisk();
    await build(sim);
    sim.putDurable(`${dir}/VERSION`, new TextEncoder().encode('synod-storage 2\n'));
    await expect(open(sim)).rejects.toSatisfy(isCode('unsupported_version'));
    sim.putDurable(`${dir}/VERSION`, new TextEncoder().encode('hello'));
    await expect(open(sim)).rejects.toSatisfy(isCode('corrupt'));
    await sim.unlink(`${dir}/VERSION`);
    await expect(open(sim)).rejects.toSatisfy(isCode('corrupt'));
  });

  it('finishes a creation that crashed before VERSION was written', async () => {
    const sim = new SimDisk();
    const log = await open(sim);
    await log.close();
    await sim.unlink(`${dir}/VERSION`);
    const again = await open(sim);
    expect(again.recovery.created).toBe(true);
    await again.close();
  });
});

describe('replay', () => {
  const source = (...records: WalRecord[]) => ({ records, locate: (n: number) => ({ file: 'f', offset: n }) });
  const header = (sequence: number, firstIndex: number, prevTerm: number): WalRecord => ({
    kind: 'segmentHeader',
    formatVersion: 1,
    sequence,
    firstIndex: firstIndex as LogIndex,
    prevTerm: prevTerm as never,
    confState: null,
  });
  const entry = (i: number, t: number): WalRecord => normal(i, t);

  it('refuses a hole, a falling term, and a segment that does not continue the log, naming where', () => {
    expect(() => replay(source(header(1, 1, 0), entry(1, 1), entry(3, 1)), { index: 0, term: 0 })).toThrow(/f at byte 2: .*hole/);
    expect(() => replay(source(header(1, 1, 0), entry(1, 2), entry(2, 1)), { index: 0, term: 0 })).toThrow(/term 1, below 2/);
    expect(() => replay(source(header(1, 1, 0), entry(1, 1), header(2, 5, 1)), { index: 0, term: 0 })).toThrow(/segment is missing/);
  });

  it('reports a snapshot the WAL does not reach or no longer holds as not covered', () => {
    const released = source(header(5, 101, 1), entry(101, 1));
    expect(replay(released, { index: 50, term: 1 }).status).toBe('not_covered');
    expect(replay(released, { index: 100, term: 1 }).status).toBe('covered');
    expect(replay(released, { index: 100, term: 2 }).status).toBe('not_covered');
    const reset = source(header(1, 1, 0), entry(1, 1), { kind: 'snapshot', index: 90 as LogIndex, term: 3 as never, reset: true }, entry(91, 3));
    expect(replay(reset, { index: 0, term: 0 }).status).toBe('not_covered');
    const fromReset = replay(reset, { index: 90, term: 3 });
    expect(fromReset.status === 'covered' && fromReset.entries.map((e) => e.index)).toEqual([91]);
  });

  it('lets a later truncation below the snapshot heal entries that did not follow it', () => {
    // 1..5 at term 1, then a leader of term 2 rewrites from 3; a snapshot at 4 (term 2) is covered.
    const log = source(header(1, 1, 0), entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1), entry(5, 1), entry(3, 2), entry(4, 2));
    const outcome = replay(log, { index: 4, term: 2 });
    expect(outcome.status === 'covered' && outcome.lastIndex).toBe(4);
  });
});
