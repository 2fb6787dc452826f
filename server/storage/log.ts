// The durable log of one member: a locked data directory holding a VERSION file, the WAL (wal/) and snapshot
// files (snap/). openLog recovers it into a MemoryStorage that the Raft core reads; save() persists each
// Ready (snapshot, entries, hard state: one write, one fdatasync) before the MemoryStorage is updated.
//
//   <dir>/LOCK          held while open (see the Disk's lock)
//   <dir>/VERSION       "synod-storage <format version>\n"
//   <dir>/wal/          <sequence>-<firstIndex>.wal segments
//   <dir>/snap/         <term>-<index>.snap snapshot files

import { MemoryStorage } from '../raft/storage.ts';
import type { ConfState, Entry, HardState, LogIndex, Snapshot, Term } from '../raft/types.ts';
import type { Disk, DiskLock } from './disk.ts';
import { dirname, joinPath, readWholeFile, writeFileAtomic } from './disk.ts';
import { StorageError, corrupt, isStorageError, storageInvariant } from './errors.ts';
import { formatVersion } from './record.ts';
import type { ReplayOutcome } from './replay.ts';
import { replay } from './replay.ts';
import type { SnapshotFileName } from './snapshot-store.ts';
import { listSnapshots, readSnapshotFile, writeSnapshotFile } from './snapshot-store.ts';
import type { WalContents, WalWriterOptions } from './wal.ts';
import { WalWriter, createFirstSegment, listSegments, readWal, spareSegmentName } from './wal.ts';

/** Limits and defaults of the durable log, in one place. */
export const storageDefaults = {
  /** Segment files are preallocated to this size and rolled when the next batch would not fit. */
  segmentBytesMax: 64 * 1024 * 1024,
  /** One record's payload (an entry with its data) may not exceed this. */
  recordBytesMax: 16 * 1024 * 1024,
  /** Snapshot files kept; the WAL is kept back to the oldest of them, so each can be fallen back to. */
  snapshotsKept: 3,
  /** A snapshot file larger than this is refused at recovery. */
  snapshotBytesMax: 1024 * 1024 * 1024,
  /** After a snapshot, this many entries before it stay in memory for followers that lag a little. */
  snapshotCatchUpEntries: 5000,
} as const;

export interface OpenLogOptions {
  /** The data directory; created when missing. */
  readonly dir: string;
  readonly disk: Disk;
  readonly segmentBytesMax?: number;
  readonly recordBytesMax?: number;
  readonly snapshotsKept?: number;
  readonly snapshotBytesMax?: number;
  readonly snapshotCatchUpEntries?: number;
  /** The membership of a new cluster, recorded when the directory is created (ignored afterwards). */
  readonly initialConfState?: ConfState;
}

/** What one save persists: the fields of a Ready that go to disk. A Ready is a SaveBatch. */
export interface SaveBatch {
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  /** A snapshot installed from the leader: it replaces the log. */
  readonly snapshot: Snapshot | null;
  /** Whether the save must be durable before it resolves (default true); false still writes. */
  readonly mustSync?: boolean;
}

export interface LogStats {
  readonly saves: number;
  readonly syncs: number;
  readonly bytesWritten: number;
  readonly recordsWritten: number;
  readonly segments: number;
  /** The space the WAL's segments take (they are preallocated to their full size). */
  readonly walBytes: number;
  /** The size of the newest snapshot's data. */
  readonly snapshotBytes: number;
  readonly segmentsCreated: number;
  readonly segmentsReleased: number;
  readonly snapshotsSaved: number;
  readonly currentSegment: string;
  /** Failures to remove old snapshot files or segments (retried after the next snapshot). */
  readonly cleanupFailures: number;
  readonly lastCleanupError: string | null;
}

/** What recovery found and did. */
export interface RecoveryReport {
  /** True when the directory was new. */
  readonly created: boolean;
  /** The snapshot recovery started from (index 0: none) and its file. */
  readonly snapshot: { readonly index: LogIndex; readonly term: Term; readonly file: string | null };
  readonly segments: number;
  readonly records: number;
  /** Entries after the snapshot, now in the MemoryStorage. */
  readonly entries: number;
  /** A torn write cut off the end of the last segment. */
  readonly tornTail: { readonly file: string; readonly offset: number; readonly bytesZeroed: number; readonly reason: string } | null;
  /** A last segment whose header never reached the disk, removed. */
  readonly removedSegment: string | null;
  /** Snapshot files that failed their checksum, renamed to <name>.broken. */
  readonly brokenSnapshots: readonly string[];
  /** Valid snapshot files the WAL does not cover (e.g. a snapshot whose save did not complete), skipped. */
  readonly uncoveredSnapshots: readonly string[];
}

