// A deliberately simple reference model of the state machine (a map from path to node, whole-state copies for
// transactions, linear scans everywhere) and a random command generator, for the model-based test. The model
// follows docs/state-machine.md, not the implementation's data structures.

import type {
  Command,
  Compare,
  CreateOp,
  DeleteOp,
  LeaseId,
  LeaseKind,
  NodeMode,
  Random,
  SetOp,
  Stat,
  StateConfig,
  TxnOp,
  WatchEvent,
} from './model-types.ts';
import { compareBytes, pathProblem, SEQUENCE_MAX, type StateMachine } from '../../server/state/index.ts';
import { base64, ok } from './helpers.ts';

interface ModelNode {
  data: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
  cversion: number;
  owner: number;
  mode: NodeMode;
  sequential: boolean;
  ttlMs: number;
  ctimeMs: number;
  mtimeMs: number;
  sequenceNext: number;
}

interface ModelLease {
  id: number;
  ttlMs: number;
  kind: LeaseKind;
  clientId: string;
}

interface ModelRecord {
  low: number;
  results: Map<number, { op: string; revision: number; result: unknown }>;
}

type Failure = { ok: false; code: string; opIndex?: number; oldestRevision?: number };
const fail = (code: string): Failure => ({ ok: false, code });

const parentOf = (path: string): string => {
  const slash = path.lastIndexOf('/');
  return slash === 0 ? '/' : path.slice(0, slash);
};
const join = (parent: string, name: string): string => (parent === '/' ? `/${name}` : `${parent}/${name}`);
const utf8Length = (text: string): number => new TextEncoder().encode(text).length;

export class Model {
  nodes = new Map<string, ModelNode>();
  leases = new Map<number, ModelLease>();
  clients = new Map<string, ModelRecord>();
  events: WatchEvent[] = [];
  leaseIdLast = 0;
  revision = 0;
  timeMs = 0;
  oldest = 1;
  private pending: WatchEvent[] = [];

  constructor(readonly config: StateConfig) {
    this.nodes.set('/', this.node(EMPTY, 0, 'persistent', false, 0, 0));
  }

  apply(command: Command): { revision: number; result: unknown; events: WatchEvent[] } {
    if (command.timeMs > this.timeMs) this.timeMs = command.timeMs;
    const record = command.clientId === '' ? undefined : this.useClient(command.clientId, command.ack ?? 0);
    if (record !== undefined) {
      if (command.sequence < record.low) return { revision: this.revision, result: fail('stale_sequence'), events: [] };
      const first = record.results.get(command.sequence);
      if (first !== undefined) {
        if (first.op !== command.op) return { revision: this.revision, result: fail('bad_request'), events: [] };
        return { revision: first.revision, result: first.result, events: [] };
      }
    }
    this.pending = [];
    const result = this.execute(command);
    const events = this.pending;
    if (events.length > 0) {
      this.revision++;
      this.events.push(...events);
    }
    this.retain();
    if (record !== undefined) {
      // A client that revoked its own session keeps the answer to that revoke.
      if (this.clients.get(command.clientId) !== record) this.clients.set(command.clientId, record);
      while (this.clients.size > this.config.clientsMax) this.clients.delete(this.clients.keys().next().value!);
      record.results.set(command.sequence, { op: command.op, revision: this.revision, result });
      if (record.results.size > this.config.clientResultsMax) {
        const oldest = Math.min(...record.results.keys());
        this.raiseLow(record, oldest + 1);
      }
    }
    return { revision: this.revision, result, events };
  }

  /** The client's record (new if unknown), now the most recently used; results below `ack` forgotten. */
  private useClient(clientId: string, ack: number): ModelRecord {
    const record = this.clients.get(clientId) ?? { low: 0, results: new Map() };
    this.clients.delete(clientId);
    this.clients.set(clientId, record);
    if (ack > record.low) this.raiseLow(record, ack);
    while (this.clients.size > this.config.clientsMax) this.clients.delete(this.clients.keys().next().value!);
    return record;
  }

