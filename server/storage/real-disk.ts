// The Disk over node:fs. The hot path (a WAL save is one pwrite and one fdatasync) runs synchronously: a
// trip through libuv's thread pool costs more than the write itself (measured here: pwrite + fdatasync of
// 256 bytes takes 0.14 ms at the median in the calling thread, 0.33 ms through the pool), and a member has
// nothing better to do meanwhile than wait for its disk. Large writes, and the fdatasync after them (a
// snapshot file of hundreds of MB), go through the pool: done in the calling thread they would stop the
// member for as long as the disk takes. So does everything else (reads at recovery, preallocation of the
// next segment, directory operations).

import * as fs from 'node:fs';
import type { Disk, DiskFile, DiskLock, OpenMode } from './disk.ts';
import { StorageError } from './errors.ts';
import { acquirePidLock } from './pid-lock.ts';

/** Writes of at least this many bytes, and a sync after them, go through the thread pool. */
const backgroundBytes = 1 << 20;

/** Zeros written by `preallocate`, one chunk at a time (Node has no fallocate). */
const zeroChunkBytes = 1 << 20;
let zeroChunk: Uint8Array | null = null;

export function fsError(op: string, path: string, error: unknown): StorageError {
  const errno = (error as NodeJS.ErrnoException | null)?.code;
  const code = errno === 'ENOENT' ? 'not_found' : errno === 'EEXIST' ? 'already_exists' : 'io';
  const detail = error instanceof Error ? error.message : String(error);
  return new StorageError(code, `${op} ${path}: ${detail}`, { cause: error });
}

const openFlags: Record<OpenMode, number> = {
  read: fs.constants.O_RDONLY,
  readWrite: fs.constants.O_RDWR,
  create: fs.constants.O_RDWR | fs.constants.O_CREAT,
  createNew: fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL,
};

class RealFile implements DiskFile {
  private fd: number | null;
  /** Bytes written since the last datasync. */
  private unsyncedBytes = 0;

  constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  size(): Promise<number> {
    return this.call('fstat', (fd, done) => fs.fstat(fd, (error, stats) => done(error, stats?.size ?? 0)));
  }

  read(buffer: Uint8Array, position: number): Promise<number> {
    return this.call('read', (fd, done) => fs.read(fd, buffer, 0, buffer.length, position, done));
  }

  write(data: Uint8Array, position: number): Promise<void> {
    this.unsyncedBytes += data.length;
    if (data.length >= backgroundBytes) return this.writeInBackground(data, position);
    try {
      const fd = this.descriptor('write');
      let done = 0;
      // pwrite may write less than asked (rarely, for regular files); loop until all of it is out.
      while (done < data.length) {
        const written = fs.writeSync(fd, data, done, data.length - done, position + done);
        if (written <= 0) throw new StorageError('io', `write ${this.path}: no progress at ${position + done}`);
        done += written;
      }
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error instanceof StorageError ? error : fsError('write', this.path, error));
    }
  }

  /** The same as `write`, through the thread pool: for bulk writes that must not stall the member. */
  private async writeInBackground(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const written = await this.call<number>('write', (fd, callback) => fs.write(fd, data, done, data.length - done, position + done, callback));
      if (written <= 0) throw new StorageError('io', `write ${this.path}: no progress at ${position + done}`);
      done += written;
    }
  }

  async append(data: Uint8Array): Promise<void> {
    await this.write(data, await this.size());
  }

  datasync(): Promise<void> {
    const unsynced = this.unsyncedBytes;
    this.unsyncedBytes = 0;
    if (unsynced >= backgroundBytes) return this.call('fdatasync', (fd, done) => fs.fdatasync(fd, (error) => done(error, undefined)));
    try {
      fs.fdatasyncSync(this.descriptor('fdatasync'));
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error instanceof StorageError ? error : fsError('fdatasync', this.path, error));
    }
  }

  truncate(sizeBytes: number): Promise<void> {
    return this.call('ftruncate', (fd, done) => fs.ftruncate(fd, sizeBytes, (error) => done(error, undefined)));
  }

  async preallocate(sizeBytes: number): Promise<void> {
    let position = await this.size();
    zeroChunk ??= new Uint8Array(zeroChunkBytes);
    while (position < sizeBytes) {
      const n = Math.min(zeroChunkBytes, sizeBytes - position);
      this.unsyncedBytes += n;
      await this.writeInBackground(n === zeroChunkBytes ? zeroChunk : zeroChunk.subarray(0, n), position);
      position += n;
    }
  }

  close(): Promise<void> {
    const fd = this.fd;
    if (fd === null) return Promise.resolve();
    this.fd = null;
    return new Promise((resolve, reject) => {
      fs.close(fd, (error) => (error ? reject(fsError('close', this.path, error)) : resolve()));
    });
  }

  private descriptor(op: string): number {
    if (this.fd === null) throw new StorageError('closed', `${op} ${this.path}: the file is closed`);
    return this.fd;
  }

  /** Runs one fs call on the descriptor, turning its callback into a promise and its error into a StorageError. */
  private call<T>(op: string, run: (fd: number, done: (error: Error | null, value: T) => void) => void): Promise<T> {
    const fd = this.fd;
    if (fd === null) return Promise.reject(new StorageError('closed', `${op} ${this.path}: the file is closed`));
    return new Promise((resolve, reject) => {
      run(fd, (error, value) => (error ? reject(fsError(op, this.path, error)) : resolve(value)));
    });
  }
}

function openFile(path: string, mode: OpenMode): Promise<DiskFile> {
  return new Promise((resolve, reject) => {
    fs.open(path, openFlags[mode], 0o644, (error, fd) =>
      error ? reject(fsError('open', path, error)) : resolve(new RealFile(path, fd)),
    );
  });
}

function syncDir(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.open(path, fs.constants.O_RDONLY, (openError, fd) => {
      if (openError) return reject(fsError('open', path, openError));
      // fsync, not fdatasync: a directory's entries are its metadata.
      fs.fsync(fd, (syncError) => {
        fs.close(fd, (closeError) => {
          if (syncError) reject(fsError('fsync', path, syncError));
          else if (closeError) reject(fsError('close', path, closeError));
          else resolve();
        });
      });
    });
  });
}

async function call<T>(op: string, path: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw fsError(op, path, error);
  }
}

/** The real file system. `lock` is an O_EXCL-style pid file with stale-owner detection (see pid-lock.ts). */
export const realDisk: Disk = {
  open: openFile,
  rename: (from, to) => call('rename', from, () => fs.promises.rename(from, to)),
  unlink: (path) => call('unlink', path, () => fs.promises.unlink(path)),
  readdir: (path) => call('readdir', path, async () => (await fs.promises.readdir(path)).sort()),
  mkdir: (path) => call('mkdir', path, async () => void (await fs.promises.mkdir(path, { recursive: true }))),
  syncDir,
  lock: (path): Promise<DiskLock> => acquirePidLock(path),
};
