// The closed set of commands (applied through the log), read queries (served from applied state), and their
// results. Commands arrive decoded from the wire, so `commandProblem` checks their shape before anything is
// applied: a malformed command is a `bad_request` result, never a throw.

import type { StateConfig } from './config.ts';
import type { LeaseId, LeaseKind, NodeMode, NodeView, Revision, Stat, WatchEvent } from './types.ts';
import { nodeModes } from './types.ts';

// ---------------------------------------------------------------------------------------------------------
// Commands

/**
 * Carried by every command. `(clientId, sequence)` makes retries idempotent: a client numbers its commands
 * 1, 2, 3...; an empty clientId opts out (the leader's own `leaseExpire`, `sweep` and `compact`, which are
 * idempotent by nature). `ack` is the client's lowest sequence still awaiting an answer (0: none said), so the
 * machine can forget the results below it. `timeMs` is the wall clock of the member that took the request (the
 * leader, for its own commands): the only time the machine knows.
 */
export interface CommandMeta {
  readonly clientId: string;
  readonly sequence: number;
  readonly ack?: number;
  readonly timeMs: number;
}

export interface CreateOp {
  readonly op: 'create';
  readonly path: string;
  /** Owned by the machine once applied: never mutate it afterwards. */
  readonly data: Uint8Array;
  readonly mode: NodeMode;
  /** Append the parent's next 10-digit sequence number to the last segment. */
  readonly sequential: boolean;
  /** Create missing ancestors as persistent nodes (`mkdir -p`). */
  readonly parents: boolean;
  /** Required for (and only for) ephemeral nodes: the lease or session that owns the node. */
  readonly leaseId?: LeaseId;
  /** Required for (and only for) TTL nodes. */
  readonly ttlMs?: number;
}

export interface SetOp {
  readonly op: 'set';
  readonly path: string;
  readonly data: Uint8Array;
  /** Compare-and-set: fail with `bad_version` unless the node's version is this. */
  readonly expectedVersion?: number;
}

export interface DeleteOp {
  readonly op: 'delete';
  readonly path: string;
  readonly expectedVersion?: number;
  /** Delete the whole subtree; without it a node with children fails with `not_empty`. */
  readonly recursive: boolean;
}

/** A read inside a transaction: it sees the effects of the transaction's earlier operations. */
export interface GetOp {
  readonly op: 'get';
  readonly path: string;
}

export type TxnOp = CreateOp | SetOp | DeleteOp | GetOp;

export type CompareOperator = '=' | '!=' | '<' | '>';

/**
 * A transaction guard. A missing node has version, modRevision and createRevision 0; a `value` compare on a
 * missing node is false whatever the operator. Values compare as unsigned bytes, lexicographically.
 */
export type Compare =
  | { readonly path: string; readonly target: 'exists'; readonly op: '=' | '!='; readonly value: boolean }
  | {
      readonly path: string;
      readonly target: 'version' | 'modRevision' | 'createRevision';
      readonly op: CompareOperator;
      readonly value: number;
    }
  | { readonly path: string; readonly target: 'value'; readonly op: CompareOperator; readonly value: Uint8Array };

export interface CreateCommand extends CreateOp, CommandMeta {}
export interface SetCommand extends SetOp, CommandMeta {}
export interface DeleteCommand extends DeleteOp, CommandMeta {}

/** If every compare holds, run `success`, else `failure`; all or nothing, at one revision. */
export interface TxnCommand extends CommandMeta {
  readonly op: 'txn';
  readonly compares: readonly Compare[];
  readonly success: readonly TxnOp[];
  readonly failure: readonly TxnOp[];
}

/** Grants a lease. `leaseId` 0 lets the machine pick the next unused id. A session ties `clientId` to the lease. */
export interface LeaseGrantCommand extends CommandMeta {
  readonly op: 'leaseGrant';
  readonly leaseId: LeaseId | 0;
  readonly ttlMs: number;
  readonly kind: LeaseKind;
}

export interface LeaseRevokeCommand extends CommandMeta {
  readonly op: 'leaseRevoke';
  readonly leaseId: LeaseId;
}

/** Proposed only by the leader's expiry logic. Ids of leases already gone are ignored. */
export interface LeaseExpireCommand extends CommandMeta {
  readonly op: 'leaseExpire';
  readonly leaseIds: readonly LeaseId[];
}

/** Drops watch history before `revision`; a watch from an older revision is then answered `compacted`. */
export interface CompactCommand extends CommandMeta {
  readonly op: 'compact';
  readonly revision: Revision;
}

