// What one simulated run does: cluster size, Raft tuning, the fault mix, planted bugs and enabled checkers.
// Everything not given explicitly is drawn from the seed, so a seed alone names a run.

import type { PlantedBugs, Random } from '../../server/raft/index.ts';
import { type CheckerName, checkerNames } from './errors.ts';
import type { TraceSink } from './trace.ts';

export type FaultKind =
  | 'partition'
  | 'oneWay'
  | 'isolateLeader'
  | 'minorityMajority'
  | 'healLinks'
  | 'loss'
  | 'duplicate'
  | 'longDelay'
  | 'crash'
  | 'crashMidReady'
  | 'pause'
  | 'membership'
  | 'transfer'
  | 'compact'
  | 'campaign'
  /** A false hint that a live member (often the leader) is down: it may cost an election, never safety. */
  | 'falsePeerDown';

export const faultKinds: readonly FaultKind[] = [
  'partition',
  'oneWay',
  'isolateLeader',
  'minorityMajority',
  'healLinks',
  'loss',
  'duplicate',
  'longDelay',
  'crash',
  'crashMidReady',
  'pause',
  'membership',
  'transfer',
  'compact',
  'campaign',
  'falsePeerDown',
];

/** Where inside the handling of a Ready an armed crash strikes. */
export type CrashPoint = 'beforePersist' | 'afterPersist' | 'midSend' | 'afterSend' | 'midApply';
export const crashPoints: readonly CrashPoint[] = ['beforePersist', 'afterPersist', 'midSend', 'afterSend', 'midApply'];

type Range = readonly [number, number];

/** How the nemesis behaves during the fault phase, and how the client loads the cluster. */
export interface FaultMix {
  readonly name: string;
  /** Time between two nemesis actions. */
  readonly gapMs: Range;
  readonly weights: Partial<Record<FaultKind, number>>;
  /** How long a network condition or partition lasts before it lifts by itself. */
  readonly conditionMs: Range;
  readonly lossRate: Range;
  readonly duplicateRate: Range;
  readonly longDelayRate: Range;
  readonly longDelayMs: Range;
  /** How long a crashed member stays down. */
  readonly downMs: Range;
  readonly pauseMs: Range;
  /** Probability that a crash, pause or removal picks the current leader. */
  readonly leaderBias: number;
  /** Time between two client requests, and the share of reads among them. */
  readonly clientGapMs: Range;
  readonly readRate: number;
  /** Share of client requests sent to a random member instead of the believed leader. */
  readonly strayRate: number;
  /** Share of proposals that carry up to 200 bytes (the rest carry up to 8), so appends split across messages. */
  readonly bigProposalRate: number;
  /** Probability that a newly elected leader is cut off or crashed soon after (leader churn, figure 8's soil). */
  readonly leaderChurnRate: number;
  readonly leaderChurnMs: Range;
  /** Probability that a member crashes right after granting a vote (before it can do anything else). */
  readonly voterCrashRate: number;
  /** At most this many membership rounds (add learner, promote, remove a voter) per run. */
  readonly membershipRounds: number;
}

const base: Omit<FaultMix, 'name' | 'weights'> = {
  gapMs: [20, 150],
  conditionMs: [50, 600],
  lossRate: [0.05, 0.3],
  duplicateRate: [0.05, 0.3],
  longDelayRate: [0.02, 0.15],
  longDelayMs: [50, 400],
  downMs: [10, 500],
  pauseMs: [30, 400],
  leaderBias: 0.5,
  clientGapMs: [3, 30],
  readRate: 0.2,
  strayRate: 0.15,
  bigProposalRate: 0.25,
  leaderChurnRate: 0.1,
  leaderChurnMs: [0, 60],
  voterCrashRate: 0.05,
  membershipRounds: 2,
};

