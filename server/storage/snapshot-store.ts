// Snapshot files: snap/<term>-<index>.snap (each 16 lowercase hex digits), written atomically (temporary
// file, datasync, rename, directory fsync) with a CRC-32C over the whole file. Layout (little endian):
//
//   0   8  magic "SYNODSNP"
//   8   4  u32 format version
//   12  4  u32 metadata bytes M
//   16  8  u64 data bytes D
//   24  M  metadata: CBOR [index, term, voters, learners]
//   24+M D the state machine's snapshot, raw
//   ..  4  u32 CRC-32C of every byte before it

import { Encoder } from 'cbor-x';
import type { ConfState, LogIndex, NodeId, Snapshot, Term } from '../raft/types.ts';
import { crc32c } from './crc32c.ts';
import type { Disk } from './disk.ts';
import { joinPath, readWholeFile } from './disk.ts';
import { StorageError, corrupt } from './errors.ts';
import { cborOptions, formatVersion } from './record.ts';

const magic = new TextEncoder().encode('SYNODSNP');
const headerBytes = 24;
const trailerBytes = 4;
const cbor = new Encoder({ ...cborOptions, copyBuffers: true });
let temporaryCounter = 0;

/** A snapshot file found in snap/, by name. */
export interface SnapshotFileName {
  readonly name: string;
  readonly term: Term;
  readonly index: LogIndex;
}

const namePattern = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

export function snapshotFileName(term: number, index: number): string {
  return `${hex16(term)}-${hex16(index)}.snap`;
}

export function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

export function parseSnapshotFileName(name: string): SnapshotFileName | null {
  const m = namePattern.exec(name);
  if (m === null) return null;
  const term = Number.parseInt(m[1]!, 16);
  const index = Number.parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(term) || !Number.isSafeInteger(index)) return null;
  return { name, term: term as Term, index: index as LogIndex };
}

/** The snapshot files in `snapDir`, newest (highest index, then term) first. */
export async function listSnapshots(disk: Disk, snapDir: string): Promise<SnapshotFileName[]> {
  const found: SnapshotFileName[] = [];
  for (const name of await disk.readdir(snapDir)) {
    const parsed = parseSnapshotFileName(name);
    if (parsed !== null) found.push(parsed);
  }
  return found.sort((a, b) => b.index - a.index || b.term - a.term);
}

/** Data written (and checksummed) per write of a snapshot file: each a few ms of work for the member's thread. */
const snapshotWriteBytes = 1024 * 1024;

/** The start of a snapshot file, before its data. */
function snapshotFileHead(snapshot: Snapshot): Uint8Array {
  const { index, term, confState } = snapshot.metadata;
  const meta = cbor.encode([index, term, confState.voters, confState.learners]);
  const head = new Uint8Array(headerBytes + meta.length);
  const view = new DataView(head.buffer);
  head.set(magic, 0);
  view.setUint32(8, formatVersion, true);
  view.setUint32(12, meta.length, true);
  view.setBigUint64(16, BigInt(snapshot.data.length), true);
  head.set(meta, headerBytes);
  return head;
}

/** Decodes and verifies a whole snapshot file; `corrupt` (naming the file and offset) on any damage. */
export function decodeSnapshotFile(file: string, bytes: Uint8Array, expected: SnapshotFileName | null): Snapshot {
  if (bytes.length < headerBytes + trailerBytes) throw corrupt(file, 0, `${bytes.length} bytes is too short for a snapshot`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const crcAt = bytes.length - trailerBytes;
  if (crc32c(bytes.subarray(0, crcAt)) !== view.getUint32(crcAt, true)) throw corrupt(file, crcAt, 'snapshot checksum mismatch');
  for (let i = 0; i < magic.length; i++) if (bytes[i] !== magic[i]) throw corrupt(file, 0, 'not a synod snapshot (bad magic)');
  const version = view.getUint32(8, true);
  if (version !== formatVersion) {
    throw new StorageError('unsupported_version', `${file}: snapshot format ${version}, this code reads ${formatVersion}`, { file });
  }
  const metaBytes = view.getUint32(12, true);
  const dataBytes = view.getBigUint64(16, true);
  if (BigInt(headerBytes + metaBytes + trailerBytes) + dataBytes !== BigInt(bytes.length)) {
    throw corrupt(file, 12, 'snapshot lengths do not add up to the file size');
  }
  const dataStart = headerBytes + metaBytes;
  let meta: unknown;
  try {
    meta = cbor.decode(bytes.subarray(headerBytes, dataStart));
  } catch (error) {
    throw corrupt(file, headerBytes, 'undecodable snapshot metadata', error);
  }
  const [index, term, voters, learners] = Array.isArray(meta) ? (meta as unknown[]) : [];
  if (!isCount(index) || !isCount(term) || !isIds(voters) || !isIds(learners)) {
    throw corrupt(file, headerBytes, 'malformed snapshot metadata');
  }
  if (expected !== null && (expected.index !== index || expected.term !== term)) {
    throw corrupt(file, headerBytes, `metadata (${term}, ${index}) does not match the file name`);
  }
  const confState: ConfState = { voters: voters as NodeId[], learners: learners as NodeId[] };
  return {
    metadata: { index: index as LogIndex, term: term as Term, confState },
    data: bytes.subarray(dataStart, crcAt),
  };
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isIds(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** Reads and verifies one snapshot file. */
export async function readSnapshotFile(disk: Disk, snapDir: string, name: SnapshotFileName, bytesMax: number): Promise<Snapshot> {
  const file = joinPath(snapDir, name.name);
  return decodeSnapshotFile(file, await readWholeFile(disk, file, bytesMax), name);
}

/**
 * Writes a snapshot file atomically and durably: temporary file, datasync, rename, directory fsync. After a
 * crash, snap/ holds the whole file or none of it (a leftover .tmp is removed on the next open).
 */
export async function writeSnapshotFile(disk: Disk, snapDir: string, snapshot: Snapshot): Promise<string> {
  const name = snapshotFileName(snapshot.metadata.term, snapshot.metadata.index);
  const path = joinPath(snapDir, name);
  // Unique, so two writes of the same snapshot at once (a local one and an install) never share a file.
  const tmp = `${path}.${++temporaryCounter}.tmp`;
  const file = await disk.open(tmp, 'create');
  try {
    await file.truncate(0);
    // The data a slice at a time, the checksum as it goes: a large snapshot's writes go through the thread
    // pool (see real-disk.ts), and the member's thread runs other work between the slices.
    const head = snapshotFileHead(snapshot);
    await file.write(head, 0);
    let crc = crc32c(head);
    const data = snapshot.data;
    for (let at = 0; at < data.length; at += snapshotWriteBytes) {
      const slice = data.subarray(at, at + snapshotWriteBytes);
      crc = crc32c(slice, crc);
      await file.write(slice, head.length + at);
    }
    const trailer = new Uint8Array(trailerBytes);
    new DataView(trailer.buffer).setUint32(0, crc, true);
    await file.write(trailer, head.length + data.length);
    await file.datasync();
  } finally {
    await file.close();
  }
  await disk.rename(tmp, path);
  await disk.syncDir(snapDir);
  return name;
}
