// One simulated member: the real runtime (Member: consensus, storage, state machine, watch hub, lease keeper,
// request handler) over the simulated disk, network and clock. Its disk outlives its incarnations; a crash
// kills the incarnation (nothing of it runs again) and keeps only what the disk made durable; a restart
// recovers from that, as a process started on the same data directory would.

import type { RaftConfig } from '../../../server/raft/config.ts';
import type { Random } from '../../../server/raft/random.ts';
import type { MemberConfig } from '../../../server/runtime/config.ts';
import { resolveMemberConfig } from '../../../server/runtime/config.ts';
import { bootstrapIfNew, Member, type MemberObserver, type RuntimeBugs } from '../../../server/runtime/member.ts';
import { openLog } from '../../../server/storage/log.ts';
import { SimDisk } from '../../../server/storage/sim-disk.ts';
import { slowSyncs, type DiskLatency } from './disk.ts';
import type { SimNetwork, SimPeerNetwork } from './network.ts';
import { Owner, type Scheduler } from './scheduler.ts';

/** The member settings of a simulated ensemble (small timeouts, small logs, so faults bite quickly). */
export interface SimMemberSettings {
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly snapshotEntries: number;
  readonly compactionMarginEntries: number;
  readonly historyRevisions: number;
  readonly sessionTtlMinMs: number;
  readonly proposalTimeoutMs: number;
  readonly watchProgressMs: number;
  readonly segmentBytesMax: number;
}

export interface SimMemberContext {
  readonly scheduler: Scheduler;
  readonly network: SimNetwork;
  readonly random: Random;
  readonly settings: SimMemberSettings;
  readonly latency: DiskLatency;
  readonly observer: (member: string) => MemberObserver;
  readonly plantedBugs: RuntimeBugs;
  readonly raftTuning: Partial<Pick<RaftConfig, 'appendBytesMax' | 'inflightMax'>>;
  /** Share of peers that learn of a crash through a refused redial. */
  readonly peerDownRate: number;
  readonly trace: (who: string, text: string) => void;
  /** The incarnation stopped by itself (a fatal disk error, or removed from the cluster). */
  readonly onStopped: (member: SimMember, error: Error | null) => void;
  /** It sent a vote while armed to crash right after. */
  readonly onCrashAfterVote: (member: SimMember) => void;
  /** It granted a vote (the durability checker looks at its disk now). */
  readonly onVoteSent: (member: SimMember, candidate: string, term: number) => void;
}

/** A member's client endpoint in the simulation, as the SDK is given it. */
export const simEndpoint = (name: string): string => `sim-${name}:1`;

/** A member's peer address in the simulation (the simulated network routes by name, not by address). */
export const simPeerAddress = (name: string): string => `sim-${name}:2`;

export class SimMember {
  readonly disk = new SimDisk({ fileBytesMax: 64 * 1024 * 1024 });
  owner: Owner | null = null;
  member: Member | null = null;
  peers: SimPeerNetwork | null = null;
  incarnation = 0;
  /** Why it does not run, when it cannot (its disk refused to recover). */
  broken: string | null = null;
  /** Whether it is part of the cluster (a member removed, or never added, is not). */
  inCluster: boolean;
  /** Crash within a millisecond of the next vote this member grants (before or after it persisted it). */
  crashAfterVote = false;
  readonly config: MemberConfig;

  constructor(
    readonly name: string,
    initialCluster: readonly string[],
    readonly joins: boolean,
    private readonly context: SimMemberContext,
  ) {
    const s = context.settings;
    this.inCluster = !joins;
    this.config = resolveMemberConfig({
      name,
      dataDir: '/data',
      listenClient: simEndpoint(name),
      advertiseClient: simEndpoint(name),
      listenPeer: simPeerAddress(name),
      initialCluster: initialCluster.map((n) => `${n}=${simPeerAddress(n)}`).join(','),
      join: joins,
      tickMs: s.tickMs,
      electionTicks: s.electionTicks,
      heartbeatTicks: s.heartbeatTicks,
      snapshotEntries: s.snapshotEntries,
      compactionMarginEntries: s.compactionMarginEntries,
      historyRevisions: s.historyRevisions,
      sessionTtlMinMs: s.sessionTtlMinMs,
      proposalTimeoutMs: s.proposalTimeoutMs,
      watchProgressMs: s.watchProgressMs,
    });
  }

