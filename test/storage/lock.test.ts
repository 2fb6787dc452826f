// Goal: the real disk's lock file keeps a second owner out while the first lives, and is taken over only from
// an owner that is surely gone (dead pid, zombie, reused pid, earlier boot), never from one it cannot judge.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StorageError } from '../../server/storage/errors.ts';
import { realDisk } from '../../server/storage/real-disk.ts';
import { tempDir } from './helpers.ts';

const linux = process.platform === 'linux';

function bootId(): string | null {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

function startTicks(pid: number): string | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function owner(pid: number, extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ pid, host: os.hostname(), bootId: bootId(), startTicks: startTicks(pid), token: 'other', ...extra })}\n`;
}

/** A pid that surely belonged to a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = child.pid!;
  await new Promise((resolve) => child.once('exit', resolve));
  return pid;
}

const isLocked = (e: unknown): boolean => e instanceof StorageError && e.code === 'locked';

describe.skipIf(!linux)('the real disk lock', () => {
  let dir: string;
  let cleanup: () => void;
  let lockPath: string;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('lock'));
    lockPath = `${dir}/LOCK`;
  });
  afterEach(() => cleanup());

  it('writes the owner into the lock file and removes it on release', async () => {
    const lock = await realDisk.lock(lockPath);
    const content = JSON.parse(fs.readFileSync(lockPath, 'utf8')) as { pid: number };
    expect(content.pid).toBe(process.pid);
    await expect(realDisk.lock(lockPath)).rejects.toSatisfy(isLocked);
    await lock.release();
    expect(fs.existsSync(lockPath)).toBe(false);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('takes over the lock of a dead process', async () => {
    fs.writeFileSync(lockPath, owner(await deadPid()));
    const lock = await realDisk.lock(lockPath);
    expect(JSON.parse(fs.readFileSync(lockPath, 'utf8')).pid).toBe(process.pid);
    await lock.release();
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('takes over the lock of an earlier boot, or of a reused pid', async () => {
    fs.writeFileSync(lockPath, owner(process.ppid, { bootId: 'another-boot' }));
    await (await realDisk.lock(lockPath)).release();
    fs.writeFileSync(lockPath, owner(process.ppid, { startTicks: '1' }));
    await (await realDisk.lock(lockPath)).release();
  });

  it('keeps out while the owner lives, and not a moment after it dies', async () => {
    const child = spawn(process.execPath, ['-e', 'process.stdin.resume()'], { stdio: ['pipe', 'ignore', 'ignore'] });
    try {
      await new Promise((resolve) => child.once('spawn', resolve));
      fs.writeFileSync(lockPath, owner(child.pid!));
      await expect(realDisk.lock(lockPath)).rejects.toSatisfy(
        (e: unknown) => isLocked(e) && (e as Error).message.includes(`pid ${child.pid}`),
      );
    } finally {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    await (await realDisk.lock(lockPath)).release();
  });

  it('never takes over a lock it cannot judge: another host, or a file it did not write', async () => {
    fs.writeFileSync(lockPath, owner(await deadPid(), { host: 'elsewhere.example' }));
    await expect(realDisk.lock(lockPath)).rejects.toSatisfy((e: unknown) => isLocked(e) && (e as Error).message.includes('elsewhere.example'));
    fs.writeFileSync(lockPath, 'not json');
    await expect(realDisk.lock(lockPath)).rejects.toSatisfy(isLocked);
    expect(fs.readFileSync(lockPath, 'utf8')).toBe('not json');
  });
});
