// One logical connection to an ensemble: a socket to one member at a time (the leader when it is known, so
// writes take no forwarding hop), many requests in flight, failover to another member with backoff and
// jitter, and resending of what is safe to resend.

import { decodeFrame, encodeFrame } from './protocol/codec.ts';
import type { Request, ResponseHeader, ServerMessage, WatchPush } from './protocol/messages.ts';
import { errorFromWire, SynodError } from './errors.ts';
import type { ClientSocket, Deps, Timer } from './deps.ts';

/** A request without its id: the connection assigns ids. */
export type RequestBody = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

export interface ConnectionOptions {
  /** `host:port` or `ws://host:port` of each member's client endpoint. */
  readonly endpoints: readonly string[];
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
  /**
   * A socket on which requests have waited this long while nothing at all arrived is given up for another
   * member (a half-open connection, or a member cut off from us).
   */
  readonly stallTimeoutMs: number;
  /** Move to the leader's endpoint when a member names it (default in the client: true). */
  readonly preferLeader: boolean;
  readonly deps: Deps;
  /**
   * Runs on every new socket before queued requests go out (say hello, resume watches); returns the leader's
   * client endpoint when the member knows it.
   */
  readonly onConnect: (endpoint: string) => Promise<{ leaderEndpoint: string | null }>;
  readonly onPush: (push: WatchPush) => void;
  readonly onDisconnect: () => void;
  /** Whether something (a watch, a session) needs the connection alive even with no request waiting. */
  readonly needsLiveness: () => boolean;
}

/** Options every call takes. */
export interface CallOptions {
  /** Aborting it ends the call with `aborted` (a write already sent may still apply). */
  readonly signal?: AbortSignal;
  /**
   * Deadline of the whole call, retries and failovers included, in ms (default `ConnectOptions.requestTimeoutMs`,
   * 10 s); then `timeout`. A write may still apply after that; calling again sends another write, not a
   * deduplicated retry.
   */
  readonly timeoutMs?: number;
  /**
   * Whether the request may be sent again after a lost connection or a retryable error (default true). A
   * `no_leader` answer is retried either way: that attempt had no effect.
   */
  readonly retry?: boolean;
}

export interface Answer {
  readonly header: ResponseHeader;
  readonly result: unknown;
}

interface Pending {
  readonly body: RequestBody;
  readonly retry: boolean;
  readonly deadline: number;
  readonly resolve: (answer: Answer) => void;
  readonly reject: (error: SynodError) => void;
  readonly cleanup: () => void;
  /** The socket it was last sent on (null: not sent since the last connection loss). */
  sentOn: ClientSocket | null;
}

/** Largest frame the client accepts from a member. */
const frameBytesMax = 64 * 1024 * 1024;
/** Largest frame a member accepts (its `requestBytesMax`) until its hello says otherwise: the server default. */
const defaultRequestBytesMax = 4 * 1024 * 1024;

export class Connection {
  private socket: ClientSocket | null = null;
  /** Requests may go out on `socket` (the handshake is done). */
  private ready = false;
  private closed = false;
  private endpointIndex: number;
  /** Where to connect next when not the next endpoint in turn (the leader a member named). */
  private nextEndpoint: string | null = null;
  private attempt = 0;
  private sequence = 0;
  private readonly pending = new Map<number, Pending>();
  private outbox: Request[] = [];
  private flushScheduled = false;
  private reconnectTimer: Timer | null = null;
  private stallTimer: Timer | null = null;
  /** When the current socket last delivered anything. */
  private lastReceivedAt = 0;
  /** Answers in a row from the current member that it knows no leader. */
  private noLeaderStreak = 0;
  /** The member this connection talks to now, for status and tests. */
  endpoint: string | null = null;
  /** Whether to reconnect even with nothing pending (sessions and watches need a live connection). */
  keepConnected = true;
  /** The largest frame the member takes (a bigger one would close the connection): set from its hello. */
  requestBytesMax = defaultRequestBytesMax;

  /** Where to connect: the endpoints given, and those the cluster last announced (members added since). */
  private endpoints: readonly string[];

