// Typed errors of the Raft core. Operating conditions (a compacted index) are errors callers handle;
// a broken invariant is a programmer error and crashes through `invariant`.

export type RaftErrorCode = 'compacted' | 'unavailable' | 'snapshot_out_of_date' | 'invariant';

export class RaftError extends Error {
  override readonly name = 'RaftError';
  constructor(
    readonly code: RaftErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Crashes on a broken invariant: continuing would risk safety. */
export function invariant(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new RaftError('invariant', typeof message === 'string' ? message : message());
}
