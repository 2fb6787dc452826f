// Client requests: validated, then served from applied state (reads), through the log (writes), or by the
// watch hub and lease keeper. Every answer carries a header; every failure a stable code. A bad request
// is answered and affects nothing else on the connection or the member.

import { commandProblem, metaProblem, type Command, type CommandError, type LeaseId, type WatchFilter } from '../state/index.ts';
import type { ClientConnection, ClientHandler } from '../transport/client.ts';
import type { EndpointsPush, ErrorBody, HelloResult, ResponseHeader } from '../../sdk/protocol/messages.ts';
import { protocolVersion } from '../../sdk/protocol/messages.ts';
import { nodeId } from '../raft/types.ts';
import { backupSteps } from './backup.ts';
import { hostPort, peerUrlOf } from './config.ts';
import { RuntimeError, type ErrorCode } from './errors.ts';
import type { Member } from './member.ts';

interface ConnectionState {
  clientId: string;
  inFlight: number;
  /** The members' endpoints this client last heard of, joined by spaces (empty before its hello). */
  endpoints: string;
}

type Fields = Record<string, unknown>;

/** Errors of the state machine that clients see under the same code. */
const machineCodes = new Set<string>(['not_found', 'exists', 'bad_version', 'not_empty', 'invalid_path', 'value_too_large', 'lease_not_found', 'compacted', 'bad_request', 'stale_sequence', 'no_children_for_ephemerals']);

export class RequestHandler implements ClientHandler {
  private readonly states = new Map<ClientConnection, ConnectionState>();

  constructor(private readonly member: Member) {}

  open(connection: ClientConnection): void {
    this.states.set(connection, { clientId: '', inFlight: 0, endpoints: '' });
    this.member.metrics.connections.inc();
  }

  close(connection: ClientConnection): void {
    this.states.delete(connection);
    this.member.hub.closeConnection(connection);
    this.member.metrics.connections.dec();
  }

