// One member of an ensemble: storage, consensus, the replicated application, the watch hub, the lease
// keeper and the request handler, wired together over injected time, randomness and a peer network, so the
// same code runs in a real process (`startMember`) and in the whole-node simulator (test/sim).

import type { PlantedBugs, RaftConfig } from '../raft/config.ts';
import { bootstrapState } from '../raft/raw-node.ts';
import type { ConfChange, LogIndex, NodeId, Role } from '../raft/types.ts';
import { nodeId } from '../raft/types.ts';
import { openLog, realDisk, type DurableLog } from '../storage/index.ts';
import type { ApplyResult, Command, LeaseId } from '../state/index.ts';
import { ClientServer } from '../transport/client.ts';
import { PeerTransport } from '../transport/peer.ts';
import { ReplicatedApp, type MemberAddress, type ReplicatedCommand } from './app.ts';
import type { MemberConfig } from './config.ts';
import { hostPort } from './config.ts';
import { Consensus } from './consensus.ts';
import { systemDeps, type Clock, type RuntimeDeps, type TimerHandle } from './deps.ts';
import { KeepAlives } from './keep-alives.ts';
import { LeaseKeeper } from './lease-keeper.ts';
import { Metrics } from './metrics.ts';
import type { PeerItem, PeerNetwork } from './peers.ts';
import { RequestHandler } from './requests.ts';
import { RevisionWaits } from './revision-waits.ts';
import { WatchHub } from './watch-hub.ts';

export type { PeerItem } from './peers.ts';

export interface MemberDeps extends RuntimeDeps {
  readonly peers: PeerNetwork<PeerItem>;
  /** Tests only: sees every applied command and role change (the whole-node simulator's checkers). */
  readonly observer?: MemberObserver;
  /** Tests only: deliberately broken variants the simulator must catch. */
  readonly plantedBugs?: RuntimeBugs;
  /** Tests only: Raft flow-control limits (small appends split a leader's log across messages). */
  readonly raftTuning?: Partial<Pick<RaftConfig, 'appendBytesMax' | 'inflightMax'>>;
}

export interface MemberObserver {
  applied(index: LogIndex, command: Command, applied: ApplyResult): void;
  /** The state was replaced by a snapshot (from the leader) at this revision. */
  restored(revision: number): void;
  roleChanged(role: Role, leader: NodeId | null, term: number): void;
}

/** Deliberately broken variants of the runtime, for the simulator's proof that its checkers can fail. */
export interface RuntimeBugs {
  /** Send a Ready's vote answers before its hard state (the vote) is on disk. */
  readonly sendVoteBeforePersist?: boolean;
  /** A new leader expires leases at once instead of giving each a full TTL first. */
  readonly expireWithoutGrace?: boolean;
  /** Apply each entry at this member's clock instead of the time its proposer stamped into it. */
  readonly applyAtLocalTime?: boolean;
  /** The Raft core's planted bugs. */
  readonly raft?: PlantedBugs;
}

export interface MemberHandle extends AsyncDisposable {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** Stops gracefully: hands leadership over if leader, flushes and closes the log, closes the endpoints. */
  stop(): Promise<void>;
  /** Resolves when the member stops on its own (removed from the cluster, or a fatal storage error). */
  readonly stopped: Promise<Error | null>;
  status(): MemberStatus;
}

export type MemberStatus = ReturnType<Member['status']>;

/** How often the leader looks for leases past their deadline. */
const leaseCheckIntervalMs = 25;
/** How often the leader proposes a sweep of TTL nodes. */
const sweepIntervalMs = 1000;
/** Lease ids per proposed expiry. */
const leaseExpireBatchMax = 1000;

export class Member {
  readonly app: ReplicatedApp;
  readonly consensus: Consensus;
  readonly hub: WatchHub;
  readonly keeper: LeaseKeeper;
  readonly keepAlives: KeepAlives;
  readonly metrics: Metrics;
  readonly requests: RequestHandler;
  /** Reads that wait for a revision to be applied here. */
  readonly revisions: RevisionWaits;
  readonly clock: Clock;
  private readonly peers: PeerNetwork<PeerItem>;
  /** Whether a registration of this member's client address is under way (see registerClientUrl). */
  private registering = false;
  /** One pending timer per recurring job. */
  private readonly timers = new Map<string, TimerHandle>();
  private stopping = false;
  private resolveStopped!: (error: Error | null) => void;
  readonly stopped = new Promise<Error | null>((resolve) => (this.resolveStopped = resolve));

