// Histories for the checker's own tests. A simulated, correct (linearizable) register service: processes invoke
// random operations, each takes effect atomically at one instant between invocation and completion, and some time
// out (taking effect or not, possibly after the client gave up) or fail without effect; recorded through
// HistoryRecorder on a virtual clock. Also tiny random histories for comparison with brute force, and falsified
// reads. All seeded (mulberry32), so every history replays from its seed.

import type {
  Compare,
  CompareOperator,
  ErrorOutcome,
  GetResult,
  History,
  OkOutcome,
  PendingOperation,
  ProcessId,
  SubOperation,
} from './index.ts';
import { applyOperation, HistoryRecorder, isWrite, type Operation, outcomesEqual, type Register, resultsEqual } from './index.ts';

/** mulberry32: a tiny seeded generator of floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The shape of a simulated run. */
export interface SimulationOptions {
  readonly seed: number;
  readonly operations: number;
  readonly keys: number;
  readonly processes: number;
  /** Share of operations whose client times out (they take effect half of the time). */
  readonly timeoutRate: number;
  /** Share of operations that fail without effect (`no_leader`). */
  readonly failRate: number;
  /** Share of operations that are txns. */
  readonly txnRate: number;
  /** Share of those txns that couple key 2k with key 2k+1 (the others touch one key); none with one key. */
  readonly crossKeyShare: number;
  /** Upper bound of the time from invocation to effect, and from effect to completion. */
  readonly latencyMsMax: number;
}

/** A small default: concurrent, with every kind of operation and outcome. */
export const smallSimulation: Omit<SimulationOptions, 'seed'> = {
  operations: 300,
  keys: 3,
  processes: 6,
  timeoutRate: 0.05,
  failRate: 0.03,
  txnRate: 0.15,
  crossKeyShare: 1 / 3,
  latencyMsMax: 6,
};

type Random = () => number;

/** Runs the simulated service and returns the history its clients recorded. */
export function simulateHistory(options: SimulationOptions): History {
  return new Simulation(options).run();
}

class Simulation {
  readonly #options: SimulationOptions;
  readonly #random: Random;
  readonly #agenda: (() => void)[][] = [];
  readonly #clock = { timeMs: 0, nowMs: () => this.#clock.timeMs };
  readonly #recorder = new HistoryRecorder(this.#clock);
  readonly #seen = new Map<ProcessId, Map<string, number>>();
  #state: ReadonlyMap<string, Register> = new Map();
  #revision = 0;
  #invoked = 0;
  #values = 0;

  constructor(options: SimulationOptions) {
    this.#options = options;
    this.#random = mulberry32(options.seed);
  }

  run(): History {
    for (let p = 0; p < this.#options.processes; p++) this.#at(this.#int(3), () => this.#invoke(p));
    for (let t = 0; t < this.#agenda.length; t++) {
      this.#clock.timeMs = t;
      const due = this.#agenda[t] ?? [];
      // Index loop: an action may schedule another one at this same instant.
      for (let i = 0; i < due.length; i++) (due[i] as () => void)();
    }
    return this.#recorder.history();
  }

  #invoke(process: number): void {
    if (this.#invoked >= this.#options.operations) return;
    this.#invoked++;
    const operation = this.#operation(process);
    const pending = this.#recorder.invoke(process, operation);
    const effectMs = this.#clock.timeMs + this.#int(this.#options.latencyMsMax + 1);
    const completeMs = effectMs + this.#int(this.#options.latencyMsMax + 1);
    const fate = this.#random();
    if (fate < this.#options.failRate) {
      this.#at(completeMs, () => this.#finish(process, () => pending.fail('no_leader')));
    } else if (fate < this.#options.failRate + this.#options.timeoutRate) {
      // The effect, if any, may land long after the client gave up.
      if (this.#random() < 0.5) this.#at(effectMs + this.#int(40), () => this.#apply(operation));
      this.#at(completeMs, () => this.#finish(process, () => pending.timeout('timeout')));
    } else {
      this.#at(effectMs, () => {
        const outcome = this.#apply(operation);
        this.#at(completeMs, () => this.#finish(process, () => this.#complete(process, operation, pending, outcome)));
      });
    }
  }

