// What the runtime needs from a member-to-member transport. The real one is server/transport/peer.ts; the
// whole-node simulator (test/sim) has its own, with faults.

import type { Message } from '../raft/types.ts';

/**
 * What members say to each other besides Raft: keep-alives a follower forwards to the leader and the leader's
 * answer (the TTL renewed, or null for a lease it does not know: expired), and a removed member's question
 * and its answer.
 */
export type PeerItem =
  | { readonly kind: 'raft'; readonly message: Message }
  | { readonly kind: 'keepAlive'; readonly request: number; readonly leaseIds: readonly number[] }
  | { readonly kind: 'keepAliveAck'; readonly request: number; readonly leaseIds: readonly number[]; readonly ttls: readonly (number | null)[] }
  /** The sender applied the removal of the receiver, entry `index` of the log (or applied up to `index` and does not count it). */
  | { readonly kind: 'removed'; readonly index: number }
  /** The sender believes it was removed and asks to be told so by those that no longer count it. */
  | { readonly kind: 'retiring' };

export interface PeerReceiver<Item> {
  /** The items of one frame from an authenticated peer, in the order sent. */
  onItems(from: string, items: Item[]): void;
  /**
   * The peer's process is gone: its connection closed and dialling it again was refused (nothing listens on
   * its port). A strong hint, never proof: the runtime uses it only to start an election sooner.
   */
  onPeerDown(peer: string): void;
}

export interface PeerNetwork<Item> {
  /** Installs the receiver; called once, before any item can arrive. */
  attach(receiver: PeerReceiver<Item>): void;
  /** Where each member listens (`ws://host:port`): dials new ones, forgets those no longer named. */
  setPeers(urls: ReadonlyMap<string, string>): void;
  /** Best effort (Raft resends what is lost); items queued in one turn leave together. */
  send(to: string, item: Item): void;
  close(): Promise<void>;
}