  private raiseLow(record: ModelRecord, low: number): void {
    record.low = low;
    for (const sequence of [...record.results.keys()]) if (sequence < low) record.results.delete(sequence);
  }

  private retain(): void {
    this.oldest = Math.max(this.oldest, this.revision - this.config.historyRevisionsMax + 1);
    const kept = () => this.events.filter((e) => e.revision >= this.oldest).length;
    while (kept() > this.config.historyEventsMax && this.oldest < this.revision) this.oldest++;
  }

  private get next(): number {
    return this.revision + 1;
  }

  private execute(command: Command): unknown {
    switch (command.op) {
      case 'create':
      case 'set':
      case 'delete':
        return this.op(command);
      case 'txn':
        return this.txn(command.compares, command.success, command.failure);
      case 'leaseGrant': {
        let id: number = command.leaseId;
        if (id === 0) id = this.leaseIdLast + 1;
        else if (this.leases.has(id)) return fail('exists');
        this.leaseIdLast = Math.max(this.leaseIdLast, id);
        this.leases.set(id, { id, ttlMs: command.ttlMs, kind: command.kind, clientId: command.kind === 'session' ? command.clientId : '' });
        return { ok: true, op: 'leaseGrant', leaseId: id, ttlMs: command.ttlMs, kind: command.kind };
      }
      case 'leaseRevoke': {
        const lease = this.leases.get(command.leaseId);
        if (lease === undefined) return fail('lease_not_found');
        return { ok: true, op: 'leaseRevoke', leaseId: lease.id, deleted: this.endLease(lease) };
      }
      case 'leaseExpire': {
        const expired: number[] = [];
        let deleted = 0;
        for (const id of command.leaseIds) {
          const lease = this.leases.get(id);
          if (lease === undefined) continue;
          expired.push(id);
          deleted += this.endLease(lease);
        }
        return { ok: true, op: 'leaseExpire', expired, deleted };
      }
      case 'compact':
        if (command.revision > this.revision) return fail('bad_request');
        if (command.revision < this.oldest) return { ...fail('compacted'), oldestRevision: this.oldest };
        this.oldest = Math.max(this.oldest, command.revision);
        return { ok: true, op: 'compact', oldestRevision: this.oldest };
      case 'sweep': {
        const due = [...this.nodes]
          .filter(([, n]) => n.mode === 'ttl' && this.timeMs - n.mtimeMs >= n.ttlMs)
          .map(([path]) => path)
          .sort()
          .reverse();
        let deleted = 0;
        for (const path of due) if (this.childrenOf(path).length === 0) deleted += this.remove(path);
        return { ok: true, op: 'sweep', deleted };
      }
    }
  }

  private endLease(lease: ModelLease): number {
    const owned = [...this.nodes].filter(([, n]) => n.owner === lease.id).map(([p]) => p).sort();
    let deleted = 0;
    for (const path of owned) deleted += this.remove(path);
    this.leases.delete(lease.id);
    if (lease.clientId !== '') this.clients.delete(lease.clientId);
    return deleted;
  }

  private txn(compares: readonly Compare[], success: readonly TxnOp[], failure: readonly TxnOp[]): unknown {
    let succeeded = true;
    for (const compare of compares) {
      if (pathProblem(compare.path, this.config) !== null) return fail('invalid_path');
      const node = this.nodes.get(compare.path);
      let holds: boolean;
      if (compare.target === 'exists') holds = (node !== undefined) === compare.value;
      else if (compare.target === 'value') holds = node !== undefined && relate(compareBytes(node.data, compare.value), 0, compare.op);
      else holds = relate(node === undefined ? 0 : node[compare.target], compare.value, compare.op);
      if (compare.target === 'exists' && compare.op === '!=') holds = !holds;
      if (!holds) succeeded = false;
    }
    const saved = new Map([...this.nodes].map(([path, node]) => [path, { ...node }]));
    const results: unknown[] = [];
    const ops = succeeded ? success : failure;
    for (let i = 0; i < ops.length; i++) {
      const result = this.op(ops[i]!) as { ok: boolean };
      if (!result.ok) {
        this.nodes = saved;
        this.pending = [];
        return { ...result, opIndex: i };
      }
      results.push(result);
    }
    return { ok: true, op: 'txn', succeeded, results };
  }

