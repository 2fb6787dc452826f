// The simulated network between members: per-message delay (which also reorders), loss, duplication, rare
// long delays, and directed links that can be cut (partitions, one-way or symmetric).

import type { NodeId, Random } from '../../server/raft/index.ts';

export interface NetworkConditions {
  /** Probability that a message is lost. */
  lossRate: number;
  /** Probability that a message is delivered twice (each copy with its own delay). */
  duplicateRate: number;
  /** Probability that a copy takes a long delay instead of a normal one. */
  longDelayRate: number;
  delayMinMs: number;
  delayMaxMs: number;
  longDelayMinMs: number;
  longDelayMaxMs: number;
}

export const calmNetwork: NetworkConditions = {
  lossRate: 0,
  duplicateRate: 0,
  longDelayRate: 0,
  delayMinMs: 1,
  delayMaxMs: 8,
  longDelayMinMs: 50,
  longDelayMaxMs: 400,
};

/** Why a message did not arrive. */
export type DropCause = 'loss' | 'partition' | 'down';

export class Network {
  conditions: NetworkConditions = { ...calmNetwork };
  /** cut.get(a) holds every b such that messages a -> b are dropped. */
  private readonly cut = new Map<NodeId, Set<NodeId>>();

  constructor(
    private readonly random: Random,
    /** Planted harness bug: cut links stay cut. */
    private readonly neverRedial = false,
  ) {}

  connected(from: NodeId, to: NodeId): boolean {
    return this.cut.get(from)?.has(to) !== true;
  }

  hasCuts(): boolean {
    return this.cut.size > 0;
  }

  cutLink(from: NodeId, to: NodeId): void {
    let targets = this.cut.get(from);
    if (targets === undefined) {
      targets = new Set();
      this.cut.set(from, targets);
    }
    targets.add(to);
  }

  /** Cuts every link between different groups, both ways; nodes in no group keep all their links. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    for (const a of groups) for (const b of groups) {
      if (a === b) continue;
      for (const from of a) for (const to of b) this.cutLink(from, to);
    }
  }

  /** Cuts every link from `sources` to `targets` (one way). */
  cutOneWay(sources: readonly NodeId[], targets: readonly NodeId[]): void {
    for (const from of sources) for (const to of targets) if (from !== to) this.cutLink(from, to);
  }

  healLinks(): void {
    if (!this.neverRedial) this.cut.clear();
  }

  /**
   * Delays of the copies of one message, or the cause of its loss. Partitions are checked again at delivery,
   * so a cut also drops what was in flight.
   */
  plan(from: NodeId, to: NodeId): number[] | DropCause {
    if (!this.connected(from, to)) return 'partition';
    const c = this.conditions;
    const random = this.random;
    if (c.lossRate > 0 && random.float() < c.lossRate) return 'loss';
    const copies = c.duplicateRate > 0 && random.float() < c.duplicateRate ? 2 : 1;
    const delays: number[] = [];
    for (let i = 0; i < copies; i++) {
      const long = c.longDelayRate > 0 && random.float() < c.longDelayRate;
      const lo = long ? c.longDelayMinMs : c.delayMinMs;
      const hi = long ? c.longDelayMaxMs : c.delayMaxMs;
      delays.push(lo + random.float() * (hi - lo));
    }
    return delays;
  }
}
