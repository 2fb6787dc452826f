// The nemesis: during the fault phase it picks faults by the mix's weights and injects them (partitions,
// lossy/duplicating/slow links, crashes, crashes in the middle of a Ready, pauses, leadership transfers,
// forced compaction and elections) and drives membership rounds: add a learner, promote it, remove a voter.

import { MemoryStorage, type NodeId } from '../../server/raft/index.ts';
import type { SimNode, Simulation } from './cluster.ts';
import { between, crashPoints, type FaultKind, faultKinds, pick } from './options.ts';

type Condition = 'links' | 'loss' | 'duplicate' | 'longDelay';

/** One membership round: a new member joins as a learner, becomes a voter, then some voter is removed. */
interface MembershipRound {
  readonly node: NodeId;
  phase: 'learner' | 'voter' | 'remove';
  since: number;
  victim: NodeId | null;
}

/** Time between two steps of a membership round (each step re-proposes until the leader has applied it). */
const membershipStepMs = 40;
/** A learner is promoted once it caught up, or after this long anyway. */
const learnerCatchUpMs = 400;

export class Nemesis {
  readonly counts = Object.fromEntries(faultKinds.map((kind) => [kind, 0])) as Record<FaultKind, number>;
  private readonly generation: Record<Condition, number> = { links: 0, loss: 0, duplicate: 0, longDelay: 0 };
  private round: MembershipRound | null = null;
  private rounds = 0;
  private readonly kinds: FaultKind[];
  private readonly weights: number[];
  private readonly totalWeight: number;

  constructor(private readonly sim: Simulation) {
    const weights = sim.options.mix.weights;
    this.kinds = faultKinds.filter((kind) => (weights[kind] ?? 0) > 0);
    this.weights = this.kinds.map((kind) => weights[kind]!);
    this.totalWeight = this.weights.reduce((a, b) => a + b, 0);
  }

  /** Injects one fault chosen by weight. */
  act(): void {
    if (this.totalWeight === 0) return;
    let roll = this.sim.random.float() * this.totalWeight;
    let index = 0;
    while (roll >= this.weights[index]!) roll -= this.weights[index++]!;
    this.inject(this.kinds[index]!);
  }

