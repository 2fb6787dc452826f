// An in-memory file system for the deterministic simulator and for fault tests. Every file keeps its durable
// content (what survives a crash) apart from its current content (what reads see, the "page cache"), with the
// writes in between pending. Directory entries are likewise pending until their directory is synced.
// crash(random) keeps a random prefix of the pending operations, may tear the last one kept, and forgets the
// rest. Faults on demand: a single bit flip on a read, a failing datasync, corrupted bytes at rest.
// Deterministic: no timers, no Math.random; every method does its work at once and returns a resolved promise.

import type { Random } from '../raft/random.ts';
import type { Disk, DiskFile, DiskLock, OpenMode } from './disk.ts';
import { StorageError } from './errors.ts';

/**
 * A growable byte array of logical size `length`. Only the prefix that was ever written is stored: bytes
 * past the stored part read as zeros, so preallocating a 64 MiB segment costs no memory.
 */
class Bytes {
  private buf = new Uint8Array(0);
  /** Bytes of `buf` in use; always <= length. Bytes of `buf` past it are zero. */
  private stored = 0;
  length = 0;

  static of(data: Uint8Array): Bytes {
    const b = new Bytes();
    b.write(0, data);
    return b;
  }

  clone(): Bytes {
    const b = new Bytes();
    b.buf = this.buf.slice(0, this.stored);
    b.stored = this.stored;
    b.length = this.length;
    return b;
  }

  /** The whole content (zeros materialised): for tests and images, not for the I/O path. */
  view(): Uint8Array {
    const out = new Uint8Array(this.length);
    out.set(this.buf.subarray(0, this.stored));
    return out;
  }

  write(position: number, data: Uint8Array): void {
    const end = position + data.length;
    this.reserve(end);
    this.buf.set(data, position);
    if (end > this.stored) this.stored = end;
    if (end > this.length) this.length = end;
  }

  resize(sizeBytes: number): void {
    if (sizeBytes < this.stored) {
      this.buf.fill(0, sizeBytes, this.stored);
      this.stored = sizeBytes;
    }
    this.length = sizeBytes;
  }

  read(position: number, out: Uint8Array): number {
    if (position >= this.length) return 0;
    const n = Math.min(out.length, this.length - position);
    const fromStore = Math.max(0, Math.min(n, this.stored - position));
    if (fromStore > 0) out.set(this.buf.subarray(position, position + fromStore));
    out.fill(0, fromStore, n);
    return n;
  }

  flipBit(byteOffset: number, bit: number): void {
    if (byteOffset >= this.length) return;
    if (byteOffset >= this.stored) {
      this.reserve(byteOffset + 1);
      this.stored = byteOffset + 1;
    }
    this.buf[byteOffset]! ^= 1 << bit;
  }

  private reserve(capacity: number): void {
    if (capacity <= this.buf.length) return;
    const next = new Uint8Array(Math.max(capacity, this.buf.length * 2, 256));
    next.set(this.buf.subarray(0, this.stored));
    this.buf = next;
  }
}

type DataOp =
  | { readonly kind: 'write'; readonly position: number; readonly data: Uint8Array }
  | { readonly kind: 'resize'; readonly sizeBytes: number };

class Inode {
  durable = new Bytes();
  current = new Bytes();
  pending: DataOp[] = [];

  static holding(data: Uint8Array | Bytes): Inode {
    const inode = new Inode();
    inode.durable = data instanceof Bytes ? data.clone() : Bytes.of(data);
    inode.current = inode.durable.clone();
    return inode;
  }

  apply(op: DataOp, target: Bytes): void {
    if (op.kind === 'write') target.write(op.position, op.data);
    else target.resize(op.sizeBytes);
  }
}

type SimNode = { readonly kind: 'dir' } | { readonly kind: 'file'; readonly inode: Inode };

type NamespaceOp =
  | { readonly dir: string; readonly kind: 'link'; readonly path: string; readonly node: SimNode }
  | { readonly dir: string; readonly kind: 'unlink'; readonly path: string }
  | { readonly dir: string; readonly kind: 'rename'; readonly from: string; readonly to: string };

