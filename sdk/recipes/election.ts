// Leader election on the queue recipe (etcd's concurrency.Election, Curator's LeaderLatch): candidates
// queue under /synod/elections/NAME; the first is the leader and its node's data is the leader's value.
// A leadership carries a fencing token and a signal that fires when it is lost.

import type { Client, Value } from '../client.ts';
import { toBytes } from '../client.ts';
import { SynodError, synodError } from '../errors.ts';
import type { Session } from '../session.ts';
import { abortError, combinedSignal, QueueAttempt, QueueHold, readQueue, recipeFolder, waitForDeletion } from './queue.ts';

/** Who leads an election. */
export interface LeaderInfo {
  /** The leader's node (its key). Where nobody leads, the functions that return a LeaderInfo return null. */
  readonly path: string;
  /** The value the leader campaigned with or proclaimed last. */
  readonly value: Uint8Array;
  /** The leader's fencing token. */
  readonly token: number;
}

/** Options of `Election.campaign`. */
export interface CampaignOptions {
  /** Give up waiting to lead after this long, in ms, with SynodError `timeout` (default: no limit). */
  readonly timeoutMs?: number;
  /** Aborting it gives up, with SynodError `aborted`. */
  readonly signal?: AbortSignal;
  /** The session that owns the candidacy (leadership ends with it); the client's default session otherwise. */
  readonly session?: Session;
}

/** Leadership won by `campaign`. `resign()` is idempotent; `await using` resigns at the end of the scope. */
export class Leadership extends QueueHold {
  constructor(client: Client, path: string, token: number, session: Session) {
    super(client, path, token, session, 'leadership');
  }

  /** Changes the leader's value (observers see it); fails if leadership was lost. */
  async proclaim(value: Value): Promise<void> {
    const result = await this.client.txn().if(this.ifHeld()).then({ op: 'set', path: this.path, data: toBytes(value) }).commit();
    if (!result.succeeded) {
      this.lose(synodError('session_expired', 'leadership was lost'));
      throw synodError('session_expired', 'cannot proclaim: leadership was lost');
    }
  }

  /** Steps down (deletes its node, retrying through outages until done): the next candidate leads. */
  resign(): Promise<void> {
    return this.leave();
  }
}

/**
 * The election NAME (`client.election()`). Throws `invalid_path` for an empty NAME or one with a leading or
 * trailing `/`.
 */
export class Election {
  /** Where candidates queue: `/synod/elections/NAME`. */
  readonly folder: string;

  constructor(
    private readonly client: Client,
    /** The election's name, as given. */
    readonly name: string,
  ) {
    this.folder = recipeFolder('elections', name);
  }

  /** Waits until this process leads, with `value` as the leader's value. */
  async campaign(value: Value, options: CampaignOptions = {}): Promise<Leadership> {
    const client = this.client;
    const session = options.session ?? (await client.session());
    const { signal, dispose } = combinedSignal(client, session, options);
    const attempt = new QueueAttempt(client, this.folder, 'candidate', session);
    try {
      const mine = await attempt.join(toBytes(value), signal);
      let seenAt = mine.stat.createRevision;
      for (;;) {
        const { entries, revision } = await readQueue(client, this.folder, signal, seenAt);
        const i = entries.findIndex((entry) => entry.path === mine.path);
        if (i < 0) throw synodError('session_expired', `candidate node ${mine.path} is gone`);
        if (i === 0) return new Leadership(client, mine.path, mine.stat.createRevision, session);
        seenAt = await waitForDeletion(client, entries[i - 1]!.path, revision, signal);
      }
    } catch (error) {
      attempt.abandon();
      if (signal.aborted) throw abortError(signal, `campaign for ${this.name}`);
      throw error;
    } finally {
      dispose();
    }
  }

  /** The current leader, or null. */
  async leader(): Promise<LeaderInfo | null> {
    const { entries } = await readQueue(this.client, this.folder);
    const first = entries[0];
    if (first === undefined) return null;
    const node = await this.client.get(first.path).catch(() => null);
    return node === null ? this.leader() : { path: first.path, value: node.data, token: node.stat.createRevision };
  }

  /** The current leader (null when none), then every change of leader or of its value, in order. */
  async *observe(options: { signal?: AbortSignal } = {}): AsyncGenerator<LeaderInfo | null> {
    const candidates = new Map<string, { value: Uint8Array; token: number; sequence: number }>();
    const stream = this.client.watch(this.folder, { scope: 'children', initial: true, ...(options.signal ? { signal: options.signal } : {}) });
    let last: LeaderInfo | null | undefined;
    const current = (): LeaderInfo | null => {
      let best: [string, { value: Uint8Array; token: number; sequence: number }] | null = null;
      for (const entry of candidates) if (best === null || entry[1].sequence < best[1].sequence) best = entry;
      return best === null ? null : { path: best[0], value: best[1].value, token: best[1].token };
    };
    let ready = false;
    try {
      for await (const item of stream) {
        if (item.type === 'progress') continue;
        if (item.type === 'initial') {
          for (const node of item.nodes) candidates.set(node.path, { value: node.data, token: node.stat.createRevision, sequence: Number(node.path.slice(-10)) });
          if (!item.done) continue;
          ready = true;
        } else if (item.type === 'delete') {
          candidates.delete(item.path);
        } else {
          candidates.set(item.path, { value: item.data, token: item.stat.createRevision, sequence: Number(item.path.slice(-10)) });
        }
        if (!ready) continue;
        const leader = current();
        if (last !== undefined && sameLeader(last, leader)) continue;
        last = leader;
        yield leader;
      }
    } finally {
      stream.finish(null);
    }
  }
}

function sameLeader(a: LeaderInfo | null, b: LeaderInfo | null): boolean {
  if (a === null || b === null) return a === b;
  return a.path === b.path && Buffer.compare(a.value, b.value) === 0;
}

