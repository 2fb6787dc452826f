// The client protocol, shared by the server and the SDK (docs/protocol.md). Every WebSocket frame is a CBOR
// array of messages: requests from the client; responses and watch pushes from the server.

export const protocolVersion = 1;

export type NodeMode = 'persistent' | 'ephemeral' | 'container' | 'ttl';

/** A node's metadata, as ZooKeeper's Stat and etcd's KeyValue carry it. */
export interface NodeStat {
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly cversion: number;
  /** The lease or session that owns an ephemeral node, 0 otherwise. */
  readonly ephemeralOwner: number;
  readonly numChildren: number;
  readonly dataLength: number;
  readonly mode: NodeMode;
  readonly sequential: boolean;
  /** For TTL nodes: removed after this long without a change (when childless); else 0. */
  readonly ttlMs: number;
  /** Leader time (ms since the epoch) of the creating and the last data-changing write. */
  readonly ctimeMs: number;
  readonly mtimeMs: number;
}

export interface NodeData {
  readonly path: string;
  readonly data: Uint8Array;
  readonly stat: NodeStat;
}

/** Every response says which state it reflects. */
export interface ResponseHeader {
  readonly revision: number;
  readonly term: number;
  readonly member: string;
}

export type CompareTarget = 'exists' | 'version' | 'modRevision' | 'createRevision' | 'value';
export type CompareOperator = '=' | '!=' | '<' | '>';

/** A transaction guard; a missing node has version and revisions 0, and fails every `value` compare. */
export type Compare =
  | { readonly path: string; readonly target: 'exists'; readonly op: '=' | '!='; readonly value: boolean }
  | { readonly path: string; readonly target: 'version' | 'modRevision' | 'createRevision'; readonly op: CompareOperator; readonly value: number }
  | { readonly path: string; readonly target: 'value'; readonly op: CompareOperator; readonly value: Uint8Array };

export interface CreateOptions {
  readonly mode?: NodeMode;
  readonly sequential?: boolean;
  readonly parents?: boolean;
  /** Owner of an ephemeral node: a lease id, or 0/absent for the connection's session. */
  readonly leaseId?: number;
  readonly ttlMs?: number;
}

export type TxnOp =
  | ({ readonly op: 'create'; readonly path: string; readonly data: Uint8Array } & CreateOptions)
  | { readonly op: 'set'; readonly path: string; readonly data: Uint8Array; readonly expectedVersion?: number }
  | { readonly op: 'delete'; readonly path: string; readonly expectedVersion?: number; readonly recursive?: boolean }
  | { readonly op: 'get'; readonly path: string };

export type WatchScope = 'node' | 'children' | 'subtree';

export type EventType = 'create' | 'set' | 'delete';

export interface WatchEvent {
  readonly type: EventType;
  readonly path: string;
  readonly revision: number;
  /** Stat after the change (before it, for a delete). */
  readonly stat: NodeStat;
  readonly data: Uint8Array;
  /** On `set` events of watches that asked for it: the data before. */
  readonly prevData: Uint8Array | null;
}

interface RequestBase {
  readonly id: number;
  /** Linearizable by default; `serializable` answers from the member's own applied state... */
  readonly serializable?: boolean;
  /** ...once it has applied at least this revision (bounded wait). */
  readonly minRevision?: number;
}

/**
 * Writes carry a per-client sequence so a retried write applies once, and `ack`, the client's lowest sequence
 * still awaiting an answer, so the server can forget older answers (docs/protocol.md, idempotency).
 */
interface WriteBase extends RequestBase {
  readonly sequence?: number;
  readonly ack?: number;
}

