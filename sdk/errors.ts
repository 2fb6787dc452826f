// Errors the SDK surfaces: one class with the server's stable `code`, and subclasses where callers branch.

import type { ErrorBody } from './protocol/messages.ts';

export type SynodErrorCode =
  | 'not_found'
  | 'exists'
  | 'bad_version'
  | 'not_empty'
  | 'no_children_for_ephemerals'
  | 'invalid_path'
  | 'value_too_large'
  | 'no_leader'
  | 'leader_changed'
  | 'session_expired'
  | 'lease_not_found'
  | 'compacted'
  | 'too_many_requests'
  | 'unauthenticated'
  | 'bad_request'
  | 'timeout'
  | 'unavailable'
  | 'stale_sequence'
  | 'aborted'
  | 'closed'
  | 'internal';

export class SynodError extends Error {
  override readonly name: string = 'SynodError';
  constructor(
    readonly code: SynodErrorCode,
    message: string,
    readonly details: { readonly leader?: string | null; readonly compactRevision?: number; readonly opIndex?: number } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Whether retrying the same request (with the same sequence) may succeed. */
  get retryable(): boolean {
    return this.code === 'no_leader' || this.code === 'leader_changed' || this.code === 'unavailable' || this.code === 'timeout';
  }
}

export class NotFoundError extends SynodError {
  override readonly name = 'NotFoundError';
}
export class ExistsError extends SynodError {
  override readonly name = 'ExistsError';
}
export class BadVersionError extends SynodError {
  override readonly name = 'BadVersionError';
}
export class CompactedError extends SynodError {
  override readonly name = 'CompactedError';
}
export class SessionExpiredError extends SynodError {
  override readonly name = 'SessionExpiredError';
}

const subclasses: Partial<Record<SynodErrorCode, typeof SynodError>> = {
  not_found: NotFoundError,
  exists: ExistsError,
  bad_version: BadVersionError,
  compacted: CompactedError,
  session_expired: SessionExpiredError,
};

export function errorFromWire(body: ErrorBody): SynodError {
  const code = body.code as SynodErrorCode;
  const Class = subclasses[code] ?? SynodError;
  const details: { leader?: string | null; compactRevision?: number; opIndex?: number } = {};
  if (body.leader !== undefined) details.leader = body.leader;
  if (body.compactRevision !== undefined) details.compactRevision = body.compactRevision;
  if (body.opIndex !== undefined) details.opIndex = body.opIndex;
  return new Class(code, body.message, details);
}
