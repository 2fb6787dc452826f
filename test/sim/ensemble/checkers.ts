// The ensemble simulation's checkers. Some watch every step through the members' observers (members agree on
// what each log index did; one leader per term; revisions only grow), some run now and then (tree invariants),
// and the rest judge the workloads' records at the end (linearizability, watch streams, sessions, locks,
// sequential creates applied once, liveness). Each violation names its checker.

import type { NodeId, Role } from '../../../server/raft/types.ts';
import type { MemberObserver } from '../../../server/runtime/member.ts';
import { checkInvariants, type ApplyResult, type Command, type StateMachine, type WatchEvent } from '../../../server/state/index.ts';
import { encodeFrame } from '../../../sdk/protocol/codec.ts';
import { checkLinearizable, checkRevisions, formatReport, type History } from '../../check/index.ts';
import type { WatchItem } from '../../../sdk/index.ts';
import { openLog } from '../../../server/storage/log.ts';
import type { SimDisk } from '../../../server/storage/sim-disk.ts';
import type { WorkloadRecords } from './clients.ts';
import type { CheckerName } from './options.ts';

export class EnsembleViolation extends Error {
  override readonly name = 'EnsembleViolation';
  constructor(
    readonly checker: CheckerName,
    message: string,
    /** A readable view of the offending operations, when there is one. */
    readonly report = '',
  ) {
    super(`${checker}: ${message}`);
  }
}

interface Applied {
  /** What the first member to apply the index did, encoded. */
  readonly digest: Uint8Array;
  readonly member: string;
  readonly at: number;
}

/** Leases a leader's clock may run this much faster than simulated time (members drift by up to 3%). */
const clockRateMax = 1.03;

export class EnsembleCheckers {
  private readonly applied = new Map<number, Applied>();
  /** Every revision's events, as first applied (all members must agree, which `agreement` checks). */
  readonly events = new Map<number, readonly WatchEvent[]>();
  /** When each lease was first seen expired (simulated time). */
  readonly expiredAt = new Map<number, number>();
  private readonly leaders = new Map<number, string>();
  private readonly revisions = new Map<string, number>();
  stats = { applied: 0, leaderTerms: 0, invariantChecks: 0, votesChecked: 0 };
  /** The first violation seen (a run stops at it). */
  violation: EnsembleViolation | null = null;

  constructor(
    private readonly enabled: ReadonlySet<CheckerName>,
    private readonly now: () => number,
  ) {}

  private fail(checker: CheckerName, message: string, report = ''): never {
    const violation = new EnsembleViolation(checker, message, report);
    this.violation ??= violation;
    throw violation;
  }

  /** Observes a member; a violation found there is recorded (the run stops) and never thrown into the member. */
  observer(member: string, incarnation: () => number): MemberObserver {
    const guarded = (check: () => void): void => {
      try {
        check();
      } catch (error) {
        if (!(error instanceof EnsembleViolation)) throw error;
      }
    };
    return {
      applied: (index, command, applied) => guarded(() => this.onApplied(`${member}#${incarnation()}`, index, command, applied)),
      roleChanged: (role, leader, term) => guarded(() => this.onRole(member, role, leader, term)),
      restored: (revision) => this.revisions.set(`${member}#${incarnation()}`, revision),
    };
  }

  private onApplied(member: string, index: number, command: Command, applied: ApplyResult): void {
    this.stats.applied++;
    const digest = encodeFrame([applied.revision, applied.result, applied.events]);
    const first = this.applied.get(index);
    if (first === undefined) {
      this.applied.set(index, { digest, member, at: this.now() });
      if (applied.events.length > 0 && !this.events.has(applied.revision)) this.events.set(applied.revision, applied.events);
      if (applied.result.ok && applied.result.op === 'leaseExpire') {
        for (const id of applied.result.expired) if (!this.expiredAt.has(id)) this.expiredAt.set(id, this.now());
      }
    } else if (this.enabled.has('agreement') && Buffer.compare(first.digest, digest) !== 0) {
      this.fail('agreement', `log index ${index} (${command.op}) did one thing on ${first.member} and another on ${member}`);
    }
    // Each command that changes the tree moves the revision by exactly one (a replayed retry changes nothing).
    if (applied.events.length === 0) return;
    const last = this.revisions.get(member);
    if (this.enabled.has('agreement') && last !== undefined && applied.revision !== last + 1) this.fail('agreement', `${member}'s revision went from ${last} to ${applied.revision}`);
    this.revisions.set(member, applied.revision);
  }

