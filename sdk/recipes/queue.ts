// The queue beneath locks and elections: each contender creates an ephemeral sequential node under the
// recipe's folder; the order of suffixes is the order of arrival. A contender waits only for the node it
// depends on (no herd effect), with a watch that starts at the revision of its last look, so no deletion
// can slip between looking and watching.

import type { Client } from '../client.ts';
import { CompactedError, SynodError, synodError } from '../errors.ts';
import type { Compare, NodeStat } from '../protocol/messages.ts';
import type { Session } from '../session.ts';

/** Where recipes keep their nodes; another client that follows docs/recipes.md interoperates. */
export const recipeRoot = '/synod';

/** The folder of the recipe `kind` named `name` (a relative path like jobs/nightly); `invalid_path` otherwise. */
export function recipeFolder(kind: 'locks' | 'rwlocks' | 'semaphores' | 'elections', name: string): string {
  if (name.length === 0 || name.includes('//') || name.startsWith('/') || name.endsWith('/')) {
    throw new SynodError('invalid_path', `the name "${name}" must be a relative path like jobs/nightly`);
  }
  return `${recipeRoot}/${kind}/${name}`;
}

export interface QueueEntry {
  readonly name: string;
  readonly path: string;
  readonly sequence: number;
  readonly stat: NodeStat;
}

/** The sequence number at the end of a sequential node's name (10 digits). */
export function sequenceOf(name: string): number {
  return Number(name.slice(-10));
}

/**
 * Children of `folder`, in queue order, with the revision of the read. With `minRevision` (our node's creation,
 * or the deletion we waited for), a member's own state at or after it is enough, and no ReadIndex round is
 * needed: nodes only ever leave the queue ahead of ours (newcomers queue behind), so a state at least that
 * recent can only show more nodes ahead than there are, never fewer: we may wait once more, never take a lock
 * that is held. Without it, the read is linearizable.
 */
export async function readQueue(client: Client, folder: string, signal?: AbortSignal, minRevision?: number): Promise<{ entries: QueueEntry[]; revision: number }> {
  for (;;) {
    const { nodes, revision, more } = await client.range(folder, { limit: 10_000, ...(signal ? { signal } : {}), ...(minRevision !== undefined && minRevision > 0 ? { minRevision } : {}) }).catch((error: unknown) => {
      if (error instanceof SynodError && error.code === 'not_found') return { nodes: [], revision: 0, more: false };
      throw error;
    });
    if (more) throw new SynodError('too_many_requests', `more than 10000 contenders under ${folder}`);
    const entries = nodes
      .filter((node) => node.path !== folder && node.path.lastIndexOf('/') === folder.length)
      .map((node) => {
        const name = node.path.slice(folder.length + 1);
        return { name, path: node.path, sequence: sequenceOf(name), stat: node.stat };
      })
      .sort((a, b) => a.sequence - b.sequence);
    return { entries, revision };
  }
}

const attempts = new WeakMap<Session, number>();

/**
 * One attempt to join a queue. Its node is ephemeral (owned by `session`) and sequential, named
 * `<prefix>-<session>-<attempt>-<10-digit sequence>`: the tag before the sequence is unique to the attempt
 * (Curator's "protected" names), so the node can be found and removed even when the answer to its create was
 * lost, and an abandoned attempt never leaves a node behind to block the queue while its session lives.
 */
export class QueueAttempt {
  readonly tag: string;
  path: string | null = null;

  constructor(
    private readonly client: Client,
    private readonly folder: string,
    prefix: string,
    private readonly session: Session,
  ) {
    const attempt = (attempts.get(session) ?? 0) + 1;
    attempts.set(session, attempt);
    this.tag = `${prefix}-${session.id}-${attempt}`;
  }

  /** Settles when our create has (its path known, or failed): what `abandon` must wait for. */
  private created: Promise<unknown> = Promise.resolve();

  /**
   * Creates our node. The signal stops the wait, not the create: a create already sent may still apply, and
   * `abandon` must then find the node and delete it, or it would block everyone behind it for the session's life.
   */
  async join(data: Uint8Array, signal?: AbortSignal): Promise<{ path: string; stat: NodeStat }> {
    signal?.throwIfAborted();
    const creating = this.client.create(`${this.folder}/${this.tag}-`, data, { mode: 'ephemeral', sequential: true, parents: true, session: this.session });
    this.created = creating.then((created) => (this.path = created.path), () => {});
    const created = signal === undefined ? await creating : await untilAborted(creating, signal);
    return { path: created.path, stat: created.stat };
  }

  /**
   * Leaves the queue, in the background: once the create has settled, deletes our node (looked up by tag when
   * the create's answer never came), retrying through outages until it is gone or the session ends (which
   * removes it too).
   */
  abandon(): void {
    void (async () => {
      await this.created;
      for (let attempt = 0; this.session.status !== 'expired' && this.session.status !== 'closed'; attempt++) {
        try {
          // A create whose answer never came may still apply: after the barrier it has, or never will.
          if (this.path === null) await this.client.writeBarrier();
          const paths = this.path !== null ? [this.path] : await this.findOurs();
          for (const path of paths) {
            await this.client.delete(path).catch((error: unknown) => {
              if (!(error instanceof SynodError && error.code === 'not_found')) throw error;
            });
          }
          return;
        } catch (error) {
          if (error instanceof SynodError && error.code === 'closed') return;
          const clock = this.client.deps.clock;
          await new Promise<void>((resolve) => clock.setTimeout(resolve, Math.min(1000, 25 * 2 ** Math.min(attempt, 6))));
        }
      }
    })();
  }

