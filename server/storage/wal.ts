// The write-ahead log: segment files wal/<sequence>-<firstIndex>.wal (16 lowercase hex digits each),
// preallocated with zeros, each beginning with a segment header record. Writing: a save is framed into one
// buffer and goes out as one pwrite and (when it must be durable) one fdatasync. Reading: every segment in
// sequence order, frames checked, records decoded; a torn tail of the last segment is reported for the
// caller to cut off. docs/storage.md describes the format and the recovery rules.

import type { ConfState, Entry, HardState, LogIndex, Term } from '../raft/types.ts';
import type { Disk, DiskFile } from './disk.ts';
import { joinPath, readWholeFile } from './disk.ts';
import { StorageError, corrupt, isStorageError, storageInvariant } from './errors.ts';
import type { ScanResult, WalRecord } from './record.ts';
import { FrameBuffer, MalformedRecord, decodeRecordAt, formatVersion, frameHeaderBytes, scanFrames } from './record.ts';
import type { RecordSource } from './replay.ts';
import { hex16 } from './snapshot-store.ts';

/** A segment file, by name. */
export interface SegmentName {
  readonly name: string;
  readonly sequence: number;
  readonly firstIndex: number;
}

const segmentPattern = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;
/** The preallocated next segment, renamed into place when the current one fills. */
export const spareSegmentName = 'preallocated.tmp';
/** A sanity bound on one segment file read at recovery (a segment exceeds its size by at most one batch). */
const segmentReadBytesMax = 2 ** 31;

export function segmentFileName(sequence: number, firstIndex: number): string {
  return `${hex16(sequence)}-${hex16(firstIndex)}.wal`;
}

export function parseSegmentFileName(name: string): SegmentName | null {
  const m = segmentPattern.exec(name);
  if (m === null) return null;
  const sequence = Number.parseInt(m[1]!, 16);
  const firstIndex = Number.parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(sequence) || !Number.isSafeInteger(firstIndex)) return null;
  return { name, sequence, firstIndex };
}

/** The segments in `walDir`, in sequence order. */
export async function listSegments(disk: Disk, walDir: string): Promise<SegmentName[]> {
  const found: SegmentName[] = [];
  for (const name of await disk.readdir(walDir)) {
    const parsed = parseSegmentFileName(name);
    if (parsed !== null) found.push(parsed);
  }
  return found.sort((a, b) => a.sequence - b.sequence);
}

// ---------------------------------------------------------------------------------------------------------
// Reading

/** A segment as found at recovery. */
export interface SegmentState extends SegmentName {
  readonly path: string;
  /** Where the next frame would go: just past the last good frame. */
  readonly endOffset: number;
  readonly fileBytes: number;
}

/** Everything the WAL holds, decoded, plus what recovery must repair before writing. */
export interface WalContents extends RecordSource {
  readonly segments: SegmentState[];
  readonly records: WalRecord[];
  /** A torn tail of the last segment: bytes [offset, garbageEnd) are to be zeroed. */
  readonly torn: { readonly file: string; readonly offset: number; readonly garbageEnd: number; readonly reason: string } | null;
  /** A last segment whose header never reached the disk (a crash while creating it): to be removed. */
  readonly unborn: string | null;
}

/**
 * Reads and decodes every segment. Refuses (`corrupt`, naming the file and byte offset) a gap in the sequence,
 * a bad frame anywhere but the tail of the last segment, a record that does not decode, or a segment whose
 * header does not match its name.
 */