/** Proposed periodically by the leader: removes childless TTL nodes unmodified for their TTL (by `timeMs`). */
export interface SweepCommand extends CommandMeta {
  readonly op: 'sweep';
}

export type Command =
  | CreateCommand
  | SetCommand
  | DeleteCommand
  | TxnCommand
  | LeaseGrantCommand
  | LeaseRevokeCommand
  | LeaseExpireCommand
  | CompactCommand
  | SweepCommand;

export type CommandOp = Command['op'];

// ---------------------------------------------------------------------------------------------------------
// Queries (reads, not logged)

export type Query =
  | { readonly op: 'get'; readonly path: string }
  | { readonly op: 'exists'; readonly path: string }
  | { readonly op: 'stat'; readonly path: string }
  | { readonly op: 'children'; readonly path: string; readonly withStats: boolean }
  /** Pre-order over the subtree at `path` (itself first), children by name; resume after the path `after`. */
  | { readonly op: 'range'; readonly path: string; readonly limit: number; readonly after?: string }
  | { readonly op: 'leaseTimeToLive'; readonly leaseId: LeaseId; readonly keys: boolean }
  | { readonly op: 'leaseList' };

// ---------------------------------------------------------------------------------------------------------
// Results

export type ErrorCode =
  | 'not_found'
  | 'exists'
  | 'bad_version'
  | 'not_empty'
  | 'invalid_path'
  | 'value_too_large'
  | 'no_children_for_ephemerals'
  | 'lease_not_found'
  | 'compacted'
  | 'bad_request'
  | 'stale_sequence';

/** A user error. `opIndex` names the failing operation of a transaction; `oldestRevision` comes with `compacted`. */
export interface CommandError {
  readonly ok: false;
  readonly code: ErrorCode;
  readonly message: string;
  readonly path?: string;
  readonly opIndex?: number;
  readonly oldestRevision?: Revision;
}

export interface CreateResult {
  readonly ok: true;
  readonly op: 'create';
  /** The created path: for a sequential node, with its suffix. */
  readonly path: string;
  readonly stat: Stat;
}

export interface SetResult {
  readonly ok: true;
  readonly op: 'set';
  readonly stat: Stat;
}

export interface DeleteResult {
  readonly ok: true;
  readonly op: 'delete';
  /** Nodes removed: the node, its descendants, and containers left empty. */
  readonly deleted: number;
}

export interface GetOpResult {
  readonly ok: true;
  readonly op: 'get';
  readonly path: string;
  /** null if the node does not exist (a read in a transaction never fails it). */
  readonly node: NodeView | null;
}

export type TxnOpResult = CreateResult | SetResult | DeleteResult | GetOpResult;

export interface TxnResult {
  readonly ok: true;
  readonly op: 'txn';
  /** Whether the compares held (so `success` ran) or not (`failure` ran). */
  readonly succeeded: boolean;
  readonly results: readonly TxnOpResult[];
}

export interface LeaseGrantResult {
  readonly ok: true;
  readonly op: 'leaseGrant';
  readonly leaseId: LeaseId;
  readonly ttlMs: number;
  readonly kind: LeaseKind;
}

export interface LeaseRevokeResult {
  readonly ok: true;
  readonly op: 'leaseRevoke';
  readonly leaseId: LeaseId;
  readonly deleted: number;
}

export interface LeaseExpireResult {
  readonly ok: true;
  readonly op: 'leaseExpire';
  /** The leases that existed and are now gone. */
  readonly expired: readonly LeaseId[];
  readonly deleted: number;
}

export interface CompactResult {
  readonly ok: true;
  readonly op: 'compact';
  /** The oldest revision a watch may now start from. */
  readonly oldestRevision: Revision;
}

export interface SweepResult {
  readonly ok: true;
  readonly op: 'sweep';
  readonly deleted: number;
}

export interface ResultByOp {
  create: CreateResult;
  set: SetResult;
  delete: DeleteResult;
  txn: TxnResult;
  leaseGrant: LeaseGrantResult;
  leaseRevoke: LeaseRevokeResult;
  leaseExpire: LeaseExpireResult;
  compact: CompactResult;
  sweep: SweepResult;
}

export type CommandResult = ResultByOp[CommandOp] | CommandError;
/** The result type of one command type. */
export type ResultOf<C extends Command> = ResultByOp[C['op']] | CommandError;

