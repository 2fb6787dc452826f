// Errors the SDK surfaces: one class with the server's stable `code`, and subclasses where callers branch.

import type { ErrorBody } from './protocol/messages.ts';

/**
 * Stable error codes: the server's (docs/protocol.md), and the SDK's own `aborted` (the caller's signal fired)
 * and `closed` (the client or session was closed). `timeout`, `unavailable`, `value_too_large`, `bad_request`,
 * `invalid_path`, `session_expired` and `not_found` also come from the SDK itself (a call's deadline, a
 * connection lost under a call that may not be resent, a request over the member's frame limit, bad arguments,
 * a lost lock or leadership).
 */
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

/** Every failure the SDK reports: a stable `code`, a message for people, and `details` from the server. */
export class SynodError extends Error {
  /** `SynodError`, or the subclass's name. */
  override readonly name: string = 'SynodError';
  constructor(
    /** What went wrong; branch on this. */
    readonly code: SynodErrorCode,
    message: string,
    /**
     * From the server's answer: `leader` (the leader's name or null, with `no_leader` and `leader_changed`),
     * `compactRevision` (with `compacted`: the oldest revision still kept), `opIndex` (the failing operation of a
     * transaction, counted in the branch that ran).
     */
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

/**
 * `not_found`: no such node (or member, for promoteMember and removeMember); also the reason a lock or
 * leadership lost to the deletion of its node aborts its signal with.
 */
export class NotFoundError extends SynodError {
  override readonly name = 'NotFoundError';
}
/** `exists` from the server: the node (or member, for addMember) already exists. */
export class ExistsError extends SynodError {
  override readonly name = 'ExistsError';
}
/** `bad_version`: the node's version is not the `expectedVersion` given. */
export class BadVersionError extends SynodError {
  override readonly name = 'BadVersionError';
}
/** `compacted`: the history asked for is gone; `details.compactRevision` is the oldest revision kept. */
export class CompactedError extends SynodError {
  override readonly name = 'CompactedError';
}
/**
 * `session_expired`: the leader does not know the lease or session (expired, revoked, or never granted); also
 * what the SDK raises when it finds a session expired or a lock or leadership lost with it (a session's signal
 * reason, a failed proclaim).
 */
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

/** An error of the class callers branch on for `code` (`SessionExpiredError` for `session_expired`, ...). */
export function synodError(code: SynodErrorCode, message: string, details: SynodError['details'] = {}): SynodError {
  const Class = subclasses[code] ?? SynodError;
  return new Class(code, message, details);
}

export function errorFromWire(body: ErrorBody): SynodError {
  const code = body.code as SynodErrorCode;
  const details: { leader?: string | null; compactRevision?: number; opIndex?: number } = {};
  if (body.leader !== undefined) details.leader = body.leader;
  if (body.compactRevision !== undefined) details.compactRevision = body.compactRevision;
  if (body.opIndex !== undefined) details.opIndex = body.opIndex;
  return synodError(code, body.message, details);
}