  request(connection: ClientConnection, raw: unknown): void {
    const state = this.states.get(connection);
    if (state === undefined) return;
    const request = raw as Fields;
    const id = typeof request?.['id'] === 'number' ? request['id'] : 0;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || typeof request['op'] !== 'string' || id === 0) {
      this.fail(connection, id, new RuntimeError('bad_request', 'a request is a map with a numeric id and an op'));
      return;
    }
    if (state.inFlight >= this.member.config.limits.requestsInFlightPerConnectionMax) {
      this.fail(connection, id, new RuntimeError('too_many_requests', 'too many requests in flight on this connection'));
      return;
    }
    const op = request['op'] as string;
    this.member.metrics.request(op);
    state.inFlight++;
    this.serve(connection, state, op, request)
      .then((result) => {
        if (result === noAnswer) return;
        if (result instanceof AtRevision) connection.push({ id, ok: true, header: this.header(result.revision), result: result.result });
        else connection.push({ id, ok: true, header: this.header(), result });
      })
      .catch((error: unknown) => this.fail(connection, id, error))
      .finally(() => state.inFlight--);
  }

  private header(revision: number = this.member.app.machine.revision): ResponseHeader {
    const raft = this.member.consensus.status();
    return { revision, term: raft.term, member: this.member.config.name };
  }

  private fail(connection: ClientConnection, id: number, error: unknown): void {
    const body = toErrorBody(error, (leader) => this.member.clientEndpointOf(leader));
    this.member.metrics.error(body.code);
    connection.push({ id, ok: false, header: this.header(), error: body });
  }

  private async serve(connection: ClientConnection, state: ConnectionState, op: string, r: Fields): Promise<unknown> {
    const member = this.member;
    switch (op) {
      case 'hello':
        return this.hello(state, r);
      case 'get':
      case 'stat':
      case 'exists':
        await this.readBarrier(r);
        return this.read(machineResult(member.app.machine[op](str(r, 'path'))));
      case 'children':
        await this.readBarrier(r);
        return this.read(machineResult(member.app.machine.children(str(r, 'path'), r['stats'] === true)));
      case 'range':
        await this.readBarrier(r);
        return this.read(machineResult(member.app.machine.range(str(r, 'path'), optionalNumber(r, 'limit') ?? 1000, optionalString(r, 'after'))));
      case 'leaseTimeToLive': {
        await this.readBarrier(r);
        const leaseId = num(r, 'leaseId');
        const result = machineResult(member.app.machine.leaseTimeToLive(leaseId as LeaseId, r['keys'] === true));
        return this.read({ ...result, remainingMs: member.keeper.remainingMs(leaseId) });
      }
      case 'leaseList':
        await this.readBarrier(r);
        return this.read(member.app.machine.leaseList());
      case 'create':
      case 'set':
      case 'delete':
      case 'txn':
      case 'leaseGrant':
      case 'leaseRevoke':
      case 'compact':
        return this.write(state, op, r);
      case 'leaseKeepAlive':
        return this.keepAlive(r);
      case 'watch':
        return this.watch(connection, r);
      case 'watchCancel':
        return { canceled: member.hub.cancel(connection, num(r, 'watchId')) };
      case 'ping':
        // A member cut off from the others (or removed without learning it) still answers: saying it knows
        // no leader lets a client whose streams went quiet move to a member that makes progress.
        if (member.consensus.leader === null) throw new RuntimeError('no_leader', 'this member knows no leader', { leader: null });
        return {};
      case 'sync':
        await member.consensus.linearizable();
        return { applied: member.consensus.applied };
      case 'status':
        return member.status();
      case 'members':
        await this.readBarrier(r);
        return member.status().members;
      case 'memberAdd':
        return this.memberAdd(r);
      case 'memberPromote':
        return this.memberPromote(str(r, 'name'));
      case 'memberRemove':
        return this.memberRemove(str(r, 'name'));
      case 'moveLeader':
        return this.moveLeader(str(r, 'name'));
      default:
        throw new RuntimeError('bad_request', `unknown op "${op}"`);
    }
  }

  /**
   * Linearizable unless the request asks for a serializable (local, possibly stale) read; a serializable read
   * with `minRevision` waits until this member has applied that revision (read-your-writes without a
   * ReadIndex round).
   */
  private async readBarrier(r: Fields): Promise<void> {
    if (r['serializable'] !== true) {
      await this.member.consensus.linearizable();
      return;
    }
    const minRevision = optionalNumber(r, 'minRevision');
    if (minRevision !== undefined) await this.member.revisions.reach(minRevision, this.member.config.proposalTimeoutMs);
  }

  /** A read's result, with the revision of the state it was read from (taken in the same turn). */
  private read(result: unknown): AtRevision {
    return new AtRevision(result, this.member.app.machine.revision);
  }

  /** Names the client, whose id makes its sequenced writes idempotent. */
  private hello(state: ConnectionState, r: Fields): Promise<unknown> {
    if (r['version'] !== protocolVersion) throw new RuntimeError('bad_request', `protocol version ${String(r['version'])} is not ${protocolVersion}`);
    const clientId = str(r, 'clientId');
    if (clientId.length === 0 || clientId.length > 128) throw new RuntimeError('bad_request', 'clientId must be 1 to 128 characters');
    state.clientId = clientId;
    const { sessionTtlMinMs, sessionTtlMaxMs } = this.member.config;
    const leader = this.member.consensus.leader;
    const endpoints = this.memberEndpoints();
    state.endpoints = endpoints.join(' ');
    const hello: HelloResult = {
      member: this.member.config.name,
      sessionTtlMinMs,
      sessionTtlMaxMs,
      leader,
      leaderEndpoint: this.member.clientEndpointOf(leader),
      requestBytesMax: this.member.config.limits.requestBytesMax,
      endpoints,
    };
    return Promise.resolve(hello);
  }

  /** The client endpoints of the members in the configuration, so clients follow the cluster as it changes. */
  private memberEndpoints(): string[] {
    const { voters, learners } = this.member.consensus.status().confState;
    return [...voters, ...learners].map((name) => this.member.clientEndpointOf(name)).filter((url): url is string => url !== null);
  }

  /**
   * Tells every client that said hello the members' endpoints when they changed (a member added, removed or
   * registering its address): a client connected to one member for a long time otherwise knows only the
   * members of its last hello, and all of those may be gone by the time its member goes too.
   */
  announceEndpoints(): void {
    if (this.states.size === 0) return; // nobody to tell (a member recovering its log has no clients yet)
    const endpoints = this.memberEndpoints();
    if (endpoints.length === 0) return;
    const key = endpoints.join(' ');
    const push: EndpointsPush = { endpoints };
    for (const [connection, state] of this.states) {
      if (state.clientId === '' || state.endpoints === key) continue;
      state.endpoints = key;
      connection.push(push);
    }
  }

  private async write(state: ConnectionState, op: string, r: Fields): Promise<unknown> {
    const command = commandFrom(op, r);
    if (op === 'leaseGrant') {
      // A session is a lease its client keeps alive by heartbeats; its TTL is negotiated into the bounds.
      const kind = r['kind'] === 'session' ? 'session' : 'lease';
      const { sessionTtlMinMs, sessionTtlMaxMs } = this.member.config;
      const ttlMs = kind === 'session' ? Math.min(sessionTtlMaxMs, Math.max(sessionTtlMinMs, num(r, 'ttlMs'))) : num(r, 'ttlMs');
      Object.assign(command, { leaseId: 0, ttlMs, kind });
    }
    return this.propose(state, command, optionalNumber(r, 'sequence') ?? 0);
  }

  private async propose(state: ConnectionState, body: Fields, sequence: number): Promise<unknown> {
    // A write without a sequence is not deduplicated: the connection's client id applies only with one.
    const command = { ...body, clientId: sequence > 0 ? state.clientId : '', sequence, timeMs: this.member.wallTimeMs() } as unknown as Command;
    const config = this.member.app.machine.config;
    const problem = metaProblem(command, config) ?? commandProblem(command, config);
    if (problem !== null) throw new RuntimeError('bad_request', problem);
    // Refused here rather than when applied, so an oversized value is never replicated and fsynced first.
    const oversized = oversizedData(body, config.dataBytesMax);
    if (oversized !== null) throw new RuntimeError('value_too_large', `${oversized} is larger than ${config.dataBytesMax} bytes`);
    const applied = (await this.member.consensus.propose(command)) as { revision: number; result: { ok: boolean } };
    return new AtRevision(machineResult(applied.result as CommandError), applied.revision);
  }

  private async keepAlive(r: Fields): Promise<unknown> {
    const leaseId = num(r, 'leaseId');
    const ttlMs = await this.member.keepAlives.renew(leaseId);
    if (ttlMs === null) throw new RuntimeError('session_expired', `lease ${leaseId} has expired or never existed`);
    return { leaseId, ttlMs };
  }

  private watch(connection: ClientConnection, r: Fields): Promise<unknown> {
    const member = this.member;
    if (member.hub.watchCount(connection) >= member.config.limits.watchesPerConnectionMax) {
      throw new RuntimeError('too_many_requests', `at most ${member.config.limits.watchesPerConnectionMax} watches per connection`);
    }
    const scope = r['scope'] ?? 'node';
    if (scope !== 'node' && scope !== 'children' && scope !== 'subtree') throw new RuntimeError('bad_request', 'scope must be node, children or subtree');
    const path = str(r, 'path');
    const problem = member.app.machine.get(path);
    if (!problem.ok && problem.code === 'invalid_path') throw new RuntimeError('invalid_path', problem.message);
    const filter: WatchFilter = { kind: scope, path };
    const id = Number(r['id']);
    // The answer must reach the client before the replayed events: it is pushed from inside add().
    const result = member.hub.add(
      connection,
      { filter, fromRevision: optionalNumber(r, 'fromRevision') ?? 0, initial: r['initial'] === true, oneShot: r['oneShot'] === true, prevData: r['prevData'] === true },
      (watchId) => connection.push({ id, ok: true, header: this.header(), result: { watchId } }),
    );
    if (result !== null) {
      throw new RuntimeError('compacted', `revision ${String(r['fromRevision'])} was compacted; the oldest kept is ${result.compacted}`, { compactRevision: result.compacted });
    }
    return Promise.resolve(noAnswer);
  }

  /** Adds a member as a learner (it receives the log, does not vote): its address first, then the change. */
  private async memberAdd(r: Fields): Promise<unknown> {
    const name = str(r, 'name');
    const { voters, learners } = this.member.consensus.status().confState;
    if (voters.includes(nodeId(name)) || learners.includes(nodeId(name))) throw new RuntimeError('exists', `member ${name} already exists`);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new RuntimeError('bad_request', 'a member name is 1 to 64 letters, digits, dots, dashes or underscores');
    const peerUrl = peerUrlOf(str(r, 'peerUrl'));
    const clientUrl = optionalString(r, 'clientUrl') ?? '';
    if (clientUrl !== '') hostPort(clientUrl); // host:port, or bad_request
    this.requireLeader();
    await this.member.proposeInternal({ op: 'memberSet', name, peerUrl, clientUrl });
    await this.member.consensus.proposeConfChange({ type: 'addLearner', node: nodeId(name) });
    return { added: name, learner: true };
  }

  /** Makes a learner a voter; answered once the change applied (a quorum holds it). Idempotent. */
  private async memberPromote(name: string): Promise<unknown> {
    const { voters, learners } = this.member.consensus.status().confState;
    if (voters.includes(nodeId(name))) return { promoted: name };
    if (!learners.includes(nodeId(name))) throw new RuntimeError('not_found', `member ${name} is not a learner of the cluster`);
    this.requireLeader();
    await this.member.consensus.proposeConfChange({ type: 'addVoter', node: nodeId(name) });
    return { promoted: name };
  }

  /** Removes a member; answered once the change applied. The removed member is told and stops. */
  private async memberRemove(name: string): Promise<unknown> {
    const { voters, learners } = this.member.consensus.status().confState;
    if (!voters.includes(nodeId(name)) && !learners.includes(nodeId(name))) throw new RuntimeError('not_found', `member ${name} is not in the cluster`);
    this.requireLeader();
    await this.member.consensus.proposeConfChange({ type: 'removeNode', node: nodeId(name) });
    return { removed: name };
  }

  /** Membership changes are decided by the leader: elsewhere, a no_leader answer names where to go. */
  private requireLeader(): void {
    const consensus = this.member.consensus;
    if (consensus.role !== 'leader') throw new RuntimeError('no_leader', 'membership changes go to the leader', { leader: consensus.leader });
  }

  private async moveLeader(name: string): Promise<unknown> {
    const consensus = this.member.consensus;
    if (consensus.role !== 'leader') throw new RuntimeError('no_leader', 'moveLeader must reach the leader', { leader: consensus.leader });
    consensus.transferLeadership(nodeId(name));
    const clock = this.member.clock;
    const deadline = clock.now() + this.member.config.tickMs * this.member.config.electionTicks * 2;
    while (consensus.leader !== name && clock.now() < deadline) {
      await new Promise<void>((resolve) => clock.setTimeout(resolve, this.member.config.tickMs));
    }
    if (consensus.leader !== name) throw new RuntimeError('timeout', `leadership did not move to ${name}`);
    return { leader: name };
  }

  // HTTP gateway: the same requests, JSON in and out, one at a time.
  async http(request: unknown): Promise<{ status: number; body: unknown }> {
    const fields = fromJson(request as Fields);
    return new Promise((resolve) => {
      const connection: ClientConnection = {
        id: 0,
        open: true,
        push: (message) => {
          const m = message as { ok: boolean; error?: ErrorBody };
          resolve({ status: m.ok ? 200 : httpStatus(m.error?.code ?? 'internal'), body: message });
        },
      };
      this.open(connection);
      if (fields['op'] === 'watch') {
        connection.push({ id: 1, ok: false, error: { code: 'bad_request', message: 'watches need the WebSocket endpoint' } });
      } else {
        this.request(connection, fields);
      }
      void Promise.resolve().then(() => this.close(connection));
    });
  }

  health(): { status: number; body: unknown } {
    const raft = this.member.consensus.status();
    const lag = raft.commit - this.member.consensus.applied;
    const healthy = raft.leader !== null && lag < 1000;
    return { status: healthy ? 200 : 503, body: { healthy, leader: raft.leader, commit: raft.commit, applied: this.member.consensus.applied } };
  }

  status(): unknown {
    return this.member.status();
  }

  /** The whole state as a backup file, at a linearizable point (everything committed before the call is in it). */
  async backup(): Promise<Uint8Array> {
    await this.member.consensus.linearizable();
    return this.member.consensus.captureState(backupSteps(this.member.app, this.member.config.name, new Date(this.member.wallTimeMs())));
  }

  async metrics(): Promise<string> {
    const member = this.member;
    const raft = member.consensus.status();
    member.metrics.term.set(raft.term);
    member.metrics.commit.set(raft.commit);
    member.metrics.appliedIndex.set(member.consensus.applied);
    member.metrics.revision.set(member.app.machine.revision);
    return member.metrics.registry.metrics();
  }
}

