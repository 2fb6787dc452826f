// A watch stream as an async iterator. It resumes after a reconnect from the last revision it delivered
// (no gap, no duplicate), pauses the server-side watch when the consumer falls behind (bounded memory) and
// resumes it from history when the consumer catches up, and ends with CompactedError when history is gone.

import { CompactedError, SynodError } from './errors.ts';
import type { NodeData, WatchEvent, WatchPush, WatchScope } from './protocol/messages.ts';

/** Options of `client.watch()`. */
export interface WatchOptions {
  /** `node` (default), `children` (direct children), or `subtree` (the node and all below). */
  readonly scope?: WatchScope;
  /** Shorthand for scope 'subtree'. */
  readonly recursive?: boolean;
  /** Deliver events from this revision on (inclusive). Default: changes after the watch starts. */
  readonly fromRevision?: number;
  /**
   * First deliver the current state (as `initial` items), then every change after it. With a `fromRevision`
   * whose history is still kept, that history is replayed instead.
   */
  readonly initial?: boolean;
  /** Include the previous data on `set` events. */
  readonly prevData?: boolean;
  /** Also yield `progress` items on idle streams. */
  readonly progress?: boolean;
  /** Ends the stream: `next()` rejects with `aborted` once buffered items are taken. */
  readonly signal?: AbortSignal;
  /** Events buffered before the server-side watch is paused (resumed from history when drained). */
  readonly bufferEventsMax?: number;
}

/** What a watch yields: changes, and optionally the initial state and progress notices. */
export type WatchItem =
  | WatchEvent
  /**
   * Part of the state at `revision` (`done` on the last part): the node itself (none if it is missing), its
   * children, or the node and everything below, by scope.
   */
  | { readonly type: 'initial'; readonly nodes: readonly NodeData[]; readonly revision: number; readonly done: boolean }
  /** Every change the watch covers up to `revision` has been delivered. */
  | { readonly type: 'progress'; readonly revision: number };

/** The connection-side services a stream needs (implemented by the client). */
export interface WatchHost {
  startWatch(stream: WatchStream, fromRevision: number, initial: boolean): Promise<{ watchId: number; revision: number }>;
  cancelWatch(watchId: number): void;
  forget(stream: WatchStream): void;
}

/**
 * A watch (`client.watch()`): an async iterator of WatchItems, each change once, in revision order, across
 * reconnects. It ends quietly on `return()` (so on `break`) or when the client closes; with an error on
 * `options.signal` (`aborted`), when history it needs was compacted (CompactedError), or when a member refuses
 * the watch for good (say `invalid_path`, `too_many_requests`). Iterate it once.
 */
export class WatchStream implements AsyncIterableIterator<WatchItem> {
  private readonly buffer: WatchItem[] = [];
  private bufferedEvents = 0;
  private waiter: { resolve: (r: IteratorResult<WatchItem>) => void; reject: (e: unknown) => void } | null = null;
  private error: unknown = null;
  private ended = false;
  private paused = false;
  /** Server-side id of the current incarnation of this watch (changes on each resume). */
  watchId = 0;
  /** The last revision delivered into the buffer (events or progress): resume after it. */
  lastRevision = 0;
  /** The first revision whose events the stream delivers (0 until the server accepted the watch). */
  startRevision = 0;
  private started = false;
  private initialPending: boolean;

  constructor(
    /** The watched path. */
    readonly path: string,
    /** The options it was opened with. */
    readonly options: WatchOptions,
    private readonly host: WatchHost,
    /** Planted bug (tests only): resume one revision too late. */
    private readonly skipOnResume = false,
  ) {
    this.initialPending = options.initial === true;
    const abort = (): void => this.finish(new SynodError('aborted', 'the watch was aborted'));
    // A listener added to a signal already aborted never fires.
    if (options.signal?.aborted === true) abort();
    else options.signal?.addEventListener('abort', abort, { once: true });
  }

  /** The scope in effect: `options.scope`, else `subtree` with `recursive`, else `node`. */
  get scope(): WatchScope {
    return this.options.scope ?? (this.options.recursive === true ? 'subtree' : 'node');
  }

