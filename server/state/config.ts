// Limits of the state machine, in one place. They shape results (a path too long is `invalid_path`), so every
// member of a cluster must run with the same values: the snapshot carries them and a restore keeps them unless
// told otherwise.

import { invariant } from './errors.ts';

export interface StateConfig {
  /** Longest path, in UTF-8 bytes (sequential suffix included). */
  readonly pathBytesMax: number;
  /** Most segments in a path (`/a/b` has 2). */
  readonly pathDepthMax: number;
  /** Largest node data, in bytes. */
  readonly dataBytesMax: number;
  /** Longest client id, in UTF-16 code units. */
  readonly clientIdLengthMax: number;
  /** Most clients remembered for idempotency; the least recently used is forgotten first. */
  readonly clientsMax: number;
  /**
   * Most unacknowledged results kept per client (its writes in flight); past it the oldest is dropped and a
   * retry of it is refused (stale_sequence) rather than applied twice.
   */
  readonly clientResultsMax: number;
  /** The watch history keeps the events of at most this many latest revisions... */
  readonly historyRevisionsMax: number;
  /** ...and at most this many events (whole revisions are dropped; the latest revision is always kept). */
  readonly historyEventsMax: number;
  /** Most operations in one branch of a transaction. */
  readonly txnOpsMax: number;
  /** Most compares in a transaction. */
  readonly txnComparesMax: number;
  /** Largest `limit` of a range read. */
  readonly rangeLimitMax: number;
  /** Longest lease TTL. */
  readonly leaseTtlMsMax: number;
  /** Most lease ids in one `leaseExpire` command. */
  readonly leaseExpireIdsMax: number;
}

export type StateConfigInput = Partial<StateConfig>;

export const stateDefaults: StateConfig = {
  pathBytesMax: 1024,
  pathDepthMax: 64,
  dataBytesMax: 1024 * 1024,
  clientIdLengthMax: 128,
  clientsMax: 65_536,
  clientResultsMax: 1024,
  historyRevisionsMax: 100_000,
  historyEventsMax: 200_000,
  txnOpsMax: 128,
  txnComparesMax: 128,
  rangeLimitMax: 10_000,
  leaseTtlMsMax: 7 * 24 * 60 * 60 * 1000,
  leaseExpireIdsMax: 10_000,
};

/** Fills defaults and asserts every limit is a positive safe integer. */
export function resolveStateConfig(input: StateConfigInput = {}): StateConfig {
  const config: StateConfig = { ...stateDefaults, ...input };
  for (const key of Object.keys(stateDefaults) as (keyof StateConfig)[]) {
    const value = config[key];
    invariant(Number.isSafeInteger(value) && value > 0, () => `state config ${key} must be a positive integer`);
  }
  // A root-level sequential node needs room for "/" + one character + the 10-digit suffix.
  invariant(config.pathBytesMax >= 12, 'state config pathBytesMax must be at least 12');
  return config;
}