  private inject(kind: FaultKind): void {
    const sim = this.sim;
    const random = sim.random;
    const mix = sim.options.mix;
    const members = sim.liveNodes().map((node) => node.id);
    switch (kind) {
      case 'partition': {
        const shuffled = shuffle(random, members);
        const cut = 1 + random.int(Math.max(1, shuffled.length - 1));
        this.cutLinks(kind, [shuffled.slice(0, cut), shuffled.slice(cut)], false);
        return;
      }
      case 'oneWay': {
        const shuffled = shuffle(random, members);
        const cut = 1 + random.int(Math.max(1, shuffled.length - 1));
        this.cutLinks(kind, [shuffled.slice(0, cut), shuffled.slice(cut)], true);
        return;
      }
      case 'isolateLeader': {
        const leader = sim.leaderNode()?.id ?? pick(random, members);
        this.cutLinks(kind, [[leader], members.filter((id) => id !== leader)], false);
        return;
      }
      case 'minorityMajority': {
        const shuffled = shuffle(random, members);
        const leader = sim.leaderNode()?.id;
        // Half the time the leader lands in the minority.
        if (leader !== undefined && random.float() < 0.5) {
          shuffled.splice(shuffled.indexOf(leader), 1);
          shuffled.unshift(leader);
        }
        const minority = Math.floor((shuffled.length - 1) / 2) || 1;
        this.cutLinks(kind, [shuffled.slice(0, minority), shuffled.slice(minority)], false);
        return;
      }
      case 'healLinks':
        if (!sim.network.hasCuts()) return;
        sim.network.healLinks();
        this.generation.links++;
        sim.countFault(kind, 'all links restored');
        return;
      case 'loss':
        sim.network.conditions.lossRate = between(random, mix.lossRate);
        this.liftLater('loss');
        sim.countFault(kind, `loss rate ${sim.network.conditions.lossRate.toFixed(2)}`);
        return;
      case 'duplicate':
        sim.network.conditions.duplicateRate = between(random, mix.duplicateRate);
        this.liftLater('duplicate');
        sim.countFault(kind, `duplicate rate ${sim.network.conditions.duplicateRate.toFixed(2)}`);
        return;
      case 'longDelay':
        sim.network.conditions.longDelayRate = between(random, mix.longDelayRate);
        this.liftLater('longDelay');
        sim.countFault(kind, `long delay rate ${sim.network.conditions.longDelayRate.toFixed(2)}`);
        return;
      case 'crash': {
        const victim = this.victim();
        if (victim === null) return;
        sim.countFault(kind, victim.id);
        sim.crash(victim, 'nemesis');
        return;
      }
      case 'crashMidReady': {
        const victim = this.victim();
        if (victim === null) return;
        victim.armedCrash = pick(random, crashPoints);
        sim.countFault(kind, `${victim.id} at its next Ready, ${victim.armedCrash}`);
        return;
      }
      case 'pause': {
        const victim = this.victim();
        if (victim === null) return;
        sim.countFault(kind, victim.id);
        sim.pauseNode(victim, between(random, mix.pauseMs));
        return;
      }
      case 'membership':
        if (this.round !== null || this.rounds >= mix.membershipRounds) return;
        this.startRound();
        return;
      case 'transfer': {
        const leader = sim.leaderNode();
        if (leader === null) return;
        const voters = leader.raw!.status().confState.voters.filter((id) => id !== leader.id);
        if (voters.length === 0) return;
        const target = pick(random, voters);
        // Now and then through a follower, which forwards it.
        const via = random.float() < 0.8 ? leader : pick(random, sim.runningNodes());
        sim.countFault(kind, `to ${target} via ${via.id}`);
        sim.sendInput(via, { kind: 'transfer', target });
        return;
      }
      case 'compact': {
        const running = sim.runningNodes().filter((node) => node.up);
        if (running.length === 0) return;
        const node = pick(random, running);
        sim.countFault(kind, node.id);
        sim.compact(node, node.raw!);
        return;
      }
      case 'campaign': {
        const running = sim.runningNodes();
        if (running.length === 0) return;
        const node = pick(random, running);
        sim.countFault(kind, node.id);
        sim.sendInput(node, { kind: 'campaign' });
        return;
      }
      case 'falsePeerDown': {
        const running = sim.runningNodes();
        const leader = sim.leaderNode();
        const about = leader !== null && random.float() < 0.7 ? leader : running.length > 0 ? pick(random, running) : null;
        if (about === null) return;
        const told = running.filter((node) => node !== about && random.float() < 0.6);
        sim.countFault(kind, `${about.id} reported down to ${told.map((n) => n.id).join(',') || 'nobody'}`);
        for (const node of told) sim.sendInput(node, { kind: 'peerDown', peer: about.id });
        return;
      }
    }
  }

  /** Leader churn: now and then a new leader is cut off or crashed shortly after its election. */
  newLeader(node: SimNode, term: number): void {
    const sim = this.sim;
    const mix = sim.options.mix;
    if (mix.leaderChurnRate === 0 || sim.random.float() >= mix.leaderChurnRate) return;
    sim.schedule(between(sim.random, mix.leaderChurnMs), { kind: 'churn', node, term });
  }

  churn(node: SimNode, term: number): void {
    const sim = this.sim;
    if (!node.up || node.role !== 'leader' || node.term !== term) return;
    if (sim.random.float() < 0.5) {
      sim.countFault('crash', `${node.id} shortly after its election`);
      sim.crash(node, 'nemesis (leader churn)');
      return;
    }
    const others = sim.liveNodes().filter((other) => other !== node).map((other) => other.id);
    this.cutLinks('isolateLeader', [[node.id], others], false);
  }

  /** A member to crash or pause: the leader with the mix's bias, else any running member. */
  private victim(): SimNode | null {
    const sim = this.sim;
    const leader = sim.leaderNode();
    if (leader !== null && sim.random.float() < sim.options.mix.leaderBias) return leader;
    const running = sim.runningNodes();
    return running.length === 0 ? null : pick(sim.random, running);
  }

