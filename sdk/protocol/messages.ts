// The client protocol, shared by the server and the SDK (docs/protocol.md). Every WebSocket frame is a CBOR
// array of messages: requests from the client; responses and watch pushes from the server.

/** The protocol version a client names in `hello`; a member answers any other with `bad_request`. */
export const protocolVersion = 1;

/**
 * How a node lives: `persistent` until deleted; `ephemeral` deleted when its owning lease or session ends, and
 * never has children; `container` deleted when its last child is deleted; `ttl` deleted by the leader's
 * periodic sweep once childless and without a data change for its `ttlMs`.
 */
export type NodeMode = 'persistent' | 'ephemeral' | 'container' | 'ttl';

/** A node's metadata, as ZooKeeper's Stat and etcd's KeyValue carry it. */
export interface NodeStat {
  /** The revision of the write that created the node. */
  readonly createRevision: number;
  /** The revision of the last write that changed its data (createRevision until one does). */
  readonly modRevision: number;
  /** Number of data changes since creation (0 after create): what `expectedVersion` is compared with. */
  readonly version: number;
  /** Number of child creations and deletions since creation. */
  readonly cversion: number;
  /** The lease or session that owns an ephemeral node, 0 otherwise. */
  readonly ephemeralOwner: number;
  /** Number of direct children. */
  readonly numChildren: number;
  /** Size of the data, in bytes. */
  readonly dataLength: number;
  readonly mode: NodeMode;
  /** The name was given a sequence suffix by the parent's counter. */
  readonly sequential: boolean;
  /** For TTL nodes: removed after this long without a data change (when childless); else 0. */
  readonly ttlMs: number;
  /**
   * Time of the creating write, ms since the epoch: the wall clock of the member that took the write (the
   * leader, unless a follower forwarded it), never earlier than an earlier write's.
   */
  readonly ctimeMs: number;
  /** The same for the last write that changed the data (ctimeMs until one does). */
  readonly mtimeMs: number;
}

/** A node as reads return it. */
export interface NodeData {
  /** Its absolute path. */
  readonly path: string;
  readonly data: Uint8Array;
  readonly stat: NodeStat;
}

/** Every response says which state it reflects. */
export interface ResponseHeader {
  /**
   * For a write, the revision right after it applied (its own revision when it changed the tree); otherwise
   * the answering member's applied revision when it answered.
   */
  readonly revision: number;
  /** The answering member's Raft term. */
  readonly term: number;
  /** The answering member's name. */
  readonly member: string;
}

/** What a compare tests: existence (a boolean), `version`, `modRevision`, `createRevision` (numbers), or the data. */
export type CompareTarget = 'exists' | 'version' | 'modRevision' | 'createRevision' | 'value';
/** `exists` takes only `=` and `!=`; `value` compares data as unsigned bytes, lexicographically. */
export type CompareOperator = '=' | '!=' | '<' | '>';

/** A transaction guard; a missing node has version and revisions 0, and fails every `value` compare. */
export type Compare =
  | { readonly path: string; readonly target: 'exists'; readonly op: '=' | '!='; readonly value: boolean }
  | { readonly path: string; readonly target: 'version' | 'modRevision' | 'createRevision'; readonly op: CompareOperator; readonly value: number }
  | { readonly path: string; readonly target: 'value'; readonly op: CompareOperator; readonly value: Uint8Array };

/** How a node is created (the `create` request, and `create` operations of a transaction). */
export interface CreateOptions {
  /** Default `persistent`. */
  readonly mode?: NodeMode;
  /** Append the parent's next 10-digit sequence number to the name; the answer carries the full path. */
  readonly sequential?: boolean;
  /** Create missing ancestors as persistent nodes; without it a missing parent fails with `not_found`. */
  readonly parents?: boolean;
  /**
   * Owner of an ephemeral node: a positive lease or session id, required for (and only for) mode `ephemeral`
   * (`bad_request` otherwise; `lease_not_found` when the lease is gone). `Client.create` fills in its default
   * session when none is given; a transaction must name one.
   */
  readonly leaseId?: number;
  /** Required for (and only for) mode `ttl`, in ms (`bad_request` otherwise). */
  readonly ttlMs?: number;
}

/**
 * An operation of a transaction branch, with the fields of the request of the same name: `expectedVersion`
 * fails it with `bad_version` unless the node's version is that; `recursive` deletes the whole subtree (without
 * it a node with children fails with `not_empty`). A `get` sees the branch's earlier operations and gives a null
 * node, not a failure, when the node is missing. An operation that fails fails the whole transaction with its
 * code and `opIndex`, and nothing of it applies.
 */
export type TxnOp =
  | ({ readonly op: 'create'; readonly path: string; readonly data: Uint8Array } & CreateOptions)
  | { readonly op: 'set'; readonly path: string; readonly data: Uint8Array; readonly expectedVersion?: number }
  | { readonly op: 'delete'; readonly path: string; readonly expectedVersion?: number; readonly recursive?: boolean }
  | { readonly op: 'get'; readonly path: string };

