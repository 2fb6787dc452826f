// Configuration of one Raft core. Times are in ticks: the caller decides how long a tick is.

import { invariant } from './errors.ts';
import type { Random } from './random.ts';
import type { LogStorage } from './storage.ts';
import type { LogIndex, NodeId } from './types.ts';

/**
 * Deliberately broken variants, for tests only: each switch plants one bug that the simulator's checkers must
 * catch. Never set in production code.
 */
export interface PlantedBugs {
  /** Grant votes without the "candidate's log is at least as up-to-date" check (breaks Leader Completeness). */
  readonly voteWithoutLogCheck?: boolean;
  /** Commit an entry of an older term by counting replicas (the figure 8 bug). */
  readonly commitOldTermByCounting?: boolean;
  /** Serve ReadIndex at once on the leader, without confirming leadership with a quorum. */
  readonly readWithoutQuorum?: boolean;
}

export interface RaftConfig {
  readonly id: NodeId;
  readonly storage: LogStorage;
  readonly random: Random;
  /** A follower that hears no leader for a random number of ticks in [electionTicks, 2 * electionTicks) campaigns. */
  readonly electionTicks: number;
  /** A leader sends heartbeats every heartbeatTicks; must be well below electionTicks. */
  readonly heartbeatTicks: number;
  /** Run a pre-election first so a partitioned member cannot disrupt the cluster by raising its term. */
  readonly preVote: boolean;
  /** A leader that has not heard from a quorum within electionTicks steps down; voters honour a leader lease. */
  readonly checkQuorum: boolean;
  /**
   * How linearizable reads are confirmed. 'safe': a heartbeat round to a quorum (ReadIndex). 'lease': the leader
   * answers from its commit index at once, relying on checkQuorum and on clocks that drift by less than the gap
   * between electionTicks and the time a deposed leader needs to notice (docs/raft.md).
   */
  readonly readOnly: 'safe' | 'lease';
  /** Upper bound on the entries' bytes in one append message (at least one entry is always sent). */
  readonly appendBytesMax: number;
  /** Append messages in flight to one follower before the leader waits for acknowledgements. */
  readonly inflightMax: number;
  /** Snapshots travel in chunks of this many bytes... */
  readonly snapshotChunkBytes: number;
  /** ...with at most this many chunks unacknowledged. */
  readonly snapshotChunksInflightMax: number;
  /** On restart: the last index the state machine has applied (it replays from there). Default: the snapshot. */
  readonly applied?: LogIndex;
  /** Test-only planted bugs. */
  readonly bugs?: PlantedBugs;
}

export type RaftConfigInput = Pick<RaftConfig, 'id' | 'storage' | 'random'> & Partial<RaftConfig>;

export const raftDefaults = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  readOnly: 'safe',
  appendBytesMax: 1024 * 1024,
  inflightMax: 256,
  snapshotChunkBytes: 1024 * 1024,
  snapshotChunksInflightMax: 4,
} as const satisfies Partial<RaftConfig>;

export function resolveConfig(input: RaftConfigInput): RaftConfig {
  const config: RaftConfig = { ...raftDefaults, ...input };
  invariant(config.heartbeatTicks > 0, 'heartbeatTicks must be positive');
  invariant(config.electionTicks > config.heartbeatTicks, 'electionTicks must exceed heartbeatTicks');
  invariant(config.inflightMax > 0 && config.snapshotChunksInflightMax > 0, 'in-flight limits must be positive');
  invariant(config.snapshotChunkBytes > 0 && config.appendBytesMax > 0, 'byte limits must be positive');
  return config;
}