/**
 * A result with the revision it reflects, for the header: a write's commit revision, a read's state. The
 * answer goes out later, when more may have applied: a header naming that later revision would tell a client
 * that a read saw changes it did not (a waiter watching from there would miss a deletion).
 */
class AtRevision {
  constructor(
    readonly result: unknown,
    readonly revision: number,
  ) {}
}

/** A watch answers from inside the hub; the request path then sends nothing more. */
const noAnswer = Symbol('noAnswer');

function commandFrom(op: string, r: Fields): Fields {
  const out: Fields = { op };
  for (const key of ['path', 'data', 'expectedVersion', 'recursive', 'mode', 'sequential', 'parents', 'leaseId', 'ttlMs', 'compares', 'success', 'failure', 'revision']) {
    if (r[key] !== undefined) out[key] = r[key];
  }
  if (op === 'create') {
    out['mode'] ??= 'persistent';
    out['sequential'] ??= false;
    out['parents'] ??= false;
    out['data'] ??= new Uint8Array(0);
  }
  if (op === 'delete') out['recursive'] ??= false;
  if (op === 'txn') {
    for (const branch of ['success', 'failure'] as const) {
      const ops = Array.isArray(out[branch]) ? (out[branch] as Fields[]) : [];
      out[branch] = ops.map((o) => (o !== null && typeof o === 'object' && o['op'] !== 'get' ? commandFrom(String(o['op']), o) : o));
    }
    out['compares'] ??= [];
  }
  return out;
}

