// The public surface of the checkers: the register-map model, histories and their recorder, the
// linearizability checker, the revision checker, and text reports. See docs/checkers.md.

export { CheckerError, type CheckerErrorCode } from './errors.ts';
export type { Candidate, Explanation, KeyState } from './explain.ts';
export {
  type CompletedEntry,
  type ErrorOutcome,
  type FailedOutcome,
  type History,
  type HistoryEntry,
  type IndexedEntry,
  type OkOutcome,
  type Outcome,
  type PendingEntry,
  type ProcessId,
  type UnknownOutcome,
  parseHistory,
  serializeHistory,
  validateHistory,
} from './history.ts';
export {
  checkLinearizable,
  configurationsMaxDefault,
  type LinearizabilityOptions,
  type LinearizabilityResult,
  type LinearizabilityStats,
} from './linearizability.ts';
export {
  applyOperation,
  type Cells,
  type Compare,
  type CompareOperator,
  type CreateOperation,
  type CreateResult,
  type DeleteOperation,
  type DeleteResult,
  type ErrorCode,
  type GetOperation,
  type GetResult,
  isReadOnly,
  type ModelOutcome,
  type Operation,
  operationKeys,
  outcomesEqual,
  resultsEqual,
  type Register,
  type Result,
  type SetOperation,
  type SetResult,
  type SlotOf,
  type Step,
  stepCells,
  type SubOperation,
  type SubResult,
  type TxnOperation,
  type TxnResult,
} from './model.ts';
export { partitionByKey, type Partition } from './partition.ts';
export { HistoryRecorder, type MonotonicClock, type PendingOperation } from './recorder.ts';
export { describeEntry, describeModelOutcome, describeOperation, describeOutcome, formatReport, type ReportOptions } from './report.ts';
export {
  checkRevisions,
  isWrite,
  type RevisionOptions,
  type RevisionResult,
  type RevisionStats,
  type RevisionViolation,
} from './revisions.ts';
