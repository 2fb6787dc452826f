// The WAL's records and their framing. A frame is [u32 LE payload length][u32 LE CRC-32C][payload], the CRC
// covering the length field and the payload; the payload is one CBOR array whose first element names the
// record kind. A zero length is the end of the log: segments are preallocated with zeros. docs/storage.md has
// the byte layout.

import { Encoder } from 'cbor-x';
import type { ConfChange, ConfState, Entry, HardState, LogIndex, NodeId, Term } from '../raft/types.ts';
import { crc32cRange } from './crc32c.ts';
import { storageInvariant } from './errors.ts';

/** The on-disk format version of WAL segments, snapshot files and the VERSION file. */
export const formatVersion = 1;
/** The second element of every segment header: a segment of this format is recognised by it. */
export const walMagic = 'synod.wal';
export const frameHeaderBytes = 8;

/**
 * A WAL record. An entry is its own record (kinds 'normal' and 'config'), so replaying a million entries does
 * not allocate a million wrappers.
 */
export type WalRecord =
  /** First record of every segment: the log ends at (firstIndex - 1, prevTerm) where this segment begins. */
  | {
      readonly kind: 'segmentHeader';
      readonly formatVersion: number;
      readonly sequence: number;
      readonly firstIndex: LogIndex;
      readonly prevTerm: Term;
      /** The membership of the empty log (index 0), in the first segment of a new directory only. */
      readonly confState: ConfState | null;
    }
  | Entry
  | { readonly kind: 'hardState'; readonly hardState: HardState }
  /**
   * A snapshot at (index, term) is durable. `reset`: the log was replaced by it (a snapshot installed from the
   * leader), so everything after the snapshot comes from later records; otherwise it is informational.
   */
  | { readonly kind: 'snapshot'; readonly index: LogIndex; readonly term: Term; readonly reset: boolean };

const tag = { segmentHeader: 0, normal: 1, config: 2, hardState: 3, snapshot: 4 } as const;
const changeTags = { addVoter: 0, addLearner: 1, removeNode: 2 } as const;
const changeTypes = ['addVoter', 'addLearner', 'removeNode'] as const;

/**
 * CBOR options, all explicit. `useRecords: false` so each record decodes alone; `copyBuffers: false` so the
 * entries' data are views into the segment just read (one allocation per segment, not one per entry).
 */
export const cborOptions = {
  useRecords: false,
  structuredClone: false,
  mapsAsObjects: true,
  variableMapSize: false,
  copyBuffers: false,
  bundleStrings: false,
  useTimestamp32: false,
  largeBigIntToFloat: false,
  encodeUndefinedAsNil: false,
  useSelfDescribedHeader: false,
  useToJSON: false,
  tagUint8Array: false,
  pack: false,
  sequential: false,
  alwaysUseFloat: false,
  useFloat32: 0,
} as const;

const cbor = new Encoder(cborOptions);

function tuple(record: WalRecord): unknown[] {
  switch (record.kind) {
    case 'segmentHeader': {
      const conf = record.confState === null ? null : [record.confState.voters, record.confState.learners];
      return [tag.segmentHeader, walMagic, record.formatVersion, record.sequence, record.firstIndex, record.prevTerm, conf];
    }
    case 'normal':
      return [tag.normal, record.index, record.term, record.data];
    case 'config':
      return [tag.config, record.index, record.term, changeTags[record.change.type], record.change.node];
    case 'hardState': {
      const h = record.hardState;
      return [tag.hardState, h.term, h.vote, h.commit];
    }
    case 'snapshot':
      return [tag.snapshot, record.index, record.term, record.reset];
  }
}

/** The CBOR payload of a record. The result is only valid until the next call (it is the encoder's buffer). */
export function encodeRecord(record: WalRecord): Uint8Array {
  return cbor.encode(tuple(record));
}

/** Raised by decodeRecord on a payload that is not a well-formed record (the caller adds file and offset). */
export class MalformedRecord extends Error {
  override readonly name = 'MalformedRecord';
}

function fail(what: string): never {
  throw new MalformedRecord(what);
}

function count(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) fail(`${what} is not a count`);
  return value;
}

function nodeIds(value: unknown, what: string): NodeId[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) fail(`${what} is not a list of ids`);
  return value as NodeId[];
}

/** Decodes and validates one payload. Throws MalformedRecord (or cbor-x's error) on anything unexpected. */
export function decodeRecord(payload: Uint8Array): WalRecord {
  return decodeNormalEntry(payload, 0, payload.length) ?? decodeGeneric(payload);
}

/** decodeRecord for buf[start, end), without making a subarray for the common case. */
export function decodeRecordAt(buf: Uint8Array, start: number, end: number): WalRecord {
  return decodeNormalEntry(buf, start, end) ?? decodeGeneric(buf.subarray(start, end));
}