  #finish(process: number, resolve: () => void): void {
    resolve();
    this.#at(this.#clock.timeMs + this.#int(3), () => this.#invoke(process));
  }

  /** Applies an operation at this instant: the linearization point. */
  #apply(operation: Operation): OkOutcome | ErrorOutcome {
    const { outcome, state } = applyOperation(this.#state, operation);
    this.#state = state;
    if (outcome.status === 'error') return { ...outcome, revision: this.#revision };
    if (isWrite(operation, outcome.result)) this.#revision++;
    return { status: 'ok', result: outcome.result, revision: this.#revision };
  }

  #complete(process: number, operation: Operation, pending: PendingOperation, outcome: OkOutcome | ErrorOutcome): void {
    pending.complete(outcome);
    if (outcome.status !== 'ok') return;
    const seen = this.#seenBy(process);
    const result = outcome.result;
    if (result.op === 'get' && result.found && operation.op === 'get') seen.set(operation.key, result.version);
    if (result.op === 'set' && operation.op === 'set') seen.set(operation.key, result.version);
    if (result.op === 'create' && operation.op === 'create') seen.set(operation.key, 0);
  }

  /** A random operation; guarded writes use the version this process last saw, which may be stale. */
  #operation(process: number): Operation {
    const key = `/k${this.#int(this.#options.keys)}`;
    const seen = this.#seenBy(process).get(key) ?? 0;
    const value = `v${this.#values++}`;
    const roll = this.#random();
    if (roll < this.#options.txnRate) return this.#txn(key, seen, value);
    const rest = (roll - this.#options.txnRate) / (1 - this.#options.txnRate);
    if (rest < 0.45) return { op: 'get', key };
    if (rest < 0.65) return { op: 'set', key, value };
    if (rest < 0.8) return { op: 'set', key, value, expectedVersion: seen };
    if (rest < 0.92) return { op: 'create', key, value };
    return this.#random() < 0.5 ? { op: 'delete', key } : { op: 'delete', key, expectedVersion: seen };
  }

  /** A compare-and-set txn on one key, or across a coupled pair of keys. */
  #txn(key: string, seen: number, value: string): Operation {
    const pairs = Math.floor(this.#options.keys / 2);
    if (pairs === 0 || this.#random() >= this.#options.crossKeyShare) {
      const compares = [{ key, target: 'version', op: '=', value: seen }] as const;
      return { op: 'txn', compares, success: [{ op: 'set', key, value }], failure: [{ op: 'get', key }] };
    }
    const pair = 2 * this.#int(pairs);
    const [a, b] = [`/k${pair}`, `/k${pair + 1}`];
    return {
      op: 'txn',
      compares: [{ key: a, target: 'exists', op: '=', value: true }],
      success: [{ op: 'set', key: a, value }, { op: 'get', key: b }],
      failure: [{ op: 'create', key: a, value }, { op: 'create', key: b, value }],
    };
  }

  #seenBy(process: number): Map<string, number> {
    const known = this.#seen.get(process) ?? new Map<string, number>();
    this.#seen.set(process, known);
    return known;
  }

  #at(timeMs: number, action: () => void): void {
    const due = this.#agenda[timeMs] ?? [];
    due.push(action);
    this.#agenda[timeMs] = due;
  }

  #int(bound: number): number {
    return Math.floor(this.#random() * bound);
  }
}

/**
 * A tiny random history over two keys, for comparison with the brute-force checker: taken from a linearizable
 * execution (each operation takes effect at a random instant of its interval; some time out, some fail), then,
 * half of the time, one or two outcomes replaced by the answers the operations would get in other states. Small value
 * sets make values collide, and txns compare values, so every reduction of the checker is exercised.
 */