  constructor(
    readonly config: MemberConfig,
    readonly log: DurableLog,
    private readonly deps: MemberDeps,
  ) {
    this.clock = deps.clock;
    this.peers = deps.peers;
    // First: recovering the log below may already announce the members' endpoints (to no one yet).
    this.requests = new RequestHandler(this);
    // Replicated state: the same on every member (each registers its own client address through the log).
    const initialMembers = new Map<string, MemberAddress>();
    for (const [name, peerUrl] of config.initialCluster) initialMembers.set(name, { peerUrl, clientUrl: config.initialClientUrls.get(name) ?? '' });
    this.metrics = new Metrics();
    this.app = new ReplicatedApp(
      { dataBytesMax: config.limits.valueBytesMax, pathBytesMax: config.limits.pathBytesMax, txnOpsMax: config.limits.txnOpsMax, historyRevisionsMax: config.historyRevisions, historyEventsMax: config.historyEvents },
      initialMembers,
      {
        onApplied: (index, command, applied) => this.onApplied(index, command, applied),
        onRegistryChange: () => {
          this.connectPeers();
          this.registerClientUrl();
          this.requests.announceEndpoints();
        },
        onRestore: () => {
          this.deps.observer?.restored(this.app.machine.revision);
          this.hub.resetAll('the member installed a snapshot; resume the watch');
          this.revisions.applied();
          this.requests.announceEndpoints();
        },
        onConfChange: (change, index) => this.onConfChange(change, index),
        onRoleChange: (role, leader) => this.onRoleChange(role, leader),
        ...(deps.plantedBugs?.applyAtLocalTime === true ? { localTimeMs: () => this.wallTimeMs() } : {}),
      },
    );
    this.hub = new WatchHub(this.app);
    this.revisions = new RevisionWaits(this.clock, () => this.app.machine.revision);
    this.keeper = new LeaseKeeper(this.clock, (leaseIds) => this.proposeInternal({ op: 'leaseExpire', leaseIds }), leaseExpireBatchMax, deps.plantedBugs?.expireWithoutGrace === true);
    this.consensus = new Consensus({
      raft: {
        id: nodeId(config.name),
        storage: log.storage,
        random: deps.random,
        electionTicks: config.electionTicks,
        heartbeatTicks: config.heartbeatTicks,
        ...deps.raftTuning,
        ...(deps.plantedBugs?.raft !== undefined ? { bugs: deps.plantedBugs.raft } : {}),
      },
      log,
      clock: this.clock,
      tickMs: config.tickMs,
      send: (message) => this.peers.send(message.to, { kind: 'raft', message }),
      app: this.app,
      snapshotEntries: config.snapshotEntries,
      proposalTimeoutMs: config.proposalTimeoutMs,
      sendVoteBeforePersist: deps.plantedBugs?.sendVoteBeforePersist === true,
    });
    this.consensus.onFatal = (error) => void this.shutdown(error);
    this.keepAlives = new KeepAlives({
      clock: this.clock,
      random: deps.random,
      keeper: this.keeper,
      isLeader: () => this.consensus.role === 'leader',
      leader: () => this.consensus.leader,
      confirmLeadership: () => this.consensus.linearizable(),
      send: (to, item) => this.peers.send(to, item),
      forwardTimeoutMs: config.tickMs * config.electionTicks,
      batchMs: config.tickMs,
    });
    this.peers.attach({ onItems: (from, items) => this.onPeerItems(from, items), onPeerDown: (peer) => this.consensus.peerDown(nodeId(peer)) });
  }