/** Limits of a simulated disk. */
export interface SimDiskOptions {
  /** A write or preallocation past this size fails with `io` (ENOSPC), so a runaway test cannot eat memory. */
  readonly fileBytesMax?: number;
}

const rootDir = '/';

function normalize(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? rootDir : path.slice(0, i);
}

/** A simulated disk. Use it directly as a Disk, or `mount()` a view that a crash fences off. */
export class SimDisk implements Disk {
  private current = new Map<string, SimNode>();
  private durable = new Map<string, SimNode>();
  private pendingNamespace: NamespaceOp[] = [];
  private locks = new Set<string>();
  private readFlips: { path: string; byteOffset: number; bit: number }[] = [];
  private syncFailures: string[] = [];
  private readonly fileBytesMax: number;
  /** Bumped by every crash: files, locks and mounts of an older epoch fail with `io`. */
  private epoch = 0;

  constructor(options: SimDiskOptions = {}) {
    this.fileBytesMax = options.fileBytesMax ?? 1 << 30;
  }

  // ----------------------------------------------------------------------------------------------------
  // Disk

  open(path: string, mode: OpenMode): Promise<DiskFile> {
    return this.run(this.epoch, () => this.openNow(normalize(path), mode, this.epoch));
  }

  rename(from: string, to: string): Promise<void> {
    return this.run(this.epoch, () => this.renameNow(normalize(from), normalize(to)));
  }

  unlink(path: string): Promise<void> {
    return this.run(this.epoch, () => this.unlinkNow(normalize(path)));
  }

  readdir(path: string): Promise<string[]> {
    return this.run(this.epoch, () => this.readdirNow(normalize(path)));
  }

  mkdir(path: string): Promise<void> {
    return this.run(this.epoch, () => this.mkdirNow(normalize(path)));
  }

  syncDir(path: string): Promise<void> {
    return this.run(this.epoch, () => this.syncDirNow(normalize(path)));
  }

  lock(path: string): Promise<DiskLock> {
    return this.run(this.epoch, () => this.lockNow(normalize(path), this.epoch));
  }

  /** A Disk bound to the current epoch: after `crash`, every call through it fails, as for a dead process. */
  mount(): Disk {
    const epoch = this.epoch;
    return {
      open: (path, mode) => this.run(epoch, () => this.openNow(normalize(path), mode, epoch)),
      rename: (from, to) => this.run(epoch, () => this.renameNow(normalize(from), normalize(to))),
      unlink: (path) => this.run(epoch, () => this.unlinkNow(normalize(path))),
      readdir: (path) => this.run(epoch, () => this.readdirNow(normalize(path))),
      mkdir: (path) => this.run(epoch, () => this.mkdirNow(normalize(path))),
      syncDir: (path) => this.run(epoch, () => this.syncDirNow(normalize(path))),
      lock: (path) => this.run(epoch, () => this.lockNow(normalize(path), epoch)),
    };
  }

  // ----------------------------------------------------------------------------------------------------
  // Faults

  /**
   * The machine dies: each file keeps its durable content plus a random prefix of its pending writes (the
   * last of which may be torn: only a random prefix of its bytes lands), directories keep a random prefix of
   * their pending entry changes, locks are released, and every open file and mount goes stale.
   */
  crash(random: Random): void {
    this.epoch++;
    this.locks.clear();
    this.readFlips = [];
    this.syncFailures = [];
    const keptOps = random.int(this.pendingNamespace.length + 1);
    for (const op of this.pendingNamespace.slice(0, keptOps)) this.applyNamespace(op, this.durable);
    this.pendingNamespace = [];
    this.dropOrphans(this.durable);
    this.current = new Map(this.durable);
    for (const inode of this.inodes(this.durable)) {
      const kept = random.int(inode.pending.length + 1);
      for (let i = 0; i < kept; i++) inode.apply(inode.pending[i]!, inode.durable);
      const torn = inode.pending[kept];
      if (torn?.kind === 'write' && torn.data.length > 1 && random.int(2) === 0) {
        inode.durable.write(torn.position, torn.data.subarray(0, random.int(torn.data.length)));
      }
      inode.pending = [];
      inode.current = inode.durable.clone();
    }
  }