/** What `apply` returns. `revision` is the revision after the command (unchanged unless it changed the tree). */
export interface ApplyResult<R extends CommandResult = CommandResult> {
  readonly revision: Revision;
  readonly result: R;
  /** The tree changes, all at `revision`, in order. Empty for failures, replays and lease-table-only changes. */
  readonly events: readonly WatchEvent[];
}

export interface GetQueryResult {
  readonly ok: true;
  readonly op: 'get';
  readonly revision: Revision;
  readonly node: NodeView;
}

export interface ExistsResult {
  readonly ok: true;
  readonly op: 'exists';
  readonly revision: Revision;
  readonly stat: Stat | null;
}

export interface StatResult {
  readonly ok: true;
  readonly op: 'stat';
  readonly revision: Revision;
  readonly stat: Stat;
}

export interface ChildrenResult {
  readonly ok: true;
  readonly op: 'children';
  readonly revision: Revision;
  /** Sorted by name (UTF-16 code unit order, which is UTF-8 byte order for every name without astral characters). */
  readonly names: readonly string[];
  /** Parallel to `names` when asked `withStats`, else null. */
  readonly stats: readonly Stat[] | null;
}

export interface RangeResult {
  readonly ok: true;
  readonly op: 'range';
  readonly revision: Revision;
  readonly nodes: readonly NodeView[];
  /** More nodes follow: ask again with `after` = the last path returned. */
  readonly more: boolean;
}

export interface LeaseInfo {
  readonly leaseId: LeaseId;
  readonly ttlMs: number;
  readonly kind: LeaseKind;
  /** For a session, the client whose idempotency record ends with it; else ''. */
  readonly clientId: string;
}

export interface LeaseTimeToLiveResult extends LeaseInfo {
  readonly ok: true;
  readonly op: 'leaseTimeToLive';
  readonly revision: Revision;
  /** The paths of the attached nodes, sorted, if asked for; else null. The remaining time is the runtime's. */
  readonly keys: readonly string[] | null;
}

export interface LeaseListResult {
  readonly ok: true;
  readonly op: 'leaseList';
  readonly revision: Revision;
  /** Sorted by id. */
  readonly leases: readonly LeaseInfo[];
}

export interface QueryResultByOp {
  get: GetQueryResult;
  exists: ExistsResult;
  stat: StatResult;
  children: ChildrenResult;
  range: RangeResult;
  leaseTimeToLive: LeaseTimeToLiveResult;
  leaseList: LeaseListResult;
}

export type QueryResult = QueryResultByOp[Query['op']] | CommandError;

/** Builds a user error, leaving out absent optional fields (exactOptionalPropertyTypes). */
export function failure(code: ErrorCode, message: string, path?: string): CommandError {
  return path === undefined ? { ok: false, code, message } : { ok: false, code, message, path };
}

// ---------------------------------------------------------------------------------------------------------
// Shape checks (cheap: typeof tests, no allocation on the happy path)

const isSafeNat = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isBool = (value: unknown): value is boolean => typeof value === 'boolean';
const isBytes = (value: unknown): value is Uint8Array => value instanceof Uint8Array;
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;
const compareOperators: readonly unknown[] = ['=', '!=', '<', '>'];

/** Why the meta fields are unusable, or null. Checked before idempotency, so a bad one is never recorded. */
export function metaProblem(command: unknown, config: StateConfig): string | null {
  if (!isObject(command)) return 'command must be an object';
  if (typeof command['clientId'] !== 'string') return 'clientId must be a string';
  if (command['clientId'].length > config.clientIdLengthMax) return 'clientId is too long';
  if (!isSafeNat(command['sequence'])) return 'sequence must be a non-negative integer';
  if (command['ack'] !== undefined && !isSafeNat(command['ack'])) return 'ack must be a non-negative integer';
  if (typeof command['ack'] === 'number' && command['ack'] > command['sequence']) return 'ack must not exceed sequence';
  if (!isSafeNat(command['timeMs'])) return 'timeMs must be a non-negative integer';
  return null;
}