  /** Starts consensus and the recurring jobs; the transports are the caller's. */
  start(): void {
    this.connectPeers();
    this.consensus.start();
    // Restarted after its removal was applied (and perhaps compacted into the snapshot): it still retires.
    if (this.consensus.applied > 0 && !this.inConfiguration(this.config.name)) this.retire(0);
    this.every('leases', leaseCheckIntervalMs, () => this.keeper.check());
    this.every('progress', this.config.watchProgressMs, () => this.hub.progress());
    this.every('sweep', sweepIntervalMs, () => this.sweep());
  }

  private every(name: string, intervalMs: number, work: () => void): void {
    const run = (): void => {
      if (this.stopping) return;
      work();
      this.timers.set(name, this.clock.setTimeout(run, intervalMs));
    };
    this.timers.set(name, this.clock.setTimeout(run, intervalMs));
  }

  private sweep(): void {
    if (this.consensus.role === 'leader') this.proposeInternal({ op: 'sweep' }).catch(() => {});
  }

  /** Proposes a command of the member itself (not of a client): no idempotency record. */
  proposeInternal(command: { op: 'leaseExpire'; leaseIds: LeaseId[] } | { op: 'sweep' } | ReplicatedCommand): Promise<unknown> {
    return this.consensus.propose({ ...command, clientId: '', sequence: 0, timeMs: this.wallTimeMs() });
  }

  /** This member's wall clock, stamped into the entries it proposes: the only time the state machine sees. */
  wallTimeMs(): number {
    return Math.floor(this.deps.wallClock());
  }

  /** The client endpoint (`host:port`) of a member, when it registered one. */
  clientEndpointOf(name: string | null): string | null {
    if (name === null) return null;
    const url = this.app.members.get(name)?.clientUrl ?? '';
    return url === '' ? null : url;
  }

  /**
   * Makes the replicated registry name this member's client address, so clients that reach another member
   * can be sent here when this member leads. Proposed once a leader is known, again until it applies.
   */
  private registerClientUrl(): void {
    const own = this.app.members.get(this.config.name);
    if (this.registering || this.consensus.leader === null || own === undefined || own.clientUrl === this.config.advertiseClient) return;
    this.registering = true;
    this.proposeInternal({ op: 'memberSet', name: this.config.name, peerUrl: own.peerUrl, clientUrl: this.config.advertiseClient })
      .catch(() => {})
      .finally(() => (this.registering = false));
  }

  private onApplied(index: LogIndex, command: Command, applied: ApplyResult): void {
    this.deps.observer?.applied(index, command, applied);
    this.metrics.applied(command.op, applied.result.ok);
    this.hub.publish(applied.events);
    this.revisions.applied();
    const result = applied.result;
    if (!result.ok) return;
    if (result.op === 'leaseGrant') this.keeper.granted(result.leaseId, result.ttlMs);
    else if (result.op === 'leaseRevoke') this.keeper.removed(result.leaseId);
    else if (result.op === 'leaseExpire') for (const id of result.expired) this.keeper.removed(id);
  }

  private onRoleChange(role: Role, leader: NodeId | null): void {
    this.deps.observer?.roleChanged(role, leader, this.consensus.status().term);
    this.metrics.role(role);
    this.keepAlives.leaderChanged(leader);
    this.registerClientUrl();
    if (role === 'leader' && !this.keeper.isLeading) this.keeper.becomeLeader(this.app.machine.leases());
    else if (role !== 'leader' && this.keeper.isLeading) this.keeper.stepDown();
  }

  private onConfChange(change: ConfChange, index: LogIndex): void {
    this.connectPeers();
    this.requests.announceEndpoints();
    if (change.type === 'removeNode' && change.node !== this.config.name) {
      this.removedPeers.set(change.node, index);
      this.peers.send(change.node, { kind: 'removed', index });
    } else if (change.type !== 'removeNode') this.removedPeers.delete(change.node);
    if (change.type === 'removeNode' && change.node === this.config.name) {
      this.removedAt = index;
      this.retire(index);
    }
  }

  /** Members known to have applied this member's removal (each tells it so). */
  private readonly removalAppliedBy = new Set<string>();
  /**
   * Members whose removal this one applied, with the removal's log index. One that still speaks (it missed the
   * entry: the leader stops replicating to it once the removal commits, and the first notice can be lost) is
   * told again.
   */
  private readonly removedPeers = new Map<string, LogIndex>();
  /** The latest removal of this member it applied or a notice named, while it retires (0: none known). */
  private removalIndex = 0;
  /** Where this member applied its own removal (0: it did not, or does not know where). */
  private removedAt = 0;

