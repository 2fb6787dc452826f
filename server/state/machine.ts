// The replicated state machine: applies committed commands in log order and answers reads from the applied
// state. Pure and deterministic: the same commands in the same order give the same results, events and state
// on every replica (time comes only from the leader's stamp in each command). User errors are results; only a
// broken invariant throws.

import type {
  ApplyResult,
  ChildrenResult,
  Command,
  CommandError,
  CommandResult,
  CompactCommand,
  CompactResult,
  Compare,
  ExistsResult,
  GetQueryResult,
  LeaseExpireCommand,
  LeaseExpireResult,
  LeaseGrantCommand,
  LeaseGrantResult,
  LeaseInfo,
  LeaseListResult,
  LeaseRevokeCommand,
  LeaseRevokeResult,
  LeaseTimeToLiveResult,
  Query,
  QueryResult,
  QueryResultByOp,
  RangeResult,
  ResultOf,
  StatResult,
  TxnCommand,
  TxnOp,
  TxnOpResult,
  TxnResult,
} from './commands.ts';
import { commandProblem, failure, metaProblem } from './commands.ts';
import { ClientTable } from './clients.ts';
import type { StateConfig, StateConfigInput } from './config.ts';
import { resolveStateConfig } from './config.ts';
import { invariant } from './errors.ts';
import type { HistoryRead } from './history.ts';
import { History } from './history.ts';
import { Lease, LeaseTable } from './leases.ts';
import type { MutationContext } from './tree.ts';
import { pathBytes, pathOf, pathProblemMessage, statOf, Tree } from './tree.ts';
import type { LeaseId, Revision, WatchEvent, WatchFilter } from './types.ts';

const NO_EVENTS: readonly WatchEvent[] = Object.freeze([]);

export class StateMachine {
  readonly config: StateConfig;
  /** Internal parts, exposed for the snapshot codec and the invariant checker only. */
  readonly leaseTable: LeaseTable;
  readonly tree: Tree;
  readonly clients: ClientTable;
  readonly eventHistory: History;

  private revisionNow = 0 as Revision;
  private appliedIndexNow = 0;
  private timeMsNow = 0;
  /** Reused for every command (no allocation); `events` is fresh per command since it is returned. */
  private readonly ctx: MutationContext = { revision: 0 as Revision, timeMs: 0, events: [], journal: null };

  constructor(config: StateConfigInput = {}) {
    this.config = resolveStateConfig(config);
    this.leaseTable = new LeaseTable();
    this.tree = new Tree(this.config, this.leaseTable);
    this.clients = new ClientTable(this.config.clientsMax, this.config.clientResultsMax);
    this.eventHistory = new History(this.config.historyRevisionsMax, this.config.historyEventsMax);
  }

  /** The revision of the applied state: the number of committed tree changes. */
  get revision(): Revision {
    return this.revisionNow;
  }

  /** The index of the last log entry applied (or skipped). */
  get appliedIndex(): number {
    return this.appliedIndexNow;
  }

  /** The latest leader time seen: command times are clamped so the machine's time never goes back. */
  get timeMs(): number {
    return this.timeMsNow;
  }

  /** Sets the counters of a restored machine. Internal: for the snapshot codec only. */
  restoreCounters(revision: Revision, appliedIndex: number, timeMs: number): void {
    this.revisionNow = revision;
    this.appliedIndexNow = appliedIndex;
    this.timeMsNow = timeMs;
  }

  // -------------------------------------------------------------------------------------------------------
  // Writes

  /**
   * Applies the command of log entry `index` (indexes increase; gaps are entries without a command).
   * A command that changes the tree commits at revision + 1 and all its events carry it.
   */
  apply<C extends Command>(index: number, command: C): ApplyResult<ResultOf<C>> {
    return this.applyCommand(index, command) as ApplyResult<ResultOf<C>>;
  }

  /** Records that entry `index` carried no command (the leader's empty entry, a membership change). */
  skip(index: number): void {
    this.advanceIndex(index);
  }

