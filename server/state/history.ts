// The bounded history of events that watches replay: a ring of events in revision order. It holds every event
// of each revision from `oldestRevision` on; older revisions are dropped whole (retention limits or `compact`),
// so a replay never starts in the middle of a revision.

import { invariant } from './errors.ts';
import type { Revision, WatchEvent, WatchFilter } from './types.ts';

export type HistoryRead =
  | {
      readonly ok: true;
      readonly events: readonly WatchEvent[];
      /** Ask again from here to continue (the revision after the last one read, or after the current one). */
      readonly nextRevision: Revision;
    }
  | { readonly ok: false; readonly code: 'compacted'; readonly oldestRevision: Revision };

/** Whether `event` is covered by `filter` (see WatchFilter). No allocation. */
export function matches(filter: WatchFilter, event: WatchEvent): boolean {
  const path = filter.path;
  const eventPath = event.path;
  switch (filter.kind) {
    case 'node':
      return eventPath === path;
    case 'children':
      if (path === '/') return eventPath.length > 1 && eventPath.indexOf('/', 1) === -1;
      return (
        eventPath.length > path.length + 1 &&
        eventPath.charCodeAt(path.length) === 0x2f &&
        eventPath.startsWith(path) &&
        eventPath.indexOf('/', path.length + 1) === -1
      );
    case 'subtree':
      if (path === '/') return true;
      return (
        eventPath === path ||
        (eventPath.length > path.length && eventPath.charCodeAt(path.length) === 0x2f && eventPath.startsWith(path))
      );
  }
}

export class History {
  private ring: (WatchEvent | undefined)[] = new Array<WatchEvent | undefined>(64);
  private head = 0;
  private count = 0;
  /** Every event of every revision >= this is kept. */
  oldestRevision: Revision = 1 as Revision;

  constructor(
    private revisionsMax: number,
    private eventsMax: number,
  ) {}

  get size(): number {
    return this.count;
  }

  /** The i-th kept event, oldest first. */
  at(i: number): WatchEvent {
    invariant(i >= 0 && i < this.count, () => `history index ${i} out of range`);
    return this.ring[(this.head + i) & (this.ring.length - 1)] as WatchEvent;
  }

  /** Appends the events of one new revision (all carrying it), then applies retention. */
  append(events: readonly WatchEvent[], revision: Revision): void {
    if (this.count > 0) invariant(this.at(this.count - 1).revision < revision, 'history revisions must increase');
    for (const event of events) {
      invariant(event.revision === revision, 'every event of an append carries its revision');
      this.push(event);
    }
    this.retain(revision);
  }

  /** Drops revisions beyond the limits, keeping at least the latest revision. */
  retain(currentRevision: Revision): void {
    const keepFrom = currentRevision - this.revisionsMax + 1;
    while (this.count > 0 && this.at(0).revision < keepFrom) this.dropOldestRevision();
    while (this.count > this.eventsMax && this.at(0).revision < currentRevision) this.dropOldestRevision();
    if (keepFrom > this.oldestRevision) this.oldestRevision = keepFrom as Revision;
  }

  /** Drops every event before `revision`; watches may then start at `revision` or later. */
  compact(revision: Revision): void {
    while (this.count > 0 && this.at(0).revision < revision) this.dropOldestRevision();
    if (revision > this.oldestRevision) this.oldestRevision = revision;
  }

  /** Changes the retention limits (a restore with another configuration). */
  setLimits(revisionsMax: number, eventsMax: number, currentRevision: Revision): void {
    this.revisionsMax = revisionsMax;
    this.eventsMax = eventsMax;
    this.retain(currentRevision);
  }

  /**
   * The events from `fromRevision` on (values below 1 mean 1) that match `filter` (all if null). With
   * `eventsMax`, stops at a revision boundary once that many events are gathered (at least one revision).
   */
  read(fromRevision: number, filter: WatchFilter | null, eventsMax: number, currentRevision: Revision): HistoryRead {
    const from = Math.max(1, fromRevision);
    if (from < this.oldestRevision) return { ok: false, code: 'compacted', oldestRevision: this.oldestRevision };
    const events: WatchEvent[] = [];
    let i = this.firstIndexAtOrAfter(from);
    let lastRevision = 0;
    for (; i < this.count; i++) {
      const event = this.at(i);
      if (events.length >= eventsMax && event.revision !== lastRevision) {
        return { ok: true, events, nextRevision: event.revision };
      }
      lastRevision = event.revision;
      if (filter === null || matches(filter, event)) events.push(event);
    }
    return { ok: true, events, nextRevision: Math.max(from, currentRevision + 1) as Revision };
  }

  /** Restores a kept window (a snapshot). */
  load(events: readonly WatchEvent[], oldestRevision: Revision): void {
    this.ring = new Array<WatchEvent | undefined>(64);
    this.head = 0;
    this.count = 0;
    for (const event of events) this.push(event);
    this.oldestRevision = oldestRevision;
  }

  private firstIndexAtOrAfter(revision: number): number {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.at(mid).revision < revision) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  private push(event: WatchEvent): void {
    if (this.count === this.ring.length) this.grow();
    this.ring[(this.head + this.count) & (this.ring.length - 1)] = event;
    this.count++;
  }

  private grow(): void {
    const next = new Array<WatchEvent | undefined>(this.ring.length * 2);
    for (let i = 0; i < this.count; i++) next[i] = this.at(i);
    this.ring = next;
    this.head = 0;
  }

  private dropOldestRevision(): void {
    const revision = this.at(0).revision;
    while (this.count > 0 && this.at(0).revision === revision) {
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) & (this.ring.length - 1);
      this.count--;
    }
    if (revision + 1 > this.oldestRevision) this.oldestRevision = (revision + 1) as Revision;
  }
}