  private cutLinks(kind: FaultKind, groups: NodeId[][], oneWay: boolean): void {
    const network = this.sim.network;
    if (groups.some((group) => group.length === 0)) return;
    network.healLinks();
    if (oneWay) network.cutOneWay(groups[0]!, groups[1]!);
    else network.partition(groups);
    this.liftLater('links');
    this.sim.countFault(kind, groups.map((group) => `{${group.join(',')}}`).join(oneWay ? ' -/-> ' : ' | '));
  }

  private liftLater(condition: Condition): void {
    const generation = ++this.generation[condition];
    this.sim.schedule(between(this.sim.random, this.sim.options.mix.conditionMs), { kind: 'lift', condition, generation });
  }

  /** Ends a network condition, unless a newer one replaced it. */
  lift(condition: Condition, generation: number): void {
    if (this.generation[condition] !== generation || this.sim.phase !== 'faults') return;
    const network = this.sim.network;
    switch (condition) {
      case 'links':
        network.healLinks();
        break;
      case 'loss':
        network.conditions.lossRate = 0;
        break;
      case 'duplicate':
        network.conditions.duplicateRate = 0;
        break;
      case 'longDelay':
        network.conditions.longDelayRate = 0;
        break;
    }
    this.sim.trace('nem', `lift ${condition}`);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Membership rounds

  private startRound(): void {
    const sim = this.sim;
    const id = sim.newNodeId();
    this.rounds++;
    this.round = { node: id, phase: 'learner', since: sim.now, victim: null };
    sim.countFault('membership', `round ${this.rounds}: ${id} joins`);
    sim.addNode(id, new MemoryStorage());
    this.membershipStep();
  }

  /** Moves the round on once the leader has applied its current step, else (re)proposes that step. */
  membershipStep(): void {
    const round = this.round;
    if (round === null) return;
    const sim = this.sim;
    sim.schedule(membershipStepMs, { kind: 'membership' });
    const leader = sim.leaderNode();
    if (leader === null) return;
    const conf = leader.raw!.status().confState;
    const has = (id: NodeId): boolean => conf.voters.includes(id) || conf.learners.includes(id);
    switch (round.phase) {
      case 'learner':
        if (has(round.node)) {
          round.phase = 'voter';
          round.since = sim.now;
          return;
        }
        sim.sendInput(leader, { kind: 'confChange', change: { type: 'addLearner', node: round.node } });
        return;
      case 'voter': {
        if (conf.voters.includes(round.node)) {
          round.phase = 'remove';
          round.since = sim.now;
          return;
        }
        const learner = sim.nodes.get(round.node);
        const caughtUp = learner !== undefined && learner.state.applied >= leader.commit;
        if (caughtUp || sim.now - round.since > learnerCatchUpMs) {
          sim.sendInput(leader, { kind: 'confChange', change: { type: 'addVoter', node: round.node } });
        }
        return;
      }
      case 'remove': {
        if (round.victim === null) {
          const others = conf.voters.filter((id) => id !== round.node && id !== leader.id);
          const pickLeader = others.length === 0 || sim.random.float() < sim.options.mix.leaderBias;
          round.victim = pickLeader ? leader.id : pick(sim.random, others);
          sim.trace('nem', `round removes ${round.victim}${round.victim === leader.id ? ' (the leader)' : ''}`);
        }
        if (!has(round.victim)) {
          sim.trace('nem', `round done: ${round.victim} removed`);
          this.round = null;
          // A removed member that never learnt of its removal keeps campaigning. Without PreVote and CheckQuorum
          // that disrupts the cluster forever (Raft dissertation 4.2.3), so then it is always stopped; otherwise
          // it is left running half the time, to show that it does no harm.
          const victim = sim.nodes.get(round.victim);
          const { preVote, checkQuorum } = sim.options.raft;
          if (victim !== undefined && (!(preVote || checkQuorum) || sim.random.float() < 0.5)) sim.retire(victim, 'removed by the membership round');
          return;
        }
        sim.sendInput(leader, { kind: 'confChange', change: { type: 'removeNode', node: round.victim } });
        return;
      }
    }
  }
}

export function shuffle<T>(random: { int(bound: number): number }, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