  private applyCommand(index: number, command: Command): ApplyResult {
    this.advanceIndex(index);
    const problem = metaProblem(command, this.config);
    if (problem !== null) return this.unrecorded(failure('bad_request', problem));
    if (command.timeMs > this.timeMsNow) this.timeMsNow = command.timeMs;

    const clientId = command.clientId;
    const client = clientId === '' ? null : this.clients.use(clientId, command.ack ?? 0);
    if (client !== null) {
      if (command.sequence < client.low) {
        const message = `sequence ${command.sequence} was already answered (the client acknowledged up to ${client.low})`;
        return this.unrecorded(failure('stale_sequence', message));
      }
      const first = client.results.get(command.sequence);
      if (first !== undefined) {
        if (first.op !== command.op) {
          return this.unrecorded(failure('bad_request', `sequence ${command.sequence} was used for a ${first.op}`));
        }
        return { revision: first.revision, result: first.result, events: NO_EVENTS };
      }
    }

    const ctx = this.ctx;
    ctx.revision = (this.revisionNow + 1) as Revision;
    ctx.timeMs = this.timeMsNow;
    ctx.events = [];
    ctx.journal = null;
    const shape = commandProblem(command, this.config);
    const result = shape === null ? this.execute(ctx, command) : failure('bad_request', shape);
    const events = ctx.events;
    if (events.length > 0) {
      invariant(result.ok, 'a failed command changed the tree');
      invariant(Number.isSafeInteger(ctx.revision), 'the revision is past the safe integers');
      this.revisionNow = ctx.revision;
      this.eventHistory.append(events, this.revisionNow);
    } else {
      this.eventHistory.retain(this.revisionNow);
    }
    if (client !== null) this.clients.record(clientId, client, command.sequence, { op: command.op, revision: this.revisionNow, result });
    return { revision: this.revisionNow, result, events };
  }

  private advanceIndex(index: number): void {
    invariant(
      Number.isSafeInteger(index) && index > this.appliedIndexNow,
      () => `entry ${index} applied after entry ${this.appliedIndexNow}`,
    );
    this.appliedIndexNow = index;
  }

  private unrecorded(result: CommandError): ApplyResult {
    return { revision: this.revisionNow, result, events: NO_EVENTS };
  }

  private execute(ctx: MutationContext, command: Command): CommandResult {
    switch (command.op) {
      case 'create':
        return this.tree.create(ctx, command);
      case 'set':
        return this.tree.set(ctx, command);
      case 'delete':
        return this.tree.delete(ctx, command);
      case 'txn':
        return this.txn(ctx, command);
      case 'leaseGrant':
        return this.leaseGrant(command);
      case 'leaseRevoke':
        return this.leaseRevoke(ctx, command);
      case 'leaseExpire':
        return this.leaseExpire(ctx, command);
      case 'compact':
        return this.compact(command);
      case 'sweep':
        return { ok: true, op: 'sweep', deleted: this.tree.sweep(ctx) };
      default: {
        const unknown: never = command;
        return failure('bad_request', `unknown op ${JSON.stringify((unknown as { op?: unknown }).op)}`);
      }
    }
  }

  private txn(ctx: MutationContext, command: TxnCommand): TxnResult | CommandError {
    let succeeded = true;
    for (let i = 0; i < command.compares.length; i++) {
      const outcome = this.evaluate(command.compares[i] as Compare);
      if (typeof outcome !== 'boolean') return outcome;
      if (!outcome) succeeded = false;
    }
    const ops = succeeded ? command.success : command.failure;
    const journal: (() => void)[] = [];
    ctx.journal = journal;
    const results: TxnOpResult[] = [];
    for (let i = 0; i < ops.length; i++) {
      const result = this.executeOp(ctx, ops[i] as TxnOp);
      if (!result.ok) {
        for (let j = journal.length - 1; j >= 0; j--) (journal[j] as () => void)();
        ctx.journal = null;
        ctx.events.length = 0;
        return { ...result, opIndex: i };
      }
      results.push(result);
    }
    ctx.journal = null;
    return { ok: true, op: 'txn', succeeded, results };
  }

