// Shorthands for writing histories by hand in tests: operations, outcomes and entries in one line each.

import type { ErrorOutcome, HistoryEntry, OkOutcome, PendingEntry, ProcessId } from './history.ts';
import type {
  Compare,
  CreateOperation,
  DeleteOperation,
  ErrorCode,
  GetOperation,
  Operation,
  SetOperation,
  SubOperation,
  SubResult,
  TxnOperation,
} from './model.ts';

export const get = (key: string): GetOperation => ({ op: 'get', key });
export const create = (key: string, value: string): CreateOperation => ({ op: 'create', key, value });

export function set(key: string, value: string, expectedVersion?: number): SetOperation {
  return expectedVersion === undefined ? { op: 'set', key, value } : { op: 'set', key, value, expectedVersion };
}

export function del(key: string, expectedVersion?: number): DeleteOperation {
  return expectedVersion === undefined ? { op: 'delete', key } : { op: 'delete', key, expectedVersion };
}

export function txn(
  compares: readonly Compare[],
  success: readonly SubOperation[],
  failure: readonly SubOperation[] = [],
): TxnOperation {
  return { op: 'txn', compares, success, failure };
}

export const versionIs = (key: string, value: number): Compare => ({ key, target: 'version', op: '=', value });
export const exists = (key: string, value: boolean): Compare => ({ key, target: 'exists', op: '=', value });

/** Sub-results, for txn outcomes. */
export const r = {
  found: (value: string, version: number): SubResult => ({ op: 'get', found: true, value, version }),
  missing: { op: 'get', found: false } as SubResult,
  created: { op: 'create' } as SubResult,
  set: (version: number): SubResult => ({ op: 'set', version }),
  deleted: { op: 'delete' } as SubResult,
};

const ok = (result: OkOutcome['result'], revision?: number): OkOutcome =>
  revision === undefined ? { status: 'ok', result } : { status: 'ok', result, revision };

/** Outcomes. */
export const o = {
  found: (value: string, version: number, revision?: number) => ok(r.found(value, version), revision),
  missing: (revision?: number) => ok(r.missing, revision),
  created: (revision?: number) => ok(r.created, revision),
  set: (version: number, revision?: number) => ok(r.set(version), revision),
  deleted: (revision?: number) => ok(r.deleted, revision),
  txn: (succeeded: boolean, results: readonly SubResult[], revision?: number) =>
    ok({ op: 'txn', succeeded, results }, revision),
  error: (error: ErrorCode, opIndex?: number): ErrorOutcome =>
    opIndex === undefined ? { status: 'error', error } : { status: 'error', error, opIndex },
};

/** A completed entry. */
export function op(
  process: ProcessId,
  invokeMs: number,
  completeMs: number,
  operation: Operation,
  outcome: HistoryEntry['outcome'] & { status: 'ok' | 'error' | 'failed' },
): HistoryEntry {
  return { process, invokeMs, completeMs, operation, outcome };
}

/** An entry whose outcome the client never learned. */
export function lost(process: ProcessId, invokeMs: number, operation: Operation): PendingEntry {
  return { process, invokeMs, completeMs: null, operation, outcome: { status: 'unknown', reason: 'timeout' } };
}
