// A session: a lease that this client keeps alive with heartbeats, from whichever member it is connected
// to, so it survives failover within its TTL. It signals `jeopardy` when two thirds of the TTL have passed
// since the latest answered heartbeat was sent (the holder of a lock may be about to lose it) and `expired`
// when it is gone.

import { SynodError, synodError } from './errors.ts';
import type { Deps, Timer } from './deps.ts';

export interface SessionHost {
  readonly deps: Deps;
  keepAlive(leaseId: number): Promise<void>;
  revoke(leaseId: number): Promise<void>;
}

/**
 * `alive`: heartbeats are answered. `jeopardy`: none answered for two thirds of the TTL since the last answered
 * one was sent; it may expire soon. `expired`: the cluster answered a heartbeat that the lease is gone (the SDK
 * never concludes this from its own clock: cut off from the cluster, a session stays in `jeopardy`). `closed`:
 * `close()` was called. `expired` and `closed` are final.
 */
export type SessionState = 'alive' | 'jeopardy' | 'expired' | 'closed';

/**
 * A lease this client keeps alive with three heartbeats per TTL, through whichever member it is connected to;
 * from `client.session()`. Ephemeral nodes it owns are deleted when it expires or is closed.
 */
export class Session implements AsyncDisposable {
  private state: SessionState = 'alive';
  private answeredSentAt: number;
  private timer: Timer | null = null;
  private jeopardyTimer: Timer | null = null;
  private readonly controller = new AbortController();
  private readonly listeners = new Map<'jeopardy' | 'expired' | 'recovered', Set<() => void>>();

  constructor(
    /** The lease id: the `ephemeralOwner` of this session's nodes. */
    readonly id: number,
    /** The TTL the server granted, in ms: the one asked for, clamped into the member's session bounds. */
    readonly ttlMs: number,
    private readonly host: SessionHost,
    /** When the request that granted the session was sent (the server's TTL started after it). */
    grantSentAt: number = host.deps.clock.now(),
  ) {
    this.answeredSentAt = grantSentAt;
    this.schedule();
    this.armJeopardy();
  }

  /**
   * When the latest answered heartbeat was sent (the grant, before any), on the client's clock. The leader
   * renewed the session after that moment, so it lives at least until this plus its TTL.
   */
  get lastRenewalSentAt(): number {
    return this.answeredSentAt;
  }

  /** Aborted when the session expires or is closed: pass it to work that must stop with the session. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The current state (see SessionState). */
  get status(): SessionState {
    return this.state;
  }

  /**
   * Calls `listener` on each `jeopardy`, `recovered` (a heartbeat answered in time again: back to `alive`) or
   * `expired` (see SessionState); `close()` emits nothing. Returns a function that unsubscribes.
   */
  on(event: 'jeopardy' | 'expired' | 'recovered', listener: () => void): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  private emit(event: 'jeopardy' | 'expired' | 'recovered'): void {
    for (const listener of this.listeners.get(event) ?? []) listener();
  }

  private schedule(): void {
    // Three heartbeats per TTL: two may be lost before jeopardy.
    this.timer = this.host.deps.clock.setTimeout(() => this.beat(), Math.max(50, Math.floor(this.ttlMs / 3)));
  }

  /**
   * Jeopardy comes two thirds of the TTL after the latest answered heartbeat was sent: the server renewed the
   * session after that moment, so a third of the TTL at least is left to act (stop writing, say) before it
   * could expire. Re-armed by every answer.
   */
  private armJeopardy(): void {
    const clock = this.host.deps.clock;
    if (this.jeopardyTimer !== null) clock.clearTimeout(this.jeopardyTimer);
    const dueAt = this.answeredSentAt + (this.ttlMs * 2) / 3;
    this.jeopardyTimer = clock.setTimeout(() => {
      this.jeopardyTimer = null;
      if (this.state !== 'alive') return;
      this.state = 'jeopardy';
      this.emit('jeopardy');
    }, Math.max(0, dueAt - clock.now()));
  }

  private beat(): void {
    if (this.state === 'expired' || this.state === 'closed') return;
    const clock = this.host.deps.clock;
    const sentAt = clock.now();
    this.host
      .keepAlive(this.id)
      .then(() => {
        if (this.state === 'expired' || this.state === 'closed' || sentAt <= this.answeredSentAt) return;
        this.answeredSentAt = sentAt;
        if (this.state === 'jeopardy' && clock.now() < sentAt + (this.ttlMs * 2) / 3) {
          this.state = 'alive';
          this.emit('recovered');
        }
        this.armJeopardy();
      })
      .catch((error: unknown) => {
        if (error instanceof SynodError && (error.code === 'session_expired' || error.code === 'lease_not_found')) this.expire();
      });
    this.schedule();
  }

  /** Marks the session gone (the server said so). */
  expire(): void {
    if (this.state === 'expired' || this.state === 'closed') return;
    this.state = 'expired';
    this.stopTimer();
    this.controller.abort(synodError('session_expired', `session ${this.id} expired`));
    this.emit('expired');
  }

  private stopTimer(): void {
    const clock = this.host.deps.clock;
    if (this.timer !== null) clock.clearTimeout(this.timer);
    if (this.jeopardyTimer !== null) clock.clearTimeout(this.jeopardyTimer);
    this.timer = null;
    this.jeopardyTimer = null;
  }

  /**
   * Revokes the session: its ephemeral nodes are deleted at once. Idempotent. Never rejects: if the revoke does
   * not get through (the client allows it 2 s), the heartbeats have stopped, so the session expires after its TTL.
   */
  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'expired') return;
    this.state = 'closed';
    this.stopTimer();
    this.controller.abort(new SynodError('closed', `session ${this.id} closed`));
    await this.host.revoke(this.id).catch(() => {});
  }

  /** `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
