// Thrown errors of the state machine. User errors (a missing node, a bad version) are results, never throws;
// what is thrown here is a broken invariant (a programmer error: crash) or an unreadable snapshot (an operating
// error the caller handles, for example by fetching the snapshot again).

export type StateMachineErrorCode = 'invariant' | 'snapshot_invalid';

export class StateMachineError extends Error {
  override readonly name = 'StateMachineError';
  constructor(
    readonly code: StateMachineErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Crashes on a broken invariant: continuing would let replicas diverge. */
export function invariant(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new StateMachineError('invariant', typeof message === 'string' ? message : message());
}