  /**
   * A removed member stops once a majority of the new configuration has applied its removal. Before that, the
   * others may not know the removal committed (its leader can crash right after committing it): their
   * configuration still counts this member, and its vote may be needed to elect the leader that commits it
   * again. So it never stops on a timer: until enough of them answer, it asks each election timeout, and each
   * that does not count it answers with a notice (notices are lost like any message). If it turns out to be
   * in its own configuration, having applied past the removal, it was added again since: it stays.
   */
  private retire(removalIndex: number): void {
    this.removalIndex = Math.max(this.removalIndex, removalIndex);
    if (!this.timers.has('retire')) {
      const ask = (): void => {
        if (this.stopping) return;
        if (this.addedSince(this.removalIndex)) {
          this.timers.delete('retire');
          this.removalAppliedBy.clear();
          this.removalIndex = 0;
          this.removedAt = 0;
          return;
        }
        for (const name of this.app.members.keys()) {
          if (name !== this.config.name && !this.removalAppliedBy.has(name)) this.peers.send(name, { kind: 'retiring' });
        }
        this.timers.set('retire', this.clock.setTimeout(ask, this.config.electionTicks * this.config.tickMs));
      };
      ask();
    }
    const voters = this.consensus.status().confState.voters;
    if (voters.filter((voter) => this.removalAppliedBy.has(voter)).length > voters.length / 2) void this.shutdown(null);
  }

  private onPeerItems(from: string, items: PeerItem[]): void {
    for (const item of items) {
      switch (item?.kind) {
        case 'raft':
          // A peer speaks only for itself; a malformed message is dropped, never stepped.
          if (isRaftMessage(item.message) && item.message.from === from && item.message.to === this.config.name) {
            // Stepped either way: the sender may have been added again since (this member has not applied that
            // yet, and learns it from the sender if it leads).
            const removedAt = this.removedPeers.get(from);
            if (removedAt !== undefined && !this.inConfiguration(from)) this.peers.send(from, { kind: 'removed', index: removedAt });
            this.consensus.step(item.message);
          }
          break;
        case 'keepAlive':
          this.keepAlives.onForwarded(from, Number(item.request), item.leaseIds);
          break;
        case 'keepAliveAck':
          this.keepAlives.onAck(Number(item.request), item.leaseIds, item.ttls);
          break;
        case 'removed': {
          // Only a member that applied the removal says so: it committed, whether or not this one has it yet.
          // A member that applied past it and is still in its configuration was added again since (under the
          // same name): the notice is stale. So is one from a member that has not reached the removal this
          // one applied (it answers a question: it may never have counted this member yet).
          const index = Number(item.index);
          if (this.addedSince(index) || index < this.removedAt) break;
          this.removalAppliedBy.add(from);
          this.retire(index);
          break;
        }
        case 'retiring':
          // A member that believes it was removed asks whether this one applied that. Not counting it, this
          // one answers with where it applied the removal, or (restarted since) how far it has applied.
          if (!this.inConfiguration(from)) this.peers.send(from, { kind: 'removed', index: this.removedPeers.get(from) ?? this.consensus.applied });
          break;
      }
    }
  }

  /** Whether this member is in its own configuration, having applied up to `index`: added (again) since a removal there. */
  private addedSince(index: number): boolean {
    return this.inConfiguration(this.config.name) && this.consensus.applied >= index;
  }

  /**
   * Whether `name` is a voter or learner in the configuration the core applied (which may be ahead of the
   * application's view while a snapshot is being taken: a member added again is then known here first).
   */
  private inConfiguration(name: string): boolean {
    const { voters, learners } = this.consensus.status().confState;
    const id = nodeId(name);
    return voters.includes(id) || learners.includes(id);
  }

