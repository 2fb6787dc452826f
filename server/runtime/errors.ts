// Errors that cross to clients: one class, a stable code per failure, each code one wire error and one CLI
// exit status (see docs/protocol.md).

export const errorCodes = [
  'not_found',
  'exists',
  'bad_version',
  'not_empty',
  'invalid_path',
  'value_too_large',
  'no_leader',
  'leader_changed',
  'session_expired',
  'lease_not_found',
  'compacted',
  'too_many_requests',
  'unauthenticated',
  'bad_request',
  'timeout',
  'unavailable',
  'stale_sequence',
  'no_children_for_ephemerals',
  'internal',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export interface ErrorDetails {
  /** The leader's id when known (`no_leader`, `leader_changed`). */
  readonly leader?: string | null;
  /** The oldest revision still kept (`compacted`). */
  readonly compactRevision?: number;
  /** The failing operation of a transaction. */
  readonly opIndex?: number;
}

export class RuntimeError extends Error {
  override readonly name = 'RuntimeError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
