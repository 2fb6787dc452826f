// Shared helpers for the state machine tests: terse command builders and a harness that numbers log entries.

import type {
  ApplyResult,
  Command,
  CommandError,
  CommandMeta,
  Compare,
  CreateOp,
  LeaseKind,
  ResultOf,
  StateConfigInput,
  TxnOp,
  WatchEvent,
} from '../../server/state/index.ts';
import { StateMachine, type LeaseId } from '../../server/state/index.ts';
import { pathOf } from '../../server/state/tree.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export const bytes = (text: string): Uint8Array => encoder.encode(text);
export const text = (data: Uint8Array): string => decoder.decode(data);

/** Narrows a result to success, failing the test with the error otherwise. */
export function ok<R extends { readonly ok: boolean }>(result: R): Extract<R, { ok: true }> {
  if (!result.ok) throw new Error(`expected success, got ${JSON.stringify(result)}`);
  return result as Extract<R, { ok: true }>;
}

/** Narrows a result to an error, failing the test on success. */
export function err(result: { readonly ok: boolean }): CommandError {
  if (result.ok) throw new Error(`expected an error, got ${JSON.stringify(result)}`);
  return result as CommandError;
}

export type CreateOptions = Partial<Omit<CreateOp, 'op' | 'path' | 'data'>>;

export const createOp = (path: string, data = '', options: CreateOptions = {}): CreateOp => ({
  op: 'create',
  path,
  data: bytes(data),
  mode: 'persistent',
  sequential: false,
  parents: false,
  ...options,
});
export const setOp = (path: string, data: string, expectedVersion?: number): TxnOp =>
  expectedVersion === undefined
    ? { op: 'set', path, data: bytes(data) }
    : { op: 'set', path, data: bytes(data), expectedVersion };
export const deleteOp = (path: string, recursive = false, expectedVersion?: number): TxnOp =>
  expectedVersion === undefined
    ? { op: 'delete', path, recursive }
    : { op: 'delete', path, recursive, expectedVersion };
export const getOp = (path: string): TxnOp => ({ op: 'get', path });

/** Drives a machine with increasing log indexes and a settable leader clock. */
export class Harness {
  readonly machine: StateMachine;
  index = 0;
  timeMs = 1_000_000;
  /** Meta for the next command; an empty clientId skips idempotency. */
  clientId = '';
  private sequence = 0;

  constructor(config: StateConfigInput = {}) {
    this.machine = new StateMachine(config);
  }

  meta(): CommandMeta {
    return { clientId: this.clientId, sequence: this.clientId === '' ? 0 : ++this.sequence, timeMs: this.timeMs };
  }

  apply<C extends Command>(command: C): ApplyResult<ResultOf<C>> {
    return this.machine.apply(++this.index, command);
  }

  create(path: string, data = '', options: CreateOptions = {}) {
    return this.apply({ ...createOp(path, data, options), ...this.meta() });
  }

  set(path: string, data: string, expectedVersion?: number) {
    const op = setOp(path, data, expectedVersion) as Extract<TxnOp, { op: 'set' }>;
    return this.apply({ ...op, ...this.meta() });
  }

  delete(path: string, recursive = false, expectedVersion?: number) {
    const op = deleteOp(path, recursive, expectedVersion) as Extract<TxnOp, { op: 'delete' }>;
    return this.apply({ ...op, ...this.meta() });
  }

  txn(compares: Compare[], success: TxnOp[], failure: TxnOp[] = []) {
    return this.apply({ op: 'txn', compares, success, failure, ...this.meta() });
  }

  grant(ttlMs = 10_000, kind: LeaseKind = 'lease', leaseId = 0) {
    return this.apply({ op: 'leaseGrant', leaseId: leaseId as LeaseId, ttlMs, kind, ...this.meta() });
  }

  revoke(leaseId: number) {
    return this.apply({ op: 'leaseRevoke', leaseId: leaseId as LeaseId, ...this.meta() });
  }

  expire(...leaseIds: number[]) {
    return this.apply({ op: 'leaseExpire', leaseIds: leaseIds as LeaseId[], ...this.meta() });
  }

  sweep() {
    return this.apply({ op: 'sweep', ...this.meta() });
  }

  compact(revision: number) {
    return this.apply({ op: 'compact', revision: revision as never, ...this.meta() });
  }

  /** The data of a node as text, or undefined if it does not exist. */
  read(path: string): string | undefined {
    const got = this.machine.get(path);
    return got.ok ? text(got.node.data) : undefined;
  }

  names(path: string): readonly string[] {
    return ok(this.machine.children(path, false)).names;
  }
}

/**
 * A canonical, comparable picture of everything a state holds except the applied index: the tree in
 * pre-order (stats, data, sequence counters), leases with their nodes, the TTL set, history and clients.
 */
export function dump(machine: StateMachine): unknown {
  const nodes: unknown[] = [];
  const tree = machine.tree;
  const walk = (path: string): void => {
    const node = tree.lookup(path);
    if (node === undefined) throw new Error(`dump: ${path} vanished`);
    const stat = ok(machine.stat(path)).stat;
    nodes.push({ path, stat, data: base64(node.data), sequenceNext: node.sequenceNext });
    for (const name of tree.sortedNames(node)) walk(path === '/' ? `/${name}` : `${path}/${name}`);
  };
  walk('/');
  const leases = machine.leases().map((lease) => ({
    ...lease,
    keys: ok(machine.leaseTimeToLive(lease.leaseId, true)).keys,
  }));
  const ttl = [...tree.ttlNodes].map(pathOf).sort();
  const history = machine.history(0);
  return {
    revision: machine.revision,
    timeMs: machine.timeMs,
    leaseIdLast: machine.leaseTable.idLast,
    nodes,
    leases,
    ttl,
    oldestRevision: machine.eventHistory.oldestRevision,
    history: history.ok ? history.events.map(eventPicture) : history,
    clients: [...machine.clients.records.entries()],
  };
}


/** Bytes as base64: compact to compare (deep equality over large byte arrays is slow). */
export const base64 = (data: Uint8Array): string => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');

/** Fast byte equality for large arrays. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** An event with its byte fields as base64. */
export function eventPicture(event: WatchEvent): unknown {
  return { ...event, data: base64(event.data), prevData: event.prevData === null ? null : base64(event.prevData) };
}
