// The leader's view of one follower: how far its log matches, what to send next, and the flow control that
// keeps a bounded number of appends (or snapshot chunks) in flight.

import { invariant } from './errors.ts';
import type { LogIndex, Snapshot } from './types.ts';
import { logIndex } from './types.ts';

/** A ring of the last indices of appends in flight, oldest first. */
export class Inflights {
  private readonly buffer: number[];
  private start = 0;
  count = 0;

  constructor(readonly size: number) {
    this.buffer = new Array<number>(size).fill(0);
  }

  full(): boolean {
    return this.count === this.size;
  }

  add(lastIndex: number): void {
    invariant(!this.full(), 'inflights overflow');
    this.buffer[(this.start + this.count) % this.size] = lastIndex;
    this.count++;
  }

  /** Frees every append whose last index is at or below `index`. */
  freeTo(index: number): void {
    while (this.count > 0 && this.buffer[this.start]! <= index) {
      this.start = (this.start + 1) % this.size;
      this.count--;
    }
  }

  freeFirstOne(): void {
    if (this.count === 0) return;
    this.start = (this.start + 1) % this.size;
    this.count--;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}

/** A snapshot on its way to a follower, chunk by chunk. */
export interface SnapshotTransfer {
  readonly snapshot: Snapshot;
  /** Bytes sent; rewound to `ackedBytes` when the transfer stalls. */
  sentBytes: number;
  ackedBytes: number;
  /** Whether any chunk went out (a snapshot with no data still needs one). */
  sentAny: boolean;
  /** `ackedBytes` at the last heartbeat, to notice a stall. */
  ackedAtLastBeat: number;
  /**
   * The lowest offset a follower reported below `ackedBytes` since the last stall check (it restarted and lost
   * its partial copy, or the answer is stale), or null. Acted on only at a stall, so reordered or duplicated
   * answers cannot make the sender rewind again and again (a message storm the simulator found: seed 641).
   */
  rewindTo: number | null;
}

/**
 * probe: one append at a time until the follower's match is found; replicate: stream appends optimistically;
 * snapshot: the follower needs a snapshot, appends wait.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match: LogIndex = logIndex(0);
  next: LogIndex;
  state: ProgressState = 'probe';
  /** In probe state: an append is out and unanswered. */
  probeSent = false;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  transfer: SnapshotTransfer | null = null;
  readonly inflights: Inflights;

  constructor(
    next: LogIndex,
    inflightMax: number,
    public isLearner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(inflightMax);
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const snapshotIndex = this.transfer?.snapshot.metadata.index ?? 0;
      this.next = logIndex(Math.max(this.match + 1, snapshotIndex + 1));
    } else {
      this.next = logIndex(this.match + 1);
    }
    this.resetState('probe');
  }

  becomeReplicate(): void {
    this.next = logIndex(this.match + 1);
    this.resetState('replicate');
  }

  becomeSnapshot(snapshot: Snapshot): void {
    this.resetState('snapshot');
    this.transfer = { snapshot, sentBytes: 0, ackedBytes: 0, sentAny: false, ackedAtLastBeat: 0, rewindTo: null };
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.transfer = null;
    this.inflights.reset();
  }

  /** Records a successful append up to `index`; false when it tells nothing new. */
  maybeUpdate(index: LogIndex): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < index + 1) this.next = logIndex(index + 1);
    return updated;
  }

  /** Records that `sentLast` was sent optimistically (replicate state). */
  optimisticUpdate(sentLast: LogIndex): void {
    this.next = logIndex(sentLast + 1);
  }

  /**
   * A follower rejected the append after `rejected`; `hint` is the highest index that may match. False when
   * the rejection is stale (answers an older append).
   */
  maybeDecreaseTo(rejected: LogIndex, hint: LogIndex): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = logIndex(this.match + 1);
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = logIndex(Math.max(Math.min(rejected, hint + 1), this.match + 1, 1));
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