  private onRole(member: string, role: Role, _leader: NodeId | null, term: number): void {
    if (role !== 'leader') return;
    const known = this.leaders.get(term);
    if (known === undefined) {
      this.leaders.set(term, member);
      this.stats.leaderTerms++;
    } else if (known !== member && this.enabled.has('electionSafety')) {
      this.fail('electionSafety', `two leaders in term ${term}: ${known} and ${member}`);
    }
  }

  /** Every invariant of a running member's state machine (O(state): run now and then). */
  checkTree(member: string, machine: StateMachine): void {
    if (!this.enabled.has('invariants')) return;
    this.stats.invariantChecks++;
    try {
      checkInvariants(machine);
    } catch (error) {
      this.fail('invariants', `${member}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  // --- at the end ---------------------------------------------------------------------------------------------

  linearizability(history: History): { operations: number } {
    if (this.enabled.has('linearizability')) {
      const result = checkLinearizable(history);
      if (result.ok === false) this.fail('linearizability', 'the key-value history is not linearizable', formatReport(result));
      if (result.ok === 'unknown') this.fail('linearizability', `the checker gave up: ${formatReport(result)}`);
    }
    if (this.enabled.has('revisions')) {
      const revisions = checkRevisions(history);
      if (!revisions.ok) this.fail('revisions', `${revisions.violations.length} revision order violations`, formatReport(revisions));
    }
    return { operations: history.length };
  }

  /**
   * Every stream delivered, from its first revision to the last one it vouched for (an event or a progress
   * notice), exactly the events of the authoritative history under its path: in order, each once, every event
   * of a revision together.
   */
  watches(records: WorkloadRecords): { streams: number; events: number } {
    let events = 0;
    if (!this.enabled.has('watches')) return { streams: records.watches.length, events };
    for (const record of records.watches) {
      if (record.startRevision === 0) continue; // never started
      events += this.checkStream(record.client, record.path, record.startRevision, record.items.map((i) => i.item));
    }
    return { streams: records.watches.length, events };
  }

  private checkStream(client: string, path: string, start: number, items: readonly WatchItem[]): number {
    const under = (p: string): boolean => p === path || p.startsWith(`${path}/`);
    const delivered: Array<Pick<WatchEvent, 'type' | 'path' | 'data'> & { readonly revision: number }> = [];
    let vouched = start - 1;
    for (const item of items) {
      if (item.type === 'progress') {
        vouched = Math.max(vouched, item.revision);
        continue;
      }
      if (item.type === 'initial') continue;
      const previous = delivered[delivered.length - 1];
      if (previous !== undefined && item.revision < previous.revision) this.fail('watches', `${client}: revision ${item.revision} after ${previous.revision}`);
      delivered.push(item);
    }
    const lastEvent = delivered[delivered.length - 1]?.revision ?? start - 1;
    // The consumer may have stopped inside the last revision: that one may be a prefix.
    const complete = Math.max(vouched, lastEvent - 1);
    let next = 0;
    for (let revision = start; revision <= Math.max(complete, lastEvent); revision++) {
      const expected = (this.events.get(revision) ?? []).filter((e) => under(e.path));
      const got: Array<Pick<WatchEvent, 'type' | 'path' | 'data'>> = [];
      while (next < delivered.length && delivered[next]!.revision === revision) got.push(delivered[next++]!);
      if (!this.events.has(revision) && got.length > 0 && revision > this.maxRevision()) this.fail('watches', `${client}: event at revision ${revision}, which never committed`);
      const prefixOnly = revision > complete;
      const shown = (list: ReadonlyArray<Pick<WatchEvent, 'type' | 'path'>>): string => list.map((e) => `${e.type} ${e.path}`).join(', ') || 'nothing';
      const same = (a: Pick<WatchEvent, 'type' | 'path' | 'data'>, b: WatchEvent): boolean => a.type === b.type && a.path === b.path && Buffer.compare(Buffer.from(a.data), Buffer.from(b.data)) === 0;
      const matches = prefixOnly ? got.length <= expected.length && got.every((e, i) => same(e, expected[i]!)) : got.length === expected.length && got.every((e, i) => same(e, expected[i]!));
      if (!matches && this.events.has(revision)) {
        this.fail('watches', `${client} watching ${path} from ${start}: at revision ${revision} got [${shown(got)}], the log has [${shown(expected)}]`);
      }
    }
    if (next < delivered.length) this.fail('watches', `${client}: ${delivered.length - next} events out of order or duplicated (at revision ${delivered[next]!.revision})`);
    return delivered.length;
  }

  private maxRevision(): number {
    let max = 0;
    for (const revision of this.events.keys()) if (revision > max) max = revision;
    return max;
  }

  /**
   * No session expired before its TTL passed since the latest heartbeat its client saw answered was sent (the
   * leader measures the TTL on a clock that may run 3% fast).
   */
  sessions(records: WorkloadRecords): { sessions: number; expired: number } {
    let expired = 0;
    for (const session of records.sessions) {
      const at = this.expiredAt.get(session.leaseId);
      if (at === undefined) continue;
      expired++;
      const earliest = session.renewalSentAt + session.ttlMs / clockRateMax;
      if (this.enabled.has('sessions') && at < earliest) {
        this.fail('sessions', `session ${session.leaseId} of ${session.client} (TTL ${session.ttlMs} ms) expired at ${at.toFixed(1)} ms, ${(earliest - at).toFixed(1)} ms before its TTL passed since the heartbeat sent at ${session.renewalSentAt.toFixed(1)} ms was answered`);
      }
    }
    return { sessions: records.sessions.length, expired };
  }

  /**
   * Each holder was first in its queue at the revision it was granted (so it held the lock then and never a
   * node that was gone), tokens grow with grants, and the fenced store refused every stale holder's write.
   */
  locks(records: WorkloadRecords, folder: string): { grants: number; rejected: number; unfencedStale: number } {
    const grants = [...records.grants].sort((a, b) => a.revision - b.revision);
    const store = records.fencedStore;
    const result = { grants: grants.length, rejected: store.rejected, unfencedStale: store.unfencedStale };
    if (!this.enabled.has('locks')) return result;
    const queue = new Map<string, number>(); // path -> sequence
    let revision = 0;
    const maxRevision = this.maxRevision();
    let lastToken = 0;
    for (const grant of grants) {
      while (revision < grant.revision && revision < maxRevision) {
        revision++;
        for (const event of this.events.get(revision) ?? []) {
          if (!event.path.startsWith(`${folder}/`)) continue;
          if (event.type === 'delete') queue.delete(event.path);
          else if (event.type === 'create') queue.set(event.path, Number(event.path.slice(-10)));
        }
      }
      const mine = queue.get(grant.path);
      if (mine === undefined) this.fail('locks', `${grant.client} was granted the lock at revision ${grant.revision} through ${grant.path}, which did not exist then`);
      for (const [path, sequence] of queue) {
        if (sequence < mine) this.fail('locks', `${grant.client} was granted the lock at revision ${grant.revision} while ${path} was ahead of it`);
      }
      if (grant.token <= lastToken) this.fail('locks', `token ${grant.token} granted after token ${lastToken}`);
      lastToken = grant.token;
    }
    return result;
  }

  /** Every acknowledged sequential create is there once; none, acknowledged or not, is there twice. */
  idempotency(records: WorkloadRecords, payloads: readonly string[]): { creates: number } {
    if (!this.enabled.has('idempotency')) return { creates: payloads.length };
    const seen = new Map<string, number>();
    for (const payload of payloads) seen.set(payload, (seen.get(payload) ?? 0) + 1);
    for (const [payload, count] of seen) {
      if (count > 1) this.fail('idempotency', `sequential create ${payload} applied ${count} times`);
      if (!records.sequential.has(payload)) this.fail('idempotency', `a node with payload ${payload} nobody created`);
    }
    for (const [payload, acknowledged] of records.sequential) {
      if (acknowledged && !seen.has(payload)) this.fail('idempotency', `acknowledged sequential create ${payload} is lost`);
    }
    return { creates: payloads.length };
  }

  /**
   * A granted vote leaves only once the voter's disk holds it: recovered from what is durable at that moment,
   * the voter's hard state names the candidate in that term (or a later term). Checked on a copy of the durable
   * image; the recovery runs on microtasks only, so the verdict lands before the next event.
   */
  voteDurable(member: string, durable: SimDisk, candidate: string, term: number): void {
    if (!this.enabled.has('durability')) return;
    this.stats.votesChecked++;
    void openLog({ dir: '/data', disk: durable })
      .then(async (log) => {
        const { hardState } = log.storage.initialState();
        await log.close();
        if (hardState.term < term || (hardState.term === term && hardState.vote !== candidate)) {
          this.fail('durability', `${member} granted its vote to ${candidate} in term ${term} while its disk held term ${hardState.term}, vote ${hardState.vote ?? 'none'}`);
        }
      })
      .catch((error: unknown) => {
        if (!(error instanceof EnsembleViolation)) return; // an image that does not recover says nothing here
      });
  }

  /** A member stopped on an error that is not its disk's: a broken invariant (the Raft core's, say). */
  internalError(member: string, error: Error): void {
    if (!this.enabled.has('crash')) return;
    try {
      this.fail('crash', `${member} stopped on an internal error: ${error.message}`, error.stack ?? '');
    } catch {
      // Recorded: the run stops at it.
    }
  }

  liveness(message: string): never {
    this.fail('liveness', message);
  }
}