  /** Dials every member the registry names (the Raft membership decides who votes). */
  private connectPeers(): void {
    const urls = new Map<string, string>();
    for (const [name, address] of this.app.members) urls.set(name, address.peerUrl);
    this.peers.setPeers(urls);
  }

  status() {
    const raft = this.consensus.status();
    return {
      member: this.config.name,
      role: raft.role,
      term: raft.term,
      leader: raft.leader,
      commit: raft.commit,
      applied: this.consensus.applied,
      revision: this.app.machine.revision,
      voters: raft.confState.voters,
      learners: raft.confState.learners,
      members: [...this.app.members].map(([name, address]) => ({
        name,
        ...address,
        learner: raft.confState.learners.includes(nodeId(name)),
        voter: raft.confState.voters.includes(nodeId(name)),
      })),
      firstIndex: raft.firstIndex,
      lastIndex: raft.lastIndex,
      dbBytes: (({ walBytes, snapshotBytes }) => walBytes + snapshotBytes)(this.log.stats()),
    };
  }

  /** Graceful: transfer leadership first (bounded wait), then close everything. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    const raft = this.consensus.status();
    if (raft.role === 'leader' && raft.confState.voters.length > 1) {
      const target = raft.confState.voters.find((id) => id !== raft.id);
      if (target !== undefined) {
        this.consensus.transferLeadership(target);
        const deadline = this.clock.now() + this.config.tickMs * this.config.electionTicks;
        while (this.consensus.role === 'leader' && this.clock.now() < deadline) {
          await new Promise<void>((resolve) => this.clock.setTimeout(resolve, this.config.tickMs));
        }
      }
    }
    await this.shutdown(null);
  }

  private async shutdown(error: Error | null): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const timer of this.timers.values()) this.clock.clearTimeout(timer);
    this.consensus.stop();
    this.revisions.close();
    await this.peers.close();
    await this.log.close().catch(() => {});
    this.resolveStopped(error);
  }
}

function isRaftMessage(value: unknown): value is import('../raft/types.ts').Message {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  return typeof m['type'] === 'string' && typeof m['from'] === 'string' && typeof m['to'] === 'string' && typeof m['term'] === 'number';
}

/** Writes a new cluster's initial membership into an empty log (a member that joins later does not). */
export async function bootstrapIfNew(log: DurableLog, config: MemberConfig): Promise<void> {
  if (log.storage.lastIndex() !== 0 || log.storage.snapshot().metadata.index !== 0 || config.join) return;
  const { entries, hardState } = bootstrapState([...config.initialCluster.keys()].map(nodeId));
  await log.save({ hardState, entries, snapshot: null, mustSync: true });
}

/**
 * Starts a member inside this process: recovers (or creates) its data directory, bootstraps a new cluster's
 * membership, and opens its peer and client endpoints.
 */
export async function startMember(config: MemberConfig, deps: RuntimeDeps = systemDeps): Promise<MemberHandle> {
  // Entries kept in memory behind each snapshot, for followers that lag a little (beyond them: a snapshot).
  const log = await openLog({ dir: config.dataDir, disk: realDisk, snapshotCatchUpEntries: config.compactionMarginEntries });
  await bootstrapIfNew(log, config);
  const peer = hostPort(config.listenPeer);
  const peers = new PeerTransport<PeerItem>({ self: config.name, host: peer.host, port: peer.port, clusterToken: config.clusterToken, random: deps.random });
  const member = new Member(config, log, { ...deps, peers });
  const client = hostPort(config.listenClient);
  const clients = new ClientServer(client.host, client.port, member.requests, {
    frameBytesMax: config.limits.requestBytesMax,
    connectionBufferBytesMax: config.limits.connectionBufferBytesMax,
    httpBodyBytesMax: config.limits.requestBytesMax,
  });
  void member.stopped.then(() => clients.close());
  try {
    await peers.listen();
    await clients.listen();
    member.start();
  } catch (error) {
    await member.stop().catch(() => {});
    throw error;
  }
  return {
    name: config.name,
    clientPort: clients.port,
    peerPort: peers.port,
    stop: () => member.stop(),
    stopped: member.stopped,
    status: () => member.status(),
    [Symbol.asyncDispose]: () => member.stop(),
  };
}
