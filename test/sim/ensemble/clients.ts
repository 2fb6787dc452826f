// The workload clients: real SDK clients, each in its own (simulated or real) client process that can crash,
// restart with a new identity, or pause, running one workload and recording what it saw for the checkers:
// key-value operations (a history for the linearizability checker), sequential creates (applied once),
// watch streams, lock holders writing to a fenced and an unfenced store, and session holders.

import type { Random } from '../../../server/raft/random.ts';
import { Client, SynodError, type Deps, type NodeData, type WatchItem } from '../../../sdk/index.ts';
import type { SdkBugs } from '../../../sdk/deps.ts';
import type { HistoryRecorder, Operation, OkOutcome, ErrorOutcome, SubOperation, SubResult, Compare as ModelCompare } from '../../check/index.ts';
import type { Compare, TxnOp } from '../../../sdk/protocol/messages.ts';

export type Workload = 'kv' | 'sequential' | 'watch' | 'lock' | 'session';

/** One client process as the workload sees it: its SDK deps, and what the harness can do to it. */
export interface ClientProcess {
  readonly deps: Deps;
  /** The process dies: nothing of it runs again, its connections close. */
  crash(): void;
  pause(): void;
  resume(): void;
  readonly paused: boolean;
}

export interface ClientContext {
  /** Starts a client process named `name` (its incarnation in `process`). */
  readonly spawn: (name: string, process: string) => ClientProcess;
  /** The time every record uses (simulated, or the harness's monotonic clock). */
  readonly now: () => number;
  readonly random: Random;
  readonly endpoints: readonly string[];
  readonly recorder: HistoryRecorder;
  readonly records: WorkloadRecords;
  readonly keys: readonly string[];
  readonly sessionTtlMs: readonly [number, number];
  readonly requestTimeoutMs: number;
  readonly plantedBugs: SdkBugs;
  readonly trace: (who: string, text: string) => void;
  /** Whether the workloads go on. */
  readonly running: () => boolean;
}

/** What the workloads saw, for the checkers (times are simulated times). */
export interface WorkloadRecords {
  /** Sequential creates: unique payload -> acknowledged (true) or unknown (false). */
  readonly sequential: Map<string, boolean>;
  readonly watches: WatchRecord[];
  readonly grants: LockGrant[];
  readonly sessions: SessionRecord[];
  /** Last time each workload process completed an operation. */
  readonly progress: Map<string, number>;
  fencedStore: FencedStore;
}

export interface WatchRecord {
  readonly client: string;
  readonly path: string;
  /** The first revision the stream owes (its events from here on must all arrive). */
  startRevision: number;
  readonly items: Array<{ readonly at: number; readonly item: WatchItem }>;
  ended: string | null;
}

export interface LockGrant {
  readonly client: string;
  readonly path: string;
  readonly token: number;
  /** The revision at which the holder saw itself first in the queue. */
  readonly revision: number;
  readonly at: number;
}

export interface SessionRecord {
  readonly client: string;
  readonly leaseId: number;
  readonly ttlMs: number;
  /** When the latest answered heartbeat (or the grant) was sent; updated while the session lives. */
  renewalSentAt: number;
}

/**
 * A store outside Synod guarded by fencing tokens: it rejects a write whose token is below the highest it has
 * accepted. `unfenced` counts the writes a store without that check would have taken out of order: a holder
 * that lost its lock overwriting the work of a later one.
 */
export class FencedStore {
  highest = 0;
  accepted = 0;
  /** Stale writes stopped by the fence. */
  rejected = 0;
  /** Writes an unfenced store would have taken though a later holder had already written. */
  unfencedStale = 0;
  private unfencedHighest = 0;

  write(token: number): boolean {
    if (token < this.unfencedHighest) this.unfencedStale++;
    this.unfencedHighest = Math.max(this.unfencedHighest, token);
    if (token < this.highest) {
      this.rejected++;
      return false;
    }
    this.highest = token;
    this.accepted++;
    return true;
  }
}

export function emptyRecords(): WorkloadRecords {
  return { sequential: new Map(), watches: [], grants: [], sessions: [], progress: new Map(), fencedStore: new FencedStore() };
}