  get running(): boolean {
    return this.member !== null;
  }

  /** An incarnation exists: recovering from its disk, or running. */
  get up(): boolean {
    return this.owner !== null;
  }

  /**
   * Starts a new incarnation: recovery from the disk, then the runtime. Not while one is still recovering: the two
   * would race for the data directory's lock, and the loser would take the owner from the winner, which then could
   * not be crashed or stopped (seed 104767).
   */
  async start(): Promise<void> {
    if (this.up || this.broken !== null) return;
    const { scheduler, random, settings } = this.context;
    const owner = new Owner(`${this.name}#${++this.incarnation}`);
    this.owner = owner;
    // Clocks run within 3% of each other; wall clocks are also offset by up to 50 ms.
    const rate = 0.97 + random.float() * 0.06;
    const clock = scheduler.memberClock(owner, rate);
    const wallOffsetMs = 1_700_000_000_000 + Math.floor(random.float() * 100) - 50;
    const disk = slowSyncs(this.disk.mount(), scheduler, random, owner, this.context.latency);
    let log;
    try {
      log = await openLog({ dir: '/data', disk, segmentBytesMax: settings.segmentBytesMax, snapshotCatchUpEntries: settings.compactionMarginEntries });
      await bootstrapIfNew(log, this.config);
    } catch (error) {
      if (!owner.alive) return; // crashed again while recovering
      this.broken = error instanceof Error ? error.message : String(error);
      this.context.trace(this.name, `REFUSES TO START: ${this.broken}`);
      this.owner = null;
      return;
    }
    if (!owner.alive) return;
    const peers = this.context.network.peerNetwork(this.name, owner, clock, (item) => {
      if (item.kind === 'raft' && item.message.type === 'voteResponse' && !item.message.reject) this.context.onVoteSent(this, item.message.to, item.message.term);
      if (this.crashAfterVote && item.kind === 'raft' && item.message.type === 'voteResponse' && !item.message.reject) {
        this.crashAfterVote = false;
        this.context.trace(this.name, `crashes right after granting a vote to ${item.message.to}`);
        this.context.onCrashAfterVote(this);
      }
    });
    let member: Member;
    try {
      member = new Member(this.config, log, {
        clock,
        wallClock: () => wallOffsetMs + clock.now(),
        random,
        peers,
        observer: this.context.observer(this.name),
        plantedBugs: this.context.plantedBugs,
        raftTuning: this.context.raftTuning,
      });
    } catch (error) {
      // Recovery from a disk the runtime itself wrote must not throw: a finding of this seed.
      this.owner = null;
      this.context.onStopped(this, error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.member = member;
    this.peers = peers;
    this.context.network.attachMember(this.name, { owner, clock, requests: member.requests, receiver: peers.peerReceiver });
    void member.stopped.then((error) => {
      if (this.member !== member) return;
      this.context.trace(this.name, `STOPPED ${error === null ? '(removed)' : `(fatal: ${error.message})`}`);
      this.kill();
      this.context.onStopped(this, error);
    });
    member.start();
    this.context.trace(this.name, `started incarnation ${this.incarnation}: snapshot ${log.recovery.snapshot.index}, ${log.recovery.entries} entries replayed${log.recovery.tornTail !== null ? ', torn tail cut' : ''}`);
  }

  /** The process dies: nothing of this incarnation runs again; unsynced writes may be lost or torn. */
  crash(): void {
    if (this.owner === null) return;
    this.kill();
    this.disk.crash(this.context.random);
    this.context.network.announceDown(this.name, this.context.peerDownRate);
  }

  /** Ends the incarnation without touching the disk (it stopped by itself). */
  private kill(): void {
    const owner = this.owner;
    if (owner === null) return;
    owner.alive = false;
    this.owner = null;
    this.member = null;
    this.peers = null;
    this.context.network.detachMember(this.name);
  }

  pause(): void {
    if (this.owner !== null) this.owner.paused = true;
  }

  resume(): void {
    if (this.owner !== null && this.owner.paused) this.context.scheduler.resume(this.owner);
  }

  get paused(): boolean {
    return this.owner?.paused === true;
  }
}
