// The narrow file-system interface the storage layer writes through, so a simulated disk can replace the
// real one and inject crashes, torn writes, bit flips and failed syncs. Two implementations: realDisk
// (node:fs) and SimDisk (in memory, deterministic). Both run the same contract suite (test/storage).

import { StorageError } from './errors.ts';

/**
 * How to open a file. `read`: must exist, read only. `readWrite`: must exist. `create`: read-write, created
 * empty when missing. `createNew`: read-write, fails with `already_exists` when the path exists (O_EXCL).
 */
export type OpenMode = 'read' | 'readWrite' | 'create' | 'createNew';

/** An open file. Positions and sizes are in bytes. Not safe for overlapping concurrent writes. */
export interface DiskFile {
  readonly path: string;
  /** Current size, including unsynced writes. */
  size(): Promise<number>;
  /** Reads up to `buffer.length` bytes at `position`; returns how many were read (fewer only at the end). */
  read(buffer: Uint8Array, position: number): Promise<number>;
  /** Writes all of `data` at `position` (pwrite), extending the file when it goes past the end. */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Writes all of `data` at the current end of the file. */
  append(data: Uint8Array): Promise<void>;
  /** Makes the file's data (and its size) durable: fdatasync. A failure is an `io` error. */
  datasync(): Promise<void>;
  /** Sets the size; bytes past it are dropped, a larger size reads as zeros. */
  truncate(sizeBytes: number): Promise<void>;
  /**
   * Ensures the file is at least `sizeBytes` long with its blocks allocated and reading as zeros, so later
   * overwrites need no metadata update (fallocate, or zeros written). Not durable until `datasync`.
   */
  preallocate(sizeBytes: number): Promise<void>;
  close(): Promise<void>;
}

/** An exclusive hold on a data directory, released by `release()` or by the death of the process. */
export interface DiskLock {
  readonly path: string;
  release(): Promise<void>;
}

export interface Disk {
  open(path: string, mode: OpenMode): Promise<DiskFile>;
  /** Atomically replaces `to` by `from` (both in the same directory). Durable after `syncDir`. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; `not_found` when missing. Durable after `syncDir`. */
  unlink(path: string): Promise<void>;
  /** Names (not paths) in a directory, sorted; `not_found` when the directory is missing. */
  readdir(path: string): Promise<string[]>;
  /** Creates a directory and its missing parents; no error when it exists. */
  mkdir(path: string): Promise<void>;
  /** fsync on a directory: makes creations, renames and removals of its entries durable. */
  syncDir(path: string): Promise<void>;
  /** Takes the exclusive lock `path` (a lock file); `locked` when another live owner holds it. */
  lock(path: string): Promise<DiskLock>;
}

/** Reads a whole file into a fresh buffer, refusing files over `sizeBytesMax` with `too_large`. */
export async function readWholeFile(disk: Disk, path: string, sizeBytesMax: number): Promise<Uint8Array> {
  const file = await disk.open(path, 'read');
  try {
    const size = await file.size();
    if (size > sizeBytesMax) {
      throw new StorageError('too_large', `${path} is ${size} bytes, over the limit of ${sizeBytesMax}`);
    }
    const buffer = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const n = await file.read(buffer.subarray(done), done);
      if (n === 0) break;
      done += n;
    }
    return done === size ? buffer : buffer.subarray(0, done);
  } finally {
    await file.close();
  }
}

/**
 * Writes a file atomically: a temporary file written and synced, renamed over `path`, then the directory
 * synced. After a crash the path holds either the old content or the new, never a mix.
 */
export async function writeFileAtomic(disk: Disk, path: string, parts: readonly Uint8Array[]): Promise<void> {
  const tmp = `${path}.tmp`;
  const file = await disk.open(tmp, 'create');
  try {
    await file.truncate(0);
    let position = 0;
    for (const part of parts) {
      await file.write(part, position);
      position += part.length;
    }
    await file.datasync();
  } finally {
    await file.close();
  }
  await disk.rename(tmp, path);
  await disk.syncDir(dirname(path));
}

/** The directory part of a '/'-separated path ('.' for a bare name). */
export function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  if (i < 0) return '.';
  if (i === 0) return '/';
  return path.slice(0, i);
}

export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}
