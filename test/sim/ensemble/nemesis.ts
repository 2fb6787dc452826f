// Injects faults into a running ensemble: partitions (random splits, one-way cuts, the leader alone, a client
// cut from its member), lossy/duplicating/slow links, crashes of members (the leader above all, and right after
// a vote) and clients, pauses longer than session TTLs, corrupted reads and failed fsyncs on a member's disk,
// a membership round (a member added as a learner, promoted, another removed) and leadership transfers.

import type { Random } from '../../../server/raft/random.ts';
import type { SimClient } from './clients.ts';
import type { SimMember } from './member.ts';
import type { SimNetwork } from './network.ts';
import type { FaultKind, ResolvedEnsembleOptions } from './options.ts';
import { faultKinds } from './options.ts';
import type { Scheduler } from './scheduler.ts';

export interface NemesisHost {
  readonly scheduler: Scheduler;
  readonly network: SimNetwork;
  readonly random: Random;
  readonly options: ResolvedEnsembleOptions;
  members(): readonly SimMember[];
  clients(): readonly SimClient[];
  leader(): SimMember | null;
  /** Restarts a member after `delayMs` (unless it runs again by then). */
  restartLater(member: SimMember, delayMs: number): void;
  restartClientLater(client: SimClient, delayMs: number): void;
  startMembershipRound(): void;
  transferLeadership(): void;
  /** The next member to become leader crashes right after its election. */
  armLeaderChurn(): void;
  trace(who: string, text: string): void;
}

const between = (random: Random, lo: number, hi: number): number => lo + random.float() * (hi - lo);
const pick = <T>(random: Random, items: readonly T[]): T | undefined => items[random.int(items.length)];

export class Nemesis {
  readonly counts = Object.fromEntries(faultKinds.map((kind) => [kind, 0])) as Record<FaultKind, number>;
  /** Members whose disk was made unreadable: at most one, so a majority always remains. */
  private corrupted = 0;

  constructor(private readonly host: NemesisHost) {}

  /** One fault, drawn by weight. */
  act(): void {
    const { random, options } = this.host;
    const total = faultKinds.reduce((sum, kind) => sum + options.faults[kind], 0);
    if (total === 0) return;
    let roll = random.float() * total;
    for (const kind of faultKinds) {
      roll -= options.faults[kind];
      if (roll < 0) {
        if (this.inject(kind)) this.counts[kind]++;
        return;
      }
    }
  }

  private running(): SimMember[] {
    return this.host.members().filter((m) => m.running && m.inCluster);
  }