const everything: Partial<Record<FaultKind, number>> = {
  partition: 3,
  oneWay: 2,
  isolateLeader: 3,
  minorityMajority: 2,
  healLinks: 3,
  loss: 3,
  duplicate: 2,
  longDelay: 2,
  crash: 3,
  crashMidReady: 3,
  pause: 2,
  membership: 2,
  transfer: 2,
  compact: 2,
  campaign: 1,
  falsePeerDown: 1,
};

/** The named fault mixes. 'mixed' (the default) draws one of the first six per seed. */
export const faultMixes = {
  chaos: { ...base, name: 'chaos', weights: everything },
  partitions: {
    ...base,
    name: 'partitions',
    weights: { partition: 4, oneWay: 3, isolateLeader: 4, minorityMajority: 3, healLinks: 3, transfer: 1, campaign: 1, compact: 1, falsePeerDown: 1 },
  },
  crashes: {
    ...base,
    name: 'crashes',
    weights: { crash: 4, crashMidReady: 4, pause: 2, compact: 2, transfer: 1, loss: 1 },
  },
  lossy: {
    ...base,
    name: 'lossy',
    lossRate: [0.1, 0.5],
    weights: { loss: 4, duplicate: 3, longDelay: 3, healLinks: 1, crash: 1, compact: 1 },
  },
  membership: {
    ...base,
    name: 'membership',
    membershipRounds: 3,
    weights: { membership: 6, crash: 2, crashMidReady: 1, partition: 1, isolateLeader: 1, loss: 1, transfer: 2, compact: 3, healLinks: 1 },
  },
  calm: { ...base, name: 'calm', gapMs: [200, 800], weights: { transfer: 1, compact: 1, membership: 1, crash: 1 } },
  /**
   * Tuned for the figure 8 bug: leaders churn (cut off or crashed right after their election), so uncommitted
   * suffixes of several terms pile up; big proposals split appends so an old entry can be acknowledged alone.
   */
  figure8: {
    ...base,
    name: 'figure8',
    gapMs: [300, 800],
    downMs: [5, 150],
    leaderBias: 0.9,
    clientGapMs: [2, 10],
    lossRate: [0.1, 0.4],
    bigProposalRate: 0.8,
    leaderChurnRate: 0.9,
    leaderChurnMs: [0, 30],
    membershipRounds: 0,
    weights: { crash: 3, crashMidReady: 5, isolateLeader: 3, minorityMajority: 3, healLinks: 2, loss: 2 },
  },
  /** Tuned for votes that do not survive a crash: voters crash in the Ready that grants a vote; requests come late. */
  votes: {
    ...base,
    name: 'votes',
    gapMs: [20, 100],
    downMs: [1, 30],
    leaderBias: 0.2,
    duplicateRate: [0.2, 0.6],
    longDelayRate: [0.1, 0.3],
    longDelayMs: [20, 200],
    leaderChurnRate: 0.9,
    leaderChurnMs: [0, 30],
    voterCrashRate: 0.8,
    membershipRounds: 0,
    weights: { crash: 3, crashMidReady: 6, duplicate: 3, longDelay: 3, campaign: 3, isolateLeader: 1, healLinks: 1, falsePeerDown: 2 },
  },
  /** Tuned for stale reads: a paused or cut-off leader that still believes it leads. */
  staleReads: {
    ...base,
    name: 'staleReads',
    pauseMs: [100, 600],
    leaderBias: 0.9,
    readRate: 0.5,
    strayRate: 0.5,
    membershipRounds: 0,
    weights: { pause: 4, isolateLeader: 4, healLinks: 2, transfer: 1 },
  },
} as const satisfies Record<string, FaultMix>;

export type FaultMixName = keyof typeof faultMixes | 'mixed';

export const mixedPool: readonly (keyof typeof faultMixes)[] = ['chaos', 'partitions', 'crashes', 'lossy', 'membership', 'calm'];

export function isFaultMixName(name: string): name is FaultMixName {
  return name === 'mixed' || name in faultMixes;
}

