// Reads that must see at least a given revision wait here until this member has applied it (bounded), so a
// client can read its own writes, or what a watch event told it, from any member without a ReadIndex round.

import type { Clock, TimerHandle } from './deps.ts';
import { RuntimeError } from './errors.ts';

interface Wait {
  readonly revision: number;
  readonly resolve: () => void;
  readonly reject: (error: RuntimeError) => void;
  readonly timer: TimerHandle;
}

/** Waits per member; at most this many at once (more: too_many_requests). */
const waitsMax = 100_000;

export class RevisionWaits {
  private waits: Wait[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly revision: () => number,
  ) {}

  /** Resolves once the applied revision is at least `revision`; `timeout` after `timeoutMs`. */
  reach(revision: number, timeoutMs: number): Promise<void> {
    if (this.revision() >= revision) return Promise.resolve();
    if (this.waits.length >= waitsMax) return Promise.reject(new RuntimeError('too_many_requests', 'too many reads wait for a revision'));
    return new Promise((resolve, reject) => {
      const wait: Wait = {
        revision,
        resolve,
        reject,
        timer: this.clock.setTimeout(() => {
          this.waits = this.waits.filter((w) => w !== wait);
          reject(new RuntimeError('timeout', `revision ${revision} was not applied here within ${timeoutMs} ms (now ${this.revision()})`));
        }, timeoutMs),
      };
      this.waits.push(wait);
    });
  }

  /** The applied revision moved: release the waits it satisfies. */
  applied(): void {
    if (this.waits.length === 0) return;
    const now = this.revision();
    const still: Wait[] = [];
    for (const wait of this.waits) {
      if (wait.revision > now) {
        still.push(wait);
        continue;
      }
      this.clock.clearTimeout(wait.timer);
      wait.resolve();
    }
    this.waits = still;
  }

  close(): void {
    const error = new RuntimeError('unavailable', 'the member is stopping');
    for (const wait of this.waits) {
      this.clock.clearTimeout(wait.timer);
      wait.reject(error);
    }
    this.waits = [];
  }
}
