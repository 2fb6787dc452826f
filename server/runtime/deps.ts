// The impure world the runtime talks to, injected in one object so a simulator can replace all of it.

import { randomInt } from 'node:crypto';
import type { Random } from '../raft/random.ts';

export interface Clock {
  /** Milliseconds on a monotonic clock (never goes back). */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** Runs `callback` soon, after the current work (a turn of the event loop). */
  defer(callback: () => void): void;
}

export interface TimerHandle {
  readonly id: unknown;
}

/** Milliseconds since the Unix epoch: the leader stamps it into entries (node times, TTL nodes). */
export type WallClock = () => number;

/** Time and randomness of one member. */
export interface RuntimeDeps {
  readonly clock: Clock;
  readonly wallClock: WallClock;
  readonly random: Random;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, delayMs) => ({ id: setTimeout(callback, delayMs) }),
  clearTimeout: (handle) => clearTimeout(handle.id as NodeJS.Timeout),
  defer: (callback) => void setImmediate(callback),
};

export const systemRandom: Random = {
  int: (bound) => (bound <= 1 ? 0 : randomInt(Math.min(bound, 2 ** 48 - 1))),
  float: () => randomInt(2 ** 48 - 1) / 2 ** 48,
};

export const systemDeps: RuntimeDeps = { clock: systemClock, wallClock: () => Date.now(), random: systemRandom };