/** Deliberate harness mistakes, to prove the checkers notice them. */
export interface HarnessBugs {
  /** Send a Ready's messages before persisting it (a crash then loses what the messages promised). */
  readonly sendBeforePersist?: boolean;
  /** Never write the vote to stable storage. */
  readonly skipVotePersist?: boolean;
  /** Hard-state writes complete out of order: now and then an older hard state lands after a newer one. */
  readonly staleHardStateWrite?: boolean;
  /** A cut link is never re-dialled: partitions outlive their heal. */
  readonly neverRedial?: boolean;
}

/** What a caller may set; the rest comes from the seed. */
export interface SimOptions {
  readonly seed: number;
  readonly mix?: FaultMixName;
  readonly clusterSize?: 3 | 5;
  /** Length of the fault phase, in simulated milliseconds. */
  readonly faultMs?: number;
  /** After the faults stop, everything must converge within this (simulated milliseconds). */
  readonly livenessMs?: number;
  readonly bugs?: PlantedBugs;
  readonly harnessBugs?: HarnessBugs;
  /** Checkers to run; all by default. */
  readonly checkers?: readonly CheckerName[];
  /** Overrides of the Raft settings otherwise drawn from the seed. */
  readonly raft?: Partial<RaftTuning>;
  readonly trace?: TraceSink;
}

/** Raft settings drawn per seed so that batching limits, chunking and flow control all get exercised. */
export interface RaftTuning {
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly appendBytesMax: number;
  readonly inflightMax: number;
  readonly snapshotChunkBytes: number;
  readonly snapshotChunksInflightMax: number;
}

export interface ResolvedOptions {
  readonly seed: number;
  readonly mix: FaultMix;
  readonly clusterSize: number;
  readonly tickMs: number;
  readonly faultMs: number;
  readonly livenessMs: number;
  readonly raft: RaftTuning;
  /** A member snapshots and compacts once this many applied entries sit in its log. */
  readonly compactEntries: number;
  /** Entries kept below the snapshot index when compacting (0: compact to the snapshot). */
  readonly compactKeep: number;
  readonly bugs: PlantedBugs;
  readonly harnessBugs: HarnessBugs;
  readonly checkers: ReadonlySet<CheckerName>;
  readonly trace: TraceSink | null;
}

export const defaultFaultMs = 3000;
export const defaultLivenessMs = 3000;

export function pick<T>(random: Random, items: readonly T[]): T {
  return items[random.int(items.length)]!;
}

export function between(random: Random, range: Range): number {
  return range[0] + random.float() * (range[1] - range[0]);
}

/** Draws everything the options leave open from `random` (the run's one generator). */
export function resolveOptions(options: SimOptions, random: Random): ResolvedOptions {
  const mixName = options.mix ?? 'mixed';
  const mix: FaultMix = mixName === 'mixed' ? faultMixes[pick(random, mixedPool)] : faultMixes[mixName];
  const clusterSize = options.clusterSize ?? pick(random, [3, 5]);
  const raft: RaftTuning = {
    electionTicks: 10,
    heartbeatTicks: pick(random, [1, 2, 3]),
    preVote: random.float() < 0.85,
    checkQuorum: random.float() < 0.85,
    appendBytesMax: pick(random, [64, 256, 4096, 1 << 20]),
    inflightMax: pick(random, [1, 4, 64]),
    snapshotChunkBytes: pick(random, [16, 64, 256]),
    snapshotChunksInflightMax: pick(random, [1, 2, 4]),
    ...options.raft,
  };
  return {
    seed: options.seed,
    mix,
    clusterSize,
    tickMs: 10,
    faultMs: options.faultMs ?? defaultFaultMs,
    livenessMs: options.livenessMs ?? defaultLivenessMs,
    raft,
    compactEntries: pick(random, [8, 24, 64, 1_000_000]),
    compactKeep: pick(random, [0, 0, 0, 3]),
    bugs: options.bugs ?? {},
    harnessBugs: options.harnessBugs ?? {},
    checkers: new Set(options.checkers ?? checkerNames),
    trace: options.trace ?? null,
  };
}
