// The contract every Disk implementation must meet, as one suite that each implementation runs
// (disk-contract.test.ts runs it on realDisk and on SimDisk).

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Disk } from '../../server/storage/disk.ts';
import { readWholeFile, writeFileAtomic } from '../../server/storage/disk.ts';
import { StorageError } from '../../server/storage/errors.ts';

export interface DiskFixture {
  readonly disk: Disk;
  /** An existing, empty directory to work in. */
  readonly root: string;
  cleanup(): Promise<void> | void;
}

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

async function expectCode(promise: Promise<unknown>, code: StorageError['code']): Promise<void> {
  await expect(promise).rejects.toSatisfy((e: unknown) => e instanceof StorageError && e.code === code);
}

export function diskContract(name: string, setup: () => Promise<DiskFixture>): void {
  describe(`Disk contract: ${name}`, () => {
    let fx: DiskFixture;
    let disk: Disk;
    let p: (name: string) => string;

    beforeEach(async () => {
      fx = await setup();
      disk = fx.disk;
      p = (n) => `${fx.root}/${n}`;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('opens by mode: read and readWrite need the file, createNew refuses an existing one', async () => {
      await expectCode(disk.open(p('missing'), 'read'), 'not_found');
      await expectCode(disk.open(p('missing'), 'readWrite'), 'not_found');
      const f = await disk.open(p('a'), 'create');
      expect(await f.size()).toBe(0);
      await f.close();
      await expectCode(disk.open(p('a'), 'createNew'), 'already_exists');
      const g = await disk.open(p('b'), 'createNew');
      await g.close();
      expect(await disk.readdir(fx.root)).toEqual(['a', 'b']);
    });

    it('writes at positions, reads back, and reads short at the end', async () => {
      const f = await disk.open(p('f'), 'create');
      await f.write(bytes(1, 2, 3, 4), 0);
      await f.write(bytes(9, 9), 2);
      await f.write(bytes(7), 6); // past the end: the gap reads as zeros
      expect(await f.size()).toBe(7);
      const out = new Uint8Array(10);
      expect(await f.read(out, 0)).toBe(7);
      expect([...out.subarray(0, 7)]).toEqual([1, 2, 9, 9, 0, 0, 7]);
      expect(await f.read(new Uint8Array(4), 5)).toBe(2);
      expect(await f.read(new Uint8Array(4), 7)).toBe(0);
      expect(await f.read(new Uint8Array(4), 100)).toBe(0);
      await f.close();
    });

    it('appends at the end of the file', async () => {
      const f = await disk.open(p('f'), 'create');
      await f.append(bytes(1, 2));
      await f.append(bytes(3));
      await f.write(bytes(5), 5);
      await f.append(bytes(6));
      await f.close();
      expect([...(await readWholeFile(disk, p('f'), 1024))]).toEqual([1, 2, 3, 0, 0, 5, 6]);
    });

    it('truncates down and up (up reads as zeros) and preallocates without shrinking', async () => {
      const f = await disk.open(p('f'), 'create');
      await f.write(bytes(1, 2, 3, 4, 5), 0);
      await f.truncate(2);
      expect(await f.size()).toBe(2);
      await f.truncate(4);
      const out = new Uint8Array(4);
      await f.read(out, 0);
      expect([...out]).toEqual([1, 2, 0, 0]);
      await f.preallocate(3 * 1024 * 1024 + 5);
      expect(await f.size()).toBe(3 * 1024 * 1024 + 5);
      await f.preallocate(10);
      expect(await f.size()).toBe(3 * 1024 * 1024 + 5);
      const tail = new Uint8Array(16);
      expect(await f.read(tail, 3 * 1024 * 1024 - 11)).toBe(16);
      expect(tail.every((b) => b === 0)).toBe(true);
      await f.datasync();
      await f.close();
    });

    it('refuses operations on a closed file', async () => {
      const f = await disk.open(p('f'), 'create');
      await f.close();
      await expectCode(f.write(bytes(1), 0), 'closed');
      await expectCode(f.datasync(), 'closed');
      await f.close(); // closing twice is harmless
    });

    it('renames over an existing file atomically and unlinks', async () => {
      await writeFileAtomic(disk, p('x'), [bytes(1)]);
      await writeFileAtomic(disk, p('y'), [bytes(2), bytes(3)]);
      await disk.rename(p('y'), p('x'));
      expect([...(await readWholeFile(disk, p('x'), 16))]).toEqual([2, 3]);
      expect(await disk.readdir(fx.root)).toEqual(['x']);
      await disk.unlink(p('x'));
      expect(await disk.readdir(fx.root)).toEqual([]);
      await expectCode(disk.unlink(p('x')), 'not_found');
      await expectCode(disk.rename(p('nothing'), p('x')), 'not_found');
    });

    it('makes directories with their parents, idempotently, and lists names sorted', async () => {
      await disk.mkdir(p('d/e/f'));
      await disk.mkdir(p('d/e/f'));
      await disk.mkdir(p('d/a'));
      const f = await disk.open(p('d/zz'), 'create');
      await f.close();
      expect(await disk.readdir(p('d'))).toEqual(['a', 'e', 'zz']);
      expect(await disk.readdir(p('d/e/f'))).toEqual([]);
      await disk.syncDir(p('d'));
      await expectCode(disk.readdir(p('nope')), 'not_found');
      await expectCode(disk.syncDir(p('nope')), 'not_found');
      await expectCode(disk.open(p('nope/file'), 'create'), 'not_found');
    });

    it('refuses a second holder of a lock until the first releases it', async () => {
      const lock = await disk.lock(p('LOCK'));
      await expectCode(disk.lock(p('LOCK')), 'locked');
      await lock.release();
      const again = await disk.lock(p('LOCK'));
      await again.release();
      await again.release(); // releasing twice is harmless
    });

    it('refuses to read a whole file over the limit', async () => {
      await writeFileAtomic(disk, p('big'), [new Uint8Array(100)]);
      await expectCode(readWholeFile(disk, p('big'), 99), 'too_large');
      expect((await readWholeFile(disk, p('big'), 100)).length).toBe(100);
    });
  });
}