export function tinyHistory(seed: number): History {
  const random = mulberry32(seed);
  const int = (bound: number): number => Math.floor(random() * bound);
  const count = 2 + int(6);
  const planned = Array.from({ length: count }, (_, index) => {
    const invokeMs = int(12);
    const fate = random();
    const status = fate < 0.2 ? 'unknown' : fate < 0.25 ? 'failed' : 'completed';
    const completeMs = invokeMs + int(7);
    const effectMs = invokeMs + random() * (status === 'unknown' ? 20 : completeMs - invokeMs);
    const applies = status === 'completed' || (status === 'unknown' && random() < 0.5);
    return { index, invokeMs, completeMs, effectMs, status, applies, operation: tinyOperation(random, index) };
  });
  const outcomes = new Map<number, OkOutcome | ErrorOutcome>();
  const states: ReadonlyMap<string, Register>[] = [];
  let state: ReadonlyMap<string, Register> = new Map();
  for (const plan of [...planned].sort((a, b) => a.effectMs - b.effectMs)) {
    states.push(state);
    if (!plan.applies) continue;
    const step = applyOperation(state, plan.operation);
    outcomes.set(plan.index, step.outcome.status === 'ok' ? { status: 'ok', result: step.outcome.result } : step.outcome);
    state = step.state;
  }
  const mutated = new Set(random() < 0.5 ? [] : [int(count), int(count)]);
  return planned.map((plan) => {
    const base = { process: plan.index, invokeMs: plan.invokeMs, operation: plan.operation };
    if (plan.status === 'unknown') return { ...base, completeMs: null, outcome: { status: 'unknown' } };
    if (plan.status === 'failed') return { ...base, completeMs: plan.completeMs, outcome: { status: 'failed', reason: 'no_leader' } };
    let outcome = outcomes.get(plan.index) as OkOutcome | ErrorOutcome;
    if (mutated.has(plan.index)) {
      // The answer in another state of the run, preferring one that differs from the true answer.
      const answers = states.map((other) => applyOperation(other, plan.operation).outcome);
      const different = answers.filter((answer) => !outcomesEqual(answer, outcome));
      const other = (different.length > 0 ? different : answers)[int(Math.max(1, different.length || answers.length))];
      if (other !== undefined) outcome = other.status === 'ok' ? { status: 'ok', result: other.result } : other;
    }
    return { ...base, completeMs: plan.completeMs, outcome };
  });
}

function tinyOperation(random: Random, index: number): Operation {
  const int = (bound: number): number => Math.floor(random() * bound);
  const key = (): string => (random() < 0.5 ? '/a' : '/b');
  const value = (): string => ['x', 'y', `u${index}`][int(3)] as string;
  const version = (): number | undefined => (random() < 0.5 ? undefined : int(3));
  const sub = (): SubOperation => {
    const k = key();
    const expectedVersion = version();
    switch (int(4)) {
      case 0:
        return { op: 'get', key: k };
      case 1:
        return { op: 'create', key: k, value: value() };
      case 2:
        return expectedVersion === undefined ? { op: 'set', key: k, value: value() } : { op: 'set', key: k, value: value(), expectedVersion };
      default:
        return expectedVersion === undefined ? { op: 'delete', key: k } : { op: 'delete', key: k, expectedVersion };
    }
  };
  if (random() < 0.7) return sub();
  const operators = ['=', '!=', '<', '>'] as const;
  const compare = (): Compare => {
    const op = operators[int(4)] as CompareOperator;
    switch (int(3)) {
      case 0:
        return { key: key(), target: 'exists', op, value: random() < 0.5 };
      case 1:
        return { key: key(), target: 'version', op, value: int(3) };
      default:
        return { key: key(), target: 'value', op, value: value() };
    }
  };
  const list = <T>(make: () => T, max: number): T[] => Array.from({ length: int(max + 1) }, make);
  return { op: 'txn', compares: list(compare, 2), success: list(sub, 2), failure: list(sub, 2) };
}

/** How `mutateRead` changed a read. */
export type ReadMutation = 'other_read' | 'never_written' | 'next_version';

/**
 * Changes what one completed get returned, chosen at random: to what another get of the same key returned (a
 * plausible stale or future read), to a value nobody wrote, or to the next version. Null when the history has no
 * completed get to change.
 */
export function mutateRead(history: History, seed: number): { history: History; index: number; kind: ReadMutation } | null {
  const random = mulberry32(seed);
  const reads = history.flatMap((entry, index) => {
    const outcome = entry.outcome;
    if (entry.operation.op !== 'get' || outcome.status !== 'ok' || outcome.result.op !== 'get') return [];
    return [{ index, entry, key: entry.operation.key, result: outcome.result, revision: outcome.revision }];
  });
  const target = reads[Math.floor(random() * reads.length)];
  if (target === undefined) return null;
  const roll = random();
  const others = reads.filter((read) => read.key === target.key && !resultsEqual(read.result, target.result));
  const other = others[Math.floor(random() * others.length)];
  let kind: ReadMutation;
  let result: GetResult;
  if (roll < 0.4 && other !== undefined) [kind, result] = ['other_read', other.result];
  else if (roll < 0.7 || !target.result.found) [kind, result] = ['never_written', { op: 'get', found: true, value: 'never-written', version: 0 }];
  else [kind, result] = ['next_version', { ...target.result, version: target.result.version + 1 }];
  const outcome: OkOutcome = target.revision === undefined ? { status: 'ok', result } : { status: 'ok', result, revision: target.revision };
  const mutated = [...history];
  mutated[target.index] = { ...target.entry, completeMs: target.entry.completeMs as number, outcome };
  return { history: mutated, index: target.index, kind };
}