/** The durable log of one member. Operations run one at a time, in call order. */
export interface DurableLog extends AsyncDisposable {
  /** What the Raft core reads; kept up to date by save and saveSnapshot. */
  readonly storage: MemoryStorage;
  readonly recovery: RecoveryReport;
  /**
   * Persists a Ready's snapshot (its own file, synced), then its entries and hard state in one write followed
   * by one fdatasync (unless mustSync is false), then updates `storage`. Throws `sync_failed`/`io` on a disk
   * error, after which the log is failed and every later call throws `failed`.
   */
  save(batch: SaveBatch): Promise<void>;
  /**
   * Persists a snapshot of the applied state (taken at an index in the log), records it in the WAL, keeps the
   * newest `snapshotsKept` files, releases WAL segments older than the oldest kept snapshot, and compacts
   * `storage` to `snapshotCatchUpEntries` before the snapshot.
   */
  saveSnapshot(snapshot: Snapshot): Promise<void>;
  /**
   * Removes WAL segments holding nothing after `index` (clamped to the newest durable snapshot). Older
   * snapshots then cannot be fallen back to.
   */
  releaseTo(index: LogIndex): Promise<void>;
  stats(): LogStats;
  /** Syncs anything unsynced, closes the files and releases the lock. */
  close(): Promise<void>;
}

const versionFileName = 'VERSION';
const lockFileName = 'LOCK';

function versionText(version: number): string {
  return `synod-storage ${version}\n`;
}

/**
 * Migrations from older format versions, applied in order at open. None yet: version 1 is the first. A
 * migration rewrites the directory to the next version and then rewrites VERSION.
 */
const migrations: ReadonlyMap<number, (dir: string, disk: Disk) => Promise<void>> = new Map();

/**
 * Opens (or creates) a data directory: takes its lock, checks VERSION, loads the newest snapshot the WAL
 * covers (falling back past damaged ones), replays the WAL after it, cuts a torn tail off the last segment,
 * and returns the log ready to append. Refuses with `corrupt` (naming file and byte offset) damage anywhere
 * but that tail, with `locked` a directory another process holds, with `unsupported_version` a newer format.
 */
export async function openLog(options: OpenLogOptions): Promise<DurableLog> {
  const { dir, disk } = options;
  const config = {
    segmentBytesMax: options.segmentBytesMax ?? storageDefaults.segmentBytesMax,
    recordBytesMax: options.recordBytesMax ?? storageDefaults.recordBytesMax,
    snapshotsKept: options.snapshotsKept ?? storageDefaults.snapshotsKept,
    snapshotBytesMax: options.snapshotBytesMax ?? storageDefaults.snapshotBytesMax,
    snapshotCatchUpEntries: options.snapshotCatchUpEntries ?? storageDefaults.snapshotCatchUpEntries,
  };
  storageInvariant(config.segmentBytesMax >= 4096, 'segmentBytesMax must be at least 4096');
  storageInvariant(config.recordBytesMax >= 1024, 'recordBytesMax must be at least 1024');
  storageInvariant(config.snapshotsKept >= 1, 'snapshotsKept must be at least 1');
  storageInvariant(config.snapshotCatchUpEntries >= 0, 'snapshotCatchUpEntries must not be negative');
  await disk.mkdir(dir);
  const lock = await disk.lock(joinPath(dir, lockFileName));
  try {
    const walDir = joinPath(dir, 'wal');
    const snapDir = joinPath(dir, 'snap');
    const walOptions: WalWriterOptions = { disk, walDir, segmentBytesMax: config.segmentBytesMax, recordBytesMax: config.recordBytesMax };
    const created = await checkVersion(dir, disk, walOptions, options.initialConfState ?? null);
    await removeTemporaries(disk, walDir);
    await removeTemporaries(disk, snapDir);
    const recovered = await recover(disk, walDir, snapDir, config.snapshotBytesMax);
    const writer = await WalWriter.resume(walOptions, recovered.contents.segments, recovered.last, recovered.storage.hardState());
    const recovery: RecoveryReport = { ...recovered.report, created };
    return new Log(disk, snapDir, lock, writer, recovered.storage, recovery, recovered.durableSnapshotIndex, config);
  } catch (error) {
    await lock.release();
    throw error;
  }
}