export async function readWal(disk: Disk, walDir: string): Promise<WalContents> {
  const names = await listSegments(disk, walDir);
  const segments: SegmentState[] = [];
  const records: WalRecord[] = [];
  // Where each record was read, kept as numbers rather than an object per record.
  const offsets: number[] = [];
  const firstRecordOf: number[] = [];
  let torn: WalContents['torn'] = null;
  let unborn: string | null = null;
  for (let n = 0; n < names.length; n++) {
    const name = names[n]!;
    const path = joinPath(walDir, name.name);
    const previous = names[n - 1];
    if (previous !== undefined && name.sequence !== previous.sequence + 1) {
      throw corrupt(path, 0, `segment ${previous.sequence + 1} is missing before it`);
    }
    const isLast = n === names.length - 1;
    let buf = await readWholeFile(disk, path, segmentReadBytesMax);
    const fileBytes = buf.length;
    const scan: ScanResult = scanFrames(buf, isLast, (offset, reason) => {
      throw corrupt(path, offset, reason);
    });
    if (scan.frames.length === 0 && isLast && n > 0) {
      // Not even the header made it: the crash came while this segment was being created.
      unborn = path;
      break;
    }
    if (scan.frames.length === 0) throw corrupt(path, 0, 'a segment without a header');
    if (scan.torn !== null) torn = { file: path, ...scan.torn };
    // Entries' data are views into `buf`: keep only the used part alive, not a mostly empty preallocation.
    const used = scan.endOffset;
    if (used < buf.length / 2) buf = buf.slice(0, used);
    firstRecordOf.push(records.length);
    const frames = scan.frames;
    for (let f = 0; f < frames.length; f++) {
      const offset = frames[f]!;
      const record = decodeAt(buf, offset + frameHeaderBytes, frames[f + 1] ?? scan.endOffset, path, offset);
      if (f === 0) checkHeader(record, name, path);
      else if (record.kind === 'segmentHeader') throw corrupt(path, offset, 'a segment header inside a segment');
      records.push(record);
      offsets.push(offset);
    }
    segments.push({ ...name, path, endOffset: scan.endOffset, fileBytes });
  }
  const locate = (n: number): { file: string; offset: number } => {
    let s = firstRecordOf.length - 1;
    while (s > 0 && firstRecordOf[s]! > n) s--;
    return { file: segments[s]?.path ?? walDir, offset: offsets[n] ?? 0 };
  };
  return { segments, records, locate, torn, unborn };
}

function decodeAt(buf: Uint8Array, start: number, end: number, path: string, offset: number): WalRecord {
  try {
    return decodeRecordAt(buf, start, end);
  } catch (error) {
    // The CRC matched, so this is not a torn write: a bug or a checksum collision. Never serve it.
    const what = error instanceof MalformedRecord ? error.message : 'undecodable CBOR';
    throw corrupt(path, offset, `a record with a good checksum does not decode (${what})`, error);
  }
}

