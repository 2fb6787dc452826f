// The client workload: proposals with unique ids and linearizable reads, sent to the member believed to lead
// (now and then to any member). It decides what counts as acknowledged, and what a read must have seen.

import type { Entry, NodeId, ProposeResult } from '../../server/raft/index.ts';
import type { NodeInput, SimNode, Simulation } from './cluster.ts';
import { SimulationViolation } from './errors.ts';
import { between, pick } from './options.ts';
import { proposalData, proposalId } from './state-machine.ts';

/** A proposal a member appended for the client: acknowledged if that member applies it there in that term. */
export interface PendingAck {
  readonly id: number;
  readonly term: number;
  readonly sentAt: number;
}

/** A read in flight, with what had been acknowledged when it began. */
interface PendingRead {
  readonly node: NodeId;
  readonly ackedMaxIndex: number;
  readonly ackedCount: number;
  readonly sentAt: number;
}

/** Time between client requests once the faults stopped (it then retries until a proposal and a read succeed). */
const livenessGapMs = 20;

export class Client {
  private leaderGuess: NodeId | null = null;
  private nextProposal = 1;
  private nextReadContext = 1;
  private readonly pendingReads = new Map<number, PendingRead>();
  ackedCount = 0;
  /** The highest index at which an acknowledged proposal sits. */
  ackedMaxIndex = 0;
  /** The highest index of a proposal made after the heal and acknowledged (0: none yet). */
  finalAckIndex = 0;
  finalReadServed = false;
  proposals = 0;
  readsServed = 0;

  constructor(private readonly sim: Simulation) {}

  /** One client action; schedules the next. */
  act(): void {
    const sim = this.sim;
    const liveness = sim.phase !== 'faults';
    sim.schedule(liveness ? livenessGapMs : between(sim.random, sim.options.mix.clientGapMs), { kind: 'client' });
    if (liveness) {
      if (this.finalAckIndex === 0) this.propose();
      if (!this.finalReadServed) this.read();
      return;
    }
    if (sim.random.float() < sim.options.mix.readRate) this.read();
    else this.propose();
  }

  private target(): SimNode | null {
    const sim = this.sim;
    const guess = this.leaderGuess === null ? undefined : sim.nodes.get(this.leaderGuess);
    if (guess !== undefined && guess.life !== 'retired' && sim.random.float() >= sim.options.mix.strayRate) return guess;
    const live = sim.liveNodes();
    return live.length === 0 ? null : pick(sim.random, live);
  }

  private propose(): void {
    const sim = this.sim;
    const target = this.target();
    if (target === null) return;
    const id = this.nextProposal++;
    this.proposals++;
    const big = sim.random.float() < sim.options.mix.bigProposalRate;
    const data = proposalData(id, big ? 16 + sim.random.int(185) : sim.random.int(8));
    sim.sendInput(target, { kind: 'propose', id, data, sentAt: sim.now });
  }

  private read(): void {
    const sim = this.sim;
    const target = this.target();
    if (target === null) return;
    const context = this.nextReadContext++;
    this.pendingReads.set(context, { node: target.id, ackedMaxIndex: this.ackedMaxIndex, ackedCount: this.ackedCount, sentAt: sim.now });
    sim.sendInput(target, { kind: 'read', context });
  }

  /** What the member answered to a proposal. */
  proposed(node: SimNode, input: Extract<NodeInput, { kind: 'propose' }>, result: ProposeResult): void {
    switch (result.status) {
      case 'appended':
        node.pendingAcks.set(result.index, { id: input.id, term: result.term, sentAt: input.sentAt });
        this.leaderGuess = node.id;
        this.sim.trace(node.id, `propose ${input.id}: appended at ${result.index}/${result.term}`);
        return;
      case 'forwarded':
        this.leaderGuess = result.leader;
        this.sim.trace(node.id, `propose ${input.id}: forwarded to ${result.leader}`);
        return;
      case 'dropped':
        this.leaderGuess = result.leader === node.id ? null : result.leader;
        this.sim.trace(node.id, `propose ${input.id}: dropped (${result.reason})`);
        return;
    }
  }

  readDropped(node: SimNode, context: number): void {
    this.pendingReads.delete(context);
    this.leaderGuess = null;
    this.sim.trace(node.id, `read ${context} dropped (no leader)`);
  }

  /** A member applied `entry`: if it appended a proposal there in the same term, the proposal is acknowledged. */
  applied(node: SimNode, entry: Entry): void {
    const pending = node.pendingAcks.get(entry.index);
    if (pending === undefined) return;
    const sim = this.sim;
    node.pendingAcks.delete(entry.index);
    if (entry.term !== pending.term) {
      if (sim.tracing) sim.trace(node.id, `proposal ${pending.id} lost: term ${entry.term} won index ${entry.index}`);
      return;
    }
    if (entry.kind !== 'normal' || entry.data.byteLength < 4 || proposalId(entry.data) !== pending.id) {
      throw new SimulationViolation('logMatching', sim.point(), `${node.id} appended proposal ${pending.id} at ${entry.index}/${entry.term} but applied something else there`);
    }
    this.ackedCount++;
    this.ackedMaxIndex = Math.max(this.ackedMaxIndex, entry.index);
    if (sim.phase !== 'faults' && pending.sentAt >= sim.healedAt) this.finalAckIndex = Math.max(this.finalAckIndex, entry.index);
    if (sim.tracing) sim.trace(node.id, `ack proposal ${pending.id} at ${entry.index}`);
  }

  /** The member jumped to a snapshot: what it appended below it can no longer be confirmed. */
  snapshotInstalled(node: SimNode, index: number): void {
    for (const pendingIndex of node.pendingAcks.keys()) if (pendingIndex <= index) node.pendingAcks.delete(pendingIndex);
  }

  /** A ReadState: the read is served once the member applied its index. */
  readState(node: SimNode, context: number, index: number): void {
    if (node.state.applied >= index) this.serve(node, context, index);
    else node.waitingReads.push({ context, index });
  }

  serveWaitingReads(node: SimNode): void {
    if (node.waitingReads.length === 0) return;
    const still: { context: number; index: number }[] = [];
    for (const read of node.waitingReads) {
      if (node.state.applied >= read.index) this.serve(node, read.context, read.index);
      else still.push(read);
    }
    node.waitingReads = still;
  }

  private serve(node: SimNode, context: number, index: number): void {
    const sim = this.sim;
    const read = this.pendingReads.get(context);
    if (read === undefined) return;
    this.pendingReads.delete(context);
    const value = sim.checkers.checkRead(node.id, context, index, read.ackedMaxIndex, read.ackedCount);
    this.readsServed++;
    if (sim.phase !== 'faults' && read.sentAt >= sim.healedAt) this.finalReadServed = true;
    sim.trace(node.id, `read ${context} served at index ${index}: ${value} proposals (>= ${read.ackedCount} acknowledged before)`);
  }

  /** The member stopped: its appended proposals and reads in flight are indeterminate now. */
  forget(node: SimNode): void {
    node.pendingAcks.clear();
    node.waitingReads = [];
    for (const [context, read] of this.pendingReads) if (read.node === node.id) this.pendingReads.delete(context);
  }
}
