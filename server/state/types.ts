// The vocabulary of the state machine: branded ids, node stats, node views, watch events and filters.
// Everything is plain data so results and events cross the wire (CBOR) unchanged.

import { invariant } from './errors.ts';

/** The cluster-wide count of committed tree changes. Starts at 0; safe integer. */
export type Revision = number & { readonly __brand: 'Revision' };
/** A lease (or session) id. Positive safe integer; 0 means "no lease" where a field allows it. */
export type LeaseId = number & { readonly __brand: 'LeaseId' };

/** Brands a revision, asserting it is a non-negative safe integer. */
export function revision(value: number): Revision {
  invariant(Number.isSafeInteger(value) && value >= 0, () => `revision ${value} is not a non-negative safe integer`);
  return value as Revision;
}

/** Brands a lease id, asserting it is a non-negative safe integer (0 only where "none" is allowed). */
export function leaseId(value: number): LeaseId {
  invariant(Number.isSafeInteger(value) && value >= 0, () => `lease id ${value} is not a non-negative safe integer`);
  return value as LeaseId;
}

export type NodeMode = 'persistent' | 'ephemeral' | 'container' | 'ttl';
export const nodeModes: readonly NodeMode[] = ['persistent', 'ephemeral', 'container', 'ttl'];

export type LeaseKind = 'lease' | 'session';

/** A node's metadata (ZooKeeper's Stat with etcd's revision names). Immutable: a copy taken at one moment. */
export interface Stat {
  readonly createRevision: Revision;
  readonly modRevision: Revision;
  /** Number of data changes since creation (0 after create). */
  readonly version: number;
  /** Number of child creations and deletions since creation. */
  readonly cversion: number;
  /** The owning lease of an ephemeral node, 0 for every other node. */
  readonly ephemeralOwner: LeaseId | 0;
  readonly numChildren: number;
  readonly dataLength: number;
  readonly mode: NodeMode;
  /** The name was given a sequence suffix by the parent's counter. */
  readonly sequential: boolean;
  /** For TTL nodes, the time without modification after which `sweep` removes it (if childless); else 0. */
  readonly ttlMs: number;
  /** Leader time stamped into the entry that created the node. */
  readonly ctimeMs: number;
  /** Leader time stamped into the entry that last changed the node's data (or created it). */
  readonly mtimeMs: number;
}

/** A node as returned by reads. `data` is shared with the state: callers must not mutate it. */
export interface NodeView {
  readonly path: string;
  readonly stat: Stat;
  readonly data: Uint8Array;
}

export type EventType = 'create' | 'set' | 'delete';

/**
 * One change of one node. `stat` is the node's stat right after the change (right before it, for a delete);
 * `data` is the data after the change (the deleted data, for a delete); `prevData` is set on `set` events only.
 */
export interface WatchEvent {
  readonly type: EventType;
  readonly path: string;
  readonly revision: Revision;
  readonly stat: Stat;
  readonly data: Uint8Array;
  readonly prevData: Uint8Array | null;
}

/** What a watch covers: one node, its direct children (not the node itself), or the node and all descendants. */
export interface WatchFilter {
  readonly kind: 'node' | 'children' | 'subtree';
  readonly path: string;
}
