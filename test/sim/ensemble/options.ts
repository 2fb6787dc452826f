// What one seed of the ensemble simulation runs: drawn from the seed, except what the caller pins. Plain data,
// so a run's options travel to worker processes and into the replay command.

import type { Random } from '../../../server/raft/random.ts';
import type { RuntimeBugs } from '../../../server/runtime/member.ts';
import type { SdkBugs } from '../../../sdk/deps.ts';
import type { SimMemberSettings } from './member.ts';
import type { Workload } from './clients.ts';

export const checkerNames = ['linearizability', 'revisions', 'agreement', 'electionSafety', 'durability', 'invariants', 'watches', 'sessions', 'locks', 'idempotency', 'liveness', 'crash'] as const;
export type CheckerName = (typeof checkerNames)[number];

export const faultKinds = [
  'partition',
  'oneWay',
  'isolateLeader',
  'cutClient',
  'lossy',
  'crashMember',
  'crashLeader',
  'crashAfterVote',
  'leaderChurn',
  'pauseMember',
  'pauseClient',
  'crashClient',
  'readBitFlip',
  'syncFailure',
  'membership',
  'transfer',
  'heal',
] as const;
export type FaultKind = (typeof faultKinds)[number];

/** Every deliberately broken variant the suite must catch, by layer. */
export interface AllBugs {
  /** The Raft core's and the runtime's (runtime.raft is the core's). */
  readonly runtime?: RuntimeBugs;
  readonly sdk?: SdkBugs;
}

export interface EnsembleOptions {
  readonly seed: number;
  readonly clusterSize?: 3 | 5;
  /** Simulated milliseconds of faults, then the bound on convergence after they stop. */
  readonly faultMs?: number;
  readonly livenessMs?: number;
  readonly bugs?: AllBugs;
  /** Raft flow-control limits (small appends split the log across messages, as figure 8 needs). */
  readonly raft?: { readonly appendBytesMax?: number; readonly inflightMax?: number };
  /** One-way network latency (default loopback-like 0.05-0.3 ms; slower links widen race windows). */
  readonly latencyMs?: readonly [number, number];
  /** Only these checkers (default: all). */
  readonly checkers?: readonly CheckerName[];
  /** Only these faults, with these weights (default: all). */
  readonly faults?: Partial<Record<FaultKind, number>>;
  readonly trace?: (line: string) => void;
  /** Debugging: also trace the frames of these clients. */
  readonly traceClients?: readonly string[];
}

export interface ResolvedEnsembleOptions {
  readonly seed: number;
  readonly clusterSize: 3 | 5;
  readonly faultMs: number;
  readonly livenessMs: number;
  readonly settings: SimMemberSettings;
  readonly clients: readonly Workload[];
  readonly keys: readonly string[];
  readonly sessionTtlMs: readonly [number, number];
  readonly faultGapMs: readonly [number, number];
  readonly faults: Readonly<Record<FaultKind, number>>;
  readonly bugs: AllBugs;
  readonly raft: { readonly appendBytesMax?: number; readonly inflightMax?: number };
  readonly latencyMs: readonly [number, number];
  readonly checkers: ReadonlySet<CheckerName>;
}

const defaultFaultWeights: Record<FaultKind, number> = {
  partition: 3,
  oneWay: 2,
  isolateLeader: 3,
  cutClient: 2,
  lossy: 3,
  crashMember: 3,
  crashLeader: 3,
  crashAfterVote: 1,
  leaderChurn: 1,
  pauseMember: 2,
  pauseClient: 2,
  crashClient: 1,
  readBitFlip: 1,
  syncFailure: 1,
  membership: 1,
  transfer: 2,
  heal: 3,
};

const between = (random: Random, [lo, hi]: readonly [number, number]): number => lo + random.float() * (hi - lo);

export function resolveEnsembleOptions(options: EnsembleOptions, random: Random): ResolvedEnsembleOptions {
  const clusterSize = options.clusterSize ?? (random.float() < 0.7 ? 3 : 5);
  const electionTicks = 10 + random.int(11);
  const settings: SimMemberSettings = {
    tickMs: 10,
    electionTicks,
    heartbeatTicks: 2,
    snapshotEntries: [50, 200, 800][random.int(3)]!,
    compactionMarginEntries: [5, 20, 60][random.int(3)]!,
    historyRevisions: [60, 300, 1000][random.int(3)]!,
    sessionTtlMinMs: 100,
    proposalTimeoutMs: 1_000,
    watchProgressMs: 50,
    segmentBytesMax: 64 * 1024,
  };
  const clients: Workload[] = ['kv', 'kv', 'kv', 'sequential', 'watch', 'lock', 'lock', 'lock', 'session'];
  if (random.float() < 0.3) clients.push('kv', 'watch', 'session');
  const keys = Array.from({ length: 3 + random.int(5) }, (_, i) => `k${i}`);
  const faults = { ...defaultFaultWeights };
  if (options.faults !== undefined) {
    for (const kind of faultKinds) faults[kind] = options.faults[kind] ?? 0;
  }
  return {
    seed: options.seed,
    clusterSize,
    faultMs: options.faultMs ?? 2_000,
    livenessMs: options.livenessMs ?? 4_000,
    settings,
    clients,
    keys,
    sessionTtlMs: [Math.round(between(random, [150, 300])), Math.round(between(random, [300, 800]))],
    faultGapMs: [30, 250],
    faults,
    bugs: options.bugs ?? {},
    raft: options.raft ?? {},
    latencyMs: options.latencyMs ?? [0.05, 0.3],
    checkers: new Set(options.checkers ?? checkerNames),
  };
}
