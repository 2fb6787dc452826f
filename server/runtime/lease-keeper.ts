// The leader's duty for leases: keep each lease's deadline in memory (keep-alives are not logged), and
// propose the expiry of those whose deadline passed. Only the leader expires, and only through the log.
// On taking office it gives every lease a fresh full TTL, so a failover never expires a live client.

import type { LeaseId, LeaseInfo } from '../state/index.ts';
import type { Clock } from './deps.ts';

export class LeaseKeeper {
  private readonly deadlines = new Map<number, { deadline: number; ttlMs: number }>();
  /** Leases whose expiry was proposed and not yet applied. */
  private readonly expiring = new Set<number>();
  private leading = false;

  constructor(
    private readonly clock: Clock,
    private readonly proposeExpire: (leaseIds: LeaseId[]) => Promise<unknown>,
    private readonly batchMax: number,
    /** Planted bug (tests only): no full TTL for existing leases when taking office. */
    private readonly expireWithoutGrace = false,
  ) {}

  get isLeading(): boolean {
    return this.leading;
  }

  /** Takes office: every lease gets its full TTL from now, before any may expire. */
  becomeLeader(leases: readonly LeaseInfo[]): void {
    this.leading = true;
    this.deadlines.clear();
    this.expiring.clear();
    const now = this.clock.now();
    for (const lease of leases) this.deadlines.set(lease.leaseId, { deadline: this.expireWithoutGrace ? now : now + lease.ttlMs, ttlMs: lease.ttlMs });
  }

  stepDown(): void {
    this.leading = false;
    this.deadlines.clear();
    this.expiring.clear();
  }

  /** A lease was granted (applied): its clock starts now. */
  granted(leaseId: number, ttlMs: number): void {
    if (this.leading) this.deadlines.set(leaseId, { deadline: this.clock.now() + ttlMs, ttlMs });
  }

  /** A lease was revoked or expired (applied). */
  removed(leaseId: number): void {
    this.deadlines.delete(leaseId);
    this.expiring.delete(leaseId);
  }

  /** Renews a lease; returns the TTL granted, or null when this leader does not know it. */
  keepAlive(leaseId: number): number | null {
    const lease = this.deadlines.get(leaseId);
    if (lease === undefined || this.expiring.has(leaseId)) return null;
    lease.deadline = this.clock.now() + lease.ttlMs;
    return lease.ttlMs;
  }

  /** Whether this leader knows the lease as alive (not expired, revoked, or being expired). */
  holds(leaseId: number): boolean {
    return this.deadlines.has(leaseId) && !this.expiring.has(leaseId);
  }

  /** Remaining time of a lease in ms, as this leader sees it (null when unknown). */
  remainingMs(leaseId: number): number | null {
    const lease = this.deadlines.get(leaseId);
    return lease === undefined ? null : Math.max(0, lease.deadline - this.clock.now());
  }

  /** Proposes the expiry of every lease past its deadline (in bounded batches). */
  check(): void {
    if (!this.leading) return;
    const now = this.clock.now();
    const due: LeaseId[] = [];
    for (const [leaseId, lease] of this.deadlines) {
      if (lease.deadline > now || this.expiring.has(leaseId)) continue;
      due.push(leaseId as LeaseId);
      if (due.length >= this.batchMax) break;
    }
    if (due.length === 0) return;
    for (const leaseId of due) this.expiring.add(leaseId);
    this.proposeExpire(due).catch(() => {
      // Not applied (leadership moved, or a timeout): let a later check try again.
      for (const leaseId of due) this.expiring.delete(leaseId);
    });
  }
}
