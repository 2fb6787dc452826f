// The data-directory lock of the real disk: a pid file created atomically, with stale-owner detection.
//
// Node has no flock(2), so the lock is a file whose existence means "held". It is created by link(2) from a
// fully written temporary file, so a lock file is never seen half-written. When the file exists, its owner is
// judged: on the same host and boot, a dead pid, a zombie, or a pid reused by a process that started at a
// different time means the owner is gone (kill -9 leaves the file behind) and the lock is broken; anything
// else (a live owner, another host, an unreadable file) is `locked`. Breaking renames the file aside first
// and checks that what it moved is the stale file it judged, so two processes breaking the same stale lock at
// once cannot remove a lock that one of them has just taken. See docs/storage.md, "The lock".

import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DiskLock } from './disk.ts';
import { StorageError } from './errors.ts';

/** Who holds a lock; written as one line of JSON. */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  /** The kernel's boot id (Linux), so a pid from before a reboot is never taken for a live one. */
  readonly bootId: string | null;
  /** The owner's start time in clock ticks since boot (Linux), so a reused pid is not taken for the owner. */
  readonly startTicks: string | null;
  readonly token: string;
}

const attemptsMax = 4;

/** Lock paths this process holds, so a second open in the same process fails fast. */
const heldInProcess = new Set<string>();

export async function acquirePidLock(lockPath: string): Promise<DiskLock> {
  const key = path.resolve(lockPath);
  if (heldInProcess.has(key)) throw new StorageError('locked', `${lockPath} is already held by this process`);
  const me: LockOwner = {
    pid: process.pid,
    host: os.hostname(),
    bootId: readBootId(),
    startTicks: readProcStat(process.pid)?.startTicks ?? null,
    token: randomUUID(),
  };
  const content = `${JSON.stringify(me)}\n`;
  for (let attempt = 0; attempt < attemptsMax; attempt++) {
    if (await tryCreate(lockPath, content, me.token)) {
      heldInProcess.add(key);
      return { path: lockPath, release: () => release(lockPath, key, content) };
    }
    const existing = await readText(lockPath);
    if (existing === null) continue; // removed meanwhile: try again
    const owner = parseOwner(existing);
    if (owner === null) {
      throw new StorageError('locked', `${lockPath} exists and is not a lock file this code wrote; remove it by hand`);
    }
    const verdict = judgeOwner(owner);
    if (verdict !== 'dead') {
      const where = owner.host === me.host ? `pid ${owner.pid}` : `pid ${owner.pid} on host ${owner.host}`;
      throw new StorageError('locked', `${path.dirname(lockPath)} is in use by ${where} (${lockPath})`);
    }
    await breakStale(lockPath, existing, me.token);
  }
  throw new StorageError('locked', `${lockPath}: could not take the lock after ${attemptsMax} attempts`);
}

/** Creates the lock file atomically; false when it already exists. */
async function tryCreate(lockPath: string, content: string, token: string): Promise<boolean> {
  const tmp = `${lockPath}.${process.pid}.${token}.tmp`;
  try {
    const fd = await fs.promises.open(tmp, 'wx', 0o644);
    try {
      await fd.writeFile(content);
      await fd.sync();
    } finally {
      await fd.close();
    }
    try {
      await fs.promises.link(tmp, lockPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    await syncDirQuietly(path.dirname(lockPath));
    return true;
  } catch (error) {
    throw new StorageError('io', `taking the lock ${lockPath}: ${(error as Error).message}`, { cause: error });
  } finally {
    await fs.promises.rm(tmp, { force: true });
  }
}

/** Removes a stale lock file, unless someone replaced it since it was judged. */
async function breakStale(lockPath: string, judged: string, token: string): Promise<void> {
  const aside = `${lockPath}.stale.${process.pid}.${token}`;
  try {
    await fs.promises.rename(lockPath, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new StorageError('io', `breaking the stale lock ${lockPath}: ${(error as Error).message}`, { cause: error });
  }
  const moved = await readText(aside);
  if (moved !== judged) {
    // We moved a lock someone took after our judgement: put it back (unless the path is taken again).
    await fs.promises.link(aside, lockPath).catch(() => undefined);
    await fs.promises.rm(aside, { force: true });
    throw new StorageError('locked', `${lockPath} was taken by another process while breaking a stale lock`);
  }
  await fs.promises.rm(aside, { force: true });
}

async function release(lockPath: string, key: string, content: string): Promise<void> {
  if (!heldInProcess.delete(key)) return;
  // Remove only our own lock file: never one that a later owner wrote after ours was broken.
  if ((await readText(lockPath)) === content) await fs.promises.rm(lockPath, { force: true });
}

/** 'dead' only when sure; 'unknown' (another host) counts as held. */
export function judgeOwner(owner: LockOwner): 'alive' | 'dead' | 'unknown' {
  if (owner.host !== os.hostname()) return 'unknown';
  const bootId = readBootId();
  if (bootId !== null && owner.bootId !== null && bootId !== owner.bootId) return 'dead';
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return 'dead';
    // EPERM: the pid exists but belongs to another user; fall through to the start-time check.
  }
  const stat = readProcStat(owner.pid);
  // Without /proc (not Linux, or not mounted) the kill(0) answer is all we have.
  if (stat === null) return readProcStat(process.pid) === null ? 'alive' : 'dead';
  if (stat.state === 'Z' || stat.state === 'X') return 'dead';
  if (owner.startTicks !== null && stat.startTicks !== owner.startTicks) return 'dead';
  return 'alive';
}

function parseOwner(text: string): LockOwner | null {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (typeof value.pid !== 'number' || !Number.isSafeInteger(value.pid) || value.pid <= 0) return null;
    if (typeof value.host !== 'string' || typeof value.token !== 'string') return null;
    return {
      pid: value.pid,
      host: value.host,
      token: value.token,
      bootId: typeof value.bootId === 'string' ? value.bootId : null,
      startTicks: typeof value.startTicks === 'string' ? value.startTicks : null,
    };
  } catch {
    return null;
  }
}

async function readText(file: string): Promise<string | null> {
  try {
    return await fs.promises.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new StorageError('io', `reading ${file}: ${(error as Error).message}`, { cause: error });
  }
}

async function syncDirQuietly(dir: string): Promise<void> {
  const fd = await fs.promises.open(dir, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

function readBootId(): string | null {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

/** State and start time from /proc/<pid>/stat; null when there is no such process (or no /proc). */
function readProcStat(pid: number): { state: string; startTicks: string } | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTicks = fields[19];
  if (state === undefined || startTicks === undefined) return null;
  return { state, startTicks };
}
