// The client: typed operations over one failover-capable connection, sessions, watch streams, and
// transactions. Every write carries this client's id and a sequence number, so a retry after a lost
// answer applies once (the server answers it with the first result).

import { randomUUID } from 'node:crypto';
import { Connection, type Answer, type CallOptions, type RequestBody } from './connection.ts';
import { systemDeps, type Deps } from './deps.ts';
import { SynodError } from './errors.ts';
import { protocolVersion, type HelloResult, type Compare, type LeaseInfo, type CreateOptions, type MemberInfo, type NodeData, type NodeStat, type ResponseHeader, type StatusResult, type TxnOp, type WatchPush } from './protocol/messages.ts';
import { Session } from './session.ts';
import { WatchStream, type WatchOptions } from './watch.ts';
import { lock, readLock, semaphore, tryLock, writeLock, type Lock, type LockOptions } from './recipes/lock.ts';
import { Election } from './recipes/election.ts';

/** Options of `connect()` and `new Client()`. */
export interface ConnectOptions {
  /** Members' client addresses (`host:port`); the client fails over between them. */
  readonly endpoints: readonly string[];
  /** Default deadline of a call, including retries. */
  readonly requestTimeoutMs?: number;
  /** Deadline of one connection attempt, socket handshake and `hello` each (default 2 s). */
  readonly connectTimeoutMs?: number;
  /**
   * Reconnect backoff (default 25 ms): the first reconnect after a working connection is immediate; after a failed
   * attempt the next waits this long, doubled per further failure up to `backoffMaxMs`, each delay jittered to
   * between half and all of it. A retryable answer is retried after between half and all of this.
   */
  readonly backoffMinMs?: number;
  /** The longest backoff delay (default 1 s). */
  readonly backoffMaxMs?: number;
  /** Give up a member when requests wait this long and nothing arrives from it (default 3 s). */
  readonly stallTimeoutMs?: number;
  /** TTL of the default session (for ephemeral nodes created without one). */
  readonly sessionTtlMs?: number;
  /** Identifies this client for idempotent writes; random by default. */
  readonly clientId?: string;
  /** Move to the leader's member when one names it, so writes take no forwarding hop (default true). */
  readonly preferLeader?: boolean;
  /** Clock, randomness and sockets; the system's by default (tests and the simulator inject their own). */
  readonly deps?: Deps;
}

/** Node data given as bytes, text (UTF-8) or anything JSON-serializable (with `jsonValue()`). */
export type Value = Uint8Array | string;

/** Options of reads: linearizable (a ReadIndex round through the leader) unless one of these says otherwise. */
export interface ReadOptions extends CallOptions {
  /** Answer from the connected member's state at once, possibly stale (no ReadIndex round). */
  readonly serializable?: boolean;
  /**
   * Answer from the connected member's state once it has applied at least this revision (say, one a write or
   * a watch event reported): read-your-writes without a ReadIndex round. Implies `serializable`.
   */
  readonly minRevision?: number;
}

/** Options of `Client.create`: how to create the node, who owns an ephemeral one, and the call's options. */
export interface CreateCallOptions extends CallOptions, Omit<CreateOptions, 'leaseId'> {
  /** Owner of an ephemeral node; the client's default session when absent. */
  readonly session?: Session;
  /**
   * Owner of an ephemeral node by lease id (say, from `grantLease`); wins over `session`. Ephemeral nodes only:
   * with another mode, an owner (this or `session`) fails the create with `bad_request`.
   */
  readonly leaseId?: number;
}

/**
 * A transaction being built (`client.txn()`): compares, operations for when all hold, and operations for when
 * one does not. Each method appends and returns the same builder.
 */
export interface Txn {
  /** Adds compares; the `then` branch runs only if every one holds (no compares: it runs). */
  if(...compares: Compare[]): Txn;
  /** Adds operations to run, in order, when every compare holds. */
  then(...ops: TxnOp[]): Txn;
  /** Adds operations to run, in order, when a compare fails. */
  else(...ops: TxnOp[]): Txn;
  /**
   * Sends it as one idempotent write: all at one revision, all or nothing. An operation that fails rejects the
   * commit with its code (`details.opIndex` names it) and applies nothing; more than 128 compares or operations
   * per branch (the server's default limits) is `bad_request`.
   */
  commit(options?: CallOptions): Promise<TxnResult>;
}