/** What a watch covers: the node itself, its direct children (not the node), or the node and all below it. */
export type WatchScope = 'node' | 'children' | 'subtree';

/** A node created, its data set, or the node deleted. */
export type EventType = 'create' | 'set' | 'delete';

/** One change of one node. */
export interface WatchEvent {
  readonly type: EventType;
  /** The node that changed. */
  readonly path: string;
  /** The revision of the change; every event of one write has the same. */
  readonly revision: number;
  /** Stat after the change (before it, for a delete). */
  readonly stat: NodeStat;
  /** The data after the change (the deleted data, for a delete). */
  readonly data: Uint8Array;
  /** On `set` events of watches that asked for it: the data before. */
  readonly prevData: Uint8Array | null;
}

interface RequestBase {
  /** Non-zero, unique among the connection's pending requests; the answer carries it. */
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

/** A client request (docs/protocol.md lists each op's result). */
export type Request =
  /** Sent first on a connection: `version` is protocolVersion; `clientId` (1 to 128 characters) names the client. */
  | (RequestBase & { readonly op: 'hello'; readonly version: number; readonly clientId: string })
  /** `{ node }`; `not_found` when absent. */
  | (RequestBase & { readonly op: 'get'; readonly path: string })
  /** `{ stat }`; `not_found` when absent. */
  | (RequestBase & { readonly op: 'stat'; readonly path: string })
  /** `{ names, stats }`: names sorted; with `stats`, their stats in the same order (else null). */
  | (RequestBase & { readonly op: 'children'; readonly path: string; readonly stats?: boolean })
  /**
   * `{ nodes, more }`: up to `limit` nodes (default 1000, at most the member's rangeLimitMax, 10 000 by default)
   * of the subtree in pre-order, the node first, or the ones after the path `after`.
   */
  | (RequestBase & { readonly op: 'range'; readonly path: string; readonly limit?: number; readonly after?: string })
  | (WriteBase & { readonly op: 'create'; readonly path: string; readonly data: Uint8Array } & CreateOptions)
  | (WriteBase & { readonly op: 'set'; readonly path: string; readonly data: Uint8Array; readonly expectedVersion?: number })
  | (WriteBase & { readonly op: 'delete'; readonly path: string; readonly expectedVersion?: number; readonly recursive?: boolean })
  /** If every compare holds, run `success`, else `failure`; all or nothing, at one revision. */
  | (WriteBase & { readonly op: 'txn'; readonly compares: readonly Compare[]; readonly success: readonly TxnOp[]; readonly failure: readonly TxnOp[] })
  /**
   * `kind` defaults to `lease`. A lease's `ttlMs` may be up to leaseTtlMsMax (7 days by default); a session's is
   * clamped into the member's session bounds (see HelloResult).
   */
  | (WriteBase & { readonly op: 'leaseGrant'; readonly ttlMs: number; readonly kind?: 'lease' | 'session' })
  /** Ends the lease and deletes its nodes; `lease_not_found` when unknown. */
  | (WriteBase & { readonly op: 'leaseRevoke'; readonly leaseId: number })
  /** Renews the lease for its full TTL; `session_expired` when the leader does not know it. */
  | (RequestBase & { readonly op: 'leaseKeepAlive'; readonly leaseId: number })
  /** With `keys`, also the paths of the lease's nodes; `lease_not_found` when unknown. */
  | (RequestBase & { readonly op: 'leaseTimeToLive'; readonly leaseId: number; readonly keys?: boolean })
  | (RequestBase & { readonly op: 'leaseList' })
  /**
   * Answered `{ watchId }`, then WatchPushes. Refused with `compacted` (and `compactRevision`) when `fromRevision`
   * is older than the kept history and `initial` is not set.
   */
  | (RequestBase & {
      readonly op: 'watch';
      readonly path: string;
      readonly scope: WatchScope;
      /** Deliver events from this revision on, inclusive (0: from the next revision). */
      readonly fromRevision?: number;
      /**
       * First deliver the current state, then every event after it. With a `fromRevision` whose history is still
       * kept, that history is replayed instead.
       */
      readonly initial?: boolean;
      /** End the stream after the first event (ZooKeeper-style). */
      readonly oneShot?: boolean;
      /** Include the data before the change on `set` events. */
      readonly prevData?: boolean;
    })
  /** `{ canceled }`: whether the watch existed. */
  | (RequestBase & { readonly op: 'watchCancel'; readonly watchId: number })
  /** Answered once this member has applied everything committed when it asked (a ReadIndex round). */
  | (RequestBase & { readonly op: 'sync' })
  /** Answers at once: a quiet connection's proof of life. */
  | (RequestBase & { readonly op: 'ping' })
  | (RequestBase & { readonly op: 'status' })
  | (RequestBase & { readonly op: 'members' })
  /** Adds a member as a learner (promote it to voter once it caught up, as etcd does); the leader only. */
  | (RequestBase & { readonly op: 'memberAdd'; readonly name: string; readonly peerUrl: string; readonly clientUrl: string })
  | (RequestBase & { readonly op: 'memberPromote'; readonly name: string })
  | (RequestBase & { readonly op: 'memberRemove'; readonly name: string })
  | (RequestBase & { readonly op: 'moveLeader'; readonly name: string })
  /** Drops watch history before `revision`: `bad_request` for a future one, `compacted` if already dropped. */
  | (WriteBase & { readonly op: 'compact'; readonly revision: number });

/** The name of a request type. */
export type Op = Request['op'];

/** Why a request failed (or a watch ended). */
export interface ErrorBody {
  /** A stable code (SynodErrorCode). */
  readonly code: string;
  /** For people; not stable. */
  readonly message: string;
  /** `no_leader`, `leader_changed`: the leader's name when known... */
  readonly leader?: string | null;
  /** ...and its client endpoint (`host:port`), so a client can move there. */
  readonly leaderEndpoint?: string | null;
  /** With `compacted`: the oldest revision still kept. */
  readonly compactRevision?: number;
  /** The failing operation of a transaction. */
  readonly opIndex?: number;
}

/** The answer to `hello`. */
export interface HelloResult {
  /** The answering member's name. */
  readonly member: string;
  /** The shortest session TTL it grants, in ms: a shorter one asked for is raised to it. */
  readonly sessionTtlMinMs: number;
  /** The longest session TTL it grants, in ms: a longer one asked for is lowered to it. */
  readonly sessionTtlMaxMs: number;
  /** The leader this member knows of, with its client endpoint when registered. */
  readonly leader: string | null;
  /** Null when no leader is known or it has not registered its client endpoint. */
  readonly leaderEndpoint: string | null;
  /** The largest frame the member accepts: the SDK never sends a bigger one (it refuses a request that alone is). */
  readonly requestBytesMax?: number;
  /** The client endpoints of the cluster's members (voters and learners) as this member knows them. */
  readonly endpoints?: readonly string[];
}

/** The answer to the request with the same `id`: a result (its shape depends on the op) or an error. */
export type Response =
  | { readonly id: number; readonly ok: true; readonly header: ResponseHeader; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly header?: ResponseHeader; readonly error: ErrorBody };

/** Server-initiated messages on a watch stream. */
export type WatchPush =
  /** Events in revision order, every event of a revision in one push; `revision` is the last event's. */
  | { readonly watch: number; readonly events: readonly WatchEvent[]; readonly revision: number }
  /** An idle stream: nothing it covers changed since its last push, up to this revision. */
  | { readonly watch: number; readonly progress: number }
  /** The initial state of a watch with `initial`, as of `revision` (may come in several parts). */
  | { readonly watch: number; readonly snapshot: readonly NodeData[]; readonly revision: number; readonly done: boolean }
  /** The member ended the stream (`unavailable` after installing a snapshot): resume after the last revision seen. */
  | { readonly watch: number; readonly canceled: ErrorBody };

/**
 * The client endpoints of the cluster's members, pushed to every connection that said hello whenever the
 * membership or a member's address changes, so a long-lived client follows the cluster as it changes.
 */
export interface EndpointsPush {
  readonly endpoints: readonly string[];
}

/** A message in a server frame: an answer, a watch push or the members' endpoints. */
export type ServerMessage = Response | WatchPush | EndpointsPush;

/** A lease or session, as `leaseList` and `leaseTimeToLive` describe it. */
export interface LeaseInfo {
  readonly leaseId: number;
  /** Its TTL in ms (a session's as negotiated). */
  readonly ttlMs: number;
  readonly kind: 'lease' | 'session';
  /** For a session, the id of the client that holds it; '' for a lease. */
  readonly clientId: string;
}

/** A member, as the replicated member registry has it. */
export interface MemberInfo {
  /** Its name (its Raft id). */
  readonly name: string;
  /** Where its peers reach it. */
  readonly peerUrl: string;
  /** Where clients reach it; '' while unknown (a member registers its own once it runs). */
  readonly clientUrl: string;
  /** A learner receives the log but does not vote. */
  readonly learner: boolean;
}

/** The answer to `status`: the answering member's view. */
export interface StatusResult {
  /** The answering member's name. */
  readonly member: string;
  /** Its Raft role: `follower`, `preCandidate`, `candidate` or `leader`. */
  readonly role: string;
  /** Its current term. */
  readonly term: number;
  /** The leader it knows of, or null. */
  readonly leader: string | null;
  /** Its Raft commit index. */
  readonly commit: number;
  /** The last log index it applied. */
  readonly applied: number;
  /** Its applied revision. */
  readonly revision: number;
  /** The names of the voting members, and of the learners, in its Raft configuration. */
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  /** The member registry, as `members` answers it, each with whether it votes. */
  readonly members: readonly (MemberInfo & { readonly voter: boolean })[];
  /** The first and last index of its log (entries below the first are in its snapshot). */
  readonly firstIndex: number;
  readonly lastIndex: number;
  /** The space its data takes on disk: the WAL's preallocated segments and its newest snapshot, in bytes. */
  readonly dbBytes: number;
}