  private executeOp(ctx: MutationContext, op: TxnOp): TxnOpResult | CommandError {
    switch (op.op) {
      case 'create':
        return this.tree.create(ctx, op);
      case 'set':
        return this.tree.set(ctx, op);
      case 'delete':
        return this.tree.delete(ctx, op);
      case 'get':
        return this.tree.get(op.path);
    }
  }

  /** A compare's outcome, or an error for an invalid path. */
  private evaluate(compare: Compare): boolean | CommandError {
    const bytes = pathBytes(compare.path, this.config);
    if (bytes < 0) return failure('invalid_path', pathProblemMessage(bytes), compare.path);
    const node = this.tree.lookup(compare.path);
    switch (compare.target) {
      case 'exists':
        return compare.op === '=' ? (node !== undefined) === compare.value : (node !== undefined) !== compare.value;
      case 'version':
        return holds(node === undefined ? 0 : node.version, compare.op, compare.value);
      case 'modRevision':
        return holds(node === undefined ? 0 : node.modRevision, compare.op, compare.value);
      case 'createRevision':
        return holds(node === undefined ? 0 : node.createRevision, compare.op, compare.value);
      case 'value':
        return node !== undefined && holds(compareBytes(node.data, compare.value), compare.op, 0);
    }
  }

  private leaseGrant(command: LeaseGrantCommand): LeaseGrantResult | CommandError {
    const leases = this.leaseTable;
    let id: number = command.leaseId;
    if (id === 0) {
      if (leases.idLast >= Number.MAX_SAFE_INTEGER) return failure('bad_request', 'lease ids are exhausted');
      id = leases.idLast + 1;
    } else if (leases.get(id) !== undefined) {
      return failure('exists', `lease ${id} exists`);
    }
    const tiedClientId = command.kind === 'session' ? command.clientId : '';
    const lease = new Lease(id as LeaseId, command.ttlMs, command.kind, tiedClientId);
    leases.add(lease);
    return { ok: true, op: 'leaseGrant', leaseId: lease.id, ttlMs: lease.ttlMs, kind: lease.kind };
  }

  private leaseRevoke(ctx: MutationContext, command: LeaseRevokeCommand): LeaseRevokeResult | CommandError {
    const lease = this.leaseTable.get(command.leaseId);
    if (lease === undefined) return failure('lease_not_found', `lease ${command.leaseId} does not exist`);
    return { ok: true, op: 'leaseRevoke', leaseId: lease.id, deleted: this.endLease(ctx, lease) };
  }

  private leaseExpire(ctx: MutationContext, command: LeaseExpireCommand): LeaseExpireResult {
    const expired: LeaseId[] = [];
    let deleted = 0;
    for (const id of command.leaseIds) {
      const lease = this.leaseTable.get(id);
      if (lease === undefined) continue;
      expired.push(lease.id);
      deleted += this.endLease(ctx, lease);
    }
    return { ok: true, op: 'leaseExpire', expired, deleted };
  }

  /** Deletes a lease's nodes (by path order, so every replica emits the same events) and the lease. */
  private endLease(ctx: MutationContext, lease: Lease): number {
    const owned = [...lease.nodes].map((node) => ({ node, path: pathOf(node) }));
    owned.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    let deleted = 0;
    for (const { node, path } of owned) deleted += this.tree.removeNode(ctx, node, path);
    this.leaseTable.remove(lease);
    if (lease.clientId !== '') this.clients.drop(lease.clientId);
    return deleted;
  }

  private compact(command: CompactCommand): CompactResult | CommandError {
    if (command.revision > this.revisionNow) {
      return failure('bad_request', `revision ${command.revision} is in the future (now ${this.revisionNow})`);
    }
    const oldestRevision = this.eventHistory.oldestRevision;
    if (command.revision < oldestRevision) {
      return { ...failure('compacted', `history before ${oldestRevision} is already compacted`), oldestRevision };
    }
    this.eventHistory.compact(command.revision);
    return { ok: true, op: 'compact', oldestRevision: this.eventHistory.oldestRevision };
  }

  // -------------------------------------------------------------------------------------------------------
  // Reads (from the applied state, at `revision`)

  /** Answers any read query. */
  query<Q extends Query>(query: Q): QueryResultByOp[Q['op']] | CommandError {
    return this.queryAny(query) as QueryResultByOp[Q['op']] | CommandError;
  }

