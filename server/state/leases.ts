// The lease table: each lease's TTL, kind, session client and attached (ephemeral) nodes. Deadlines are not
// here: they live in the leader's memory (docs/state-machine.md), since keep-alives are not logged.

import type { LeaseInfo } from './commands.ts';
import { invariant } from './errors.ts';
import type { Journal, TreeNode } from './tree.ts';
import type { LeaseId, LeaseKind } from './types.ts';

export class Lease {
  /** The ephemeral nodes owned by this lease. Iteration order is never observable (users sort). */
  readonly nodes = new Set<TreeNode>();
  constructor(
    readonly id: LeaseId,
    readonly ttlMs: number,
    readonly kind: LeaseKind,
    /** The client tied to a session (its idempotency record is dropped when the session ends), or ''. */
    readonly clientId: string,
  ) {}

  info(): LeaseInfo {
    return { leaseId: this.id, ttlMs: this.ttlMs, kind: this.kind, clientId: this.clientId };
  }
}

export class LeaseTable {
  readonly byId = new Map<number, Lease>();
  /** The highest id ever granted: `leaseGrant` with id 0 takes the next one, so ids are never reused. */
  idLast = 0;

  get(id: number): Lease | undefined {
    return this.byId.get(id);
  }

  get size(): number {
    return this.byId.size;
  }

  add(lease: Lease): void {
    invariant(!this.byId.has(lease.id), () => `lease ${lease.id} already exists`);
    this.byId.set(lease.id, lease);
    if (lease.id > this.idLast) this.idLast = lease.id;
  }

  /** Removes a lease whose nodes are already gone. */
  remove(lease: Lease): void {
    invariant(lease.nodes.size === 0, () => `lease ${lease.id} still owns nodes`);
    this.byId.delete(lease.id);
  }

  attachNode(journal: Journal | null, lease: Lease, node: TreeNode): void {
    lease.nodes.add(node);
    if (journal !== null) journal.push(() => lease.nodes.delete(node));
  }

  detachNode(journal: Journal | null, node: TreeNode): void {
    const lease = this.byId.get(node.ephemeralOwner);
    invariant(lease !== undefined, () => `ephemeral node ${node.name} has no lease ${node.ephemeralOwner}`);
    lease.nodes.delete(node);
    if (journal !== null) journal.push(() => lease.nodes.add(node));
  }

  /** Every lease, sorted by id (the order is part of results, so it must not depend on history). */
  sorted(): Lease[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id);
  }
}
