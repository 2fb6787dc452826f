// Shared tools for the end-to-end tests: clients pinned to one member, member status over HTTP, a raw
// WebSocket speaking the wire protocol (for bad-input tests), watch collectors, small statistics, client
// applications in their own processes, and a resource fenced by lock tokens.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { WebSocket } from 'ws';
import { connect, type Client, type ConnectOptions, type WatchItem, type WatchStream } from '../../sdk/index.ts';
import { decodeFrame, encodeFrame } from '../../sdk/protocol/codec.ts';
import type { ProcessCluster, ProcessMember } from './harness.ts';
import { waitFor } from './harness.ts';

/** What GET /status answers (the fields the tests read). */
export interface MemberStatus {
  readonly member: string;
  readonly role: string;
  readonly leader: string | null;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly revision: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly voters: readonly string[];
  readonly members: ReadonlyArray<{ name: string; peerUrl: string; clientUrl: string; learner: boolean; voter: boolean }>;
}

export function endpointOf(member: ProcessMember): string {
  return `127.0.0.1:${member.clientPort}`;
}

/** The member whose client endpoint is `endpoint`. */
export function memberAt(cluster: ProcessCluster, endpoint: string): ProcessMember {
  const member = cluster.members.find((m) => endpointOf(m) === endpoint);
  if (member === undefined) throw new Error(`no member at ${endpoint}`);
  return member;
}

export function running(cluster: ProcessCluster): ProcessMember[] {
  return cluster.members.filter((m) => m.process !== null);
}

/** A member's /status, or null when it does not answer. */
export async function statusOf(member: ProcessMember): Promise<MemberStatus | null> {
  try {
    const res = await fetch(`http://${endpointOf(member)}/status`, { signal: AbortSignal.timeout(1000) });
    return (await res.json()) as MemberStatus;
  } catch {
    return null;
  }
}

/** A client that talks to the given members only (one: every answer comes from that member). */
/** A client pinned to these members (it does not move to the leader unless told to). */
export function connectTo(endpoints: readonly string[], options: Omit<ConnectOptions, 'endpoints'> = {}): Promise<Client> {
  return connect({ endpoints, preferLeader: false, ...options });
}

/** Waits until every running member has applied the same index and reports the same revision. */
export async function waitForConvergence(cluster: ProcessCluster, timeoutMs = 15_000): Promise<MemberStatus[]> {
  return waitFor(
    'every running member to apply the same index',
    async () => {
      const statuses = await Promise.all(running(cluster).map(statusOf));
      if (statuses.some((s) => s === null)) return undefined;
      const all = statuses as MemberStatus[];
      const first = all[0]!;
      return all.every((s) => s.applied === first.applied && s.revision === first.revision && s.leader !== null) ? all : undefined;
    },
    timeoutMs,
  );
}

/** Every member's `/status`, waiting (bounded) for a busy member to answer. */
export function statusesOf(members: readonly ProcessMember[], timeoutMs = 10_000): Promise<MemberStatus[]> {
  return waitFor('every member to answer /status', async () => {
    const statuses = await Promise.all(members.map(statusOf));
    return statuses.every((s) => s !== null) ? (statuses as MemberStatus[]) : undefined;
  }, timeoutMs);
}

/** Every node under `path` (pre-order), read page by page from the client's member. */
export async function readSubtree(client: Client, path: string, options: { serializable?: boolean } = {}): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  let after: string | undefined;
  for (;;) {
    const page = await client.range(path, { limit: 1000, ...(after !== undefined ? { after } : {}), ...(options.serializable === true ? { serializable: true } : {}) });
    for (const node of page.nodes) out.set(node.path, node.data);
    if (!page.more || page.nodes.length === 0) return out;
    after = page.nodes[page.nodes.length - 1]!.path;
  }
}

/** Reads a stream in the background into `items`; `error` holds what ended it abnormally. */
export interface Collector {
  readonly items: WatchItem[];
  error: unknown;
  done: boolean;
  /** Waits until some item satisfies `predicate`. */
  until(what: string, predicate: (items: readonly WatchItem[]) => boolean, timeoutMs?: number): Promise<void>;
}