  /** Starts (or restarts after a reconnect or a pause) the server-side watch after the last revision seen. */
  async resume(): Promise<void> {
    if (this.ended) return;
    const from = this.started ? this.lastRevision + (this.skipOnResume ? 2 : 1) : (this.options.fromRevision ?? 0);
    try {
      const { watchId, revision } = await this.host.startWatch(this, from, this.initialPending);
      if (this.ended) {
        // Ended (aborted, returned) while the server was starting it: stop the server-side watch too.
        this.host.cancelWatch(watchId);
        return;
      }
      this.watchId = watchId;
      if (!this.started) {
        // Everything before the first revision the stream covers counts as seen: a resume starts after it
        // (not from revision 1, which history no longer holds). Replayed events may have moved it on already.
        this.lastRevision = Math.max(this.lastRevision, from === 0 ? revision : from - 1);
        this.startRevision = from === 0 ? revision + 1 : from;
      }
      this.started = true;
    } catch (error) {
      if (error instanceof SynodError && (error.code === 'closed' || error.code === 'aborted')) this.finish(null);
      else if (!(error instanceof SynodError) || !error.retryable) this.finish(error);
      // A retryable failure: the next reconnect resumes again.
    }
  }

  /** Called by the client for each push of this stream's current incarnation. */
  deliver(push: WatchPush): void {
    if (this.ended) return;
    if ('events' in push) {
      const fresh = push.events.filter((event) => event.revision > this.lastRevision);
      if (fresh.length === 0) return;
      for (const event of fresh) this.buffer.push(event);
      this.bufferedEvents += fresh.length;
      this.lastRevision = push.revision;
    } else if ('progress' in push) {
      if (push.progress <= this.lastRevision) return;
      this.lastRevision = push.progress;
      if (this.options.progress === true) this.buffer.push({ type: 'progress', revision: push.progress });
    } else if ('snapshot' in push) {
      this.buffer.push({ type: 'initial', nodes: push.snapshot, revision: push.revision, done: push.done });
      if (push.done) {
        this.initialPending = false;
        this.lastRevision = push.revision;
      }
    } else {
      if (push.canceled.code === 'compacted') {
        this.finish(new CompactedError('compacted', push.canceled.message, push.canceled.compactRevision === undefined ? {} : { compactRevision: push.canceled.compactRevision }));
      } else {
        // The member reset the stream (a snapshot install): resume from where we are.
        this.watchId = 0;
        void this.resume();
      }
      return;
    }
    this.wake();
    const limit = this.options.bufferEventsMax ?? 10_000;
    if (!this.paused && this.bufferedEvents > limit) {
      // The consumer is behind: stop the server pushing; history will fill the gap on resume.
      this.paused = true;
      this.host.cancelWatch(this.watchId);
      this.watchId = 0;
    }
  }

  private wake(): void {
    if (this.waiter === null || this.buffer.length === 0) return;
    const { resolve } = this.waiter;
    this.waiter = null;
    resolve({ value: this.take(), done: false });
  }

  private take(): WatchItem {
    const item = this.buffer.shift()!;
    if (!('type' in item) || item.type === 'create' || item.type === 'set' || item.type === 'delete') this.bufferedEvents--;
    if (this.paused && this.bufferedEvents === 0) {
      this.paused = false;
      void this.resume();
    }
    return item;
  }

  /**
   * The next item, waiting for one. After the stream ended, the items still buffered, then `done`, or a rejection
   * with the error that ended it.
   */
  next(): Promise<IteratorResult<WatchItem>> {
    if (this.buffer.length > 0) return Promise.resolve({ value: this.take(), done: false });
    if (this.error !== null) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** Ends the stream and cancels the server-side watch (`break` in `for await` calls it). */
  return(): Promise<IteratorResult<WatchItem>> {
    this.finish(null);
    return Promise.resolve({ value: undefined, done: true });
  }

  /** The stream itself: it is its own iterator. */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Ends the stream; pending `next()` settles (with the error, if any). */
  finish(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    if (this.watchId !== 0) this.host.cancelWatch(this.watchId);
    this.host.forget(this);
    const waiter = this.waiter;
    this.waiter = null;
    if (waiter === null) return;
    if (error !== null) waiter.reject(error);
    else waiter.resolve({ value: undefined, done: true });
  }

  /** Ends the stream, as `return()` does, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.finish(null);
  }
}
