// Typed failures of the simulator: every violated invariant names its checker, the seed and the step.

/** The invariants the simulator checks, plus `coreError` for an exception thrown by the core itself. */
export type CheckerName =
  | 'electionSafety'
  | 'logMatching'
  | 'leaderCompleteness'
  | 'stateMachineSafety'
  | 'monotonicity'
  | 'voteOnce'
  | 'durability'
  | 'linearizableRead'
  | 'liveness'
  | 'coreError';

export const checkerNames: readonly CheckerName[] = [
  'electionSafety',
  'logMatching',
  'leaderCompleteness',
  'stateMachineSafety',
  'monotonicity',
  'voteOnce',
  'durability',
  'linearizableRead',
  'liveness',
  'coreError',
];

export function isCheckerName(name: string): name is CheckerName {
  return (checkerNames as readonly string[]).includes(name);
}

/** Where in a run something went wrong: enough to replay it. */
export interface SimulationPoint {
  readonly seed: number;
  readonly step: number;
  readonly timeMs: number;
}

/** An invariant broke. `checker` is the stable code; the message says what and where. */
export class SimulationViolation extends Error {
  override readonly name = 'SimulationViolation';
  readonly seed: number;
  readonly step: number;
  readonly timeMs: number;

  constructor(
    readonly checker: CheckerName,
    point: SimulationPoint,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${checker} violated at seed ${point.seed}, step ${point.step}, t=${point.timeMs}ms: ${detail}`, options);
    this.seed = point.seed;
    this.step = point.step;
    this.timeMs = point.timeMs;
  }
}