export type Request =
  | (RequestBase & { readonly op: 'hello'; readonly version: number; readonly clientId: string })
  | (RequestBase & { readonly op: 'get'; readonly path: string })
  | (RequestBase & { readonly op: 'stat'; readonly path: string })
  | (RequestBase & { readonly op: 'children'; readonly path: string; readonly stats?: boolean })
  | (RequestBase & { readonly op: 'range'; readonly path: string; readonly limit?: number; readonly after?: string })
  | (WriteBase & { readonly op: 'create'; readonly path: string; readonly data: Uint8Array } & CreateOptions)
  | (WriteBase & { readonly op: 'set'; readonly path: string; readonly data: Uint8Array; readonly expectedVersion?: number })
  | (WriteBase & { readonly op: 'delete'; readonly path: string; readonly expectedVersion?: number; readonly recursive?: boolean })
  | (WriteBase & { readonly op: 'txn'; readonly compares: readonly Compare[]; readonly success: readonly TxnOp[]; readonly failure: readonly TxnOp[] })
  | (WriteBase & { readonly op: 'leaseGrant'; readonly ttlMs: number; readonly kind?: 'lease' | 'session' })
  | (WriteBase & { readonly op: 'leaseRevoke'; readonly leaseId: number })
  | (RequestBase & { readonly op: 'leaseKeepAlive'; readonly leaseId: number })
  | (RequestBase & { readonly op: 'leaseTimeToLive'; readonly leaseId: number; readonly keys?: boolean })
  | (RequestBase & { readonly op: 'leaseList' })
  | (RequestBase & {
      readonly op: 'watch';
      readonly path: string;
      readonly scope: WatchScope;
      /** Deliver events after this revision (0: from now). */
      readonly fromRevision?: number;
      /** First deliver the current state, then every event after it. */
      readonly initial?: boolean;
      /** End the stream after the first event (ZooKeeper-style). */
      readonly oneShot?: boolean;
      readonly prevData?: boolean;
    })
  | (RequestBase & { readonly op: 'watchCancel'; readonly watchId: number })
  | (RequestBase & { readonly op: 'sync' })
  /** Answers at once: a quiet connection's proof of life. */
  | (RequestBase & { readonly op: 'ping' })
  | (RequestBase & { readonly op: 'status' })
  | (RequestBase & { readonly op: 'members' })
  | (RequestBase & { readonly op: 'memberAdd'; readonly name: string; readonly peerUrl: string; readonly clientUrl: string; readonly learner?: boolean })
  | (RequestBase & { readonly op: 'memberPromote'; readonly name: string })
  | (RequestBase & { readonly op: 'memberRemove'; readonly name: string })
  | (RequestBase & { readonly op: 'moveLeader'; readonly name: string })
  | (WriteBase & { readonly op: 'compact'; readonly revision: number });

export type Op = Request['op'];

export interface ErrorBody {
  readonly code: string;
  readonly message: string;
  /** `no_leader`, `leader_changed`: the leader's name when known... */
  readonly leader?: string | null;
  /** ...and its client endpoint (`host:port`), so a client can move there. */
  readonly leaderEndpoint?: string | null;
  readonly compactRevision?: number;
  /** The failing operation of a transaction. */
  readonly opIndex?: number;
}

/** The answer to `hello`. */
export interface HelloResult {
  readonly member: string;
  readonly sessionTtlMinMs: number;
  readonly sessionTtlMaxMs: number;
  /** The leader this member knows of, with its client endpoint when registered. */
  readonly leader: string | null;
  readonly leaderEndpoint: string | null;
  /** The largest frame the member accepts: the SDK never sends a bigger one (it refuses a request that alone is). */
  readonly requestBytesMax?: number;
}

export type Response =
  | { readonly id: number; readonly ok: true; readonly header: ResponseHeader; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly header?: ResponseHeader; readonly error: ErrorBody };

/** Server-initiated messages on a watch stream. */
export type WatchPush =
  | { readonly watch: number; readonly events: readonly WatchEvent[]; readonly revision: number }
  | { readonly watch: number; readonly progress: number }
  /** The initial state of a watch with `initial`, as of `revision` (may come in several parts). */
  | { readonly watch: number; readonly snapshot: readonly NodeData[]; readonly revision: number; readonly done: boolean }
  | { readonly watch: number; readonly canceled: ErrorBody };

export type ServerMessage = Response | WatchPush;

export interface MemberInfo {
  readonly name: string;
  readonly peerUrl: string;
  readonly clientUrl: string;
  readonly learner: boolean;
}

export interface StatusResult {
  readonly member: string;
  readonly role: string;
  readonly term: number;
  readonly leader: string | null;
  readonly commit: number;
  readonly applied: number;
  readonly revision: number;
  readonly members: readonly MemberInfo[];
  readonly dbBytes: number;
}