  constructor(private readonly options: ConnectionOptions) {
    if (options.endpoints.length === 0) throw new SynodError('bad_request', 'no endpoints given');
    this.endpoints = options.endpoints;
    this.endpointIndex = options.deps.random.int(options.endpoints.length);
  }

  /**
   * Takes the cluster's current member endpoints (from a hello or a push). The given ones stay: a member that answers
   * may be a removed one that does not know it, and they are what the user vouched for.
   */
  learnEndpoints(announced: readonly string[]): void {
    this.endpoints = [...new Set([...this.options.endpoints, ...announced])];
  }

  /** Sends a request; resolves with the server's answer or rejects with a SynodError. */
  call(body: RequestBody, options: CallOptions = {}): Promise<Answer> {
    if (this.closed) return Promise.reject(new SynodError('closed', 'the client is closed'));
    const { signal } = options;
    if (signal?.aborted === true) return Promise.reject(new SynodError('aborted', 'the call was aborted'));
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    const clock = this.options.deps.clock;
    return new Promise<Answer>((resolve, reject) => {
      const id = ++this.sequence;
      const settle = (error: SynodError): void => {
        const entry = this.pending.get(id);
        if (entry === undefined) return;
        this.pending.delete(id);
        entry.cleanup();
        reject(error);
      };
      const onAbort = (): void => settle(new SynodError('aborted', 'the call was aborted'));
      const timer = clock.setTimeout(() => settle(this.timeoutError(timeoutMs)), timeoutMs);
      const entry: Pending = {
        body,
        retry: options.retry ?? true,
        deadline: clock.now() + timeoutMs,
        resolve,
        reject,
        cleanup: () => {
          clock.clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
        sentOn: null,
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, entry);
      this.send(id, entry);
    });
  }

  private timeoutError(timeoutMs: number): SynodError {
    const where = this.endpoint ?? `none of ${this.endpoints.join(', ')} answered`;
    return new SynodError('timeout', `no answer within ${timeoutMs} ms (${where})`);
  }

  /** Sends a request whose answer nobody waits for (watch cancels). */
  fireAndForget(body: RequestBody): void {
    if (this.ready) this.push({ ...body, id: ++this.sequence } as Request);
  }

  private send(id: number, entry: Pending): void {
    if (!this.ready || this.socket === null) {
      this.ensureConnecting();
      return;
    }
    entry.sentOn = this.socket;
    this.push({ ...entry.body, id } as Request);
  }

  private push(request: Request): void {
    this.outbox.push(request);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.options.deps.clock.defer(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outbox.length === 0) return;
    const batch = this.outbox;
    this.outbox = [];
    if (this.socket === null) return; // resent on reconnect
    const frame = encodeFrame(batch);
    if (frame.length <= this.requestBytesMax) this.socket.send(frame);
    else this.sendInParts(this.socket, batch);
  }

  /**
   * A batch over the member's frame limit goes out as several frames under it; a request that alone is over
   * it is refused with `value_too_large` here, since the member would drop the connection (and everything
   * pending on it) rather than read it.
   */
  private sendInParts(socket: ClientSocket, batch: readonly Request[]): void {
    const frameOverhead = 9; // a CBOR array header
    let part: Request[] = [];
    let bytes = frameOverhead;
    for (const request of batch) {
      const size = encodeFrame([request]).length - 1;
      if (size + frameOverhead > this.requestBytesMax) {
        this.refuse(request.id, new SynodError('value_too_large', `the request is ${size} bytes; the member takes frames of at most ${this.requestBytesMax} bytes`));
        continue;
      }
      if (bytes + size > this.requestBytesMax) {
        socket.send(encodeFrame(part));
        part = [];
        bytes = frameOverhead;
      }
      part.push(request);
      bytes += size;
    }
    if (part.length > 0) socket.send(encodeFrame(part));
  }

  private refuse(id: number, error: SynodError): void {
    const entry = this.pending.get(id);
    if (entry === undefined) return;
    this.pending.delete(id);
    entry.cleanup();
    entry.reject(error);
  }

  private ensureConnecting(): void {
    if (this.socket !== null || this.closed || this.reconnectTimer !== null) return;
    const endpoint = this.nextEndpoint ?? this.endpoints[this.endpointIndex % this.endpoints.length]!;
    this.nextEndpoint = null;
    const url = (endpoint.startsWith('ws') ? endpoint : `ws://${endpoint}`) + '/v1/ws';
    let socket: ClientSocket | null = null;
    const opened = (): void => {
      const current = socket;
      if (current === null || this.socket !== current) return;
      this.endpoint = endpoint;
      this.options
        .onConnect(endpoint)
        .then(({ leaderEndpoint }) => {
          if (this.socket !== current) return;
          if (this.options.preferLeader && leaderEndpoint !== null && leaderEndpoint !== endpoint) {
            this.moveTo(leaderEndpoint);
            return;
          }
          this.ready = true;
          this.attempt = 0;
          this.noLeaderStreak = 0;
          this.lastReceivedAt = this.options.deps.clock.now();
          this.watchForStall(current);
          this.resendPending(current);
        })
        .catch(() => current.terminate());
    };
    socket = this.options.deps.connect(
      url,
      { onOpen: opened, onMessage: (frame) => this.receive(frame), onClose: () => this.onClose(socket!) },
      { connectTimeoutMs: this.options.connectTimeoutMs, frameBytesMax },
    );
    this.socket = socket;
  }

  /** Leaves the current member for `endpoint` (the leader it named). */
  private moveTo(endpoint: string): void {
    this.nextEndpoint = endpoint;
    this.attempt = 0;
    this.socket?.close();
  }

  /** For onConnect handlers: a request on the fresh socket, before anything queued goes out. */
  callDuringConnect(body: RequestBody, timeoutMs = this.options.connectTimeoutMs): Promise<Answer> {
    const clock = this.options.deps.clock;
    return new Promise((resolve, reject) => {
      const id = ++this.sequence;
      const timer = clock.setTimeout(() => {
        this.pending.delete(id);
        reject(new SynodError('timeout', 'no answer to the handshake'));
      }, timeoutMs);
      this.pending.set(id, { body, retry: false, deadline: clock.now() + timeoutMs, resolve, reject, cleanup: () => clock.clearTimeout(timer), sentOn: this.socket });
      this.push({ ...body, id } as Request);
    });
  }

  private resendPending(socket: ClientSocket): void {
    for (const [id, entry] of this.pending) {
      if (entry.sentOn === socket) continue;
      entry.sentOn = socket;
      this.push({ ...entry.body, id } as Request);
    }
  }

  /** Checks now and then that a socket with requests waiting still hears from its member. */
  private watchForStall(socket: ClientSocket): void {
    const clock = this.options.deps.clock;
    const intervalMs = Math.max(1, this.options.stallTimeoutMs / 2);
    const check = (): void => {
      this.stallTimer = null;
      if (this.socket !== socket) return;
      const silentMs = clock.now() - this.lastReceivedAt;
      const waiting = [...this.pending.values()].some((entry) => entry.sentOn === socket);
      if (waiting && silentMs > this.options.stallTimeoutMs) {
        socket.terminate();
        return;
      }
      // A quiet stream says nothing either way: ask the member, and hear it answer or give it up.
      if (!waiting && silentMs > intervalMs && this.ready && this.options.needsLiveness()) {
        this.call({ op: 'ping' }, { retry: false, timeoutMs: this.options.stallTimeoutMs * 2 }).catch(() => {});
      }
      this.stallTimer = clock.setTimeout(check, intervalMs);
    };
    if (this.stallTimer !== null) clock.clearTimeout(this.stallTimer);
    this.stallTimer = clock.setTimeout(check, intervalMs);
  }

  private receive(frame: Uint8Array): void {
    this.lastReceivedAt = this.options.deps.clock.now();
    let messages: ServerMessage[];
    try {
      messages = decodeFrame(frame) as ServerMessage[];
    } catch {
      return; // a server never sends malformed frames; if one did, the request times out
    }
    for (const message of messages) {
      if ('watch' in message) {
        this.options.onPush(message);
        continue;
      }
      if ('endpoints' in message) {
        if (message.endpoints.length > 0) this.learnEndpoints(message.endpoints);
        continue;
      }
      const entry = this.pending.get(message.id);
      if (entry === undefined) continue;
      if (message.ok) {
        this.noLeaderStreak = 0;
        this.pending.delete(message.id);
        entry.cleanup();
        entry.resolve({ header: message.header, result: message.result });
        continue;
      }
      const error = errorFromWire(message.error);
      // `no_leader` means this attempt had no effect, so even a request not to be repeated may go again.
      const again = (entry.retry && error.retryable) || error.code === 'no_leader';
      if (again && this.options.deps.clock.now() < entry.deadline) {
        this.retryLater(message.id, entry, error, message.error.leaderEndpoint ?? null);
        continue;
      }
      this.refuse(message.id, error);
    }
  }

  /**
   * A retryable answer (no leader yet, leader changed, the member is unavailable): try again shortly, at the
   * leader when the member named it, on another member when this one cannot serve.
   */
  private retryLater(id: number, entry: Pending, error: SynodError, leaderEndpoint: string | null): void {
    entry.sentOn = null;
    if (this.options.preferLeader && leaderEndpoint !== null && leaderEndpoint !== this.endpoint && this.socket !== null) {
      this.moveTo(leaderEndpoint);
      return;
    }
    // A member that keeps knowing no leader may be cut off from the others: try another.
    const moveOn = error.code === 'unavailable' || (error.code === 'no_leader' && ++this.noLeaderStreak >= 3);
    const delay = this.backoffMs(Math.min(this.attempt + 1, 6));
    this.options.deps.clock.setTimeout(() => {
      if (this.pending.get(id) !== entry) return;
      if (moveOn && this.socket !== null) {
        this.noLeaderStreak = 0;
        this.socket.terminate(); // the request goes out on the next socket
        return;
      }
      this.send(id, entry);
    }, delay);
  }

  private onClose(socket: ClientSocket): void {
    if (this.socket !== socket) return;
    this.socket = null;
    this.ready = false;
    this.endpoint = null;
    this.options.onDisconnect();
    // Only a request that was out on this socket may have been applied unanswered; one not sent yet (or sent
    // again after an attempt that had no effect, such as a no_leader answer) waits for the next socket.
    for (const [id, entry] of this.pending) {
      if (entry.sentOn !== socket) continue;
      entry.sentOn = null;
      if (!entry.retry) {
        this.pending.delete(id);
        entry.cleanup();
        entry.reject(new SynodError('unavailable', 'the connection closed before an answer came'));
      }
    }
    if (this.closed) return;
    if (this.nextEndpoint === null) this.endpointIndex++;
    const delay = this.nextEndpoint !== null ? 0 : this.backoffMs(this.attempt++);
    this.reconnectTimer = this.options.deps.clock.setTimeout(() => {
      this.reconnectTimer = null;
      if (this.pending.size > 0 || this.keepConnected) this.ensureConnecting();
    }, delay);
  }

  private backoffMs(attempt: number): number {
    if (attempt === 0) return 0;
    const base = Math.min(this.options.backoffMaxMs, this.options.backoffMinMs * 2 ** Math.min(attempt - 1, 16));
    return base / 2 + this.options.deps.random.int(Math.max(1, Math.floor(base / 2)));
  }

  /** Connects now (otherwise the first call connects). */
  open(): void {
    this.ensureConnecting();
  }

  /** Drops the current socket (tests use it to simulate a lost connection); the connection fails over. */
  dropSocket(): void {
    this.socket?.terminate();
  }

  close(): void {
    this.closed = true;
    if (this.reconnectTimer !== null) this.options.deps.clock.clearTimeout(this.reconnectTimer);
    if (this.stallTimer !== null) this.options.deps.clock.clearTimeout(this.stallTimer);
    const error = new SynodError('closed', 'the client is closed');
    for (const entry of this.pending.values()) {
      entry.cleanup();
      entry.reject(error);
    }
    this.pending.clear();
    this.socket?.close();
    this.socket = null;
    this.ready = false;
  }
}
