// Clock and randomness for the SDK's timers, backoff and jitter: injected, so tests can control them.

import { randomInt } from 'node:crypto';

export interface Timer {
  readonly handle: unknown;
}

export interface Deps {
  readonly clock: {
    now(): number;
    setTimeout(callback: () => void, delayMs: number): Timer;
    clearTimeout(timer: Timer): void;
    defer(callback: () => void): void;
  };
  readonly random: { int(bound: number): number };
}

export const systemDeps: Deps = {
  clock: {
    now: () => performance.now(),
    setTimeout: (callback, delayMs) => {
      const handle = setTimeout(callback, delayMs);
      handle.unref?.();
      return { handle };
    },
    clearTimeout: (timer) => clearTimeout(timer.handle as NodeJS.Timeout),
    defer: (callback) => void setImmediate(callback),
  },
  random: { int: (bound) => (bound <= 1 ? 0 : randomInt(bound)) },
};