  private async findOurs(): Promise<string[]> {
    const { entries } = await readQueue(this.client, this.folder);
    return entries.filter((entry) => entry.name.startsWith(`${this.tag}-`)).map((entry) => entry.path);
  }
}

/**
 * Resolves when `path` (or, with scope 'children', any child of it) is deleted after `afterRevision` (the
 * revision at which it was seen). The watch replays
 * history from there, so a deletion between the read and the watch is not missed. Returns the revision of the
 * deletion, or 0 when that history was compacted (the caller looks at the queue again either way).
 */
export async function waitForDeletion(client: Client, path: string, afterRevision: number, signal: AbortSignal, scope: 'node' | 'children' = 'node'): Promise<number> {
  const stream = client.watch(path, { scope, fromRevision: afterRevision + 1, signal });
  try {
    for await (const item of stream) {
      if ('type' in item && item.type === 'delete') return item.revision;
    }
    signal.throwIfAborted();
    return 0;
  } catch (error) {
    if (error instanceof CompactedError) return 0;
    throw error;
  } finally {
    stream.finish(null);
  }
}

/**
 * Combines the caller's signal, a timeout (on the client's clock) and the session's lifetime into one signal;
 * `dispose` stops the timer.
 */
export function combinedSignal(client: Client, session: Session, options: { signal?: AbortSignal; timeoutMs?: number }): { signal: AbortSignal; dispose: () => void } {
  const signals: AbortSignal[] = [session.signal];
  if (options.signal !== undefined) signals.push(options.signal);
  if (options.timeoutMs === undefined) return { signal: AbortSignal.any(signals), dispose: () => {} };
  const timeout = new AbortController();
  const clock = client.deps.clock;
  const timer = clock.setTimeout(() => timeout.abort(new SynodError('timeout', `timed out after ${options.timeoutMs} ms`)), options.timeoutMs);
  signals.push(timeout.signal);
  return { signal: AbortSignal.any(signals), dispose: () => clock.clearTimeout(timer) };
}

/** `promise`, or the SDK's `aborted` error if the signal fires first (the work itself goes on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new SynodError('aborted', 'the call was aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Turns an abort into the SDK's error: timeout, session expiry, or the caller's abort. */
export function abortError(signal: AbortSignal, what: string): SynodError {
  const reason: unknown = signal.reason;
  if (reason instanceof SynodError) return reason.code === 'timeout' ? new SynodError('timeout', `${what} timed out`) : reason;
  return new SynodError('aborted', `${what} was aborted`);
}

/**
 * A queue node this client holds (a lock, a permit, a leadership): a fencing token, a signal that aborts when
 * it is lost (its session ended, or someone deleted the node), and a release that does not give up.
 */
export class QueueHold implements AsyncDisposable {
  private readonly controller = new AbortController();
  private leaving: Promise<void> | null = null;

  constructor(
    protected readonly client: Client,
    /** The held node. */
    readonly path: string,
    /** The fencing token (the node's createRevision): strictly greater than every earlier holder's. */
    readonly token: number,
    /** The session that owns the node: it is lost when the session ends. */
    readonly session: Session,
    /** What is held, for messages. */
    private readonly what: string,
  ) {
    const onSessionEnd = (): void => this.lose(session.signal.reason);
    session.signal.addEventListener('abort', onSessionEnd, { once: true });
    this.controller.signal.addEventListener('abort', () => session.signal.removeEventListener('abort', onSessionEnd), { once: true });
    void this.watchOwnNode();
  }

  /** Aborted when it is lost (its session expired, or its node was deleted by someone): stop the work it guards. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Calls `listener` when the session is in jeopardy: it may be lost soon. Returns an unsubscribe. */
  onJeopardy(listener: () => void): () => void {
    return this.session.on('jeopardy', listener);
  }

  /** A transaction compare that holds only while this is held (fencing writes into Synod). */
  ifHeld(): Compare {
    return { path: this.path, target: 'createRevision', op: '=', value: this.token };
  }

  protected lose(reason: unknown): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason ?? synodError('session_expired', `the ${this.what} was lost`));
  }

  private async watchOwnNode(): Promise<void> {
    const stream = this.client.watch(this.path, { signal: this.controller.signal });
    try {
      for await (const item of stream) {
        if ('type' in item && item.type === 'delete') {
          if (this.leaving === null) this.lose(synodError('not_found', `${this.what} node ${this.path} was deleted`));
          return;
        }
      }
    } catch {
      // The stream ends when it is released or lost.
    }
  }

  /**
   * Gives it up: deletes the node, retrying through outages until that succeeds or the session ends (which
   * deletes the node too), so the next in line is never blocked by a release that failed. Idempotent.
   */
  protected leave(): Promise<void> {
    this.leaving ??= (async () => {
      this.controller.abort(new SynodError('aborted', 'released'));
      for (let attempt = 0; ; attempt++) {
        try {
          await this.client.delete(this.path);
          return;
        } catch (error) {
          if (error instanceof SynodError && (error.code === 'not_found' || error.code === 'closed')) return;
          if (this.session.status === 'expired' || this.session.status === 'closed') return;
          const clock = this.client.deps.clock;
          await new Promise<void>((resolve) => clock.setTimeout(resolve, Math.min(1000, 25 * 2 ** Math.min(attempt, 6))));
        }
      }
    })();
    return this.leaving;
  }

  /** Gives it up (release, resign), for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.leave();
  }
}