  private op(op: TxnOp | Command): unknown {
    switch (op.op) {
      case 'create':
        return this.create(op as CreateOp);
      case 'set':
        return this.set(op as SetOp);
      case 'delete':
        return this.delete(op as DeleteOp);
      case 'get': {
        if (pathProblem(op.path, this.config) !== null) return fail('invalid_path');
        const node = this.nodes.get(op.path);
        return { ok: true, op: 'get', path: op.path, node: node === undefined ? null : { path: op.path, stat: this.stat(op.path), data: node.data } };
      }
      default:
        throw new Error(`model: unexpected op ${op.op}`);
    }
  }

  private create(op: CreateOp): unknown {
    if (pathProblem(op.path, this.config) !== null) return fail('invalid_path');
    if (op.data.length > this.config.dataBytesMax) return fail('value_too_large');
    if (op.mode === 'ephemeral' && !this.leases.has(op.leaseId ?? 0)) return fail('lease_not_found');
    if (op.path === '/') return fail('exists');
    const segments = op.path.split('/').slice(1);
    let deepest = '/';
    let missing = false;
    for (let i = 1; i < segments.length; i++) {
      const ancestor = '/' + segments.slice(0, i).join('/');
      if (!this.nodes.has(ancestor)) {
        missing = true;
        break;
      }
      deepest = ancestor;
    }
    const parent = this.nodes.get(deepest)!;
    if (parent.mode === 'ephemeral') return fail('no_children_for_ephemerals');
    if (missing && !op.parents) return fail('not_found');
    let path = op.path;
    if (op.sequential) {
      const counter = missing ? 0 : parent.sequenceNext;
      if (counter > SEQUENCE_MAX) return fail('bad_request');
      if (utf8Length(op.path) + 10 > this.config.pathBytesMax) return fail('invalid_path');
      path += String(counter).padStart(10, '0');
    }
    if (!missing && this.nodes.has(path)) return fail('exists');
    for (let i = 1; i < segments.length; i++) {
      const ancestor = '/' + segments.slice(0, i).join('/');
      if (this.nodes.has(ancestor)) continue;
      this.attach(ancestor, this.node(EMPTY, 0, 'persistent', false, 0, this.next));
      this.pending.push(this.event('create', ancestor, null));
    }
    if (op.sequential) this.nodes.get(parentOf(op.path))!.sequenceNext++;
    this.attach(path, this.node(op.data, op.leaseId ?? 0, op.mode, op.sequential, op.ttlMs ?? 0, this.next));
    this.pending.push(this.event('create', path, null));
    return { ok: true, op: 'create', path, stat: this.stat(path) };
  }

  private set(op: SetOp): unknown {
    if (pathProblem(op.path, this.config) !== null) return fail('invalid_path');
    if (op.data.length > this.config.dataBytesMax) return fail('value_too_large');
    const node = this.nodes.get(op.path);
    if (node === undefined) return fail('not_found');
    if (op.expectedVersion !== undefined && op.expectedVersion !== node.version) return fail('bad_version');
    const prevData = node.data;
    node.data = op.data;
    node.version++;
    node.modRevision = this.next;
    node.mtimeMs = this.timeMs;
    this.pending.push(this.event('set', op.path, prevData));
    return { ok: true, op: 'set', stat: this.stat(op.path) };
  }

  private delete(op: DeleteOp): unknown {
    if (pathProblem(op.path, this.config) !== null) return fail('invalid_path');
    if (op.path === '/') return fail('bad_request');
    const node = this.nodes.get(op.path);
    if (node === undefined) return fail('not_found');
    if (op.expectedVersion !== undefined && op.expectedVersion !== node.version) return fail('bad_version');
    if (this.childrenOf(op.path).length > 0 && !op.recursive) return fail('not_empty');
    return { ok: true, op: 'delete', deleted: this.remove(op.path) };
  }

