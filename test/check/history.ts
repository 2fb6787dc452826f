// Histories: what clients invoked, when, and what they learned. Plain data, validated on the way in, so a history
// written to a JSON file by one run can be checked again by another.

import { CheckerError } from './errors.ts';
import type { Compare, ErrorCode, Operation, Result, SubOperation, SubResult } from './model.ts';

/** A client: one process runs one operation at a time. */
export type ProcessId = number | string;

/** A successful operation. `revision` is the revision it committed at (writes) or read at (reads). */
export interface OkOutcome {
  readonly status: 'ok';
  readonly result: Result;
  readonly revision?: number;
}

/**
 * A completed operation that had no effect (`exists`, `not_found`, `bad_version`). `opIndex` names the failing
 * sub-operation of a txn; `revision` is the revision of the state that refused it, when the server says.
 */
export interface ErrorOutcome {
  readonly status: 'error';
  readonly error: ErrorCode;
  readonly opIndex?: number;
  readonly revision?: number;
}

/** Definitely failed without effect (e.g. `no_leader`, as the harness knows); dropped before checking. */
export interface FailedOutcome {
  readonly status: 'failed';
  readonly reason: string;
}

/** The client never learned the outcome (timeout, lost connection): it may take effect once, any time, or never. */
export interface UnknownOutcome {
  readonly status: 'unknown';
  readonly reason?: string;
}

/** What a client learned about an operation. */
export type Outcome = OkOutcome | ErrorOutcome | FailedOutcome | UnknownOutcome;

interface EntryBase {
  readonly process: ProcessId;
  readonly invokeMs: number;
  readonly operation: Operation;
}

/** An operation the client heard back about: `completeMs` is when. */
export interface CompletedEntry extends EntryBase {
  readonly completeMs: number;
  readonly outcome: OkOutcome | ErrorOutcome | FailedOutcome;
}

/** An operation whose outcome the client never learned. */
export interface PendingEntry extends EntryBase {
  readonly completeMs: null;
  readonly outcome: UnknownOutcome;
}

/** One operation of a history. Times come from one monotonic clock shared by every process. */
export type HistoryEntry = CompletedEntry | PendingEntry;

/** A history: entries in any order (the checkers sort by time); an entry's index in it is its name in reports. */
export type History = readonly HistoryEntry[];

/** An entry together with its index in the history it came from. */
export interface IndexedEntry {
  readonly index: number;
  readonly entry: HistoryEntry;
}

/** Serializes a history as JSON, one entry per line, so that diffs of two histories stay readable. */
export function serializeHistory(history: History): string {
  return `[\n${history.map((entry) => JSON.stringify(entry)).join(',\n')}\n]\n`;
}

/** Parses and validates a history written by `serializeHistory` (or by hand). Throws `invalid_history`. */
export function parseHistory(json: string): History {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (cause) {
    throw new CheckerError('invalid_history', 'history is not JSON', { cause });
  }
  return validateHistory(value);
}

/**
 * Checks that `value` is a well-formed history and returns it typed: shapes of operations and outcomes, results
 * shaped like their operation, finite times with `completeMs >= invokeMs`, and no process running two operations
 * at once. Throws `invalid_history` naming the first bad entry.
 */
export function validateHistory(value: unknown): History {
  if (!Array.isArray(value)) throw new CheckerError('invalid_history', 'a history is an array of entries');
  value.forEach((entry: unknown, index) => {
    try {
      validateEntry(entry);
    } catch (error) {
      if (!(error instanceof Shape)) throw error;
      throw new CheckerError('invalid_history', `entry ${index}: ${error.message}`);
    }
  });
  const history = value as History;
  checkProcessesSequential(history);
  return history;
}

/** A shape error inside validation; turned into a CheckerError naming the entry. */
class Shape extends Error {}

