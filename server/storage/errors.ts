// Typed errors of the storage layer. Operating errors (a full disk, a held lock, damaged files) carry a
// stable `code`; a broken invariant is a programmer error and crashes through `storageInvariant`.

/**
 * - `corrupt`: on-disk data is damaged or inconsistent; the log refuses to start (the message names the file
 *   and byte offset).
 * - `locked`: another process holds the data directory.
 * - `unsupported_version`: the directory or a file was written by a format this code does not read.
 * - `io`: an operating error from the disk (ENOSPC, EIO, ...), see `cause`.
 * - `sync_failed`: an fdatasync/fsync failed; the log is now failed and refuses further writes.
 * - `failed`: the log hit a fatal error earlier (see `cause`) and refuses further writes.
 * - `closed`: the log or file was closed.
 * - `not_found` / `already_exists`: a path that had to exist does not, or one that must not exist does.
 * - `too_large`: a record or snapshot over its configured limit.
 * - `invariant`: a programmer error (a broken precondition); never expected in operation.
 */
export type StorageErrorCode =
  | 'corrupt'
  | 'locked'
  | 'unsupported_version'
  | 'io'
  | 'sync_failed'
  | 'failed'
  | 'closed'
  | 'not_found'
  | 'already_exists'
  | 'too_large'
  | 'invariant';

/** Where in which file a problem was found, for `corrupt` errors. */
export interface StorageErrorLocation {
  readonly file?: string;
  readonly offset?: number;
}

export class StorageError extends Error {
  override readonly name = 'StorageError';
  readonly file: string | null;
  readonly offset: number | null;

  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown } & StorageErrorLocation,
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.file = options?.file ?? null;
    this.offset = options?.offset ?? null;
  }
}

/** A `corrupt` error whose message names the file and byte offset. */
export function corrupt(file: string, offset: number, what: string, cause?: unknown): StorageError {
  return new StorageError('corrupt', `${file} at byte ${offset}: ${what}`, {
    file,
    offset,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Crashes on a broken invariant (a programmer error): continuing could write wrong data. */
export function storageInvariant(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new StorageError('invariant', typeof message === 'string' ? message : message());
}

export function isStorageError(error: unknown, code?: StorageErrorCode): error is StorageError {
  return error instanceof StorageError && (code === undefined || error.code === code);
}