/** Checks VERSION, or initialises a new directory. Returns true when the directory was new. */
async function checkVersion(dir: string, disk: Disk, walOptions: WalWriterOptions, confState: ConfState | null): Promise<boolean> {
  const names = await disk.readdir(dir);
  const versionPath = joinPath(dir, versionFileName);
  if (names.includes(versionFileName)) {
    const text = new TextDecoder().decode(await readWholeFile(disk, versionPath, 4096));
    const match = /^synod-storage (\d+)\n$/.exec(text);
    if (match === null) throw corrupt(versionPath, 0, 'unreadable VERSION file');
    let version = Number(match[1]);
    if (version > formatVersion) {
      throw new StorageError('unsupported_version', `${dir} has format ${version}; this code reads up to ${formatVersion}`, { file: versionPath });
    }
    while (version < formatVersion) {
      const migrate = migrations.get(version);
      if (migrate === undefined) {
        throw new StorageError('unsupported_version', `${dir} has format ${version} and there is no migration from it`, { file: versionPath });
      }
      await migrate(dir, disk);
      version++;
    }
    return false;
  }
  // No VERSION: a new directory, or one whose creation crashed before VERSION (the last step) was written.
  await disk.syncDir(dirname(dir));
  await disk.mkdir(walOptions.walDir);
  await disk.mkdir(joinPath(dir, 'snap'));
  await disk.syncDir(dir);
  await discardUnfinishedCreation(disk, walOptions.walDir, joinPath(dir, 'snap'));
  await createFirstSegment(walOptions, confState);
  await writeFileAtomic(disk, versionPath, [new TextEncoder().encode(versionText(formatVersion))]);
  return true;
}

/**
 * Without VERSION, the directory may hold what a crashed creation left: segment 1 with nothing but its header.
 * Anything more is data this code did not write (or whose VERSION was lost): refuse rather than delete it.
 */
async function discardUnfinishedCreation(disk: Disk, walDir: string, snapDir: string): Promise<void> {
  if ((await listSnapshots(disk, snapDir)).length > 0) {
    throw corrupt(snapDir, 0, 'snapshots exist but the VERSION file is missing');
  }
  const segments = await listSegments(disk, walDir);
  if (segments.length === 0) return;
  let contents: WalContents | null = null;
  try {
    contents = await readWal(disk, walDir);
  } catch {
    contents = null;
  }
  const onlyHeader = contents !== null && contents.records.length <= 1 && segments.length === 1 && segments[0]!.sequence === 1;
  if (!onlyHeader) throw corrupt(walDir, 0, 'WAL segments exist but the VERSION file is missing');
  await disk.unlink(joinPath(walDir, segments[0]!.name));
  await disk.syncDir(walDir);
}

/** Removes what interrupted atomic writes left; the WAL's prepared spare segment is kept for reuse. */
async function removeTemporaries(disk: Disk, dir: string): Promise<void> {
  let removed = false;
  for (const name of await disk.readdir(dir)) {
    if (name.endsWith('.tmp') && name !== spareSegmentName) {
      await disk.unlink(joinPath(dir, name));
      removed = true;
    }
  }
  if (removed) await disk.syncDir(dir);
}

interface Recovered {
  readonly storage: MemoryStorage;
  readonly contents: WalContents;
  readonly last: { readonly index: number; readonly term: number };
  readonly durableSnapshotIndex: number;
  readonly report: Omit<RecoveryReport, 'created'>;
}