  /** Removes a subtree (events children first, by name, stats before), then containers left empty. */
  private remove(path: string): number {
    const doomed: string[] = [];
    const visit = (p: string): void => {
      for (const name of this.childrenOf(p)) visit(join(p, name));
      this.pending.push(this.event('delete', p, null));
      doomed.push(p);
    };
    visit(path);
    for (const p of doomed) this.nodes.delete(p);
    let parent = parentOf(path);
    this.nodes.get(parent)!.cversion++;
    let removed = doomed.length;
    while (parent !== '/' && this.nodes.get(parent)!.mode === 'container' && this.childrenOf(parent).length === 0) {
      const container = this.nodes.get(parent)!;
      this.nodes.delete(parent);
      this.nodes.get(parentOf(parent))!.cversion++;
      this.pending.push({ type: 'delete', path: parent, revision: this.next, stat: this.statOfNode(container, parent), data: container.data, prevData: null } as WatchEvent);
      removed++;
      parent = parentOf(parent);
    }
    return removed;
  }

  private attach(path: string, node: ModelNode): void {
    this.nodes.set(path, node);
    this.nodes.get(parentOf(path))!.cversion++;
  }

  private node(data: Uint8Array, owner: number, mode: NodeMode, sequential: boolean, ttlMs: number, revision: number): ModelNode {
    return {
      data,
      createRevision: revision,
      modRevision: revision,
      version: 0,
      cversion: 0,
      owner,
      mode,
      sequential,
      ttlMs,
      ctimeMs: this.timeMs,
      mtimeMs: this.timeMs,
      sequenceNext: 0,
    };
  }

  private event(type: WatchEvent['type'], path: string, prevData: Uint8Array | null): WatchEvent {
    const node = this.nodes.get(path)!;
    return { type, path, revision: this.next, stat: this.stat(path), data: node.data, prevData } as WatchEvent;
  }

  childrenOf(path: string): string[] {
    const prefix = path === '/' ? '/' : path + '/';
    return [...this.nodes.keys()]
      .filter((p) => p !== '/' && p.startsWith(prefix) && !p.slice(prefix.length).includes('/'))
      .map((p) => p.slice(prefix.length))
      .sort();
  }

  stat(path: string): Stat {
    return this.statOfNode(this.nodes.get(path)!, path);
  }

  private statOfNode(node: ModelNode, path: string): Stat {
    return {
      createRevision: node.createRevision,
      modRevision: node.modRevision,
      version: node.version,
      cversion: node.cversion,
      ephemeralOwner: node.owner,
      numChildren: this.nodes.has(path) ? this.childrenOf(path).length : 0,
      dataLength: node.data.length,
      mode: node.mode,
      sequential: node.sequential,
      ttlMs: node.ttlMs,
      ctimeMs: node.ctimeMs,
      mtimeMs: node.mtimeMs,
    } as Stat;
  }

  /** The same picture as `picture(machine)`. */
  picture(): unknown {
    const nodes = [...this.nodes.keys()]
      .sort(preorder)
      .map((path) => ({ path, stat: this.stat(path), data: base64(this.nodes.get(path)!.data), sequenceNext: this.nodes.get(path)!.sequenceNext }));
    const leases = [...this.leases.values()]
      .sort((a, b) => a.id - b.id)
      .map((l) => ({
        leaseId: l.id,
        ttlMs: l.ttlMs,
        kind: l.kind,
        clientId: l.clientId,
        keys: [...this.nodes].filter(([, n]) => n.owner === l.id).map(([p]) => p).sort(),
      }));
    return {
      revision: this.revision,
      timeMs: this.timeMs,
      leaseIdLast: this.leaseIdLast,
      nodes,
      leases,
      oldestRevision: this.oldest,
      history: this.events.filter((e) => e.revision >= this.oldest),
      clients: [...this.clients].map(([id, r]) => [id, clientView(r.low, r.results)]),
    };
  }
}

const EMPTY = new Uint8Array(0);

function relate(actual: number, expected: number, op: Compare['op']): boolean {
  return op === '=' ? actual === expected : op === '!=' ? actual !== expected : op === '<' ? actual < expected : actual > expected;
}

