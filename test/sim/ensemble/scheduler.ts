// One seeded scheduler for a whole simulated ensemble: simulated time, an event queue, and the clocks of every
// process (members drift, clients do not). Code under test is asynchronous (promises over the simulated disk,
// network and timers), so after each event the scheduler lets every promise continuation run (a macrotask
// turn: Node drains all microtasks first) before it takes the next event. Nothing in the code under test may
// use real timers or real I/O: then the same seed gives the same run, event for event.

import type { Random } from '../../../server/raft/random.ts';
import type { Clock, TimerHandle } from '../../../server/runtime/deps.ts';
import type { Deps as SdkDeps, Timer } from '../../../sdk/deps.ts';
import { EventQueue } from '../event-queue.ts';

/**
 * A simulated process (a member incarnation, or a client). Its events run only while it is alive; while it is
 * paused they wait, in order, and run when it resumes (a SIGSTOP, a long GC pause, a stalled VM).
 */
export class Owner {
  alive = true;
  paused = false;
  readonly waiting: Array<() => void> = [];
  /** Callbacks deferred during the current event: they run together, next, as setImmediate's would. */
  deferred: Array<() => void> = [];

  constructor(readonly name: string) {}
}

interface Scheduled {
  readonly owner: Owner | null;
  readonly run: () => void;
  cancelled: boolean;
}

/** Bounds that make a runaway run fail instead of hanging. */
export const schedulerLimits = { eventsMax: 3_000_000, queuedMax: 200_000 } as const;

export class Scheduler {
  now = 0;
  steps = 0;
  private readonly queue = new EventQueue<Scheduled>();

  constructor(readonly random: Random) {}

  get queued(): number {
    return this.queue.size;
  }

  /** Runs `run` after `delayMs` of simulated time, on behalf of `owner` (null: the simulation itself). */
  at(delayMs: number, run: () => void, owner: Owner | null = null): Scheduled {
    const event: Scheduled = { owner, run, cancelled: false };
    this.queue.push(this.now + Math.max(0, delayMs), event);
    return event;
  }

  /** Runs `run` now as `owner` (queued while it is paused, dropped once it died). */
  runAs(owner: Owner, run: () => void): void {
    if (!owner.alive) return;
    if (owner.paused) owner.waiting.push(run);
    else run();
  }

  /** Defers `callback` for `owner`: every callback deferred within one event runs in one later event. */
  defer(owner: Owner | null, callback: () => void): void {
    if (owner === null) {
      this.at(0, callback);
      return;
    }
    owner.deferred.push(callback);
    if (owner.deferred.length > 1) return;
    this.at(
      0,
      () => {
        const batch = owner.deferred;
        owner.deferred = [];
        for (const run of batch) run();
      },
      owner,
    );
  }

  /** Resumes a paused owner: what waited runs now, in order. */
  resume(owner: Owner): void {
    owner.paused = false;
    const waiting = owner.waiting.splice(0);
    for (const run of waiting) this.at(0, run, owner);
  }

  /** Runs events until `stop()` holds or simulated time passes `untilMs`; throws on a runaway run. */
  async run(untilMs: number, stop: () => boolean = () => false): Promise<void> {
    while (!stop()) {
      const next = this.queue.pop();
      if (next === undefined || next.time > untilMs) {
        if (next !== undefined) this.queue.push(next.time, next.item);
        this.now = Math.max(this.now, untilMs);
        return;
      }
      this.now = next.time;
      const event = next.item;
      if (event.cancelled) continue;
      if (++this.steps > schedulerLimits.eventsMax) throw new Error(`more than ${schedulerLimits.eventsMax} events`);
      if (this.queue.size > schedulerLimits.queuedMax) throw new Error(`more than ${schedulerLimits.queuedMax} events queued`);
      const owner = event.owner;
      if (owner !== null) {
        if (!owner.alive) continue;
        if (owner.paused) {
          owner.waiting.push(event.run);
          continue;
        }
      }
      event.run();
      await settle();
    }
  }

  /** A member's monotonic clock, running `rate` times as fast as simulated time. */
  memberClock(owner: Owner, rate: number): Clock {
    const start = this.now;
    return {
      now: () => (this.now - start) * rate,
      setTimeout: (callback, delayMs) => ({ id: this.at(delayMs / rate, callback, owner) }),
      clearTimeout: (handle: TimerHandle) => void ((handle.id as Scheduled).cancelled = true),
      defer: (callback) => this.defer(owner, callback),
    };
  }

  /** A client's clock (no drift: its times are simulated times, which the checkers compare directly). */
  clientClock(owner: Owner): SdkDeps['clock'] {
    return {
      now: () => this.now,
      setTimeout: (callback, delayMs) => ({ handle: this.at(delayMs, callback, owner) }),
      clearTimeout: (timer: Timer) => void ((timer.handle as Scheduled).cancelled = true),
      defer: (callback) => this.defer(owner, callback),
    };
  }
}

/** Lets every pending promise continuation run: a macrotask turn comes only after the microtask queue drained. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