  private queryAny(query: Query): QueryResult {
    switch (query.op) {
      case 'get':
        return this.get(query.path);
      case 'exists':
        return this.exists(query.path);
      case 'stat':
        return this.stat(query.path);
      case 'children':
        return this.children(query.path, query.withStats);
      case 'range':
        return this.range(query.path, query.limit, query.after);
      case 'leaseTimeToLive':
        return this.leaseTimeToLive(query.leaseId, query.keys);
      case 'leaseList':
        return this.leaseList();
      default: {
        const unknown: never = query;
        return failure('bad_request', `unknown query ${JSON.stringify((unknown as { op?: unknown }).op)}`);
      }
    }
  }

  /** A node's data and stat. The data is shared with the state: do not mutate it. */
  get(path: string): GetQueryResult | CommandError {
    const found = this.tree.get(path);
    if (!found.ok) return found;
    if (found.node === null) return failure('not_found', 'the node does not exist', path);
    return { ok: true, op: 'get', revision: this.revisionNow, node: found.node };
  }

  /** A node's stat, or null if it does not exist. */
  exists(path: string): ExistsResult | CommandError {
    const invalid = this.invalidPath(path);
    if (invalid !== null) return invalid;
    const node = this.tree.lookup(path);
    return { ok: true, op: 'exists', revision: this.revisionNow, stat: node === undefined ? null : statOf(node) };
  }

  /** A node's stat; `not_found` if it does not exist. */
  stat(path: string): StatResult | CommandError {
    const invalid = this.invalidPath(path);
    if (invalid !== null) return invalid;
    const node = this.tree.lookup(path);
    if (node === undefined) return failure('not_found', 'the node does not exist', path);
    return { ok: true, op: 'stat', revision: this.revisionNow, stat: statOf(node) };
  }

  /** The children's names, sorted, and optionally their stats. */
  children(path: string, withStats: boolean): ChildrenResult | CommandError {
    return this.tree.children(path, withStats, this.revisionNow);
  }

  /** A page of the subtree at `path` in pre-order (see Query). */
  range(path: string, limit: number, after?: string): RangeResult | CommandError {
    return this.tree.range(path, limit, after, this.revisionNow);
  }

  leaseTimeToLive(leaseId: LeaseId, keys: boolean): LeaseTimeToLiveResult | CommandError {
    const lease = this.leaseTable.get(leaseId);
    if (lease === undefined) return failure('lease_not_found', `lease ${leaseId} does not exist`);
    const paths = keys ? [...lease.nodes].map(pathOf).sort() : null;
    return { ok: true, op: 'leaseTimeToLive', revision: this.revisionNow, ...lease.info(), keys: paths };
  }

  leaseList(): LeaseListResult {
    return { ok: true, op: 'leaseList', revision: this.revisionNow, leases: this.leases() };
  }

  /**
   * Every lease, sorted by id. The leader runtime reads this when it takes office, to give each lease a fresh
   * full TTL before it may expire any (docs/state-machine.md).
   */
  leases(): LeaseInfo[] {
    return this.leaseTable.sorted().map((lease) => lease.info());
  }

  /**
   * The kept events from `fromRevision` on that match `filter` (every event if null), or `compacted` with the
   * oldest revision a watch may start from. `eventsMax` bounds the answer at a revision boundary.
   */
  history(fromRevision: number, filter: WatchFilter | null = null, eventsMax = Number.POSITIVE_INFINITY): HistoryRead {
    return this.eventHistory.read(fromRevision, filter, Math.max(1, eventsMax), this.revisionNow);
  }

  private invalidPath(path: string): CommandError | null {
    const bytes = pathBytes(path, this.config);
    return bytes < 0 ? failure('invalid_path', pathProblemMessage(bytes), path) : null;
  }
}

function holds(actual: number, op: Compare['op'], expected: number): boolean {
  switch (op) {
    case '=':
      return actual === expected;
    case '!=':
      return actual !== expected;
    case '<':
      return actual < expected;
    case '>':
      return actual > expected;
  }
}

/** Unsigned lexicographic byte order: negative, zero or positive. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
