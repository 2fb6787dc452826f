// Builds histories as a test harness runs: invoke before sending, then complete, fail or time out the handle.
// The clock is injected (a simulator's virtual clock, or performance.now in a real run), so recording never
// reads the wall clock itself.

import { CheckerError, ensure } from './errors.ts';
import type { ErrorOutcome, History, HistoryEntry, OkOutcome, ProcessId } from './history.ts';
import type { Operation } from './model.ts';

/** A monotonic time source in milliseconds. */
export interface MonotonicClock {
  nowMs(): number;
}

/** One invoked operation, to be resolved exactly once. */
export interface PendingOperation {
  /** The entry's index in the history (its name in reports). */
  readonly index: number;
  /** The client heard back: a result, or an error that means "no effect". */
  complete(outcome: OkOutcome | ErrorOutcome): void;
  /** The operation definitely had no effect (for example `no_leader`); the checkers drop it. */
  fail(reason: string): void;
  /** The client stopped waiting: the operation may take effect at any time, or never. */
  timeout(reason?: string): void;
}

type Slot =
  | { readonly state: 'pending'; readonly process: ProcessId; readonly invokeMs: number; readonly operation: Operation }
  | { readonly state: 'resolved'; readonly entry: HistoryEntry };

/**
 * Records a history. Invocations are numbered in the order they happen; operations still pending when
 * `history()` is called are recorded with an unknown outcome, which is what they are.
 */
export class HistoryRecorder {
  readonly #clock: MonotonicClock;
  readonly #slots: Slot[] = [];
  readonly #busy = new Set<ProcessId>();
  #lastMs = Number.NEGATIVE_INFINITY;

  constructor(clock: MonotonicClock) {
    this.#clock = clock;
  }

  /** Records that `process` sends `operation` now. A process runs one operation at a time. */
  invoke(process: ProcessId, operation: Operation): PendingOperation {
    ensure(!this.#busy.has(process), 'recorder_misuse', `process ${String(process)} already has an operation pending`);
    const index = this.#slots.length;
    this.#slots.push({ state: 'pending', process, invokeMs: this.#now(), operation });
    this.#busy.add(process);
    return {
      index,
      complete: (outcome) => this.#resolve(index, (base) => ({ ...base, completeMs: this.#now(), outcome })),
      fail: (reason) =>
        this.#resolve(index, (base) => ({ ...base, completeMs: this.#now(), outcome: { status: 'failed', reason } })),
      timeout: (reason) =>
        this.#resolve(index, (base) => ({
          ...base,
          completeMs: null,
          outcome: reason === undefined ? { status: 'unknown' } : { status: 'unknown', reason },
        })),
    };
  }

  /** The history so far, in invocation order. */
  history(): History {
    return this.#slots.map((slot) => {
      if (slot.state === 'resolved') return slot.entry;
      const { process, invokeMs, operation } = slot;
      return { process, invokeMs, operation, completeMs: null, outcome: { status: 'unknown', reason: 'pending' } };
    });
  }

  #resolve(
    index: number,
    build: (base: { process: ProcessId; invokeMs: number; operation: Operation }) => HistoryEntry,
  ): void {
    const slot = this.#slots[index];
    if (slot?.state !== 'pending') throw new CheckerError('recorder_misuse', `operation ${index} resolved twice`);
    const { process, invokeMs, operation } = slot;
    this.#slots[index] = { state: 'resolved', entry: build({ process, invokeMs, operation }) };
    this.#busy.delete(process);
  }

  #now(): number {
    const nowMs = this.#clock.nowMs();
    ensure(nowMs >= this.#lastMs, 'recorder_misuse', `the clock went back from ${this.#lastMs}ms to ${nowMs}ms`);
    this.#lastMs = nowMs;
    return nowMs;
  }
}
