// Readable reports of checker verdicts: one line per operation (index, process, times, operation, outcome), the
// point where no linearization exists, and what each operation that could have come next would have answered.

import type { Candidate } from './explain.ts';
import type { HistoryEntry, IndexedEntry, Outcome } from './history.ts';
import type { LinearizabilityResult } from './linearizability.ts';
import type { Compare, ModelOutcome, Operation, Result, SubOperation, SubResult } from './model.ts';
import type { RevisionResult, RevisionViolation } from './revisions.ts';

/** Limits of a report. */
export interface ReportOptions {
  /** Operations of the failing partition listed at most, around the point of failure. Default 40. */
  readonly operationsMax?: number;
  /** Operations of the longest linearizable prefix listed (its tail). Default 8. */
  readonly prefixTailMax?: number;
}

/** Formats a verdict of `checkLinearizable` or `checkRevisions` as text for a test log. */
export function formatReport(result: LinearizabilityResult | RevisionResult, options: ReportOptions = {}): string {
  if (result.checker === 'revisions') return formatRevisions(result);
  switch (result.ok) {
    case true:
      return `linearizable: ${countsLine(result.stats)}`;
    case 'unknown':
      return formatUndecided(result, options);
    case false:
      return formatViolation(result, options);
  }
}

/** One line for an entry: `#index pProcess [invoke → complete ms] operation → outcome`. */
export function describeEntry(indexed: IndexedEntry): string {
  const { entry } = indexed;
  const completeText = entry.completeMs === null ? '?' : fixed(entry.completeMs);
  const times = `[${fixed(entry.invokeMs).padStart(9)} → ${completeText.padStart(9)} ms]`;
  const head = `#${indexed.index} p${String(entry.process)}`.padEnd(12);
  return `${head} ${times}  ${describeOperation(entry.operation)}  → ${describeOutcome(entry)}`;
}

/** An operation in a compact notation: `set /a "x" if v2`, `txn if (/a version = 2) then [...] else [...]`. */
export function describeOperation(operation: Operation): string {
  if (operation.op !== 'txn') return describeSub(operation);
  const compares = operation.compares.map(describeCompare).join(', ');
  const branch = (subs: readonly SubOperation[]): string => `[${subs.map(describeSub).join('; ')}]`;
  return `txn if (${compares}) then ${branch(operation.success)} else ${branch(operation.failure)}`;
}

/** What a client learned, with the revision when there is one. */
export function describeOutcome(entry: HistoryEntry): string {
  const outcome: Outcome = entry.outcome;
  switch (outcome.status) {
    case 'ok':
    case 'error':
      return describeModelOutcome(outcome) + (outcome.revision === undefined ? '' : ` @r${outcome.revision}`);
    case 'failed':
      return `failed without effect (${outcome.reason})`;
    case 'unknown':
      return `unknown${outcome.reason === undefined ? '' : ` (${outcome.reason})`}`;
  }
}

/** A model answer or a recorded result: `found "x" v3`, `ok v4`, `error bad_version at sub-op 1`. */
export function describeModelOutcome(outcome: ModelOutcome): string {
  if (outcome.status === 'error') {
    return `error ${outcome.error}${outcome.opIndex === undefined ? '' : ` at sub-op ${outcome.opIndex}`}`;
  }
  return describeResult(outcome.result);
}

function describeResult(result: Result): string {
  if (result.op !== 'txn') return describeSubResult(result);
  return `${result.succeeded ? 'then' : 'else'} [${result.results.map(describeSubResult).join('; ')}]`;
}

function describeSubResult(result: SubResult): string {
  switch (result.op) {
    case 'get':
      return result.found ? `found ${JSON.stringify(result.value)} v${result.version}` : 'not found';
    case 'set':
      return `ok v${result.version}`;
    case 'create':
      return 'ok v0';
    case 'delete':
      return 'ok';
  }
}

function describeSub(sub: SubOperation): string {
  const guard = (expected: number | undefined): string => (expected === undefined ? '' : ` if v${expected}`);
  switch (sub.op) {
    case 'get':
      return `get ${sub.key}`;
    case 'create':
      return `create ${sub.key} ${JSON.stringify(sub.value)}`;
    case 'set':
      return `set ${sub.key} ${JSON.stringify(sub.value)}${guard(sub.expectedVersion)}`;
    case 'delete':
      return `delete ${sub.key}${guard(sub.expectedVersion)}`;
  }
}

function describeCompare(compare: Compare): string {
  return `${compare.key} ${compare.target} ${compare.op} ${JSON.stringify(compare.value)}`;
}

type Violation = Extract<LinearizabilityResult, { ok: false }>;
type Undecided = Extract<LinearizabilityResult, { ok: 'unknown' }>;

function formatViolation(result: Violation, options: ReportOptions): string {
  const { explanation, operations } = result;
  const deadline = explanation.deadline;
  const lines = [
    `NOT LINEARIZABLE: partition {${result.keys.join(', ')}}, ${operations.length} operations searched`,
    `(${countsLine(result.stats)})`,
    '',
    deadlineLine(deadline, explanation.deadlineMs),
    ...prefixLines(explanation.linearized, operations.length, options.prefixTailMax ?? 8),
    `State after it: ${explanation.state.map(describeKeyState).join(', ') || '(no keys)'}`,
    '',
    'Operations that could have taken effect next (invoked before that deadline):',
    ...explanation.candidates.map((candidate) => `  ${describeCandidate(candidate)}`),
    '',
    'The partition around that point, by invocation (+ linearized in the prefix, x cannot go next, ~ fits',
    'but leads to a dead end, ? unknown outcome not placed, ! the deadline):',
    ...windowLines(result, options.operationsMax ?? 40),
  ];
  return lines.join('\n');
}