/** Which data of a write (shape already checked) is over `max`, or null. */
function oversizedData(command: Fields, max: number): string | null {
  const tooBig = (op: Fields): boolean => op['data'] instanceof Uint8Array && op['data'].length > max;
  if (tooBig(command)) return 'data';
  if (command['op'] !== 'txn') return null;
  for (const branch of ['success', 'failure'] as const) {
    const i = (command[branch] as Fields[]).findIndex(tooBig);
    if (i >= 0) return `the data of ${branch}[${i}]`;
  }
  return null;
}

function machineResult<T>(result: T | CommandError): T {
  const r = result as { ok?: boolean } & Partial<CommandError>;
  if (r.ok === false) {
    const code = machineCodes.has(r.code!) ? (r.code as ErrorCode) : 'bad_request';
    const details = { ...(r.oldestRevision === undefined ? {} : { compactRevision: r.oldestRevision }), ...(r.opIndex === undefined ? {} : { opIndex: r.opIndex }) };
    throw new RuntimeError(code, r.message ?? code, details);
  }
  return result as T;
}

function toErrorBody(error: unknown, endpointOf: (leader: string | null) => string | null): ErrorBody {
  if (error instanceof RuntimeError) {
    const { leader, compactRevision, opIndex } = error.details;
    return {
      code: error.code,
      message: error.message,
      ...(leader !== undefined ? { leader, leaderEndpoint: endpointOf(leader) } : {}),
      ...(compactRevision !== undefined ? { compactRevision } : {}),
      ...(opIndex !== undefined ? { opIndex } : {}),
    };
  }
  return { code: 'internal', message: error instanceof Error ? error.message : String(error) };
}

