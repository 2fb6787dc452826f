// P-compositionality (Herlihy & Wing; Horn & Kroening 2015): a history is linearizable iff each key's
// sub-history is, provided operations on different keys are independent. A txn touching several keys couples
// them, so keys a txn touches share one partition (union-find); every partition is then checked alone.

import type { History, IndexedEntry } from './history.ts';
import { operationKeys } from './model.ts';

/** A set of keys no operation couples with any other key, and the entries touching them, by invocation. */
export interface Partition {
  /** Sorted. Empty for a txn that names no key at all (it still has an outcome to check). */
  readonly keys: readonly string[];
  readonly entries: readonly IndexedEntry[];
}

/** Splits `entries` into independent partitions, ordered by their first invocation. */
export function partitionByKey(entries: readonly IndexedEntry[]): readonly Partition[] {
  const sets = new DisjointSets();
  const keysOf = entries.map(({ entry }) => operationKeys(entry.operation));
  for (const keys of keysOf) {
    for (let k = 1; k < keys.length; k++) sets.union(keys[0] as string, keys[k] as string);
  }
  const groups = new Map<string, { keys: Set<string>; entries: IndexedEntry[] }>();
  for (const [position, indexed] of entries.entries()) {
    const keys = keysOf[position] as readonly string[];
    // A keyless op depends on no state: alone in a group named by its index, which no key can collide with.
    const root = keys.length === 0 ? `\u0000${indexed.index}` : sets.find(keys[0] as string);
    const group = groups.get(root) ?? { keys: new Set<string>(), entries: [] };
    for (const key of keys) group.keys.add(key);
    group.entries.push(indexed);
    groups.set(root, group);
  }
  const partitions = [...groups.values()].map((group) => ({
    keys: [...group.keys].sort(),
    entries: group.entries.sort(byInvocation),
  }));
  return partitions.sort((a, b) => byInvocation(a.entries[0] as IndexedEntry, b.entries[0] as IndexedEntry));
}

/** Invocation time, then index: the order reports list operations in. */
export function byInvocation(a: IndexedEntry, b: IndexedEntry): number {
  return a.entry.invokeMs - b.entry.invokeMs || a.index - b.index;
}

/** Union-find over strings, with path halving and union by size. */
class DisjointSets {
  readonly #parent = new Map<string, string>();
  readonly #size = new Map<string, number>();

  find(key: string): string {
    let node = key;
    for (;;) {
      const parent = this.#parent.get(node);
      if (parent === undefined) {
        this.#parent.set(node, node);
        this.#size.set(node, 1);
        return node;
      }
      if (parent === node) return node;
      const grandparent = this.#parent.get(parent) as string;
      this.#parent.set(node, grandparent);
      node = grandparent;
    }
  }

  union(a: string, b: string): void {
    let rootA = this.find(a);
    let rootB = this.find(b);
    if (rootA === rootB) return;
    if ((this.#size.get(rootA) ?? 1) < (this.#size.get(rootB) ?? 1)) [rootA, rootB] = [rootB, rootA];
    this.#parent.set(rootB, rootA);
    this.#size.set(rootA, (this.#size.get(rootA) ?? 1) + (this.#size.get(rootB) ?? 1));
  }
}