/** Pre-order with children by name: compare segment lists. */
function preorder(a: string, b: string): number {
  const x = a === '/' ? [] : a.slice(1).split('/');
  const y = b === '/' ? [] : b.slice(1).split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  }
  return x.length - y.length;
}

/** Errors compare by code (and opIndex, oldestRevision): messages and paths are the implementation's prose. */
export function normalize(result: unknown): unknown {
  const r = result as { ok: boolean } & Record<string, unknown>;
  if (r.ok) return result;
  const out: Record<string, unknown> = { ok: false, code: r['code'] };
  if (r['opIndex'] !== undefined) out['opIndex'] = r['opIndex'];
  if (r['oldestRevision'] !== undefined) out['oldestRevision'] = r['oldestRevision'];
  return out;
}

/** The machine's state in the model's terms. */
export function picture(machine: StateMachine): unknown {
  const nodes: unknown[] = [];
  const walk = (path: string): void => {
    const node = machine.tree.lookup(path)!;
    nodes.push({ path, stat: ok(machine.stat(path)).stat, data: base64(node.data), sequenceNext: node.sequenceNext });
    for (const name of machine.tree.sortedNames(node)) walk(join(path, name));
  };
  walk('/');
  const history = machine.history(machine.eventHistory.oldestRevision);
  return {
    revision: machine.revision,
    timeMs: machine.timeMs,
    leaseIdLast: machine.leaseTable.idLast,
    nodes,
    leases: machine.leases().map((l) => ({ ...l, keys: ok(machine.leaseTimeToLive(l.leaseId, true)).keys })),
    oldestRevision: machine.eventHistory.oldestRevision,
    history: history.ok ? history.events : history,
    clients: [...machine.clients.records].map(([id, r]) => [id, clientView(r.low, r.results)]),
  };
}

/** A client record in a comparable shape: results sorted by sequence, normalized. */
function clientView(low: number, results: ReadonlyMap<number, { op: string; revision: number; result: unknown }>): unknown {
  const sorted = [...results].sort((a, b) => a[0] - b[0]);
  return { low, results: sorted.map(([sequence, r]) => [sequence, r.op, r.revision, normalize(r.result)]) };
}

// ---------------------------------------------------------------------------------------------------------
// Random commands

const NAMES = ['a', 'b', 'c'];

/** A command without its meta fields (Omit distributed over the union). */
type CommandBody = Command extends infer C ? (C extends Command ? Omit<C, 'clientId' | 'sequence' | 'ack' | 'timeMs'> : never) : never;

export class CommandGenerator {
  private timeMs = 1_000;
  private readonly sequences = new Map<string, number>();
  /** Each client's recent commands, any of which it may retry (its writes are pipelined). */
  private readonly recent = new Map<string, Command[]>();

  constructor(
    private readonly random: Random,
    private readonly model: Model,
  ) {}

  next(): Command {
    const r = this.random;
    this.timeMs += r.int(40);
    const clientId = ['', '', 'c1', 'c2', 'c3', 'c4'][r.int(6)]!;
    if (clientId !== '') {
      const recent = this.recent.get(clientId) ?? [];
      if (recent.length > 0 && r.float() < 0.1) return recent[r.int(recent.length)]!; // a retry, maybe of an older one
    }
    let sequence = 0;
    if (clientId !== '') {
      sequence = (this.sequences.get(clientId) ?? 0) + 1 + (r.float() < 0.05 ? 3 : 0);
      if (r.float() < 0.04) sequence = Math.max(1, sequence - 2); // stale
      this.sequences.set(clientId, Math.max(sequence, this.sequences.get(clientId) ?? 0));
    }
    // Now and then a leader with a slow clock.
    const timeMs = r.float() < 0.05 ? this.timeMs - 100 : this.timeMs;
    // The client's lowest sequence still awaiting an answer: a few behind, or (an old client) not said at all.
    const ack = clientId === '' || r.float() < 0.2 ? undefined : Math.max(0, sequence - r.int(6));
    const meta = { clientId, sequence, timeMs, ...(ack === undefined ? {} : { ack }) };
    const command = { ...this.body(), ...meta } as Command;
    if (clientId !== '') this.recent.set(clientId, [...(this.recent.get(clientId) ?? []), command].slice(-8));
    return command;
  }