export class SimClient {
  private host: ClientProcess | null = null;
  client: Client | null = null;
  incarnation = 0;
  private values = 0;

  constructor(
    readonly name: string,
    readonly workload: Workload,
    private readonly context: ClientContext,
  ) {}

  get process(): string {
    return `${this.name}#${this.incarnation}`;
  }

  get running(): boolean {
    return this.host !== null;
  }

  /** Starts a new process (a new client identity) running the workload while the simulation wants it. */
  start(): void {
    this.incarnation++;
    const host = this.context.spawn(this.name, this.process);
    this.host = host;
    const deps: Deps = { ...host.deps, plantedBugs: this.context.plantedBugs };
    this.client = new Client({
      endpoints: this.context.endpoints,
      clientId: this.process,
      requestTimeoutMs: this.context.requestTimeoutMs,
      connectTimeoutMs: 200,
      backoffMinMs: 5,
      backoffMaxMs: 100,
      stallTimeoutMs: 300,
      sessionTtlMs: this.context.sessionTtlMs[0],
      // Half the key-value clients stay on the member they reach (as users who read from a nearby member
      // do), so reads and writes meet every member, a deposed leader's included.
      preferLeader: this.workload !== 'kv' || this.context.random.float() < 0.5,
      deps,
    });
    const client = this.client;
    void this.run(client).catch((error: unknown) => this.context.trace(this.process, `workload ended: ${String(error)}`));
  }

  /** The process dies: its connections close; its sessions live on until their TTL. */
  crash(): void {
    if (this.host === null) return;
    this.host.crash();
    this.host = null;
    this.client = null;
  }

  pause(): void {
    this.host?.pause();
  }

  resume(): void {
    this.host?.resume();
  }

  /** Where the client stands, for a liveness report. */
  describe(): string {
    const client = this.client;
    if (client === null) return 'not running';
    const c = client as unknown as { connection: { endpoint: string | null; pending: Map<number, { body: { op: string } }> }; streams: Set<unknown> };
    const pending = [...c.connection.pending.values()].map((p) => p.body.op).join(',');
    return `on ${c.connection.endpoint ?? 'no member'}, pending [${pending}], ${c.streams.size} streams${this.host?.paused === true ? ', paused' : ''}`;
  }

  private sleep(ms: number): Promise<void> {
    const clock = this.client?.deps.clock;
    if (clock === undefined) return Promise.resolve();
    return new Promise((resolve) => clock.setTimeout(resolve, ms));
  }

  private done(): void {
    this.context.records.progress.set(this.name, this.context.now());
  }

  /** Whether this incarnation's workload goes on (the simulation wants it, and the process lives). */
  private going(client: Client): boolean {
    return this.client === client && this.context.running();
  }

  private async run(client: Client): Promise<void> {
    const going = (): boolean => this.going(client);
    switch (this.workload) {
      case 'kv':
        while (going()) {
          await this.kvOperation(client);
          await this.sleep(this.context.random.float() * 10);
        }
        return;
      case 'sequential':
        while (going()) {
          await this.sequentialCreate(client);
          await this.sleep(this.context.random.float() * 20);
        }
        return;
      case 'watch':
        return this.watchLoop(client);
      case 'lock':
        while (going()) await this.lockRound(client);
        return;
      case 'session':
        return this.sessionLoop(client);
    }
  }

  // --- key-value operations, recorded for the linearizability checker --------------------------------------

  private async kvOperation(client: Client): Promise<void> {
    const operation = this.randomOperation();
    const pending = this.context.recorder.invoke(this.process, operation);
    try {
      pending.complete(await runOperation(client, operation));
      this.done();
    } catch (error) {
      // Reads change nothing; a write without an answer may have applied (or may still).
      if (isReadOnly(operation)) pending.fail(String(error));
      else pending.timeout(error instanceof SynodError ? error.code : String(error));
    }
  }

