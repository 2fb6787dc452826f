// checkLinearizable: is there a total order of the history's operations, consistent with real time (an operation
// that completed before another was invoked comes first), in which the model answers what every client saw?
// Partitions by key, prepares each partition (prepare.ts) and searches it alone (search.ts).

import { type Explanation, explainFailure } from './explain.ts';
import { type History, type IndexedEntry, validateHistory } from './history.ts';
import { isReadOnly } from './model.ts';
import { type Partition, partitionByKey } from './partition.ts';
import { prepareSearch, type SearchOperation } from './prepare.ts';
import { searchPartition } from './search.ts';

/** Limits of a check. */
export interface LinearizabilityOptions {
  /**
   * Configurations one partition's search may visit before it gives up and the check answers `ok: 'unknown'`.
   * Bounds time and memory (a recorded configuration costs roughly 150 bytes). Default 500,000.
   */
  readonly configurationsMax?: number;
}

/** The default of `LinearizabilityOptions.configurationsMax`. */
export const configurationsMaxDefault = 500_000;

/** What a check looked at and how hard it worked. */
export interface LinearizabilityStats {
  /** Entries in the history. */
  readonly operations: number;
  /** Entries dropped before the search: definitely failed, or read-only with an unknown outcome. */
  readonly dropped: number;
  /** Entries searched whose outcome is unknown (they may or may not have taken effect). */
  readonly unknown: number;
  /** Partitions searched (a failing check stops at the first failing partition). */
  readonly partitions: number;
  /** Entries in the largest partition searched. */
  readonly partitionOperationsMax: number;
  /** Configurations visited, over all partitions searched. */
  readonly configurations: number;
  /** Configurations visited by the hardest partition. */
  readonly partitionConfigurationsMax: number;
}

/** The verdict of `checkLinearizable`. `ok` is true, false (a violation), or 'unknown' (the budget ran out). */
export type LinearizabilityResult =
  | { readonly checker: 'linearizability'; readonly ok: true; readonly stats: LinearizabilityStats }
  | {
      readonly checker: 'linearizability';
      readonly ok: false;
      /** The keys of the failing partition. */
      readonly keys: readonly string[];
      /** The partition's entries that were searched, by invocation. */
      readonly operations: readonly IndexedEntry[];
      readonly explanation: Explanation;
      readonly stats: LinearizabilityStats;
    }
  | {
      readonly checker: 'linearizability';
      readonly ok: 'unknown';
      /** The keys of the first partition whose search ran out of budget. */
      readonly keys: readonly string[];
      readonly operations: readonly IndexedEntry[];
      /** How many partitions ran out of budget; every other partition is linearizable. */
      readonly undecidedPartitions: number;
      readonly configurationsMax: number;
      /** The longest linearization of a prefix the search had found when it stopped. */
      readonly linearized: readonly IndexedEntry[];
      readonly stats: LinearizabilityStats;
    };

/**
 * Checks a history against the register-map model. Validates the history first (throws `invalid_history`).
 * Stops at the first failing partition; partitions that exhaust the budget are skipped and make the verdict
 * 'unknown' unless another partition fails.
 */
export function checkLinearizable(history: History, options: LinearizabilityOptions = {}): LinearizabilityResult {
  validateHistory(history);
  const configurationsMax = options.configurationsMax ?? configurationsMaxDefault;
  const { kept, dropped, unknown } = dropUninformative(history);
  const stats = { operations: history.length, dropped, unknown, partitions: 0, partitionOperationsMax: 0 };
  let configurations = 0;
  let partitionConfigurationsMax = 0;
  let undecided: { partition: Partition; linearized: readonly SearchOperation[] } | null = null;
  let undecidedPartitions = 0;
  const statsNow = (): LinearizabilityStats => ({ ...stats, configurations, partitionConfigurationsMax });
  for (const partition of partitionByKey(kept)) {
    const input = prepareSearch(partition);
    const result = searchPartition(input, configurationsMax);
    stats.partitions++;
    stats.partitionOperationsMax = Math.max(stats.partitionOperationsMax, partition.entries.length);
    configurations += result.configurations;
    partitionConfigurationsMax = Math.max(partitionConfigurationsMax, result.configurations);
    if (result.verdict === 'violation') {
      const { keys, entries: operations } = partition;
      const explanation = explainFailure(input, result.deepest);
      return { checker: 'linearizability', ok: false, keys, operations, explanation, stats: statsNow() };
    }
    if (result.verdict === 'budget') {
      undecidedPartitions++;
      undecided ??= { partition, linearized: result.deepest };
    }
  }
  if (undecided === null) return { checker: 'linearizability', ok: true, stats: statsNow() };
  const { partition, linearized } = undecided;
  return {
    checker: 'linearizability',
    ok: 'unknown',
    keys: partition.keys,
    operations: partition.entries,
    undecidedPartitions,
    configurationsMax,
    linearized: linearized.map((operation) => operation.indexed),
    stats: statsNow(),
  };
}

/**
 * Drops what constrains nothing: operations that definitely failed had no effect, and a read-only operation
 * with an unknown outcome has neither an effect nor an observed result.
 */
function dropUninformative(history: History): { kept: IndexedEntry[]; dropped: number; unknown: number } {
  const kept: IndexedEntry[] = [];
  let unknown = 0;
  history.forEach((entry, index) => {
    if (entry.outcome.status === 'failed') return;
    if (entry.outcome.status === 'unknown') {
      if (isReadOnly(entry.operation)) return;
      unknown++;
    }
    kept.push({ index, entry });
  });
  return { kept, dropped: history.length - kept.length, unknown };
}
