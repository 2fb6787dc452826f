// Session and lease keep-alives. Only the leader renews (in memory: keep-alives are not logged), and it answers
// a keep-alive only after a heartbeat round begun after the renewal confirmed that it still leads. Any later
// leader was elected by a quorum that includes a member which acknowledged that round, so it took office after
// the renewal, and it gives every lease a full TTL when it does: a keep-alive a client saw answered is never
// lost in a failover. Followers batch their clients' keep-alives to the leader once per tick and answer them
// with the leader's answer.

import { RuntimeError } from './errors.ts';
import type { Random } from '../raft/random.ts';
import type { Clock, TimerHandle } from './deps.ts';
import type { LeaseKeeper } from './lease-keeper.ts';
import type { PeerItem } from './peers.ts';

export interface KeepAliveHost {
  readonly clock: Clock;
  readonly random: Random;
  readonly keeper: LeaseKeeper;
  isLeader(): boolean;
  leader(): string | null;
  /** Resolves once a heartbeat round started now confirmed this member's leadership (ReadIndex). */
  confirmLeadership(): Promise<void>;
  send(to: string, item: PeerItem): void;
  /** How long a follower waits for the leader's answer. */
  readonly forwardTimeoutMs: number;
  /** How long a follower gathers keep-alives before it forwards them together (a tick). */
  readonly batchMs: number;
}

/** The TTL renewed, or null: the lease is unknown to the leader (expired, revoked, or never granted). */
export type Renewal = number | null;

interface Waiter {
  resolve(ttl: Renewal): void;
  reject(error: RuntimeError): void;
}

interface InFlight {
  readonly leaseIds: readonly number[];
  readonly waiters: ReadonlyMap<number, readonly Waiter[]>;
  readonly timer: TimerHandle;
}

export class KeepAlives {
  private queued = new Map<number, Waiter[]>();
  private flushTimer: TimerHandle | null = null;
  private readonly inFlight = new Map<number, InFlight>();
  /** Counted from a random start, so an answer meant for this member's previous incarnation matches nothing. */
  private requestSequence: number;

  constructor(private readonly host: KeepAliveHost) {
    this.requestSequence = host.random.int(2 ** 48);
  }

  /** A client's keep-alive on this member. */
  renew(leaseId: number): Promise<Renewal> {
    if (this.host.isLeader()) return this.renewOnLeader([leaseId]).then((ttls) => ttls[0] ?? null);
    if (this.host.leader() === null) return Promise.reject(new RuntimeError('no_leader', 'no leader is known to renew the lease', { leader: null }));
    return new Promise((resolve, reject) => {
      let waiters = this.queued.get(leaseId);
      if (waiters === undefined) this.queued.set(leaseId, (waiters = []));
      waiters.push({ resolve, reject });
      this.flushTimer ??= this.host.clock.setTimeout(() => this.flush(), this.host.batchMs);
    });
  }

  /** Renews on the leader and answers once leadership is confirmed after the renewal. */
  async renewOnLeader(leaseIds: readonly number[]): Promise<Renewal[]> {
    const keeper = this.host.keeper;
    const first = leaseIds.map((id) => keeper.keepAlive(id));
    await this.host.confirmLeadership();
    // The round waited until everything committed before it applied here: a lease granted by an entry this
    // leader had not applied yet is known now, and one whose expiry (or revocation) was committed is gone now,
    // however it stood before the round. The jepsen run found a renewal answered for a lease already expired.
    let renewedLate = false;
    const ttls = leaseIds.map((id, i) => {
      if (!keeper.holds(id)) return null;
      if (first[i] !== null) return first[i]!;
      renewedLate = true;
      return keeper.keepAlive(id);
    });
    if (renewedLate) await this.host.confirmLeadership();
    return ttls.map((ttl, i) => (keeper.holds(leaseIds[i]!) ? ttl : null));
  }

  /** On the leader: a follower's batch. */
  onForwarded(from: string, request: number, leaseIds: readonly number[]): void {
    if (!this.host.isLeader() || !Array.isArray(leaseIds)) return;
    const ids = leaseIds.map(Number);
    this.renewOnLeader(ids).then(
      (ttls) => this.host.send(from, { kind: 'keepAliveAck', request, leaseIds: ids, ttls }),
      () => {}, // not confirmed (leadership moved): the follower's request times out and its clients retry
    );
  }

  /** On a follower: the leader's answer to one of our batches (it names the leases, which must be ours). */
  onAck(request: number, leaseIds: readonly number[], ttls: readonly (number | null)[]): void {
    const flight = this.inFlight.get(request);
    if (flight === undefined || !Array.isArray(ttls) || !Array.isArray(leaseIds)) return;
    if (leaseIds.length !== flight.leaseIds.length || leaseIds.some((id, i) => id !== flight.leaseIds[i])) return;
    this.inFlight.delete(request);
    this.host.clock.clearTimeout(flight.timer);
    flight.leaseIds.forEach((id, i) => {
      const ttl = ttls[i];
      for (const waiter of flight.waiters.get(id) ?? []) waiter.resolve(typeof ttl === 'number' ? ttl : null);
    });
  }

  /** On a follower: sends the keep-alives queued since the last batch to the leader. */
  private flush(): void {
    this.flushTimer = null;
    if (this.queued.size === 0) return;
    const waiters = this.queued;
    this.queued = new Map();
    const leader = this.host.leader();
    if (leader === null || this.host.isLeader()) {
      const error = leader === null ? new RuntimeError('no_leader', 'no leader is known to renew the lease', { leader: null }) : new RuntimeError('leader_changed', 'this member became leader; retry', { leader });
      for (const list of waiters.values()) for (const waiter of list) waiter.reject(error);
      return;
    }
    const request = ++this.requestSequence;
    const leaseIds = [...waiters.keys()];
    const timer = this.host.clock.setTimeout(() => {
      this.inFlight.delete(request);
      const error = new RuntimeError('timeout', 'the leader did not answer the keep-alive');
      for (const list of waiters.values()) for (const waiter of list) waiter.reject(error);
    }, this.host.forwardTimeoutMs);
    this.inFlight.set(request, { leaseIds, waiters, timer });
    this.host.send(leader, { kind: 'keepAlive', request, leaseIds });
  }

  /** The leader changed: what waits on the old one will not be answered. */
  leaderChanged(leader: string | null): void {
    const error = new RuntimeError('leader_changed', 'the leader changed; retry', { leader });
    for (const [request, flight] of this.inFlight) {
      this.host.clock.clearTimeout(flight.timer);
      this.inFlight.delete(request);
      for (const list of flight.waiters.values()) for (const waiter of list) waiter.reject(error);
    }
  }
}