  /** The next read through a file opened at `path` that covers `byteOffset` returns that bit flipped (once). */
  injectReadBitFlip(path: string, byteOffset: number, bit: number): void {
    this.readFlips.push({ path: normalize(path), byteOffset, bit: bit & 7 });
  }

  /**
   * The next datasync of a file opened under `pathPrefix` fails with `io`, and (as Linux does after a failed
   * fsync) its pending writes are dropped from what a crash would keep, though reads still see them.
   */
  injectSyncFailure(pathPrefix = rootDir): void {
    this.syncFailures.push(normalize(pathPrefix));
  }

  /** Flips a bit at rest (both the durable and the current content): media corruption. */
  corrupt(path: string, byteOffset: number, bit: number): void {
    const inode = this.fileNode(this.durable, normalize(path));
    inode.durable.flipBit(byteOffset, bit & 7);
    inode.current.flipBit(byteOffset, bit & 7);
  }

  // ----------------------------------------------------------------------------------------------------
  // Test helpers (not part of Disk)

  /** Durable files and their content, e.g. to copy a disk image into a fresh SimDisk with `fromImage`. */
  image(): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    for (const [path, node] of this.durable) {
      if (node.kind === 'file') out.set(path, node.inode.durable.view());
    }
    return out;
  }

  /** A fresh disk holding what this one holds durably (directories included), with nothing pending. */
  cloneDurable(options: SimDiskOptions = { fileBytesMax: this.fileBytesMax }): SimDisk {
    const disk = new SimDisk(options);
    for (const [path, node] of this.durable) {
      const copy: SimNode = node.kind === 'dir' ? node : { kind: 'file', inode: Inode.holding(node.inode.durable) };
      disk.durable.set(path, copy);
      disk.current.set(path, copy);
    }
    return disk;
  }

  /** A fresh disk holding `files` durably (their directories are created). */
  static fromImage(files: ReadonlyMap<string, Uint8Array>, options: SimDiskOptions = {}): SimDisk {
    const disk = new SimDisk(options);
    for (const [path, data] of files) disk.putDurable(path, data);
    return disk;
  }

  /** Creates or replaces a durable file (and its directories) directly, outside any crash model. */
  putDurable(path: string, data: Uint8Array): void {
    const p = normalize(path);
    for (let dir = parentOf(p); dir !== rootDir; dir = parentOf(dir)) {
      if (!this.durable.has(dir)) {
        this.durable.set(dir, { kind: 'dir' });
        this.current.set(dir, { kind: 'dir' });
      }
    }
    const node: SimNode = { kind: 'file', inode: Inode.holding(data) };
    this.durable.set(p, node);
    this.current.set(p, node);
  }

  /** The current (page cache) content of a file, or null when there is none. */
  readCurrent(path: string): Uint8Array | null {
    const node = this.current.get(normalize(path));
    return node?.kind === 'file' ? node.inode.current.view() : null;
  }

  // ----------------------------------------------------------------------------------------------------

  private run<T>(epoch: number, work: () => T): Promise<T> {
    try {
      if (epoch !== this.epoch) throw new StorageError('io', 'the simulated process crashed (stale mount)');
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private openNow(path: string, mode: OpenMode, epoch: number): DiskFile {
    const node = this.current.get(path);
    if (node?.kind === 'dir') throw new StorageError('io', `open ${path}: is a directory`);
    if (node !== undefined && mode === 'createNew') throw new StorageError('already_exists', `open ${path}: exists`);
    if (node !== undefined) return new SimFile(this, path, node.inode, epoch, mode === 'read');
    if (mode === 'read' || mode === 'readWrite') throw new StorageError('not_found', `open ${path}: no such file`);
    this.requireDir(parentOf(path), `open ${path}`);
    const created: SimNode = { kind: 'file', inode: new Inode() };
    this.changeNamespace({ dir: parentOf(path), kind: 'link', path, node: created });
    return new SimFile(this, path, created.inode, epoch, false);
  }

  private renameNow(from: string, to: string): void {
    if (parentOf(from) !== parentOf(to)) throw new StorageError('io', `rename ${from} -> ${to}: across directories`);
    const node = this.current.get(from);
    if (node === undefined) throw new StorageError('not_found', `rename ${from}: no such file`);
    if (node.kind === 'dir' || this.current.get(to)?.kind === 'dir') {
      throw new StorageError('io', `rename ${from} -> ${to}: directories are not renamed`);
    }
    this.changeNamespace({ dir: parentOf(from), kind: 'rename', from, to });
  }

  private unlinkNow(path: string): void {
    const node = this.current.get(path);
    if (node === undefined) throw new StorageError('not_found', `unlink ${path}: no such file`);
    if (node.kind === 'dir') throw new StorageError('io', `unlink ${path}: is a directory`);
    this.changeNamespace({ dir: parentOf(path), kind: 'unlink', path });
  }

  private readdirNow(path: string): string[] {
    this.requireDir(path, `readdir ${path}`);
    const prefix = path === rootDir ? rootDir : `${path}/`;
    const names: string[] = [];
    for (const key of this.current.keys()) {
      if (key.startsWith(prefix) && key !== path && !key.slice(prefix.length).includes('/')) {
        names.push(key.slice(prefix.length));
      }
    }
    return names.sort();
  }

  private mkdirNow(path: string): void {
    if (path === rootDir) return;
    const node = this.current.get(path);
    if (node?.kind === 'dir') return;
    if (node !== undefined) throw new StorageError('already_exists', `mkdir ${path}: a file exists`);
    this.mkdirNow(parentOf(path));
    this.changeNamespace({ dir: parentOf(path), kind: 'link', path, node: { kind: 'dir' } });
  }

  private syncDirNow(path: string): void {
    this.requireDir(path, `syncDir ${path}`);
    const rest: NamespaceOp[] = [];
    for (const op of this.pendingNamespace) {
      if (op.dir === path) this.applyNamespace(op, this.durable);
      else rest.push(op);
    }
    this.pendingNamespace = rest;
  }

  private lockNow(path: string, epoch: number): DiskLock {
    if (this.locks.has(path)) throw new StorageError('locked', `${path} is held by another owner`);
    this.locks.add(path);
    let held = true;
    return {
      path,
      release: () =>
        this.run(epoch, () => {
          if (held) this.locks.delete(path);
          held = false;
        }).catch(() => undefined), // after a crash the lock is already gone
    };
  }

  /** Part of SimFile's datasync: commit pending writes, unless a failure was injected. */
  syncInode(path: string, inode: Inode): void {
    const failure = this.syncFailures.findIndex((prefix) => path === prefix || path.startsWith(`${prefix}/`) || prefix === rootDir);
    if (failure >= 0) {
      this.syncFailures.splice(failure, 1);
      inode.pending = [];
      throw new StorageError('io', `fdatasync ${path}: EIO (injected)`);
    }
    for (const op of inode.pending) inode.apply(op, inode.durable);
    inode.pending = [];
  }

  /** Part of SimFile's read: apply an injected bit flip once. */
  flipOnRead(path: string, position: number, out: Uint8Array, n: number): void {
    const i = this.readFlips.findIndex((f) => f.path === path && f.byteOffset >= position && f.byteOffset < position + n);
    if (i < 0) return;
    const flip = this.readFlips[i]!;
    this.readFlips.splice(i, 1);
    out[flip.byteOffset - position]! ^= 1 << flip.bit;
  }

  checkEpoch(epoch: number, what: string): void {
    if (epoch !== this.epoch) throw new StorageError('io', `${what}: the simulated process crashed (stale file)`);
  }

  checkSize(path: string, sizeBytes: number): void {
    if (sizeBytes > this.fileBytesMax) {
      throw new StorageError('io', `${path}: ENOSPC (over the simulated limit of ${this.fileBytesMax} bytes)`);
    }
  }

  private changeNamespace(op: NamespaceOp): void {
    this.applyNamespace(op, this.current);
    this.pendingNamespace.push(op);
  }

  private applyNamespace(op: NamespaceOp, target: Map<string, SimNode>): void {
    switch (op.kind) {
      case 'link':
        target.set(op.path, op.node);
        return;
      case 'unlink':
        target.delete(op.path);
        return;
      case 'rename': {
        const node = target.get(op.from);
        if (node === undefined) return;
        target.delete(op.from);
        target.set(op.to, node);
        return;
      }
    }
  }

  /** Entries whose directory did not survive are gone too. */
  private dropOrphans(target: Map<string, SimNode>): void {
    const paths = [...target.keys()].sort((a, b) => a.split('/').length - b.split('/').length);
    for (const path of paths) {
      const parent = parentOf(path);
      if (parent !== rootDir && target.get(parent)?.kind !== 'dir') target.delete(path);
    }
  }

  private inodes(target: Map<string, SimNode>): Inode[] {
    const seen = new Set<Inode>();
    for (const node of target.values()) if (node.kind === 'file') seen.add(node.inode);
    return [...seen];
  }

  private requireDir(path: string, what: string): void {
    if (path !== rootDir && this.current.get(path)?.kind !== 'dir') {
      throw new StorageError('not_found', `${what}: no such directory`);
    }
  }

  private fileNode(map: Map<string, SimNode>, path: string): Inode {
    const node = map.get(path);
    if (node?.kind !== 'file') throw new StorageError('not_found', `${path}: no such file`);
    return node.inode;
  }
}

class SimFile implements DiskFile {
  private closed = false;

  constructor(
    private readonly disk: SimDisk,
    readonly path: string,
    private readonly inode: Inode,
    private readonly epoch: number,
    private readonly readOnly: boolean,
  ) {}

  size(): Promise<number> {
    return this.run('size', false, () => this.inode.current.length);
  }

  read(buffer: Uint8Array, position: number): Promise<number> {
    return this.run('read', false, () => {
      const n = this.inode.current.read(position, buffer);
      this.disk.flipOnRead(this.path, position, buffer, n);
      return n;
    });
  }

  write(data: Uint8Array, position: number): Promise<void> {
    return this.run('write', true, () => {
      this.disk.checkSize(this.path, position + data.length);
      this.change({ kind: 'write', position, data: data.slice() });
    });
  }

  append(data: Uint8Array): Promise<void> {
    return this.run('append', true, () => {
      const position = this.inode.current.length;
      this.disk.checkSize(this.path, position + data.length);
      this.change({ kind: 'write', position, data: data.slice() });
    });
  }

  datasync(): Promise<void> {
    return this.run('datasync', false, () => this.disk.syncInode(this.path, this.inode));
  }

  truncate(sizeBytes: number): Promise<void> {
    return this.run('truncate', true, () => {
      this.disk.checkSize(this.path, sizeBytes);
      this.change({ kind: 'resize', sizeBytes });
    });
  }

  preallocate(sizeBytes: number): Promise<void> {
    return this.run('preallocate', true, () => {
      this.disk.checkSize(this.path, sizeBytes);
      if (sizeBytes > this.inode.current.length) this.change({ kind: 'resize', sizeBytes });
    });
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private change(op: DataOp): void {
    this.inode.apply(op, this.inode.current);
    this.inode.pending.push(op);
  }

  private run<T>(op: string, writes: boolean, work: () => T): Promise<T> {
    try {
      if (this.closed) throw new StorageError('closed', `${op} ${this.path}: the file is closed`);
      this.disk.checkEpoch(this.epoch, `${op} ${this.path}`);
      if (writes && this.readOnly) throw new StorageError('io', `${op} ${this.path}: opened read-only`);
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
