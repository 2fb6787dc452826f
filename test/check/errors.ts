// Thrown errors of the checkers. A history that is not linearizable is a result, never a throw; what is thrown
// is a history the checkers cannot read (a harness bug) or a misuse of the recorder.

/** Stable codes: `invalid_history` for malformed input, `recorder_misuse` for a broken recorder protocol. */
export type CheckerErrorCode = 'invalid_history' | 'recorder_misuse';

/** The one error class of test/check. */
export class CheckerError extends Error {
  override readonly name = 'CheckerError';
  constructor(
    readonly code: CheckerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Crashes with `code` when `condition` is false. */
export function ensure(condition: unknown, code: CheckerErrorCode, message: string | (() => string)): asserts condition {
  if (!condition) throw new CheckerError(code, typeof message === 'string' ? message : message());
}