export function collect(stream: WatchStream): Collector {
  const collector: Collector = {
    items: [],
    error: null,
    done: false,
    until: (what, predicate, timeoutMs = 10_000) =>
      waitFor(what, () => {
        if (collector.error !== null) throw collector.error;
        return predicate(collector.items);
      }, timeoutMs, 10).then(() => undefined),
  };
  void (async () => {
    try {
      for await (const item of stream) collector.items.push(item);
    } catch (error) {
      collector.error = error;
    } finally {
      collector.done = true;
    }
  })();
  return collector;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------------------
// The wire protocol by hand

/** A message from the server: a response or a watch push. */
export type Incoming = Record<string, unknown> & { id?: number; ok?: boolean; watch?: number; error?: { code: string; message: string; compactRevision?: number } };

/**
 * A bare WebSocket to one member's client endpoint. It sends raw bytes or frames of messages and records
 * every message received, so a test can look for an answer by id.
 */
export class RawSocket {
  readonly received: Incoming[] = [];
  closed = false;
  closeCode = 0;
  /** Frames that did not decode (a server must never send one). */
  undecodable = 0;
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      try {
        const messages = decodeFrame(new Uint8Array(data)) as Incoming[];
        for (const message of messages) this.received.push(message);
      } catch {
        this.undecodable++;
      }
    });
    ws.on('close', (code) => {
      this.closed = true;
      this.closeCode = code;
    });
    ws.on('error', () => {});
  }

  static async open(endpoint: string): Promise<RawSocket> {
    const ws = new WebSocket(`ws://${endpoint}/v1/ws`, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
    ws.binaryType = 'nodebuffer';
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const socket = new RawSocket(ws);
    await socket.request({ op: 'hello', version: 1, clientId: `raw-${Math.random().toString(36).slice(2)}` });
    return socket;
  }

  id(): number {
    return this.nextId++;
  }

  sendBytes(bytes: Uint8Array): void {
    this.ws.send(bytes);
  }

  /** Sends one frame holding `messages` (any values: tests send malformed ones on purpose). */
  sendFrame(messages: unknown): void {
    this.ws.send(encodeFrame(messages));
  }

  /** Waits for the first received message matching `predicate`. */
  async waitMessage(what: string, predicate: (message: Incoming) => boolean, timeoutMs = 5_000): Promise<Incoming> {
    return waitFor(what, () => this.received.find(predicate), timeoutMs, 5);
  }

  /** Sends one request (an id is added) and waits for its answer. */
  async request(body: Record<string, unknown>, timeoutMs = 5_000): Promise<Incoming> {
    const id = this.id();
    this.sendFrame([{ ...body, id }]);
    return this.waitMessage(`the answer to ${String(body['op'])} #${id}`, (m) => m.id === id && 'ok' in m, timeoutMs);
  }

  /** Answers with error code `code` received so far with this id (0: requests the server could not read). */
  errorsWithId(id: number): Incoming[] {
    return this.received.filter((m) => m.id === id && m.ok === false);
  }

  close(): void {
    this.ws.terminate();
  }
}

