// The one small interface between the workloads and the three systems. A Driver owns an ensemble of three
// member processes on loopback; a BenchClient is one client connection with exactly the operations the
// workloads need. Drivers stay thin: each maps these calls onto its system's own client and recipes.

/** The systems compared, in table order. */
export const systemNames = ['synod', 'etcd', 'zookeeper'] as const;
export type SystemName = (typeof systemNames)[number];

/** Which member(s) a client may talk to: one member by index (pinned) or the whole ensemble (failover). */
export type ClientTarget = { readonly kind: 'member'; readonly index: number } | { readonly kind: 'ensemble' };

/** Everything a client needs to connect, as plain data: it crosses into the session-holder child process. */
export interface ClientSpec {
  readonly system: SystemName;
  /** `host:port` of each member's client endpoint, in member order. */
  readonly endpoints: readonly string[];
}

/** A stop function for a watch. */
export type Unwatch = () => Promise<void>;

/** A held lock. */
export interface HeldLock {
  release(): Promise<void>;
}

/** Which read guarantee a get asks for. */
export type ReadMode = 'linearizable' | 'serializable';

/**
 * One client connection. Keys are absolute paths (`/bench/w1/k17`): Synod and ZooKeeper nodes, etcd keys.
 * Every operation either succeeds or throws; retries after a failover are the client library's own.
 */
export interface BenchClient {
  /** Makes sure `folder` exists (Synod and ZooKeeper need parents; etcd has none). */
  ensureFolder(folder: string): Promise<void>;
  /** Writes `value` at `key`, creating it if needed; resolves when the write is acknowledged (durable). */
  put(key: string, value: Uint8Array): Promise<void>;
  /** Creates `key` (which must not exist; its parent must) with `value`: the cheapest way to add a node. */
  create(key: string, value: Uint8Array): Promise<void>;
  /** Reads `key`; null when it does not exist. */
  get(key: string, mode: ReadMode): Promise<Uint8Array | null>;
  /**
   * Watches every key below `folder` (which exists); resolves once the watch is in place. `onChange` gets
   * each change (create or update) with the new value as soon as this client has it; `onDelete` each delete.
   */
  watchFolder(folder: string, handlers: { onChange(key: string, value: Uint8Array): void; onDelete(key: string): void }): Promise<Unwatch>;
  /** Acquires the mutex `name` with the system's standard waiting recipe (FIFO queue, watch predecessor). */
  lock(name: string): Promise<HeldLock>;
  /** Creates `key` owned by a new session/lease of `ttlMs` that this client keeps alive; returns the TTL granted. */
  createEphemeral(key: string, value: Uint8Array, ttlMs: number): Promise<{ grantedTtlMs: number }>;
  /**
   * Sets a watch on `key`; resolves once it is in place, with a promise that settles when the key is deleted
   * (at once if it does not exist).
   */
  watchDeletion(key: string): Promise<{ readonly deleted: Promise<void> }>;
  close(): Promise<void>;
}

/** What a driver records about the ensemble it runs, for the JSON and docs/performance.md. */
export interface EnsembleSettings {
  readonly version: string;
  /** The command line of member 1 (the others differ only in names, ports and directories). */
  readonly commandLine: string;
  /** Settings that bear on durability and timing, by name (defaults written out explicitly). */
  readonly settings: Readonly<Record<string, string | number | boolean>>;
  readonly notes: readonly string[];
}

/** An ensemble of three members of one system on 127.0.0.1, with data in a temp dir. */
export interface Driver {
  readonly system: SystemName;
  /** Installs what is missing, starts three members and waits until they have a leader. */
  start(): Promise<void>;
  /** Kills every member and removes its data. Idempotent. */
  stop(): Promise<void>;
  describe(): EnsembleSettings;
  clientSpec(): ClientSpec;
  /** A connected client (ensemble: all endpoints, with the library's failover). */
  connect(target?: ClientTarget): Promise<BenchClient>;
  /** The index (0-based) of the member that says it leads, asked of the members now; null when none does. */
  leader(): Promise<number | null>;
  /** kill -9 of one member; resolves when it has exited. */
  killMember(index: number): Promise<void>;
  /** Starts a killed member again with its data; resolves when it listens (not necessarily caught up). */
  restartMember(index: number): Promise<void>;
  /** Waits until every member is up and agrees on one leader. */
  waitHealthy(timeoutMs: number): Promise<void>;
  /** Process ids of the running members (for RSS), in member order; null for a member that is down. */
  memberPids(): ReadonlyArray<number | null>;
}
