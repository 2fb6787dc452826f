// Errors of synodctl: every failure has a stable code, and every code one exit status (docs/cli.md has the
// table). Server and SDK codes pass through unchanged; a few codes belong to the CLI alone.

import { SynodError, type SynodErrorCode } from '../../sdk/index.ts';

/** Codes only the CLI produces. */
export type CliOnlyCode =
  /** Bad arguments or flags (commander's own errors too). */
  | 'usage'
  /** `txn`: the compares did not hold, so the else branch ran. */
  | 'compare_failed'
  /** `check perf`: the load test ran but missed a threshold. */
  | 'check_failed'
  /** `endpoint health`: some member is unhealthy or unreachable. */
  | 'unhealthy'
  /** A local file could not be read or written, or is not what it should be. */
  | 'file_error';

/** Every code the CLI can exit with: the SDK's, the server's own, and the CLI's. */
export type ExitCode = SynodErrorCode | 'no_children_for_ephemerals' | CliOnlyCode;

/** One exit status per code. Stable: scripts depend on these numbers (docs/cli.md). */
export const exitStatuses: Readonly<Record<ExitCode, number>> = {
  internal: 1,
  usage: 2,
  not_found: 3,
  exists: 4,
  bad_version: 5,
  not_empty: 6,
  invalid_path: 7,
  value_too_large: 8,
  no_children_for_ephemerals: 9,
  no_leader: 10,
  leader_changed: 11,
  timeout: 12,
  unavailable: 13,
  session_expired: 14,
  lease_not_found: 15,
  compacted: 16,
  too_many_requests: 17,
  unauthenticated: 18,
  bad_request: 19,
  stale_sequence: 20,
  aborted: 21,
  closed: 22,
  compare_failed: 23,
  check_failed: 24,
  unhealthy: 25,
  file_error: 26,
};

/** A failure the CLI reports: a code, a message, and what the user can do about it. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly code: ExitCode,
    message: string,
    /** One line telling the user what to try next. */
    readonly hint: string | null = null,
    /** Extra fields for `-o json` error output. */
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Whether `code` is one of the codes this CLI knows (a newer server may send others: they map to internal). */
export function isExitCode(code: string): code is ExitCode {
  return Object.hasOwn(exitStatuses, code);
}

/** The CLI's view of any thrown value. */
export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof SynodError) {
    const code: ExitCode = isExitCode(error.code) ? error.code : 'internal';
    return new CliError(code, error.message, hintFor(code), detailsOf(error), { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new CliError('internal', message, null, {}, { cause: error });
}

function detailsOf(error: SynodError): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (error.details.leader !== undefined) out['leader'] = error.details.leader;
  if (error.details.compactRevision !== undefined) out['compactRevision'] = error.details.compactRevision;
  if (error.details.opIndex !== undefined) out['opIndex'] = error.details.opIndex;
  return out;
}

/** Generic advice per code; commands give more specific hints where they know more. */
function hintFor(code: ExitCode): string | null {
  switch (code) {
    case 'no_leader':
      return 'the cluster has no leader: check that a majority of members run (synodctl endpoint status)';
    case 'timeout':
      return 'raise --timeout, or check the cluster with synodctl endpoint health';
    case 'unavailable':
      return 'check --endpoints (or SYNOD_ENDPOINTS) and that the members run';
    case 'compacted':
      return 'that revision is older than the history kept; start from a later one';
    case 'bad_version':
      return 'the node changed since you read it: read it again (synodctl stat PATH) and retry';
    case 'not_empty':
      return 'the node has children: delete with --recursive';
    case 'invalid_path':
      return 'paths are absolute (/a/b), without a trailing slash, empty segments, . or ..';
    default:
      return null;
  }
}