  private body(): CommandBody {
    const r = this.random;
    const roll = r.float();
    if (roll < 0.3) return this.createOp();
    if (roll < 0.45) return this.setOp();
    if (roll < 0.57) return this.deleteOp();
    if (roll < 0.7) {
      const compares = Array.from({ length: r.int(3) }, () => this.compare());
      const ops = (n: number) => Array.from({ length: r.int(n) }, () => this.txnOp());
      return { op: 'txn', compares, success: ops(4), failure: ops(3) };
    }
    if (roll < 0.77) {
      return {
        op: 'leaseGrant',
        leaseId: (r.float() < 0.7 ? 0 : 1 + r.int(8)) as LeaseId,
        ttlMs: 1 + r.int(1000),
        kind: r.float() < 0.5 ? 'lease' : 'session',
      };
    }
    if (roll < 0.82) return { op: 'leaseRevoke', leaseId: (1 + r.int(8)) as LeaseId };
    if (roll < 0.87) return { op: 'leaseExpire', leaseIds: Array.from({ length: 1 + r.int(3) }, () => (1 + r.int(8)) as LeaseId) };
    if (roll < 0.95) return { op: 'sweep' };
    return { op: 'compact', revision: r.int(this.model.revision + 2) as never };
  }

  private txnOp(): TxnOp {
    const roll = this.random.float();
    if (roll < 0.35) return this.createOp();
    if (roll < 0.6) return this.setOp();
    if (roll < 0.8) return this.deleteOp();
    return { op: 'get', path: this.path() };
  }

  private compare(): Compare {
    const r = this.random;
    const path = this.path();
    const op = (['=', '!=', '<', '>'] as const)[r.int(4)]!;
    switch (r.int(5)) {
      case 0:
        return { path, target: 'exists', op: r.float() < 0.5 ? '=' : '!=', value: r.float() < 0.5 };
      case 1:
        return { path, target: 'version', op, value: r.int(3) };
      case 2:
        return { path, target: 'modRevision', op, value: r.int(this.model.revision + 2) };
      case 3:
        return { path, target: 'createRevision', op, value: r.int(this.model.revision + 2) };
      default:
        return { path, target: 'value', op, value: this.data() };
    }
  }

  private createOp(): CreateOp {
    const r = this.random;
    const roll = r.float();
    const mode: NodeMode = roll < 0.4 ? 'persistent' : roll < 0.65 ? 'ephemeral' : roll < 0.8 ? 'container' : 'ttl';
    const op: CreateOp = {
      op: 'create',
      path: this.path(),
      data: this.data(),
      mode,
      sequential: r.float() < 0.3,
      parents: r.float() < 0.3,
    };
    if (mode === 'ephemeral') return { ...op, leaseId: (1 + r.int(6)) as LeaseId };
    if (mode === 'ttl') return { ...op, ttlMs: 20 + r.int(200) };
    return op;
  }

  private setOp(): SetOp {
    const op: SetOp = { op: 'set', path: this.path(), data: this.data() };
    return this.random.float() < 0.3 ? { ...op, expectedVersion: this.random.int(3) } : op;
  }

  private deleteOp(): DeleteOp {
    const op: DeleteOp = { op: 'delete', path: this.path(), recursive: this.random.float() < 0.5 };
    return this.random.float() < 0.2 ? { ...op, expectedVersion: this.random.int(3) } : op;
  }

  private path(): string {
    const r = this.random;
    if (r.float() < 0.02) return ['/a/', '//', '/..', 'a'][r.int(4)]!;
    if (r.float() < 0.4) {
      const paths = [...this.model.nodes.keys()];
      return paths[r.int(paths.length)]!;
    }
    const depth = 1 + r.int(3);
    return '/' + Array.from({ length: depth }, () => NAMES[r.int(NAMES.length)]!).join('/');
  }

  private data(): Uint8Array {
    const r = this.random;
    return Uint8Array.from({ length: r.int(r.float() < 0.05 ? 12 : 4) }, () => r.int(256));
  }
}