function httpStatus(code: string): number {
  switch (code) {
    case 'not_found':
    case 'lease_not_found':
      return 404;
    case 'exists':
    case 'bad_version':
    case 'not_empty':
      return 409;
    case 'value_too_large':
      return 413;
    case 'too_many_requests':
      return 429;
    case 'unauthenticated':
      return 401;
    case 'no_leader':
    case 'leader_changed':
    case 'unavailable':
      return 503;
    case 'timeout':
      return 504;
    case 'internal':
      return 500;
    default:
      return 400;
  }
}

/**
 * The gateway takes `value` (UTF-8 text) or `data` (base64) for node data: in the request, in each operation
 * of a transaction, and for the bytes of a `value` compare (JSON has no byte strings).
 */
function fromJson(r: Fields): Fields {
  const out = dataFromJson(r);
  for (const branch of ['success', 'failure'] as const) {
    const ops = r[branch];
    if (Array.isArray(ops)) out[branch] = ops.map((o: unknown) => (isFields(o) ? dataFromJson(o) : o));
  }
  const compares = r['compares'];
  if (Array.isArray(compares)) {
    out['compares'] = compares.map((c: unknown) => {
      if (!isFields(c) || c['target'] !== 'value') return c;
      const bytes = bytesFromJson(c['value'], c['data']);
      const { data: _data, ...rest } = c;
      return bytes === undefined ? c : { ...rest, value: bytes };
    });
  }
  return out;
}

/** A copy of `r` whose `value` (text) or `data` (base64) became `data` bytes. */
function dataFromJson(r: Fields): Fields {
  const out: Fields = { ...r };
  const bytes = bytesFromJson(r['value'], r['data']);
  if (bytes !== undefined) out['data'] = bytes;
  delete out['value'];
  return out;
}

function bytesFromJson(text: unknown, base64: unknown): Uint8Array | undefined {
  if (typeof text === 'string') return new TextEncoder().encode(text);
  if (typeof base64 === 'string') return new Uint8Array(Buffer.from(base64, 'base64'));
  return undefined;
}

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(r: Fields, key: string): string {
  const value = r[key];
  if (typeof value !== 'string') throw new RuntimeError('bad_request', `${key} must be a string`);
  return value;
}

function num(r: Fields, key: string): number {
  const value = r[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new RuntimeError('bad_request', `${key} must be an integer`);
  return value;
}

function optionalNumber(r: Fields, key: string): number | undefined {
  return r[key] === undefined ? undefined : num(r, key);
}

function optionalString(r: Fields, key: string): string | undefined {
  return r[key] === undefined ? undefined : str(r, key);
}
