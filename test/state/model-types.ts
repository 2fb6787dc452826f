// Type re-exports for the model (one import line for the state machine's vocabulary and the seeded random).
export type {
  Command,
  Compare,
  CreateOp,
  DeleteOp,
  LeaseId,
  LeaseKind,
  NodeMode,
  SetOp,
  Stat,
  StateConfig,
  TxnOp,
  WatchEvent,
} from '../../server/state/index.ts';
export type { Random } from '../../server/raft/random.ts';
