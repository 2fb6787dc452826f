// Distributed locks on the queue recipe: a fair (FIFO) mutex, a read-write lock and a semaphore. The holder
// gets a fencing token (its node's createRevision, which only grows from holder to holder) and a signal
// that fires when the lock is lost (session expired, node deleted). Layout: docs/recipes.md.

import type { Client } from '../client.ts';
import { SynodError, synodError } from '../errors.ts';
import type { Session } from '../session.ts';
import { abortError, combinedSignal, QueueAttempt, QueueHold, readQueue, recipeFolder, waitForDeletion, type QueueEntry } from './queue.ts';

/** Options of `lock`, `tryLock`, `readLock`, `writeLock` and `semaphore`. */
export interface LockOptions {
  /** Give up waiting after this long, in ms, with SynodError `timeout` (default: no limit). */
  readonly timeoutMs?: number;
  /** Aborting it gives up waiting, with SynodError `aborted`. */
  readonly signal?: AbortSignal;
  /** The session that owns the lock; the client's default session otherwise. */
  readonly session?: Session;
  /** Stored in the waiter's node (shown by `synodctl lock owner`). */
  readonly owner?: string;
}

/** A held lock. `release()` is idempotent; `await using` releases it at the end of the scope. */
export class Lock extends QueueHold {
  constructor(
    client: Client,
    path: string,
    token: number,
    session: Session,
    /** The revision at which it was first in its queue: granted. */
    readonly revision: number,
  ) {
    super(client, path, token, session, 'lock');
  }

  /** Releases the lock (deletes its node, retrying through outages until done). Idempotent. */
  release(): Promise<void> {
    return this.leave();
  }
}

/**
 * The folder that holds the queue of the lock NAME: `/synod/KIND/NAME`. Throws `invalid_path` for an empty NAME or
 * one with `//` or a leading or trailing `/`.
 */
export function lockFolder(name: string, kind: 'locks' | 'rwlocks' | 'semaphores' = 'locks'): string {
  return recipeFolder(kind, name);
}

/** What a contender waits for: one node ahead, any departure ('anyDeparture'), or nothing (it holds). */
type Blocker = (mine: QueueEntry, queue: readonly QueueEntry[]) => QueueEntry | 'anyDeparture' | null;

/** Waits in a queue until `blocker` finds nothing ahead to wait for; returns the held lock. */
async function acquire(client: Client, folder: string, prefix: string, blocker: Blocker, options: LockOptions & { try?: boolean }): Promise<Lock | null> {
  const session = options.session ?? (await client.session());
  const { signal, dispose } = combinedSignal(client, session, options);
  const attempt = new QueueAttempt(client, folder, prefix, session);
  try {
    const mine = await attempt.join(new TextEncoder().encode(options.owner ?? ''), signal);
    let seenAt = mine.stat.createRevision;
    for (;;) {
      signal.throwIfAborted();
      const { entries, revision } = await readQueue(client, folder, signal, seenAt);
      // Our node is gone when our session expired: we never hold the lock then.
      const me = entries.find((entry) => entry.path === mine.path);
      if (me === undefined) throw synodError('session_expired', `our queue node ${mine.path} is gone`);
      const ahead = blocker(me, entries);
      if (ahead === null) return new Lock(client, mine.path, mine.stat.createRevision, session, revision);
      if (options.try === true) {
        attempt.abandon();
        return null;
      }
      const deletedAt = await waitForDeletion(client, ahead === 'anyDeparture' ? folder : ahead.path, revision, signal, ahead === 'anyDeparture' ? 'children' : 'node');
      if (client.deps.plantedBugs?.lockWithoutRecheck === true && ahead !== 'anyDeparture' && deletedAt > 0) {
        return new Lock(client, mine.path, mine.stat.createRevision, session, deletedAt);
      }
      seenAt = deletedAt; // 0 (the history was compacted): a linearizable look
    }
  } catch (error) {
    // Leave the queue (in the background, until done) so we never block those behind us.
    attempt.abandon();
    if (signal.aborted) throw abortError(signal, `lock ${folder}`);
    throw error;
  } finally {
    dispose();
  }
}

/** Mutex: wait for the node just ahead. */
const exclusive: Blocker = (mine, queue) => {
  const i = queue.indexOf(mine);
  return i > 0 ? queue[i - 1]! : null;
};

/** Takes the lock NAME, waiting in FIFO order. */
export function lock(client: Client, name: string, options: LockOptions = {}): Promise<Lock> {
  return acquire(client, lockFolder(name), 'lock', exclusive, options) as Promise<Lock>;
}

/** Takes the lock if it is free now; null otherwise (never waits). */
export function tryLock(client: Client, name: string, options: LockOptions = {}): Promise<Lock | null> {
  return acquire(client, lockFolder(name), 'lock', exclusive, { ...options, try: true });
}

/** Readers share; a writer excludes all. A reader waits for the nearest writer ahead; a writer for the node just ahead. */
export function readLock(client: Client, name: string, options: LockOptions = {}): Promise<Lock> {
  return acquire(client, lockFolder(name, 'rwlocks'), 'read', (mine, queue) => {
    const i = queue.indexOf(mine);
    for (let j = i - 1; j >= 0; j--) if (queue[j]!.name.startsWith('write-')) return queue[j]!;
    return null;
  }, options) as Promise<Lock>;
}

export function writeLock(client: Client, name: string, options: LockOptions = {}): Promise<Lock> {
  return acquire(client, lockFolder(name, 'rwlocks'), 'write', exclusive, options) as Promise<Lock>;
}

/**
 * A semaphore with `permits` holders at once: a contender holds a permit when fewer than `permits` nodes are
 * ahead of it. Any holder may leave first, so waiters look again at every departure from the folder (a small
 * herd, bounded by the number of waiters; a mutex never has one).
 */
export function semaphore(client: Client, name: string, permits: number, options: LockOptions = {}): Promise<Lock> {
  if (!Number.isInteger(permits) || permits < 1) throw new SynodError('bad_request', 'permits must be a positive integer');
  return acquire(client, lockFolder(name, 'semaphores'), 'permit', (mine, queue) => (queue.indexOf(mine) >= permits ? 'anyDeparture' : null), options) as Promise<Lock>;
}