function decodeGeneric(payload: Uint8Array): WalRecord {
  const value: unknown = cbor.decode(payload);
  if (!Array.isArray(value)) fail('the payload is not an array');
  const [kind, a, b, c, d, e, f] = value as unknown[];
  switch (kind) {
    case tag.normal: {
      if (value.length !== 4) fail('an entry has 4 fields');
      if (!(c instanceof Uint8Array)) fail('entry data is not bytes');
      const index = count(a, 'index') as LogIndex;
      const term = count(b, 'term') as Term;
      // A view of a Buffer is still a Buffer: present plain Uint8Arrays as the core writes them.
      const data = c.constructor === Uint8Array ? c : new Uint8Array(c.buffer, c.byteOffset, c.byteLength);
      return { kind: 'normal', index, term, data };
    }
    case tag.config: {
      if (value.length !== 5) fail('a config entry has 5 fields');
      const type = changeTypes[count(c, 'change type')];
      if (type === undefined) fail('unknown change type');
      if (typeof d !== 'string') fail('change node is not a string');
      const change: ConfChange = { type, node: d as NodeId };
      return { kind: 'config', index: count(a, 'index') as LogIndex, term: count(b, 'term') as Term, change };
    }
    case tag.hardState: {
      if (value.length !== 4) fail('a hard state has 4 fields');
      if (b !== null && typeof b !== 'string') fail('vote is neither null nor an id');
      const hardState: HardState = { term: count(a, 'term') as Term, vote: b as NodeId | null, commit: count(c, 'commit') as LogIndex };
      return { kind: 'hardState', hardState };
    }
    case tag.snapshot: {
      if (value.length !== 4 || typeof c !== 'boolean') fail('a snapshot marker has 4 fields');
      return { kind: 'snapshot', index: count(a, 'index') as LogIndex, term: count(b, 'term') as Term, reset: c };
    }
    case tag.segmentHeader: {
      if (value.length !== 7) fail('a segment header has 7 fields');
      if (a !== walMagic) fail('not a synod WAL segment (bad magic)');
      let confState: ConfState | null = null;
      if (f !== null) {
        if (!Array.isArray(f) || f.length !== 2) fail('bad membership in the segment header');
        confState = { voters: nodeIds(f[0], 'voters'), learners: nodeIds(f[1], 'learners') };
      }
      return {
        kind: 'segmentHeader',
        formatVersion: count(b, 'format version'),
        sequence: count(c, 'sequence'),
        firstIndex: count(d, 'first index') as LogIndex,
        prevTerm: count(e, 'previous term') as Term,
        confState,
      };
    }
    default:
      fail(`unknown record kind ${String(kind)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The hot record, a normal entry, is encoded and decoded by hand: the same CBOR bytes cbor-x writes for
// [1, index, term, data] (shortest integer forms, float64 past 2^32 as cbor-x does; a byte string), written
// straight into the frame buffer, with no intermediate array or copy. test/storage/record.test.ts checks the
// bytes against cbor-x. Anything unusual falls back to cbor-x.

/** Bytes of the CBOR head of an unsigned integer `v` (major type 0) or of a length (major type 2). */
function headBytes(v: number): number {
  return v < 24 ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : v <= 0xffffffff ? 5 : 9;
}

function writeHead(buf: Uint8Array, view: DataView, at: number, major: number, v: number): number {
  const m = major << 5;
  if (v < 24) {
    buf[at] = m | v;
    return at + 1;
  }
  if (v < 0x100) {
    buf[at] = m | 24;
    buf[at + 1] = v;
    return at + 2;
  }
  if (v < 0x10000) {
    buf[at] = m | 25;
    view.setUint16(at + 1, v);
    return at + 3;
  }
  if (v <= 0xffffffff) {
    buf[at] = m | 26;
    view.setUint32(at + 1, v);
    return at + 5;
  }
  // cbor-x writes integers past 32 bits as float64 (exact below 2^53); do the same.
  storageInvariant(major === 0, 'byte strings are shorter than 4 GiB');
  buf[at] = 0xfb;
  view.setFloat64(at + 1, v);
  return at + 9;
}

/** The payload size of a normal entry record. */
function normalEntryBytes(entry: Extract<Entry, { kind: 'normal' }>): number {
  return 2 + headBytes(entry.index) + headBytes(entry.term) + headBytes(entry.data.length) + entry.data.length;
}

/** Where the last readHead stopped (a module variable rather than an object per call: this is the hot loop). */
let headEnd = 0;

/** Reads a CBOR head of `major` type at `at` and sets headEnd; -1 for any form the fast path does not take. */
function readHead(buf: Uint8Array, view: DataView, at: number, end: number, major: number): number {
  if (at >= end) return -1;
  const first = buf[at]!;
  if (first >> 5 !== major) return -1;
  const info = first & 31;
  if (info < 24) {
    headEnd = at + 1;
    return info;
  }
  if (info === 24 && at + 2 <= end) {
    headEnd = at + 2;
    return buf[at + 1]!;
  }
  if (info === 25 && at + 3 <= end) {
    headEnd = at + 3;
    return view.getUint16(at + 1);
  }
  if (info === 26 && at + 5 <= end) {
    headEnd = at + 5;
    return view.getUint32(at + 1);
  }
  return -1;
}

/** One DataView per buffer decoded from (a segment is decoded frame by frame from one buffer). */
const views = new WeakMap<Uint8Array, DataView>();

function viewOf(buf: Uint8Array): DataView {
  let view = views.get(buf);
  if (view === undefined) {
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    views.set(buf, view);
  }
  return view;
}

/** The fast path of decodeRecord: a normal entry in its usual shape, else null (the caller uses cbor-x). */
function decodeNormalEntry(buf: Uint8Array, start: number, end: number): Entry | null {
  if (end - start < 5 || buf[start] !== 0x84 || buf[start + 1] !== tag.normal) return null;
  const view = viewOf(buf);
  const index = readHead(buf, view, start + 2, end, 0);
  if (index < 0) return null;
  const term = readHead(buf, view, headEnd, end, 0);
  if (term < 0) return null;
  const length = readHead(buf, view, headEnd, end, 2);
  if (length < 0 || headEnd + length !== end) return null;
  const data = new Uint8Array(buf.buffer, buf.byteOffset + headEnd, length);
  return { kind: 'normal', index: index as LogIndex, term: term as Term, data };
}

/** Frames records into one reusable buffer, so a batch goes to disk as one write. */
export class FrameBuffer {
  private buf: Uint8Array;
  private view: DataView;
  private used = 0;

  constructor(
    /** Payloads over this size are refused: `add` returns false and adds nothing. */
    private readonly recordBytesMax: number,
    initialBytes = 64 * 1024,
    /** The buffer shrinks back to `initialBytes` after a batch bigger than this. */
    private readonly retainedBytesMax = 8 * 1024 * 1024,
  ) {
    this.buf = new Uint8Array(initialBytes);
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.used;
  }

  /** The framed bytes so far; valid until the next `add` or `reset`. */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.used);
  }

  reset(): void {
    this.used = 0;
    if (this.buf.length > this.retainedBytesMax) {
      this.buf = new Uint8Array(64 * 1024);
      this.view = new DataView(this.buf.buffer);
    }
  }

  /** Appends one framed record; returns false (adding nothing) when its payload is over recordBytesMax. */
  add(record: WalRecord): boolean {
    if (record.kind === 'normal') return this.addNormal(record);
    const payload = encodeRecord(record);
    if (payload.length > this.recordBytesMax) return false;
    storageInvariant(payload.length > 0, 'an encoded record is never empty');
    const at = this.used;
    this.reserve(at + frameHeaderBytes + payload.length);
    this.view.setUint32(at, payload.length, true);
    this.buf.set(payload, at + frameHeaderBytes);
    const crc = crc32cRange(this.buf, at + frameHeaderBytes, at + frameHeaderBytes + payload.length, crc32cRange(this.buf, at, at + 4));
    this.view.setUint32(at + 4, crc, true);
    this.used = at + frameHeaderBytes + payload.length;
    return true;
  }

  /** A normal entry, encoded by hand straight into the buffer (see above). */
  private addNormal(entry: Extract<Entry, { kind: 'normal' }>): boolean {
    const payloadBytes = normalEntryBytes(entry);
    if (payloadBytes > this.recordBytesMax) return false;
    const at = this.used;
    this.reserve(at + frameHeaderBytes + payloadBytes);
    const buf = this.buf;
    const view = this.view;
    view.setUint32(at, payloadBytes, true);
    let p = at + frameHeaderBytes;
    buf[p++] = 0x84;
    buf[p++] = tag.normal;
    p = writeHead(buf, view, p, 0, entry.index);
    p = writeHead(buf, view, p, 0, entry.term);
    p = writeHead(buf, view, p, 2, entry.data.length);
    buf.set(entry.data, p);
    const end = p + entry.data.length;
    storageInvariant(end === at + frameHeaderBytes + payloadBytes, 'normal entry size');
    view.setUint32(at + 4, crc32cRange(buf, at + frameHeaderBytes, end, crc32cRange(buf, at, at + 4)), true);
    this.used = end;
    return true;
  }

  private reserve(bytes: number): void {
    if (bytes <= this.buf.length) return;
    const next = new Uint8Array(Math.max(bytes, this.buf.length * 2));
    next.set(this.buf.subarray(0, this.used));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}

/** What scanning a segment found. */
export interface ScanResult {
  /** Offsets of the good frames, in order; frame k's payload is [offset + 8, next offset or endOffset). */
  readonly frames: number[];
  /** Offset just past the last good frame: where the next write goes. */
  readonly endOffset: number;
  /** A bad frame at the tail of the last segment, with the extent of non-zero bytes from it (to be zeroed). */
  readonly torn: { readonly offset: number; readonly garbageEnd: number; readonly reason: string } | null;
}

/**
 * Bytes of CRC computed while looking for a valid frame after a bad one. A torn tail is at most one batch,
 * so the search is short when the tail really is torn; past this budget the bad frame is called corruption.
 */
export const tornSearchBytesMax = 64 * 1024 * 1024;

/**
 * Walks the frames of one segment. A bad frame (a CRC mismatch, a length running past the end of the file,
 * or a zero length with data after it) is a torn tail when the segment is the last and no valid frame begins
 * anywhere after it: a write that did not fully reach the disk. A bad frame with a valid one after it, or any
 * bad frame in an earlier segment, is corruption: `onCorrupt` is called with the offset and reason and must
 * throw.
 */
export function scanFrames(buf: Uint8Array, isLast: boolean, onCorrupt: (offset: number, reason: string) => never): ScanResult {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const frames: number[] = [];
  const end = buf.length;
  let at = 0;
  const bad = (reason: string): ScanResult => {
    if (!isLast) onCorrupt(at, reason);
    const garbageEnd = lastNonZero(buf, at, end) + 1;
    const found = findValidFrame(buf, view, at + 1, end);
    if (found === 'budget') onCorrupt(at, `${reason}, and too much data after it to rule out valid records`);
    if (found !== null) onCorrupt(at, `${reason}, with a valid record after it at byte ${found}`);
    return { frames, endOffset: at, torn: { offset: at, garbageEnd, reason } };
  };
  for (;;) {
    if (at + frameHeaderBytes > end) {
      if (allZero(buf, at, end)) return { frames, endOffset: at, torn: null };
      return bad('a partial frame header at the end of the file');
    }
    const length = view.getUint32(at, true);
    if (length === 0) {
      if (allZero(buf, at, end)) return { frames, endOffset: at, torn: null };
      return bad('a zero length with data after it');
    }
    const payloadStart = at + frameHeaderBytes;
    const payloadEnd = payloadStart + length;
    if (payloadEnd > end) return bad(`a frame length of ${length} runs past the end of the file`);
    if (!validFrame(buf, view, at, length)) return bad('a CRC mismatch');
    frames.push(at);
    at = payloadEnd;
  }
}

function validFrame(buf: Uint8Array, view: DataView, at: number, length: number): boolean {
  const payloadStart = at + frameHeaderBytes;
  const crc = crc32cRange(buf, payloadStart, payloadStart + length, crc32cRange(buf, at, at + 4));
  return crc === view.getUint32(at + 4, true);
}

/** The first offset in [from, end) where a frame with a matching CRC starts; null if none; 'budget' if unsure. */
function findValidFrame(buf: Uint8Array, view: DataView, from: number, end: number): number | null | 'budget' {
  // Only bytes up to the last non-zero one can start a frame (a frame starts with a non-zero length).
  const last = lastNonZero(buf, from, end);
  let budget = tornSearchBytesMax;
  for (let p = from; p <= last && p + frameHeaderBytes <= end; p++) {
    const length = view.getUint32(p, true);
    if (length === 0 || p + frameHeaderBytes + length > end) continue;
    budget -= length;
    if (budget < 0) return 'budget';
    if (validFrame(buf, view, p, length)) return p;
  }
  return null;
}

const zeroChunk = new Uint8Array(64 * 1024);

/** True when buf[from, to) holds only zeros. */
export function allZero(buf: Uint8Array, from: number, to: number): boolean {
  for (let at = from; at < to; at += zeroChunk.length) {
    const n = Math.min(zeroChunk.length, to - at);
    if (Buffer.compare(buf.subarray(at, at + n), n === zeroChunk.length ? zeroChunk : zeroChunk.subarray(0, n)) !== 0) {
      return false;
    }
  }
  return true;
}

/** The offset of the last non-zero byte in buf[from, to), or from - 1 when there is none. */
function lastNonZero(buf: Uint8Array, from: number, to: number): number {
  let hi = to;
  // Skip whole zero chunks from the end first (a preallocated tail is mostly zeros).
  while (hi - from >= zeroChunk.length && allZero(buf, hi - zeroChunk.length, hi)) hi -= zeroChunk.length;
  for (let i = hi - 1; i >= from; i--) if (buf[i] !== 0) return i;
  return from - 1;
}