function need(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new Shape(typeof message === 'string' ? message : message());
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isOptionalCount = (value: unknown): boolean => value === undefined || isCount(value);

function validateEntry(entry: unknown): void {
  need(isRecord(entry), 'not an object');
  need(typeof entry.process === 'number' || typeof entry.process === 'string', 'process is not a number or string');
  need(isTime(entry.invokeMs), 'invokeMs is not a finite number');
  validateOperation(entry.operation);
  const operation = entry.operation as Operation;
  need(isRecord(entry.outcome), 'outcome is not an object');
  if (entry.completeMs === null) {
    need(entry.outcome.status === 'unknown', 'completeMs is null but the outcome is not unknown');
    return;
  }
  need(isTime(entry.completeMs), 'completeMs is neither null nor a finite number');
  need(entry.completeMs >= entry.invokeMs, 'completeMs is before invokeMs');
  validateOutcome(entry.outcome, operation);
}

function validateOperation(operation: unknown): void {
  need(isRecord(operation), 'operation is not an object');
  if (operation.op !== 'txn') return validateSubOperation(operation);
  need(Array.isArray(operation.compares), 'txn compares is not an array');
  need(Array.isArray(operation.success) && Array.isArray(operation.failure), 'txn branches are not arrays');
  (operation.compares as unknown[]).forEach(validateCompare);
  (operation.success as unknown[]).forEach(validateSubOperation);
  (operation.failure as unknown[]).forEach(validateSubOperation);
}

function validateSubOperation(sub: unknown): void {
  need(isRecord(sub), 'sub-operation is not an object');
  need(typeof sub.key === 'string', () => `${String(sub.op)}: key is not a string`);
  switch (sub.op) {
    case 'get':
      return;
    case 'create':
      return need(typeof sub.value === 'string', 'create: value is not a string');
    case 'set':
      need(typeof sub.value === 'string', 'set: value is not a string');
      return need(isOptionalCount(sub.expectedVersion), 'set: expectedVersion is not a count');
    case 'delete':
      return need(isOptionalCount(sub.expectedVersion), 'delete: expectedVersion is not a count');
    default:
      throw new Shape(`unknown operation ${JSON.stringify(sub.op)}`);
  }
}

const compareOperators = new Set<unknown>(['=', '!=', '<', '>']);
const compareValueTypes = new Map<unknown, string>([
  ['exists', 'boolean'],
  ['version', 'number'],
  ['value', 'string'],
] satisfies [Compare['target'], string][]);
const errorCodes = new Set<unknown>(['exists', 'not_found', 'bad_version'] satisfies ErrorCode[]);

function validateCompare(compare: unknown): void {
  need(isRecord(compare), 'compare is not an object');
  need(typeof compare.key === 'string', 'compare: key is not a string');
  need(compareOperators.has(compare.op), () => `compare: unknown operator ${String(compare.op)}`);
  const type = compareValueTypes.get(compare.target);
  need(type !== undefined, () => `compare: unknown target ${String(compare.target)}`);
  need(typeof compare.value === type, () => `compare ${String(compare.target)}: value is not a ${type}`);
}

function validateOutcome(outcome: Record<string, unknown>, operation: Operation): void {
  switch (outcome.status) {
    case 'ok':
      need(isOptionalCount(outcome.revision), 'revision is not a count');
      return validateResult(outcome.result, operation);
    case 'error':
      need(errorCodes.has(outcome.error), 'unknown error code');
      need(isOptionalCount(outcome.revision), 'revision is not a count');
      // A txn names its failing sub-operation; a single operation has nothing to name.
      if (operation.op === 'txn') need(isCount(outcome.opIndex), 'a txn error needs opIndex');
      else need(outcome.opIndex === undefined, 'opIndex on a single operation');
      return;
    case 'failed':
      return need(typeof outcome.reason === 'string', 'failed outcome without a reason');
    case 'unknown':
      throw new Shape('an unknown outcome needs completeMs null');
    default:
      throw new Shape(`unknown outcome status ${JSON.stringify(outcome.status)}`);
  }
}

function validateResult(result: unknown, operation: Operation): void {
  need(isRecord(result), 'result is not an object');
  need(result.op === operation.op, () => `a ${operation.op} answered with a ${String(result.op)} result`);
  if (operation.op !== 'txn') return validateSubResult(result, operation);
  need(typeof result.succeeded === 'boolean', 'txn result: succeeded is not a boolean');
  need(Array.isArray(result.results), 'txn result: results is not an array');
  const branch = result.succeeded ? operation.success : operation.failure;
  const results = result.results as unknown[];
  need(results.length === branch.length, 'txn result: one result per sub-operation of the branch that ran');
  results.forEach((sub, i) => {
    need(isRecord(sub), 'txn result: sub-result is not an object');
    const subOperation = branch[i] as SubOperation;
    need(sub.op === subOperation.op, () => `txn result ${i}: a ${subOperation.op} answered with a ${String(sub.op)}`);
    validateSubResult(sub, subOperation);
  });
}

function validateSubResult(result: Record<string, unknown>, operation: SubOperation): void {
  const sub = result as unknown as SubResult;
  if (operation.op === 'set') need(isCount(result.version), 'set result: version is not a count');
  if (operation.op !== 'get') return;
  need(typeof result.found === 'boolean', 'get result: found is not a boolean');
  if (sub.op === 'get' && sub.found) {
    need(typeof result.value === 'string', 'get result: value is not a string');
    need(isCount(result.version), 'get result: version is not a count');
  }
}

/** One process runs one operation at a time: each invocation comes at or after the previous completion. */
function checkProcessesSequential(history: History): void {
  const byProcess = new Map<ProcessId, IndexedEntry[]>();
  history.forEach((entry, index) => {
    const list = byProcess.get(entry.process) ?? [];
    list.push({ index, entry });
    byProcess.set(entry.process, list);
  });
  for (const [process, entries] of byProcess) {
    entries.sort((a, b) => a.entry.invokeMs - b.entry.invokeMs || a.index - b.index);
    for (let i = 1; i < entries.length; i++) {
      const previous = (entries[i - 1] as IndexedEntry).entry;
      const current = entries[i] as IndexedEntry;
      // After an unknown outcome the client gave up waiting, so the process may go on.
      if (previous.completeMs === null || previous.completeMs <= current.entry.invokeMs) continue;
      throw new CheckerError(
        'invalid_history',
        `entry ${current.index}: process ${String(process)} invoked it at ${current.entry.invokeMs}ms, ` +
          `before its previous operation completed at ${previous.completeMs}ms`,
      );
    }
  }
}