/** What a committed transaction answered. */
export interface TxnResult {
  /** Whether every compare held, so `then` ran; otherwise `else` ran. */
  readonly succeeded: boolean;
  /**
   * One per operation of the branch that ran, in order: `{ op: 'create', path, stat }`, `{ op: 'set', stat }`,
   * `{ op: 'delete', deleted }`, or `{ op: 'get', path, node }` (node null when missing), each with `ok: true`.
   */
  readonly results: readonly unknown[];
  /** Its `revision` is the transaction's (the current one when it changed nothing). */
  readonly header: ResponseHeader;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 bytes of text, or the bytes themselves. */
export function toBytes(value: Value): Uint8Array {
  return typeof value === 'string' ? encoder.encode(value) : value;
}

/** Node data decoded as UTF-8 (ill-formed bytes become U+FFFD). */
export function text(data: Uint8Array): string {
  return decoder.decode(data);
}

/** Node data parsed as UTF-8 JSON; throws SyntaxError when it is not JSON. `T` is asserted, not checked. */
export function json<T = unknown>(data: Uint8Array): T {
  return JSON.parse(decoder.decode(data)) as T;
}

/** Node data holding `value` as UTF-8 JSON (`JSON.stringify`), for `json()` to read back. */
export function jsonValue(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/**
 * A client of one ensemble: one connection that fails over between members, typed operations, sessions, watch
 * streams, transactions and recipes. `connect()` returns one that has reached a member; `new Client()` connects
 * on its first call (and throws `bad_request` when given no endpoints).
 */
export class Client implements AsyncDisposable {
  /** Names this client to the members; with a write's sequence number, it makes a retried write apply once. */
  readonly clientId: string;
  /** The clock, randomness and sockets in use (`ConnectOptions.deps`, or the system's). */
  readonly deps: Deps;
  private readonly connection: Connection;
  private sequence = 0;
  private readonly watches = new Map<number, WatchStream>();
  private readonly streams = new Set<WatchStream>();
  private readonly sessions = new Set<Session>();
  private defaultSession: Promise<Session> | null = null;
  private closed = false;

  constructor(private readonly options: ConnectOptions) {
    this.deps = options.deps ?? systemDeps;
    this.clientId = options.clientId ?? randomUUID();
    this.connection = new Connection({
      endpoints: options.endpoints,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 2_000,
      backoffMinMs: options.backoffMinMs ?? 25,
      backoffMaxMs: options.backoffMaxMs ?? 1_000,
      stallTimeoutMs: options.stallTimeoutMs ?? 3_000,
      preferLeader: options.preferLeader ?? true,
      deps: this.deps,
      onConnect: (endpoint) => this.onConnect(endpoint),
      onPush: (push) => this.onPush(push),
      onDisconnect: () => this.watches.clear(),
      needsLiveness: () => this.streams.size > 0 || this.sessions.size > 0,
    });
  }

  /** The member this client is connected to now (`host:port`), or null between connections. */
  get endpoint(): string | null {
    return this.connection.endpoint;
  }

  private async onConnect(_endpoint: string): Promise<{ leaderEndpoint: string | null }> {
    const { result } = await this.connection.callDuringConnect({ op: 'hello', version: protocolVersion, clientId: this.clientId });
    const hello = result as HelloResult;
    if (hello.requestBytesMax !== undefined) this.connection.requestBytesMax = hello.requestBytesMax;
    if (hello.endpoints !== undefined && hello.endpoints.length > 0) this.connection.learnEndpoints(hello.endpoints);
    if (this.options.preferLeader !== false && hello.leaderEndpoint !== null && hello.leader !== hello.member) {
      return { leaderEndpoint: hello.leaderEndpoint };
    }
    // Every live stream resumes after the last revision it delivered.
    for (const stream of this.streams) void stream.resume();
    return { leaderEndpoint: null };
  }

  private onPush(push: WatchPush): void {
    const stream = this.watches.get(push.watch);
    if (stream !== undefined) {
      stream.deliver(push);
      return;
    }
    // A watch's replay comes in the same frame as its answer, before the stream has registered its id (a
    // microtask later): hold such pushes until the end of this turn.
    let held = this.unclaimed.get(push.watch);
    if (held === undefined) {
      this.unclaimed.set(push.watch, (held = []));
      if (this.unclaimed.size === 1) this.deps.clock.defer(() => this.unclaimed.clear());
    }
    held.push(push);
  }

  private readonly unclaimed = new Map<number, WatchPush[]>();

  /** Opens the connection now; otherwise the first call does. */
  async ready(options: CallOptions = {}): Promise<this> {
    await this.call({ op: 'status' }, options);
    return this;
  }

  private async call(body: RequestBody, options: CallOptions = {}): Promise<Answer> {
    if (this.closed) throw new SynodError('closed', 'the client is closed');
    return this.connection.call(body, options);
  }

  /**
   * A write with this client's next sequence number (a retry with it applies once) and the lowest sequence
   * still awaiting an answer (so the server forgets older answers, and refuses them from then on).
   */
  private async write(body: RequestBody, options: CallOptions = {}): Promise<Answer> {
    const sequence = ++this.sequence;
    const ack = this.writesInFlight.size > 0 ? (this.writesInFlight.keys().next().value as number) : sequence;
    const answer = this.call({ ...body, sequence, ack } as RequestBody, options);
    this.writesInFlight.set(sequence, answer);
    try {
      return await answer;
    } finally {
      this.writesInFlight.delete(sequence);
    }
  }

  /** Writes not yet answered (nor given up), by sequence in increasing order. */
  private readonly writesInFlight = new Map<number, Promise<Answer>>();

  /**
   * Resolves once no write this client gave up on (timed out, aborted, cut off with `unavailable`) can still
   * apply. Such a write may be on its way or in the log; this waits for the writes in flight to settle, then
   * commits an empty transaction whose acknowledgement mark passes every earlier sequence: a given-up write
   * ordered before it has applied (a read now sees it), one ordered after is refused with `stale_sequence`.
   */
  async writeBarrier(options: CallOptions = {}): Promise<void> {
    await Promise.allSettled(this.writesInFlight.values());
    await this.write({ op: 'txn', compares: [], success: [], failure: [] }, options);
  }

  // -------------------------------------------------------------------------------------------------------
  // Reads

  /** The node's data and stat; throws NotFoundError when it does not exist. */
  async get(path: string, options: ReadOptions = {}): Promise<NodeData> {
    const { result } = await this.call({ op: 'get', path, ...serial(options) }, options);
    return (result as { node: NodeData }).node;
  }

  /** The node's stat, or null when it does not exist. */
  async exists(path: string, options: ReadOptions = {}): Promise<NodeStat | null> {
    const { result } = await this.call({ op: 'stat', path, ...serial(options) }, options).catch((error: unknown) => {
      if (error instanceof SynodError && error.code === 'not_found') return { result: { stat: null } };
      throw error;
    });
    return (result as { stat: NodeStat | null }).stat;
  }

  /** Child names, sorted. */
  async children(path: string, options: ReadOptions = {}): Promise<string[]> {
    const { result } = await this.call({ op: 'children', path, ...serial(options) }, options);
    return [...(result as { names: string[] }).names];
  }

  /** Children with their stats, sorted by name. */
  async childrenWithStats(path: string, options: ReadOptions = {}): Promise<Array<{ name: string; stat: NodeStat }>> {
    const { result } = await this.call({ op: 'children', path, stats: true, ...serial(options) }, options);
    const { names, stats } = result as { names: string[]; stats: NodeStat[] };
    return names.map((name, i) => ({ name, stat: stats[i]! }));
  }

  /** A page of the subtree at `path` in pre-order; pass `after` = the last path to continue. */
  async range(path: string, options: ReadOptions & { limit?: number; after?: string } = {}): Promise<{ nodes: NodeData[]; more: boolean; revision: number }> {
    const { result, header } = await this.call(
      { op: 'range', path, ...(options.limit !== undefined ? { limit: options.limit } : {}), ...(options.after !== undefined ? { after: options.after } : {}), ...serial(options) },
      options,
    );
    const { nodes, more } = result as { nodes: NodeData[]; more: boolean };
    return { nodes: [...nodes], more, revision: header.revision };
  }

  /** Makes the connected member catch up with the leader's commit (then serializable reads see it). */
  async sync(options: CallOptions = {}): Promise<void> {
    await this.call({ op: 'sync' }, options);
  }

  // -------------------------------------------------------------------------------------------------------
  // Writes

  /** Creates a node; returns its path (with the suffix, for a sequential node) and stat. */
  async create(path: string, value: Value = new Uint8Array(0), options: CreateCallOptions = {}): Promise<{ path: string; stat: NodeStat; header: ResponseHeader }> {
    let leaseId = options.leaseId ?? options.session?.id;
    if (options.mode === 'ephemeral' && leaseId === undefined) leaseId = (await this.session()).id;
    const body: RequestBody = {
      op: 'create',
      path,
      data: toBytes(value),
      ...(options.mode !== undefined ? { mode: options.mode } : {}),
      ...(options.sequential !== undefined ? { sequential: options.sequential } : {}),
      ...(options.parents !== undefined ? { parents: options.parents } : {}),
      ...(options.ttlMs !== undefined ? { ttlMs: options.ttlMs } : {}),
      ...(leaseId !== undefined ? { leaseId } : {}),
    };
    const { result, header } = await this.write(body, options);
    const created = result as { path: string; stat: NodeStat };
    return { path: created.path, stat: created.stat, header };
  }

  /** Sets a node's data; with `expectedVersion`, only if the version matches (compare-and-set). */
  async set(path: string, value: Value, options: CallOptions & { expectedVersion?: number } = {}): Promise<NodeStat> {
    const { result } = await this.write({ op: 'set', path, data: toBytes(value), ...(options.expectedVersion !== undefined ? { expectedVersion: options.expectedVersion } : {}) }, options);
    return (result as { stat: NodeStat }).stat;
  }

  /** Deletes a node (its subtree with `recursive`); returns how many nodes were removed. */
  async delete(path: string, options: CallOptions & { expectedVersion?: number; recursive?: boolean } = {}): Promise<number> {
    const { result } = await this.write(
      { op: 'delete', path, ...(options.expectedVersion !== undefined ? { expectedVersion: options.expectedVersion } : {}), ...(options.recursive !== undefined ? { recursive: options.recursive } : {}) },
      options,
    );
    return (result as { deleted: number }).deleted;
  }

  /** A transaction: `client.txn().if(...).then(...).else(...).commit()`, all at one revision. */
  txn(): Txn {
    const compares: Compare[] = [];
    const success: TxnOp[] = [];
    const failure: TxnOp[] = [];
    const builder: Txn = {
      if: (...c) => (compares.push(...c), builder),
      then: (...ops) => (success.push(...ops), builder),
      else: (...ops) => (failure.push(...ops), builder),
      commit: async (options = {}) => {
        const { result, header } = await this.write({ op: 'txn', compares, success, failure }, options);
        const r = result as { succeeded: boolean; results: unknown[] };
        return { succeeded: r.succeeded, results: r.results, header };
      },
    };
    return builder;
  }

  /** Drops watch history before `revision`. */
  async compact(revision: number, options: CallOptions = {}): Promise<number> {
    const { result } = await this.write({ op: 'compact', revision }, options);
    return (result as { oldestRevision: number }).oldestRevision;
  }

  // -------------------------------------------------------------------------------------------------------
  // Leases and sessions

  /** Grants a lease that lives `ttlMs` unless kept alive; nodes attached to it go when it ends. */
  async grantLease(ttlMs: number, options: CallOptions = {}): Promise<{ leaseId: number; ttlMs: number }> {
    const { result } = await this.write({ op: 'leaseGrant', ttlMs }, options);
    return result as { leaseId: number; ttlMs: number };
  }

  /**
   * Renews a lease (or session) for its full TTL, through the leader. SessionExpiredError (`session_expired`) when
   * the leader does not know it: expired, revoked, or never granted.
   */
  async keepAliveLease(leaseId: number, options: CallOptions = {}): Promise<void> {
    await this.call({ op: 'leaseKeepAlive', leaseId }, options);
  }

  /** Ends a lease now and deletes its nodes, in one revision; `lease_not_found` when it is unknown. */
  async revokeLease(leaseId: number, options: CallOptions = {}): Promise<void> {
    await this.write({ op: 'leaseRevoke', leaseId }, options);
  }

  /**
   * A lease's TTL (ms) and kind (`lease` or `session`); `remainingMs`, the time left, is null unless the answering
   * member is the leader (only it keeps deadlines); with `keys`, the paths of its nodes, sorted (else null).
   * `lease_not_found` when it is unknown.
   */
  async leaseTimeToLive(leaseId: number, options: CallOptions & { keys?: boolean } = {}): Promise<LeaseInfo & { remainingMs: number | null; keys: string[] | null }> {
    const { result } = await this.call({ op: 'leaseTimeToLive', leaseId, ...(options.keys === true ? { keys: true } : {}) }, options);
    return result as LeaseInfo & { remainingMs: number | null; keys: string[] | null };
  }

  /** Every lease and session, sorted by id, with its TTL (ms) and kind. */
  async leases(options: CallOptions = {}): Promise<LeaseInfo[]> {
    const { result } = await this.call({ op: 'leaseList' }, options);
    return (result as { leases: LeaseInfo[] }).leases;
  }

  /**
   * A new session kept alive by heartbeats. Without options, the client's default session (created on first
   * use, shared by ephemeral nodes created without one).
   */
  async session(options: { ttlMs?: number } = {}): Promise<Session> {
    if (options.ttlMs === undefined) {
      this.defaultSession ??= this.newSession(this.options.sessionTtlMs ?? 10_000);
      const session = await this.defaultSession.catch((error: unknown) => {
        this.defaultSession = null;
        throw error;
      });
      if (session.status === 'expired' || session.status === 'closed') {
        this.defaultSession = null;
        return this.session();
      }
      return session;
    }
    return this.newSession(options.ttlMs);
  }

  private async newSession(ttlMs: number): Promise<Session> {
    const sentAt = this.deps.clock.now();
    const { result } = await this.write({ op: 'leaseGrant', ttlMs, kind: 'session' });
    const granted = result as { leaseId: number; ttlMs: number };
    const session = new Session(
      granted.leaseId,
      granted.ttlMs,
      {
        deps: this.deps,
        keepAlive: (id) => this.keepAliveLease(id, { timeoutMs: granted.ttlMs / 3 }),
        revoke: (id) => this.revokeLease(id, { timeoutMs: 2_000 }),
      },
      sentAt,
    );
    this.sessions.add(session);
    session.on('expired', () => this.sessions.delete(session));
    return session;
  }

  // -------------------------------------------------------------------------------------------------------
  // Watches

  /**
   * A stream of changes at `path`: `for await (const event of client.watch('/app', { recursive: true }))`.
   * Resumes across reconnects with no gap or duplicate; `break` or the signal ends it.
   */
  watch(path: string, options: WatchOptions = {}): WatchStream {
    const stream = new WatchStream(path, options, {
      startWatch: async (s, fromRevision, initial) => {
        const { result, header } = await this.call(
          { op: 'watch', path: s.path, scope: s.scope, ...(fromRevision > 0 ? { fromRevision } : {}), ...(initial ? { initial } : {}), ...(s.options.prevData === true ? { prevData: true } : {}) },
          { retry: false },
        );
        const { watchId } = result as { watchId: number };
        this.watches.set(watchId, s);
        for (const push of this.unclaimed.get(watchId) ?? []) s.deliver(push);
        this.unclaimed.delete(watchId);
        return { watchId, revision: header.revision };
      },
      cancelWatch: (watchId) => {
        this.watches.delete(watchId);
        this.connection.fireAndForget({ op: 'watchCancel', watchId });
      },
      forget: (s) => this.streams.delete(s),
    }, this.deps.plantedBugs?.watchResumeSkipsOne === true);
    this.streams.add(stream);
    void stream.resume();
    return stream;
  }

  // -------------------------------------------------------------------------------------------------------
  // Recipes (docs/recipes.md)

  /** Takes the lock NAME (fair, FIFO); the result carries a fencing token and a lost signal. */
  lock(name: string, options: LockOptions = {}): Promise<Lock> {
    return lock(this, name, options);
  }

  /** Takes the lock NAME only if it is free now. */
  tryLock(name: string, options: LockOptions = {}): Promise<Lock | null> {
    return tryLock(this, name, options);
  }

  /**
   * Takes a shared read lock on NAME: waits only for the nearest writer queued ahead. Read-write locks have
   * their own names, apart from `lock()`'s. Fails as `lock()` does.
   */
  readLock(name: string, options: LockOptions = {}): Promise<Lock> {
    return readLock(this, name, options);
  }

  /** Takes the exclusive write lock on NAME: waits for every reader and writer queued ahead. Fails as `lock()` does. */
  writeLock(name: string, options: LockOptions = {}): Promise<Lock> {
    return writeLock(this, name, options);
  }

  /** Takes one of `permits` permits of the semaphore NAME. */
  semaphore(name: string, permits: number, options: LockOptions = {}): Promise<Lock> {
    return semaphore(this, name, permits, options);
  }

  /** The election NAME: campaign, observe, leader. */
  election(name: string): Election {
    return new Election(this, name);
  }

  // -------------------------------------------------------------------------------------------------------
  // Cluster

  /**
   * The connected member's status, untyped: `member`, `role`, `term`, `leader`, `commit`, `applied`, `revision`,
   * `voters`, `learners`, `members`, `firstIndex`, `lastIndex`.
   */
  async status(options: CallOptions = {}): Promise<StatusResult> {
    const { result } = await this.call({ op: 'status' }, options);
    return result as StatusResult;
  }

  /** The members: every change answered before is in the list (with `serializable`, the member's own copy). */
  async members(options: ReadOptions = {}): Promise<MemberInfo[]> {
    const { result } = await this.call({ op: 'members', ...serial(options) }, options);
    return result as MemberInfo[];
  }

  /**
   * Adds a member as a learner (it receives the log but does not vote; `promoteMember` makes it a voter). Done by
   * the leader; not resent after a lost connection (`unavailable`) unless `retry: true`. `exists` when NAME is a
   * member; `bad_request` for a bad name (1 to 64 letters, digits, `.`, `-`, `_`) or address.
   */
  async addMember(name: string, peerUrl: string, clientUrl: string, options: CallOptions = {}): Promise<void> {
    await this.call({ op: 'memberAdd', name, peerUrl, clientUrl }, { retry: false, ...options });
  }

  /**
   * Makes a learner a voter; resolves once the change applied. Done by the leader; not resent after a lost
   * connection unless `retry: true`. A no-op for a voter; `not_found` when NAME is not a member.
   */
  async promoteMember(name: string, options: CallOptions = {}): Promise<void> {
    await this.call({ op: 'memberPromote', name }, { retry: false, ...options });
  }

  /**
   * Removes a member; resolves once the change applied, and the removed member stops. Done by the leader; not
   * resent after a lost connection unless `retry: true`. `not_found` when NAME is not a member.
   */
  async removeMember(name: string, options: CallOptions = {}): Promise<void> {
    await this.call({ op: 'memberRemove', name }, { retry: false, ...options });
  }

  /**
   * Hands leadership to member NAME and resolves once it leads; `timeout` when it does not within two election
   * timeouts. Not resent after a lost connection unless `retry: true`.
   */
  async moveLeader(name: string, options: CallOptions = {}): Promise<void> {
    await this.call({ op: 'moveLeader', name }, { retry: false, ...options });
  }

  /** Test hook: drops the current connection as a network failure would. */
  dropConnection(): void {
    this.connection.dropSocket();
  }

  /** Ends streams, revokes sessions (their ephemeral nodes go at once), closes the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const stream of [...this.streams]) stream.finish(null);
    await Promise.all([...this.sessions].map((session) => session.close()));
    this.closed = true;
    this.connection.close();
  }

  /** `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function serial(options: ReadOptions): { serializable?: true; minRevision?: number } {
  if (options.minRevision !== undefined) return { serializable: true, minRevision: options.minRevision };
  return options.serializable === true ? { serializable: true } : {};
}

/** Connects to an ensemble and waits until a member answers. */
export async function connect(options: ConnectOptions): Promise<Client> {
  const client = new Client(options);
  try {
    return await client.ready();
  } catch (error) {
    await client.close();
    if (error instanceof SynodError && error.code === 'timeout') {
      throw new SynodError('unavailable', `no member answered at ${options.endpoints.join(', ')}`, {}, { cause: error });
    }
    throw error;
  }
}