async function recover(disk: Disk, walDir: string, snapDir: string, snapshotBytesMax: number): Promise<Recovered> {
  const contents = await readWal(disk, walDir);
  if (contents.segments.length === 0) throw corrupt(walDir, 0, 'the WAL has no segments');
  const broken: string[] = [];
  const uncovered: string[] = [];
  const reasons: string[] = [];
  let chosen: { snapshot: Snapshot | null; file: string | null; outcome: Extract<ReplayOutcome, { status: 'covered' }> } | null = null;
  for (const name of await listSnapshots(disk, snapDir)) {
    const snapshot = await loadSnapshot(disk, snapDir, name, snapshotBytesMax, broken);
    if (snapshot === null) continue;
    const outcome = replay(contents, snapshot.metadata);
    if (outcome.status === 'covered') {
      chosen = { snapshot, file: joinPath(snapDir, name.name), outcome };
      break;
    }
    uncovered.push(name.name);
    reasons.push(`${name.name}: ${outcome.reason}`);
  }
  if (chosen === null) {
    // No usable snapshot file: the WAL alone, if it still holds the log from the start.
    const outcome = replay(contents, { index: 0, term: 0 });
    if (outcome.status !== 'covered') {
      reasons.push(`the WAL alone: ${outcome.reason}`);
      throw corrupt(snapDir, 0, `no snapshot that the WAL covers (${reasons.join('; ')})`);
    }
    chosen = { snapshot: null, file: null, outcome };
  }
  const { outcome, snapshot } = chosen;
  const storage = new MemoryStorage(outcome.bootstrapConfState ?? undefined);
  if (snapshot !== null) storage.applySnapshot(snapshot);
  storage.append(outcome.entries);
  const snapshotIndex = storage.snapshot().metadata.index;
  if (outcome.hardState !== null) {
    const hs = outcome.hardState;
    // A snapshot holds only committed state; a hard state written before it may lag (a torn install).
    storage.setHardState(hs.commit < snapshotIndex ? { ...hs, commit: snapshotIndex } : hs);
  } else if (snapshotIndex > 0) {
    storage.setHardState({ ...storage.hardState(), commit: snapshotIndex });
  }
  const lastIndex = storage.lastIndex();
  if (storage.hardState().commit > lastIndex) {
    const last = contents.segments[contents.segments.length - 1]!;
    throw corrupt(last.path, last.endOffset, `the hard state commits ${storage.hardState().commit}, past the log's last index ${lastIndex}`);
  }
  const torn = contents.torn === null ? null : await zeroTornTail(disk, contents.torn);
  if (contents.unborn !== null) {
    await disk.unlink(contents.unborn);
    await disk.syncDir(walDir);
  }
  return {
    storage,
    contents,
    last: { index: lastIndex, term: storage.term(lastIndex) ?? 0 },
    durableSnapshotIndex: snapshotIndex,
    report: {
      snapshot: { index: snapshotIndex, term: storage.snapshot().metadata.term, file: chosen.file },
      segments: contents.segments.length,
      records: contents.records.length,
      entries: outcome.entries.length,
      tornTail: torn,
      removedSegment: contents.unborn,
      brokenSnapshots: broken,
      uncoveredSnapshots: uncovered,
    },
  };
}

/** Reads a snapshot file; a damaged one is renamed aside (recorded in `broken`) and null returned. */
async function loadSnapshot(disk: Disk, snapDir: string, name: SnapshotFileName, bytesMax: number, broken: string[]): Promise<Snapshot | null> {
  try {
    return await readSnapshotFile(disk, snapDir, name, bytesMax);
  } catch (error) {
    if (!isStorageError(error, 'corrupt')) throw error;
    const path = joinPath(snapDir, name.name);
    await disk.rename(path, `${path}.broken`);
    await disk.syncDir(snapDir);
    broken.push(name.name);
    return null;
  }
}

/** Zeroes a torn tail so the next write starts on zeros (a shorter frame must not end in old garbage). */
async function zeroTornTail(disk: Disk, torn: NonNullable<WalContents['torn']>): Promise<NonNullable<RecoveryReport['tornTail']>> {
  const bytes = torn.garbageEnd - torn.offset;
  if (bytes > 0) {
    const file = await disk.open(torn.file, 'readWrite');
    try {
      await file.write(new Uint8Array(bytes), torn.offset);
      await file.datasync();
    } finally {
      await file.close();
    }
  }
  return { file: torn.file, offset: torn.offset, bytesZeroed: bytes, reason: torn.reason };
}

interface LogConfig {
  readonly segmentBytesMax: number;
  readonly snapshotsKept: number;
  readonly snapshotCatchUpEntries: number;
}

class Log implements DurableLog {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private snapshotsSaved = 0;
  private cleanupFailures = 0;
  private lastCleanupError: string | null = null;

  constructor(
    private readonly disk: Disk,
    private readonly snapDir: string,
    private readonly lock: DiskLock,
    private readonly wal: WalWriter,
    readonly storage: MemoryStorage,
    readonly recovery: RecoveryReport,
    /** The newest snapshot known durable: the WAL is never released past it. */
    private durableSnapshotIndex: number,
    private readonly config: LogConfig,
  ) {}

