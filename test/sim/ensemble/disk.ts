// A member's disk in the simulation: SimDisk (lost unsynced writes and torn last writes on a crash, injected
// read bit flips and fsync failures) seen through a mount fenced at the crash, with fsyncs that take simulated
// time, so work of other processes goes on while a member waits for its disk, as on a real machine.

import type { Disk, DiskFile } from '../../../server/storage/disk.ts';
import type { Random } from '../../../server/raft/random.ts';
import type { Owner, Scheduler } from './scheduler.ts';

export interface DiskLatency {
  /** fdatasync time, uniform in this range... */
  readonly syncMs: readonly [number, number];
  /** ...except this share of syncs, which stall this long (a busy disk). */
  readonly stallRate: number;
  readonly stallMs: readonly [number, number];
}

export const defaultDiskLatency: DiskLatency = { syncMs: [0.1, 0.6], stallRate: 0.01, stallMs: [5, 60] };

/** `disk` whose syncs complete after a simulated delay, on behalf of `owner` (never, once it died). */
export function slowSyncs(disk: Disk, scheduler: Scheduler, random: Random, owner: Owner, latency: DiskLatency): Disk {
  const delay = (): number => {
    const [lo, hi] = random.float() < latency.stallRate ? latency.stallMs : latency.syncMs;
    return lo + random.float() * (hi - lo);
  };
  /** Starts the operation now; its outcome reaches the caller when the simulated sync finishes. */
  const later = <T>(operation: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const ms = delay();
      operation.then(
        (value) => scheduler.at(ms, () => resolve(value), owner),
        (error: unknown) => scheduler.at(ms, () => reject(error), owner),
      );
    });
  const wrapFile = (file: DiskFile): DiskFile => ({
    path: file.path,
    size: () => file.size(),
    read: (buffer, position) => file.read(buffer, position),
    write: (data, position) => file.write(data, position),
    append: (data) => file.append(data),
    datasync: () => later(file.datasync()),
    truncate: (sizeBytes) => file.truncate(sizeBytes),
    preallocate: (sizeBytes) => file.preallocate(sizeBytes),
    close: () => file.close(),
  });
  return {
    open: async (path, mode) => wrapFile(await disk.open(path, mode)),
    rename: (from, to) => disk.rename(from, to),
    unlink: (path) => disk.unlink(path),
    readdir: (path) => disk.readdir(path),
    mkdir: (path) => disk.mkdir(path),
    syncDir: (path) => later(disk.syncDir(path)),
    lock: (path) => disk.lock(path),
  };
}