/** Why a command (meta already checked) is malformed, or null. Paths are checked later (`invalid_path`). */
export function commandProblem(command: Command, config: StateConfig): string | null {
  const c = command as unknown as Record<string, unknown>;
  switch (command.op) {
    case 'create':
    case 'set':
    case 'delete':
      return opProblem(command);
    case 'txn': {
      if (!Array.isArray(c['compares']) || !Array.isArray(c['success']) || !Array.isArray(c['failure'])) {
        return 'txn needs compares, success and failure arrays';
      }
      if (command.compares.length > config.txnComparesMax) return 'too many compares';
      if (command.success.length > config.txnOpsMax || command.failure.length > config.txnOpsMax) {
        return 'too many operations';
      }
      for (const compare of command.compares) {
        const problem = compareProblem(compare);
        if (problem !== null) return problem;
      }
      for (const op of command.success) {
        const problem = opProblem(op);
        if (problem !== null) return problem;
      }
      for (const op of command.failure) {
        const problem = opProblem(op);
        if (problem !== null) return problem;
      }
      return null;
    }
    case 'leaseGrant':
      if (!isSafeNat(c['leaseId'])) return 'leaseId must be a non-negative integer';
      if (!isSafeNat(c['ttlMs']) || command.ttlMs < 1 || command.ttlMs > config.leaseTtlMsMax) {
        return `ttlMs must be an integer in [1, ${config.leaseTtlMsMax}]`;
      }
      if (command.kind !== 'lease' && command.kind !== 'session') return "kind must be 'lease' or 'session'";
      return null;
    case 'leaseRevoke':
      return isSafeNat(c['leaseId']) && command.leaseId > 0 ? null : 'leaseId must be a positive integer';
    case 'leaseExpire':
      if (!Array.isArray(c['leaseIds'])) return 'leaseIds must be an array';
      if (command.leaseIds.length > config.leaseExpireIdsMax) return 'too many lease ids';
      for (const id of command.leaseIds) if (!isSafeNat(id) || id === 0) return 'lease ids must be positive integers';
      return null;
    case 'compact':
      return isSafeNat(c['revision']) ? null : 'revision must be a non-negative integer';
    case 'sweep':
      return null;
    default:
      return `unknown op ${JSON.stringify((command as { op?: unknown }).op)}`;
  }
}

function opProblem(op: unknown): string | null {
  if (!isObject(op)) return 'operation must be an object';
  if (typeof op['path'] !== 'string') return 'path must be a string';
  switch (op['op']) {
    case 'create': {
      if (!isBytes(op['data'])) return 'data must be bytes';
      if (!nodeModes.includes(op['mode'] as NodeMode)) return 'mode must be persistent, ephemeral, container or ttl';
      if (!isBool(op['sequential']) || !isBool(op['parents'])) return 'sequential and parents must be booleans';
      const ephemeral = op['mode'] === 'ephemeral';
      if (ephemeral !== (op['leaseId'] !== undefined)) return 'leaseId is required for, and only for, ephemeral nodes';
      if (ephemeral && (!isSafeNat(op['leaseId']) || op['leaseId'] === 0)) return 'leaseId must be a positive integer';
      const ttl = op['mode'] === 'ttl';
      if (ttl !== (op['ttlMs'] !== undefined)) return 'ttlMs is required for, and only for, ttl nodes';
      if (ttl && (!isSafeNat(op['ttlMs']) || op['ttlMs'] < 1)) return 'ttlMs must be a positive integer';
      return null;
    }
    case 'set':
      if (!isBytes(op['data'])) return 'data must be bytes';
      return expectedVersionProblem(op['expectedVersion']);
    case 'delete':
      if (!isBool(op['recursive'])) return 'recursive must be a boolean';
      return expectedVersionProblem(op['expectedVersion']);
    case 'get':
      return null;
    default:
      return `unknown operation ${JSON.stringify(op['op'])}`;
  }
}

function expectedVersionProblem(value: unknown): string | null {
  return value === undefined || isSafeNat(value) ? null : 'expectedVersion must be a non-negative integer';
}

function compareProblem(compare: unknown): string | null {
  if (!isObject(compare)) return 'compare must be an object';
  if (typeof compare['path'] !== 'string') return 'compare path must be a string';
  if (!compareOperators.includes(compare['op'])) return "compare op must be '=', '!=', '<' or '>'";
  switch (compare['target']) {
    case 'exists':
      if (compare['op'] !== '=' && compare['op'] !== '!=') return "an exists compare takes '=' or '!='";
      return isBool(compare['value']) ? null : 'an exists compare takes a boolean';
    case 'version':
    case 'modRevision':
    case 'createRevision':
      return isSafeNat(compare['value']) ? null : 'a numeric compare takes a non-negative integer';
    case 'value':
      return isBytes(compare['value']) ? null : 'a value compare takes bytes';
    default:
      return 'compare target must be exists, version, modRevision, createRevision or value';
  }
}