  private inject(kind: FaultKind): boolean {
    const { network, random } = this.host;
    const names = this.host.members().filter((m) => m.inCluster).map((m) => m.name);
    switch (kind) {
      case 'partition': {
        const side = names.filter(() => random.float() < 0.5);
        for (const a of side) for (const b of names) if (!side.includes(b)) network.cutBoth(a, b);
        this.host.trace('nemesis', `partition [${side.join(',')}] | rest`);
        return side.length > 0 && side.length < names.length;
      }
      case 'oneWay': {
        const [a, b] = [pick(random, names), pick(random, names)];
        if (a === undefined || b === undefined || a === b) return false;
        network.cut(a, b);
        this.host.trace('nemesis', `cut ${a} -> ${b}`);
        return true;
      }
      case 'isolateLeader': {
        const leader = this.host.leader();
        if (leader === null) return false;
        for (const other of names) if (other !== leader.name) network.cutBoth(leader.name, other);
        // Half the time the others are also told (wrongly) that its process died: they elect a new leader at
        // once, while the old one still believes it leads (a test of everything that must not trust that).
        const hinted = random.float() < 0.5;
        this.host.trace('nemesis', `isolate leader ${leader.name}${hinted ? ', and tell the others it died' : ''}`);
        for (const m of this.running()) {
          if (hinted && m !== leader && m.owner !== null) this.host.scheduler.at(0.5, () => m.peers?.peerReceiver.onPeerDown(leader.name), m.owner);
        }
        return true;
      }
      case 'cutClient': {
        const client = pick(random, this.host.clients());
        const member = pick(random, names);
        if (client === undefined || member === undefined) return false;
        network.cutBoth(client.name, member);
        this.host.trace('nemesis', `cut client ${client.name} from ${member}`);
        return true;
      }
      case 'lossy':
        network.conditions = { ...network.conditions, lossRate: between(random, 0, 0.3), duplicateRate: between(random, 0, 0.2), slowRate: between(random, 0, 0.1), slowMs: [10, 150] };
        this.host.trace('nemesis', `lossy links ${JSON.stringify(network.conditions)}`);
        return true;
      case 'crashMember':
      case 'crashLeader': {
        const victim = kind === 'crashLeader' ? this.host.leader() : (pick(random, this.running()) ?? null);
        if (victim === null) return false;
        this.host.trace('nemesis', `crash ${victim.name}`);
        victim.crash();
        this.host.restartLater(victim, between(random, 5, 400));
        return true;
      }
      case 'crashAfterVote':
        this.armVoteCrash();
        return true;
      case 'leaderChurn':
        this.host.armLeaderChurn();
        this.host.trace('nemesis', 'armed: the next leader crashes right after its election');
        return true;
      case 'pauseMember': {
        const victim = pick(random, this.running());
        if (victim === undefined || victim.paused) return false;
        // Now and then longer than any session TTL.
        const ms = random.float() < 0.3 ? between(random, 600, 1200) : between(random, 20, 300);
        this.host.trace('nemesis', `pause ${victim.name} for ${ms.toFixed(0)} ms`);
        victim.pause();
        this.host.scheduler.at(ms, () => victim.resume());
        return true;
      }
      case 'pauseClient': {
        const victim = pick(random, this.host.clients().filter((c) => c.running));
        if (victim === undefined) return false;
        const ms = random.float() < 0.5 ? between(random, 500, 1500) : between(random, 20, 200);
        this.host.trace('nemesis', `pause client ${victim.name} for ${ms.toFixed(0)} ms`);
        victim.pause();
        this.host.scheduler.at(ms, () => victim.resume());
        return true;
      }
      case 'crashClient': {
        const victim = pick(random, this.host.clients().filter((c) => c.running));
        if (victim === undefined) return false;
        this.host.trace('nemesis', `crash client ${victim.process}`);
        victim.crash();
        this.host.restartClientLater(victim, between(random, 10, 300));
        return true;
      }
      case 'readBitFlip':
        return this.corruptDisk();
      case 'syncFailure': {
        const victim = pick(random, this.running());
        if (victim === undefined) return false;
        this.host.trace('nemesis', `the next fsync on ${victim.name} fails`);
        victim.disk.injectSyncFailure('/data');
        return true;
      }
      case 'membership':
        this.host.startMembershipRound();
        return true;
      case 'transfer':
        this.host.transferLeadership();
        return true;
      case 'heal':
        network.heal();
        this.host.trace('nemesis', 'heal the network');
        return true;
    }
  }

  /** The next vote any member grants is followed by its crash, before or just after it persisted the vote. */
  private armVoteCrash(): void {
    for (const member of this.running()) member.crashAfterVote = true;
    this.host.trace('nemesis', 'armed: crash right after granting a vote');
  }

  /**
   * A bit flips in the middle of a stopped member's WAL: recovery must refuse to start it (corruption with
   * valid records after it), never serve what it read. The member stays out; a majority remains.
   */
  private corruptDisk(): boolean {
    const { random } = this.host;
    if (this.corrupted >= 1) return false;
    const victim = pick(random, this.running());
    if (victim === undefined) return false;
    const segment = victim.disk.image();
    const wal = [...segment.keys()].filter((path) => path.startsWith('/data/wal/') && path.endsWith('.wal')).sort()[0];
    if (wal === undefined) return false;
    const bytes = segment.get(wal)!;
    const used = lastNonZero(bytes);
    if (used < 256) return false;
    const offset = 64 + random.int(Math.floor(used / 2));
    this.corrupted++;
    this.host.trace('nemesis', `crash ${victim.name} and flip a bit of ${wal} at ${offset} for its next read`);
    victim.crash();
    victim.disk.injectReadBitFlip(wal, offset, random.int(8));
    this.host.restartLater(victim, between(random, 5, 100));
    return true;
  }
}

function lastNonZero(bytes: Uint8Array): number {
  for (let i = bytes.length - 1; i >= 0; i--) if (bytes[i] !== 0) return i;
  return 0;
}
