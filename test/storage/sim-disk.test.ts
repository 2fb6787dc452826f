// Goal: SimDisk's crash model keeps exactly what was synced (plus a random, possibly torn, prefix of the
// rest), fences off the dead process, injects the faults the WAL must survive, and is deterministic.

import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../server/raft/random.ts';
import { readWholeFile } from '../../server/storage/disk.ts';
import { StorageError } from '../../server/storage/errors.ts';
import { SimDisk } from '../../server/storage/sim-disk.ts';

const bytes = (n: number, value: number): Uint8Array => new Uint8Array(n).fill(value);

async function durableFile(sim: SimDisk, path: string, content: Uint8Array): Promise<void> {
  const f = await sim.open(path, 'create');
  await f.write(content, 0);
  await f.datasync();
  await f.close();
  await sim.syncDir(path.slice(0, path.lastIndexOf('/')) || '/');
}

describe('SimDisk', () => {
  it('keeps synced data across a crash and loses or tears unsynced writes', async () => {
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 200; seed++) {
      const sim = new SimDisk();
      await sim.mkdir('/d');
      await sim.syncDir('/');
      await durableFile(sim, '/d/f', bytes(10, 1));
      const f = await sim.open('/d/f', 'readWrite');
      await f.write(bytes(6, 2), 10);
      await f.write(bytes(4, 3), 16);
      sim.crash(seededRandom(seed));
      const after = await readWholeFile(sim, '/d/f', 1 << 20);
      // Synced bytes always survive; what follows is a prefix of the unsynced writes, in order.
      expect([...after.subarray(0, 10)]).toEqual(new Array(10).fill(1));
      const rest = [...after.subarray(10)];
      const full = [...new Array(6).fill(2), ...new Array(4).fill(3)];
      expect(rest).toEqual(full.slice(0, rest.length));
      outcomes.add(String(rest.length));
    }
    // Lost entirely, kept entirely, and torn in between all happen.
    expect(outcomes.has('0')).toBe(true);
    expect(outcomes.has('10')).toBe(true);
    expect([...outcomes].some((n) => n !== '0' && n !== '6' && n !== '10')).toBe(true);
  });

  it('keeps a created or renamed name only once its directory is synced', async () => {
    let kept = 0;
    for (let seed = 0; seed < 50; seed++) {
      const sim = new SimDisk();
      await sim.mkdir('/d');
      await sim.syncDir('/');
      const f = await sim.open('/d/new', 'create');
      await f.write(bytes(3, 7), 0);
      await f.datasync();
      await f.close();
      sim.crash(seededRandom(seed));
      if ((await sim.readdir('/d')).includes('new')) kept++;
    }
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(50);

    const sim = new SimDisk();
    await sim.mkdir('/d');
    await sim.syncDir('/');
    await durableFile(sim, '/d/a.tmp', bytes(3, 7));
    await sim.rename('/d/a.tmp', '/d/a');
    await sim.syncDir('/d');
    sim.crash(seededRandom(1));
    expect(await sim.readdir('/d')).toEqual(['a']);
  });

  it('loses a directory never synced into its parent, with everything in it', async () => {
    let gone = 0;
    for (let seed = 0; seed < 20; seed++) {
      const s = new SimDisk();
      await s.mkdir('/d');
      await durableFile(s, '/d/f', bytes(3, 1)); // syncs /d, but never /
      s.crash(seededRandom(seed));
      if (!(await s.readdir('/')).includes('d')) gone++;
    }
    expect(gone).toBeGreaterThan(0);
  });

  it('fences off files and mounts of the crashed process', async () => {
    const sim = new SimDisk();
    const mount = sim.mount();
    await mount.mkdir('/d');
    const f = await mount.open('/d/f', 'create');
    const lock = await mount.lock('/d/LOCK');
    sim.crash(seededRandom(0));
    await expect(f.write(bytes(1, 1), 0)).rejects.toBeInstanceOf(StorageError);
    await expect(mount.readdir('/')).rejects.toBeInstanceOf(StorageError);
    // The dead process's lock is gone: a new one can be taken, and the old release is harmless.
    const again = await sim.mount().lock('/d/LOCK');
    await lock.release();
    await expect(sim.lock('/d/LOCK')).rejects.toSatisfy((e: unknown) => e instanceof StorageError && e.code === 'locked');
    await again.release();
  });

  it('flips one bit on one read when asked, leaving the data at rest intact', async () => {
    const sim = new SimDisk();
    await sim.mkdir('/d');
    await durableFile(sim, '/d/f', bytes(8, 0));
    sim.injectReadBitFlip('/d/f', 5, 3);
    const first = await readWholeFile(sim, '/d/f', 64);
    expect(first[5]).toBe(8);
    expect([...first].filter((b) => b !== 0)).toHaveLength(1);
    const second = await readWholeFile(sim, '/d/f', 64);
    expect(second.every((b) => b === 0)).toBe(true);
    sim.corrupt('/d/f', 0, 0);
    expect((await readWholeFile(sim, '/d/f', 64))[0]).toBe(1);
  });

  it('fails a datasync on demand and then drops the writes it covered from what survives', async () => {
    const sim = new SimDisk();
    await sim.mkdir('/d');
    await sim.syncDir('/');
    await durableFile(sim, '/d/f', bytes(2, 1));
    const f = await sim.open('/d/f', 'readWrite');
    await f.write(bytes(2, 2), 2);
    sim.injectSyncFailure('/d');
    await expect(f.datasync()).rejects.toSatisfy((e: unknown) => e instanceof StorageError && e.code === 'io');
    // Reads still see the write (page cache), a later sync succeeds, yet the write is not durable.
    expect(sim.readCurrent('/d/f')?.length).toBe(4);
    await f.datasync();
    expect(sim.image().get('/d/f')?.length).toBe(2);
    sim.crash(seededRandom(3));
    expect((await readWholeFile(sim, '/d/f', 64)).length).toBe(2);
  });

  it('is deterministic: the same operations and seed give the same disk', async () => {
    const run = async (seed: number): Promise<string> => {
      const sim = new SimDisk();
      await sim.mkdir('/d');
      await sim.syncDir('/');
      const random = seededRandom(seed);
      for (let i = 0; i < 20; i++) {
        const f = await sim.open(`/d/f${i % 3}`, 'create');
        await f.write(bytes(1 + random.int(50), i), random.int(100));
        if (random.int(3) === 0) await f.datasync();
        if (random.int(4) === 0) await sim.syncDir('/d');
        await f.close();
      }
      sim.crash(random);
      return JSON.stringify([...sim.image()].map(([k, v]) => [k, [...v]]));
    };
    expect(await run(7)).toBe(await run(7));
    expect(await run(7)).not.toBe(await run(8));
  });

  it('bounds the size of a file', async () => {
    const sim = new SimDisk({ fileBytesMax: 1000 });
    await sim.mkdir('/d');
    const f = await sim.open('/d/f', 'create');
    await expect(f.preallocate(1001)).rejects.toSatisfy((e: unknown) => e instanceof StorageError && e.code === 'io');
    await f.preallocate(1000);
  });
});
