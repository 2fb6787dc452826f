// The durable storage of a member: the Disk interface and its real and simulated implementations, the WAL
// and snapshot files, and openLog, which recovers them into the MemoryStorage the Raft core reads.

export type { Disk, DiskFile, DiskLock, OpenMode } from './disk.ts';
export { readWholeFile, writeFileAtomic } from './disk.ts';
export { realDisk } from './real-disk.ts';
export { SimDisk } from './sim-disk.ts';
export type { SimDiskOptions } from './sim-disk.ts';
export { StorageError, isStorageError } from './errors.ts';
export type { StorageErrorCode } from './errors.ts';
export { crc32c } from './crc32c.ts';
export { openLog, storageDefaults } from './log.ts';
export type { DurableLog, LogStats, OpenLogOptions, RecoveryReport, SaveBatch } from './log.ts';
export { formatVersion } from './record.ts';