function deadlineLine(deadline: IndexedEntry, deadlineMs: number): string {
  const when =
    deadline.entry.completeMs === null
      ? `by ${fixed(deadlineMs)} ms (its outcome is unknown, but a read that completed then returned the value it writes)`
      : `before it returned at ${fixed(deadlineMs)} ms`;
  return `No order of the operations places #${deadline.index} ${when}.`;
}

function prefixLines(linearized: readonly IndexedEntry[], total: number, tailMax: number): string[] {
  const header = `Longest linearizable prefix found: ${linearized.length} of ${total} operations`;
  if (linearized.length === 0) return [`${header}.`];
  const tail = linearized.slice(-tailMax);
  const more = linearized.length > tail.length ? `; its last ${tail.length}, in linearization order:` : ':';
  return [`${header}${more}`, ...tail.map((indexed) => `  ${describeEntry(indexed)}`)];
}

function describeCandidate(candidate: Candidate): string {
  const line = describeEntry(candidate.entry);
  const model = describeModelOutcome(candidate.model);
  if (candidate.entry.entry.outcome.status === 'unknown') return `${line}\n      could take effect here (model: ${model})`;
  if (!candidate.fits) return `${line}\n      does not fit here: the model answers ${model}`;
  return `${line}\n      fits here, but every order that follows reaches a dead end`;
}

function describeKeyState(state: { key: string; register: { value: string; version: number } | null }): string {
  const register = state.register;
  return register === null ? `${state.key} absent` : `${state.key} = ${JSON.stringify(register.value)} v${register.version}`;
}

/** The partition's operations around the deadline, marked; the whole partition when it is short. */
function windowLines(result: Violation, operationsMax: number): string[] {
  const { operations, explanation } = result;
  const placed = new Set(explanation.linearized.map((indexed) => indexed.index));
  const marks = new Map(explanation.candidates.map((c) => [c.entry.index, candidateMark(c)]));
  marks.set(explanation.deadline.index, '!');
  const focus = operations.findIndex((indexed) => marks.has(indexed.index));
  const start = Math.max(0, Math.min(focus - Math.floor(operationsMax / 4), operations.length - operationsMax));
  const shown = operations.slice(start, start + operationsMax);
  const mark = (indexed: IndexedEntry): string => {
    if (placed.has(indexed.index)) return '+';
    const special = marks.get(indexed.index);
    if (special !== undefined) return special;
    return indexed.entry.outcome.status === 'unknown' ? '?' : ' ';
  };
  const lines = shown.map((indexed) => `${mark(indexed)} ${describeEntry(indexed)}`);
  if (start > 0) lines.unshift(`  ... ${start} earlier operations`);
  const after = operations.length - start - shown.length;
  if (after > 0) lines.push(`  ... ${after} later operations`);
  return lines;
}

function candidateMark(candidate: Candidate): string {
  if (candidate.entry.entry.outcome.status === 'unknown') return '?';
  return candidate.fits ? '~' : 'x';
}

function formatUndecided(result: Undecided, options: ReportOptions): string {
  return [
    `UNDECIDED: partition {${result.keys.join(', ')}} (${result.operations.length} operations) visited more than`,
    `${result.configurationsMax} configurations without deciding; ${plural(result.undecidedPartitions, 'partition')} undecided,`,
    'every other partition is linearizable. Raise configurationsMax, or check shorter histories with fewer',
    `unknown outcomes. (${countsLine(result.stats)})`,
    ...prefixLines(result.linearized, result.operations.length, options.prefixTailMax ?? 8),
  ].join('\n');
}

function formatRevisions(result: RevisionResult): string {
  const { stats } = result;
  const counts = `${stats.writes} writes and ${stats.reads} reads with a revision, of ${stats.operations} operations`;
  if (result.ok) return `revisions consistent: ${counts}`;
  const shown = result.violations.length < stats.violations ? ` (first ${result.violations.length} shown)` : '';
  return [
    `REVISIONS BROKEN: ${plural(stats.violations, 'violation')}${shown}; ${counts}`,
    ...result.violations.map(describeRevisionViolation),
  ].join('\n');
}

function describeRevisionViolation(violation: RevisionViolation): string {
  switch (violation.kind) {
    case 'duplicate':
      return [
        `- two writes committed at revision ${violation.revision}:`,
        `    ${describeEntry(violation.first)}`,
        `    ${describeEntry(violation.second)}`,
      ].join('\n');
    case 'back_in_time': {
      const relation = violation.laterIsWrite ? 'a write must commit above' : 'a read must see at least';
      return [
        `- revision ${violation.laterRevision} after ${violation.earlierRevision} had completed (${relation} it):`,
        `    earlier ${describeEntry(violation.earlier)}`,
        `    later   ${describeEntry(violation.later)}`,
      ].join('\n');
    }
  }
}

function countsLine(stats: LinearizabilityResult['stats']): string {
  return (
    `${stats.operations} operations (${stats.dropped} dropped, ${stats.unknown} with unknown outcome), ` +
    `${plural(stats.partitions, 'partition')} searched, largest ${stats.partitionOperationsMax}, ` +
    `${stats.configurations} configurations visited`
  );
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function fixed(ms: number): string {
  return Number.isInteger(ms) ? String(ms) : ms.toFixed(1);
}