  private randomOperation(): Operation {
    const r = this.context.random;
    const keys = this.context.keys;
    const key = (): string => keys[r.int(keys.length)]!;
    const value = (): string => `${this.process}:${++this.values}`;
    const roll = r.float();
    if (roll < 0.35) return { op: 'get', key: key() };
    if (roll < 0.55) return { op: 'set', key: key(), value: value() };
    if (roll < 0.65) return { op: 'set', key: key(), value: value(), expectedVersion: r.int(4) };
    if (roll < 0.75) return { op: 'create', key: key(), value: value() };
    if (roll < 0.82) return r.float() < 0.5 ? { op: 'delete', key: key() } : { op: 'delete', key: key(), expectedVersion: r.int(4) };
    const [a, b] = [key(), key()];
    const compare: ModelCompare = r.float() < 0.5 ? { key: a, target: 'exists', op: '=', value: r.float() < 0.5 } : { key: a, target: 'version', op: r.float() < 0.5 ? '=' : '>', value: r.int(3) };
    const success: SubOperation[] = [{ op: 'set', key: b, value: value() }, { op: 'get', key: a }];
    const failure: SubOperation[] = r.float() < 0.5 ? [{ op: 'get', key: b }] : [{ op: 'create', key: a, value: value() }];
    return { op: 'txn', compares: [compare], success, failure };
  }

  // --- sequential creates: each applied exactly once --------------------------------------------------------

  private async sequentialCreate(client: Client): Promise<void> {
    const payload = `${this.process}:${++this.values}`;
    const records = this.context.records.sequential;
    records.set(payload, false);
    try {
      await client.create('/seq/item-', payload, { sequential: true });
      records.set(payload, true);
      this.done();
    } catch {
      // Unknown: it may have applied (once).
    }
  }

  // --- watch streams ----------------------------------------------------------------------------------------

  private async watchLoop(client: Client): Promise<void> {
    const path = '/kv';
    while (this.going(client)) {
      const record: WatchRecord = { client: this.process, path, startRevision: 0, items: [], ended: null };
      this.context.records.watches.push(record);
      const stream = client.watch(path, { recursive: true, progress: true });
      try {
        for await (const item of stream) {
          if (record.startRevision === 0) record.startRevision = stream.startRevision;
          record.items.push({ at: this.context.now(), item });
          this.done();
          if (!this.going(client)) break;
        }
        record.ended = 'done';
      } catch (error) {
        record.ended = error instanceof SynodError ? error.code : String(error);
      } finally {
        if (record.startRevision === 0) record.startRevision = stream.startRevision;
        stream.finish(null);
      }
      await this.sleep(5);
    }
  }

  // --- locks, fenced -----------------------------------------------------------------------------------------

  private async lockRound(client: Client): Promise<void> {
    const r = this.context.random;
    try {
      // Half the attempts give up soon: waiters leave the queue from the middle, not only holders from its head.
      const lock = await client.lock('sim/one', { timeoutMs: r.float() < 0.5 ? 50 + r.float() * 250 : 5_000 });
      const now = this.context.now();
      this.context.records.grants.push({ client: this.process, path: lock.path, token: lock.token, revision: lock.revision, at: now });
      this.done();
      const store = this.context.records.fencedStore;
      store.write(lock.token);
      await this.sleep(r.float() * 20);
      store.write(lock.token);
      await lock.release().catch(() => {});
    } catch {
      // Timed out, or lost the session: try again.
    }
    await this.sleep(r.float() * 10);
  }

  // --- sessions ---------------------------------------------------------------------------------------------

  private async sessionLoop(client: Client): Promise<void> {
    const r = this.context.random;
    const [lo, hi] = this.context.sessionTtlMs;
    let n = 0;
    while (this.going(client)) {
      try {
        const session = await client.session({ ttlMs: Math.round(lo + r.float() * (hi - lo)) });
        const record: SessionRecord = { client: this.process, leaseId: session.id, ttlMs: session.ttlMs, renewalSentAt: session.lastRenewalSentAt };
        this.context.records.sessions.push(record);
        await client.create(`/eph/${this.name}-${++n}`, '', { mode: 'ephemeral', session });
        this.done();
        const alive = (): boolean => session.status !== 'expired';
        while (this.going(client) && alive()) {
          await this.sleep(20);
          record.renewalSentAt = session.lastRenewalSentAt;
          if (alive()) this.done();
        }
        record.renewalSentAt = session.lastRenewalSentAt;
      } catch {
        await this.sleep(20);
      }
    }
  }
}

