// The state machine's public surface: the replicated tree, leases/sessions, idempotency and watch history.
export { StateMachine, compareBytes } from './machine.ts';
export * from './commands.ts';
export * from './types.ts';
export { stateDefaults, resolveStateConfig, type StateConfig, type StateConfigInput } from './config.ts';
export { StateMachineError, invariant, type StateMachineErrorCode } from './errors.ts';
export { matches, type HistoryRead } from './history.ts';
export { checkInvariants } from './invariants.ts';
export {
  snapshot,
  snapshotChunks,
  snapshotSteps,
  concatSteps,
  restore,
  SnapshotReader,
  snapshotCodecOptions,
  SNAPSHOT_FORMAT,
  SNAPSHOT_VERSION,
  type RestoreOptions,
} from './snapshot.ts';
export { pathProblem, SEQUENCE_DIGITS, SEQUENCE_MAX } from './tree.ts';