function checkHeader(record: WalRecord, name: SegmentName, path: string): void {
  if (record.kind !== 'segmentHeader') throw corrupt(path, 0, 'the first record is not a segment header');
  if (record.formatVersion !== formatVersion) {
    throw new StorageError('unsupported_version', `${path}: WAL format ${record.formatVersion}, this code reads ${formatVersion}`, {
      file: path,
      offset: 0,
    });
  }
  if (record.sequence !== name.sequence || record.firstIndex !== name.firstIndex) {
    throw corrupt(path, 0, `the header says segment ${record.sequence} from ${record.firstIndex}, unlike the file name`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Writing

export interface WalWriterOptions {
  readonly disk: Disk;
  readonly walDir: string;
  readonly segmentBytesMax: number;
  readonly recordBytesMax: number;
}

/** What one save adds to the log, in the order it is written. */
export interface WalBatch {
  /** A snapshot installed from the leader: the log restarts after it. */
  readonly reset: { readonly index: LogIndex; readonly term: Term } | null;
  /** A snapshot saved locally: informational. */
  readonly marker: { readonly index: LogIndex; readonly term: Term } | null;
  readonly entries: readonly Entry[];
  readonly hardState: HardState | null;
}

interface OpenSegment {
  readonly sequence: number;
  readonly firstIndex: number;
  readonly path: string;
  readonly file: DiskFile;
  /** Offset of the next frame. */
  tailBytes: number;
  /** Size of the file: preallocated space past `tailBytes` reads as zeros. */
  fileBytes: number;
}

/** Counters, for stats. */
export interface WalCounters {
  saves: number;
  syncs: number;
  bytesWritten: number;
  recordsWritten: number;
  segmentsCreated: number;
  segmentsReleased: number;
}

/**
 * Appends batches to the current segment and rolls to a new one (prepared in the background) when it is
 * full. Any write or sync error is fatal: the writer refuses everything after it, since the state of the
 * file after a failed fdatasync is unknowable (the kernel may have dropped the dirty pages).
 */
export class WalWriter {
  readonly counters: WalCounters = { saves: 0, syncs: 0, bytesWritten: 0, recordsWritten: 0, segmentsCreated: 0, segmentsReleased: 0 };
  private readonly frames: FrameBuffer;
  private readonly rollFrames: FrameBuffer;
  private spare: Promise<string | null> | null = null;
  private failure: StorageError | null = null;
  private closed = false;
  private dirty = false;

  private constructor(
    private readonly options: WalWriterOptions,
    private segment: OpenSegment,
    /** Older segments still on disk, oldest first (the current one is not in it). */
    private readonly older: { sequence: number; firstIndex: number; path: string }[],
    /** The log's last index and term as the WAL describes it. */
    private lastIndex: number,
    private lastTerm: number,
    private hardState: HardState | null,
  ) {
    this.frames = new FrameBuffer(options.recordBytesMax);
    this.rollFrames = new FrameBuffer(options.recordBytesMax, 4096);
  }

  /** Continues after recovery, appending to the last segment at `endOffset`. */
  static async resume(
    options: WalWriterOptions,
    segments: readonly SegmentState[],
    last: { readonly index: number; readonly term: number },
    hardState: HardState | null,
  ): Promise<WalWriter> {
    const current = segments[segments.length - 1];
    storageInvariant(current !== undefined, 'resume needs a segment');
    const file = await options.disk.open(current.path, 'readWrite');
    const fileBytes = await file.size();
    const segment: OpenSegment = { ...current, file, tailBytes: current.endOffset, fileBytes };
    const older = segments.slice(0, -1).map((s) => ({ sequence: s.sequence, firstIndex: s.firstIndex, path: s.path }));
    const writer = new WalWriter(options, segment, older, last.index, last.term, hardState);
    await writer.adoptSpare();
    writer.maybeStartSpare();
    return writer;
  }

  get segmentCount(): number {
    return this.older.length + 1;
  }

  get currentSegment(): string {
    return this.segment.path;
  }

  /**
   * Appends one batch: one write, then one fdatasync when `sync`. Nothing is written for an empty batch (but
   * earlier unsynced writes are synced when `sync`). Throws `too_large` (nothing written) for an oversized
   * record, `sync_failed`/`io` (and the writer fails) for a disk error, `failed` after an earlier one.
   */
  async save(batch: WalBatch, sync: boolean): Promise<void> {
    this.checkUsable();
    const frames = this.frames;
    frames.reset();
    let lastIndex = this.lastIndex;
    let lastTerm = this.lastTerm;
    let records = 0;
    const add = (record: WalRecord): void => {
      if (!frames.add(record)) {
        throw new StorageError('too_large', `a ${record.kind} record is over the limit of ${this.options.recordBytesMax} bytes`);
      }
      records++;
    };
    if (batch.reset !== null) {
      add({ kind: 'snapshot', index: batch.reset.index, term: batch.reset.term, reset: true });
      lastIndex = batch.reset.index;
      lastTerm = batch.reset.term;
    }
    if (batch.marker !== null) add({ kind: 'snapshot', index: batch.marker.index, term: batch.marker.term, reset: false });
    for (const entry of batch.entries) {
      storageInvariant(entry.index >= 1 && entry.index <= lastIndex + 1, () => `entry ${entry.index} would leave a hole after ${lastIndex}`);
      add(entry);
      lastIndex = entry.index;
      lastTerm = entry.term;
    }
    if (batch.hardState !== null) add({ kind: 'hardState', hardState: batch.hardState });
    if (records > 0) await this.fatal(() => this.writeFrames(frames.bytes()));
    if (sync && this.dirty) await this.fatal(() => this.sync());
    this.lastIndex = lastIndex;
    this.lastTerm = lastTerm;
    if (batch.hardState !== null) this.hardState = batch.hardState;
    this.counters.saves++;
    this.counters.recordsWritten += records;
  }

  /**
   * Removes segments whose every live record is at or before `index` (a durable snapshot covers them): a
   * segment goes when the next one starts at or before index + 1. The current segment always stays.
   */
  async releaseTo(index: number): Promise<number> {
    this.checkUsable();
    let removed = 0;
    for (;;) {
      const gone = this.older[0];
      const next = this.older[1] ?? this.segment;
      if (gone === undefined || next.firstIndex > index + 1) break;
      // Not fatal when it fails: the segment is still there and still consistent, merely not released.
      await this.options.disk.unlink(gone.path);
      this.older.shift();
      removed++;
      this.counters.segmentsReleased++;
    }
    if (removed > 0) await this.options.disk.syncDir(this.options.walDir);
    return removed;
  }

  /** Syncs what is unsynced and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const spare = this.spare;
    this.spare = null;
    try {
      if (this.dirty && this.failure === null) await this.sync();
    } finally {
      await this.segment.file.close();
      await spare;
    }
  }

  private async writeFrames(bytes: Uint8Array): Promise<void> {
    const segment = this.segment;
    if (segment.tailBytes + bytes.length > segment.fileBytes && segment.tailBytes > this.headerEndBytes) {
      await this.roll();
    }
    const s = this.segment;
    if (s.tailBytes + bytes.length > s.fileBytes) {
      // A batch larger than the free space of a fresh segment: grow the file and make the size durable first,
      // so every frame lies inside the synced size and recovery can tell a torn frame from a damaged one.
      await s.file.preallocate(s.tailBytes + bytes.length);
      await s.file.datasync();
      s.fileBytes = s.tailBytes + bytes.length;
      this.counters.syncs++;
    }
    await s.file.write(bytes, s.tailBytes);
    s.tailBytes += bytes.length;
    this.dirty = true;
    this.counters.bytesWritten += bytes.length;
    this.maybeStartSpare();
  }

  private async sync(): Promise<void> {
    try {
      await this.segment.file.datasync();
    } catch (error) {
      throw new StorageError('sync_failed', `fdatasync of ${this.segment.path} failed; the log refuses further writes`, { cause: error });
    }
    this.dirty = false;
    this.counters.syncs++;
  }

  /** Bytes of the header records at the start of the current segment (a segment is never rolled before them). */
  private headerEndBytes = 0;

  /** Closes the full segment (synced, cut to its used size) and continues in a new one. */
  private async roll(): Promise<void> {
    const old = this.segment;
    if (this.dirty) await this.sync();
    await old.file.truncate(old.tailBytes);
    await old.file.datasync();
    this.counters.syncs++;
    await old.file.close();
    const sequence = old.sequence + 1;
    const firstIndex = this.lastIndex + 1;
    const path = joinPath(this.options.walDir, segmentFileName(sequence, firstIndex));
    const records: WalRecord[] = [
      { kind: 'segmentHeader', formatVersion, sequence, firstIndex: firstIndex as LogIndex, prevTerm: this.lastTerm as Term, confState: null },
    ];
    // The newest hard state opens every segment, so releasing older segments never loses it.
    if (this.hardState !== null) records.push({ kind: 'hardState', hardState: this.hardState });
    const spare = this.spare === null ? null : await this.spare;
    this.spare = null;
    this.older.push({ sequence: old.sequence, firstIndex: old.firstIndex, path: old.path });
    this.segment = await createSegment(this.options, path, spare, records, this.rollFrames);
    this.headerEndBytes = this.segment.tailBytes;
    this.counters.segmentsCreated++;
    this.counters.syncs++;
    this.maybeStartSpare();
  }

  /**
   * Once the current segment is half full, prepares the next segment's file in the background, so a roll
   * does not wait for zeros to be written (and an idle or short-lived log writes no spare at all).
   */
  private maybeStartSpare(): void {
    if (this.spare !== null || this.closed || this.segment.tailBytes * 2 < this.options.segmentBytesMax) return;
    const path = joinPath(this.options.walDir, spareSegmentName);
    this.spare = preallocateFile(this.options.disk, path, this.options.segmentBytesMax).then(
      () => path,
      () => null, // the roll then creates the file itself, and reports the error if it recurs
    );
  }

  /** Reuses a spare a previous run prepared (it only ever holds zeros), if it has the right size. */
  private async adoptSpare(): Promise<void> {
    const { disk, walDir, segmentBytesMax } = this.options;
    const path = joinPath(walDir, spareSegmentName);
    if (!(await disk.readdir(walDir)).includes(spareSegmentName)) return;
    const file = await disk.open(path, 'read');
    const size = await file.size().finally(() => file.close());
    if (size === segmentBytesMax) {
      this.spare = Promise.resolve(path);
    } else {
      await disk.unlink(path);
      await disk.syncDir(walDir);
    }
  }

  private checkUsable(): void {
    if (this.closed) throw new StorageError('closed', 'the WAL is closed');
    if (this.failure !== null) {
      throw new StorageError('failed', `the WAL failed earlier and refuses writes: ${this.failure.message}`, { cause: this.failure });
    }
  }

  /** Runs a step whose failure leaves the files in an unknown state: the writer fails for good. */
  private async fatal<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      const failure = isStorageError(error) ? error : new StorageError('io', String(error), { cause: error });
      this.failure = failure;
      throw failure;
    }
  }
}

/**
 * Starts the WAL of a new directory: segment 1, from index 1, recording the membership of the empty log.
 * Durable on return; the log then opens it as after any restart.
 */
export async function createFirstSegment(options: WalWriterOptions, confState: ConfState | null): Promise<void> {
  const header: WalRecord = { kind: 'segmentHeader', formatVersion, sequence: 1, firstIndex: 1 as LogIndex, prevTerm: 0 as Term, confState };
  const segment = await createSegment(options, joinPath(options.walDir, segmentFileName(1, 1)), null, [header]);
  await segment.file.close();
}

/** Creates a zero-filled file of `sizeBytes` and makes it durable (not yet linked into a segment name). */
async function preallocateFile(disk: Disk, path: string, sizeBytes: number): Promise<void> {
  const file = await disk.open(path, 'create');
  try {
    await file.truncate(0);
    await file.preallocate(sizeBytes);
    await file.datasync();
  } finally {
    await file.close();
  }
}

/**
 * Makes `path` a new segment holding `records`: from the prepared spare file when there is one (renamed into
 * place), else a file preallocated now. Durable on return: data synced, then the directory.
 */
async function createSegment(
  options: WalWriterOptions,
  path: string,
  spare: string | null,
  records: readonly WalRecord[],
  frames = new FrameBuffer(options.recordBytesMax, 4096),
): Promise<OpenSegment> {
  const { disk, walDir, segmentBytesMax } = options;
  const source = spare ?? joinPath(walDir, spareSegmentName);
  if (spare === null) await preallocateFile(disk, source, segmentBytesMax);
  await disk.rename(source, path);
  const file = await disk.open(path, 'readWrite');
  frames.reset();
  for (const record of records) storageInvariant(frames.add(record), 'segment header records are small');
  const bytes = frames.bytes();
  await file.write(bytes, 0);
  await file.datasync();
  await disk.syncDir(walDir);
  const sequence = records[0]?.kind === 'segmentHeader' ? records[0].sequence : 0;
  const firstIndex = records[0]?.kind === 'segmentHeader' ? records[0].firstIndex : 0;
  return { sequence, firstIndex, path, file, tailBytes: bytes.length, fileBytes: Math.max(await file.size(), bytes.length) };
}