  save(batch: SaveBatch): Promise<void> {
    return this.serialize(() => this.saveNow(batch));
  }

  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    if (this.closed) throw new StorageError('closed', 'the log is closed');
    const { index, term } = snapshot.metadata;
    const logTerm = this.storage.term(index);
    storageInvariant(logTerm === term, () => `snapshot (${index}, ${term}) is not in the log (term there: ${String(logTerm)})`);
    // The file is written beside the queue, so saves of new entries go on while a large snapshot is written.
    // Only the WAL marker and the clean-up after it take their turn.
    if (index > this.durableSnapshotIndex) await writeSnapshotFile(this.disk, this.snapDir, snapshot);
    return this.serialize(() => this.recordSnapshot(snapshot));
  }

  releaseTo(index: LogIndex): Promise<void> {
    return this.serialize(async () => {
      await this.wal.releaseTo(Math.min(index, this.durableSnapshotIndex));
    });
  }

  stats(): LogStats {
    const c = this.wal.counters;
    return {
      saves: c.saves,
      syncs: c.syncs,
      bytesWritten: c.bytesWritten,
      recordsWritten: c.recordsWritten,
      segments: this.wal.segmentCount,
      walBytes: this.wal.segmentCount * this.config.segmentBytesMax,
      snapshotBytes: this.storage.snapshot().data.length,
      segmentsCreated: c.segmentsCreated,
      segmentsReleased: c.segmentsReleased,
      snapshotsSaved: this.snapshotsSaved,
      currentSegment: this.wal.currentSegment,
      cleanupFailures: this.cleanupFailures,
      lastCleanupError: this.lastCleanupError,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    try {
      await this.wal.close();
    } finally {
      await this.lock.release();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async saveNow(batch: SaveBatch): Promise<void> {
    const { snapshot, entries, hardState } = batch;
    const first = entries[0];
    for (let i = 1; i < entries.length; i++) {
      storageInvariant(entries[i]!.index === entries[i - 1]!.index + 1, 'the entries of a save are contiguous');
    }
    if (snapshot !== null) {
      const { index, term } = snapshot.metadata;
      storageInvariant(index >= this.storage.snapshot().metadata.index, () => `snapshot ${index} is older than the current one`);
      storageInvariant(first === undefined || first.index > index, 'entries saved with a snapshot come after it');
      // The file first: the WAL's reset record must never refer to a snapshot that is not on disk.
      await writeSnapshotFile(this.disk, this.snapDir, snapshot).catch((error: unknown) => {
        throw isStorageError(error) ? error : new StorageError('io', String(error), { cause: error });
      });
      await this.wal.save({ reset: { index, term }, marker: null, entries, hardState }, batch.mustSync ?? true);
      this.storage.applySnapshot(snapshot);
      this.durableSnapshotIndex = Math.max(this.durableSnapshotIndex, index);
    } else {
      await this.wal.save({ reset: null, marker: null, entries, hardState }, batch.mustSync ?? true);
    }
    this.storage.append(entries);
    if (hardState !== null) this.storage.setHardState(hardState);
    if (snapshot !== null) {
      this.snapshotsSaved++;
      await this.pruneAndRelease();
    }
  }

  /** After the snapshot's file is durable: the WAL marker, memory compaction, clean-up. */
  private async recordSnapshot(snapshot: Snapshot): Promise<void> {
    const { index, term, confState } = snapshot.metadata;
    if (index <= this.durableSnapshotIndex) return;
    await this.wal.save({ reset: null, marker: { index, term }, entries: [], hardState: null }, true);
    this.durableSnapshotIndex = index;
    this.snapshotsSaved++;
    if (index > this.storage.snapshot().metadata.index) this.storage.createSnapshot(index, confState, snapshot.data);
    const compactTo = index - this.config.snapshotCatchUpEntries;
    if (compactTo > this.storage.firstIndex()) this.storage.compact(compactTo as LogIndex);
    await this.pruneAndRelease();
  }

  /**
   * Keeps the newest snapshot files and the WAL back to the oldest of them. A failure here is counted, not
   * thrown: the snapshot is durable already, and the next snapshot retries the cleanup.
   */
  private async pruneAndRelease(): Promise<void> {
    try {
      await this.pruneAndReleaseNow();
    } catch (error) {
      if (isStorageError(error, 'failed') || isStorageError(error, 'closed')) throw error;
      this.cleanupFailures++;
      this.lastCleanupError = error instanceof Error ? error.message : String(error);
    }
  }

  private async pruneAndReleaseNow(): Promise<void> {
    const names = await listSnapshots(this.disk, this.snapDir);
    const kept = names.slice(0, this.config.snapshotsKept);
    const removed = names.slice(this.config.snapshotsKept);
    for (const name of removed) await this.disk.unlink(joinPath(this.snapDir, name.name));
    if (removed.length > 0) await this.disk.syncDir(this.snapDir);
    const oldestKept = kept[kept.length - 1]?.index ?? 0;
    await this.wal.releaseTo(Math.min(oldestKept, this.durableSnapshotIndex));
  }

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StorageError('closed', 'the log is closed'));
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