/** The `synod_client_connections` gauge of a member. */
export async function connectionsOf(member: ProcessMember): Promise<number> {
  const text = await (await fetch(`http://${endpointOf(member)}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  const line = text.split('\n').find((l) => l.startsWith('synod_client_connections '));
  if (line === undefined) throw new Error('no synod_client_connections in /metrics');
  return Number(line.split(' ')[1]);
}

// ---------------------------------------------------------------------------------------------------------
// Client processes, fenced resources and bounded observation (recipe and bad-input tests)

/** Polls `condition` for `durationMs` and fails as soon as it does not hold (a bounded negative check). */
export async function holdsFor(what: string, durationMs: number, condition: () => Promise<boolean> | boolean, intervalMs = 50): Promise<void> {
  const until = Date.now() + durationMs;
  while (Date.now() < until) {
    if (!(await condition())) throw new Error(`${what} stopped holding ${durationMs - (until - Date.now())} ms into ${durationMs} ms`);
    await sleep(intervalMs);
  }
}

/** One JSON line a fixture process printed: an event name, its wall-clock time and fields. */
export interface ProcessEvent {
  readonly event: string;
  readonly atMs: number;
  readonly [field: string]: unknown;
}

/**
 * A client application in its own process (a fixture under test/e2e/fixtures): it reports JSON lines on
 * stdout and takes JSON commands on stdin, and can be paused (SIGSTOP) or killed like a real application.
 */
export class ClientProcess {
  readonly events: ProcessEvent[] = [];
  private stderr = '';
  private buffered = '';

  private constructor(
    readonly name: string,
    readonly child: import('node:child_process').ChildProcess,
  ) {
    child.stdout!.on('data', (chunk: Buffer) => {
      this.buffered += chunk.toString();
      const lines = this.buffered.split('\n');
      this.buffered = lines.pop()!;
      for (const line of lines) if (line.startsWith('{')) this.events.push(JSON.parse(line) as ProcessEvent);
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-5000)));
    child.stdin!.on('error', () => {}); // a killed process closes its stdin
  }

  /** Starts `script` (a fixture file) with one JSON argument. */
  static start(name: string, script: string, argument: unknown): ClientProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(argument)], { stdio: ['pipe', 'pipe', 'pipe'] });
    return new ClientProcess(name, child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** What it wrote on stderr (for failure messages). */
  get errorOutput(): string {
    return this.stderr;
  }

  /** The first event named `event` (matching `predicate`), waiting for it up to `timeoutMs`. */
  async waitEvent(event: string, timeoutMs = 15_000, predicate: (e: ProcessEvent) => boolean = () => true): Promise<ProcessEvent> {
    return waitFor(`${this.name} to report ${event}`, () => {
      const found = this.events.find((e) => e.event === event && predicate(e));
      if (found !== undefined) return found;
      if (this.exited) throw new Error(`${this.name} exited (${this.child.exitCode ?? this.child.signalCode}): ${this.stderr}`);
      return undefined;
    }, timeoutMs, 10);
  }

  has(event: string): boolean {
    return this.events.some((e) => e.event === event);
  }

  /** The latest event named `event`, if any. */
  last(event: string): ProcessEvent | undefined {
    return this.events.filter((e) => e.event === event).at(-1);
  }

  send(command: Record<string, unknown>): void {
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Whether the process is stopped (state T in /proc): a SIGSTOP took effect. */
  stopped(): boolean {
    try {
      const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
    } catch {
      return false;
    }
  }

  /** Kills it (resuming it first if paused) and waits for the exit. Idempotent. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGCONT');
    this.child.kill('SIGKILL');
    await exited;
  }
}

/** One write a fenced resource received. */
export interface FencedWrite {
  readonly token: number;
  readonly writer: string;
  readonly accepted: boolean;
  readonly atMs: number;
}

/**
 * A resource protected by fencing tokens (docs/recipes.md): it keeps the highest token it accepted and rejects
 * any write with a lower one. Reachable in-process (`write`) and over HTTP (`POST url` with
 * `{ token, writer }`) for holders in other processes. It also tracks who is inside a critical section.
 */
export class FencedStore {
  readonly writes: FencedWrite[] = [];
  highestToken = 0;
  /** Holders inside their critical section now, and the most there ever were at once. */
  inside = new Set<string>();
  insideMax = 0;

  private constructor(
    private readonly server: import('node:http').Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FencedStore> {
    let store: FencedStore | null = null;
    const server = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const { token, writer } = JSON.parse(body) as { token: number; writer: string };
        const accepted = store!.write(token, writer);
        res.writeHead(accepted ? 200 : 409, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted, highestToken: store!.highestToken }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as import('node:net').AddressInfo;
    store = new FencedStore(server, `http://127.0.0.1:${port}/write`);
    return store;
  }

  /** Accepts the write when `token` is at least the highest seen. */
  write(token: number, writer: string): boolean {
    const accepted = token >= this.highestToken;
    if (accepted) this.highestToken = token;
    this.writes.push({ token, writer, accepted, atMs: Date.now() });
    return accepted;
  }

  get rejected(): FencedWrite[] {
    return this.writes.filter((w) => !w.accepted);
  }

  enter(holder: string): void {
    this.inside.add(holder);
    this.insideMax = Math.max(this.insideMax, this.inside.size);
  }

  leave(holder: string): void {
    this.inside.delete(holder);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Resident memory of a process, in bytes (Linux /proc). */
export function residentBytesOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match === null) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}