/** Runs one model operation through the SDK and translates the answer into the model's terms. */
async function runOperation(client: Client, operation: Operation): Promise<OkOutcome | ErrorOutcome> {
  const path = (key: string): string => `/kv/${key}`;
  const refused = (error: unknown): ErrorOutcome | null => {
    if (error instanceof SynodError && (error.code === 'exists' || error.code === 'not_found' || error.code === 'bad_version')) {
      return { status: 'error', error: error.code, ...(error.details.opIndex !== undefined ? { opIndex: error.details.opIndex } : {}) };
    }
    return null;
  };
  try {
    switch (operation.op) {
      case 'get': {
        const node = await client.get(path(operation.key)).catch((error: unknown) => {
          if (error instanceof SynodError && error.code === 'not_found') return null;
          throw error;
        });
        return { status: 'ok', result: getResult(node) };
      }
      case 'create': {
        const created = await client.create(path(operation.key), operation.value);
        return { status: 'ok', result: { op: 'create' }, revision: created.header.revision };
      }
      case 'set': {
        const stat = await client.set(path(operation.key), operation.value, operation.expectedVersion === undefined ? {} : { expectedVersion: operation.expectedVersion });
        return { status: 'ok', result: { op: 'set', version: stat.version }, revision: stat.modRevision };
      }
      case 'delete':
        await client.delete(path(operation.key), operation.expectedVersion === undefined ? {} : { expectedVersion: operation.expectedVersion });
        return { status: 'ok', result: { op: 'delete' } };
      case 'txn': {
        const txn = await client
          .txn()
          .if(...operation.compares.map((c) => toCompare(c, path)))
          .then(...operation.success.map((s) => toTxnOp(s, path)))
          .else(...operation.failure.map((s) => toTxnOp(s, path)))
          .commit();
        const branch = txn.succeeded ? operation.success : operation.failure;
        const results = branch.map((sub, i) => subResult(sub, txn.results[i]));
        return { status: 'ok', result: { op: 'txn', succeeded: txn.succeeded, results }, revision: txn.header.revision };
      }
    }
  } catch (error) {
    const outcome = refused(error);
    if (outcome !== null) return outcome;
    throw error;
  }
}

const text = (data: Uint8Array): string => new TextDecoder().decode(data);
const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);

function getResult(node: NodeData | null): SubResult {
  return node === null ? { op: 'get', found: false } : { op: 'get', found: true, value: text(node.data), version: node.stat.version };
}

function subResult(sub: SubOperation, raw: unknown): SubResult {
  switch (sub.op) {
    case 'get':
      return getResult((raw as { node: NodeData | null }).node);
    case 'set':
      return { op: 'set', version: (raw as { stat: { version: number } }).stat.version };
    case 'create':
      return { op: 'create' };
    case 'delete':
      return { op: 'delete' };
  }
}

function toCompare(compare: ModelCompare, path: (key: string) => string): Compare {
  switch (compare.target) {
    case 'exists':
      return { path: path(compare.key), target: 'exists', op: compare.op === '=' ? '=' : '!=', value: compare.value };
    case 'version':
      return { path: path(compare.key), target: 'version', op: compare.op, value: compare.value };
    case 'value':
      return { path: path(compare.key), target: 'value', op: compare.op, value: bytes(compare.value) };
  }
}

function toTxnOp(sub: SubOperation, path: (key: string) => string): TxnOp {
  switch (sub.op) {
    case 'get':
      return { op: 'get', path: path(sub.key) };
    case 'create':
      return { op: 'create', path: path(sub.key), data: bytes(sub.value) };
    case 'set':
      return { op: 'set', path: path(sub.key), data: bytes(sub.value), ...(sub.expectedVersion === undefined ? {} : { expectedVersion: sub.expectedVersion }) };
    case 'delete':
      return { op: 'delete', path: path(sub.key), ...(sub.expectedVersion === undefined ? {} : { expectedVersion: sub.expectedVersion }) };
  }
}

function isReadOnly(operation: Operation): boolean {
  if (operation.op !== 'txn') return operation.op === 'get';
  return operation.success.every((s) => s.op === 'get') && operation.failure.every((s) => s.op === 'get');
}
