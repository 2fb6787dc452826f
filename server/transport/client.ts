// The client endpoint: WebSocket with CBOR frames (each frame an array of messages, so many requests and
// responses share a frame), an HTTP JSON gateway, and /health, /status, /metrics. Backpressure: a client
// that stops reading is cut off once its buffer passes a bound; it never grows our memory without limit.

import { App, us_listen_socket_close, us_socket_local_port, type HttpResponse, type us_listen_socket, type WebSocket } from 'uWebSockets.js';
import { decodeFrame, encodeFrame } from '../../sdk/protocol/codec.ts';

export interface ClientLimits {
  /** Largest frame a client may send. */
  readonly frameBytesMax: number;
  /** Bytes buffered toward one client before it is disconnected as too slow. */
  readonly connectionBufferBytesMax: number;
  /** Largest HTTP body accepted by the gateway. */
  readonly httpBodyBytesMax: number;
}

export const clientLimitDefaults: ClientLimits = {
  frameBytesMax: 4 * 1024 * 1024,
  connectionBufferBytesMax: 16 * 1024 * 1024,
  httpBodyBytesMax: 4 * 1024 * 1024,
};

/** One client connection as the request handler sees it. */
export interface ClientConnection {
  readonly id: number;
  /** Queues a message (response or watch push); messages queued in one turn leave as one frame. */
  push(message: unknown): void;
  /** Whether the connection is still open. */
  readonly open: boolean;
}

export interface ClientHandler {
  open(connection: ClientConnection): void;
  /** Handles one decoded request; answers by `connection.push`. Must never throw. */
  request(connection: ClientConnection, request: unknown): void;
  close(connection: ClientConnection): void;
  /** The HTTP JSON gateway: one request, one answer. */
  http(request: unknown): Promise<{ status: number; body: unknown }>;
  health(): { status: number; body: unknown };
  status(): unknown;
  metrics(): Promise<string>;
  /** The member's whole state as a backup file (GET /v1/snapshot). */
  backup(): Promise<Uint8Array>;
}

/**
 * One client connection, whatever carries its frames (a uWebSockets.js socket here, a simulated socket in
 * test/sim): decodes incoming frames into requests for the handler, and batches the answers and pushes of
 * one turn into one outgoing frame.
 */
export class ClientChannel implements ClientConnection {
  open = true;
  private queue: unknown[] = [];
  private scheduled = false;

  constructor(
    readonly id: number,
    private readonly handler: ClientHandler,
    private readonly sendFrame: (frame: Uint8Array) => void,
    private readonly defer: (callback: () => void) => void,
  ) {
    handler.open(this);
  }

  /** One frame from the client: an array of requests (a lone request is accepted too). */
  receive(frame: Uint8Array): void {
    let messages: unknown;
    try {
      messages = decodeFrame(frame);
    } catch {
      this.push({ id: 0, ok: false, error: { code: 'bad_request', message: 'malformed frame: not CBOR' } });
      return;
    }
    if (!Array.isArray(messages)) messages = [messages];
    for (const request of messages as unknown[]) this.handler.request(this, request);
  }

  push(message: unknown): void {
    if (!this.open) return;
    this.queue.push(message);
    if (this.scheduled) return;
    this.scheduled = true;
    this.defer(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (!this.open || this.queue.length === 0) return;
    const frame = encodeFrame(this.queue);
    this.queue = [];
    this.sendFrame(frame);
  }

  /** The connection is gone: nothing more is sent, and the handler forgets it (its watches end). */
  closed(): void {
    if (!this.open) return;
    this.open = false;
    this.queue = [];
    this.handler.close(this);
  }
}

interface SocketData {
  connection: ClientChannel | null;
}

export class ClientServer {
  private readonly limits: ClientLimits;
  private listenSocket: us_listen_socket | null = null;
  private connectionSequence = 0;
  private readonly sockets = new Set<WebSocket<SocketData>>();
  port = 0;

  constructor(
    private readonly host: string,
    private readonly requestedPort: number,
    private readonly handler: ClientHandler,
    limits: Partial<ClientLimits> = {},
  ) {
    this.limits = { ...clientLimitDefaults, ...limits };
  }

  async listen(): Promise<void> {
    const handler = this.handler;
    const app = App()
      .ws<SocketData>('/v1/ws', {
        maxPayloadLength: this.limits.frameBytesMax,
        maxBackpressure: this.limits.connectionBufferBytesMax,
        closeOnBackpressureLimit: true,
        idleTimeout: 0,
        upgrade: (res, req, context) => {
          res.upgrade<SocketData>({ connection: null }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
        },
        open: (ws) => {
          this.sockets.add(ws);
          // With closeOnBackpressureLimit, uWebSockets.js closes a socket whose buffer passes maxBackpressure.
          // Frames leave from setImmediate, outside uWebSockets.js's callbacks: cork, so each is one syscall.
          const send = (frame: Uint8Array): void => void ws.cork(() => ws.send(frame, true));
          ws.getUserData().connection = new ClientChannel(++this.connectionSequence, handler, send, setImmediate);
        },
        message: (ws, data) => {
          // uWebSockets.js reuses `data` after this callback; decoded byte strings must not point into it.
          ws.getUserData().connection?.receive(new Uint8Array(data.slice(0)));
        },
        close: (ws) => {
          this.sockets.delete(ws);
          ws.getUserData().connection?.closed();
        },
      })
      .get('/health', (res) => {
        const { status, body } = handler.health();
        sendJson(res, status, body);
      })
      .get('/status', (res) => sendJson(res, 200, handler.status()))
      .get('/metrics', (res) => {
        let aborted = false;
        res.onAborted(() => (aborted = true));
        void handler.metrics().then((text) => {
          if (aborted) return;
          res.cork(() => res.writeHeader('content-type', 'text/plain; version=0.0.4').end(text));
        });
      })
      .get('/v1/snapshot', (res) => {
        let aborted = false;
        res.onAborted(() => (aborted = true));
        handler.backup().then(
          (bytes) => aborted || sendBytes(res, bytes),
          (error: unknown) => aborted || sendJson(res, 503, { ok: false, error: errorBody(error) }),
        );
      })
      .post('/v1/:op', (res, req) => {
        const op = req.getParameter(0);
        readBody(res, this.limits.httpBodyBytesMax, (body, error) => {
          if (error !== null) {
            sendJson(res, 413, { ok: false, error: { code: 'value_too_large', message: error } });
            return;
          }
          let request: unknown;
          try {
            request = body.length === 0 ? {} : JSON.parse(body);
            if (typeof request !== 'object' || request === null || Array.isArray(request)) throw new Error('not an object');
          } catch {
            sendJson(res, 400, { ok: false, error: { code: 'bad_request', message: 'the body must be a JSON object' } });
            return;
          }
          void handler.http({ ...(request as object), op, id: 1 }).then(({ status, body: answer }) => sendJson(res, status, answer));
        });
      })
      .any('/*', (res) => sendJson(res, 404, { ok: false, error: { code: 'bad_request', message: 'unknown path' } }));
    await new Promise<void>((resolve, reject) => {
      app.listen(this.host, this.requestedPort, (socket) => {
        if (socket === false) {
          reject(new Error(`cannot listen for clients on ${this.host}:${this.requestedPort}`));
          return;
        }
        this.listenSocket = socket;
        this.port = us_socket_local_port(socket);
        resolve();
      });
    });
  }

  close(): void {
    if (this.listenSocket !== null) us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    for (const ws of this.sockets) ws.end(1001, 'member stopping');
    this.sockets.clear();
  }
}

function sendJson(res: HttpResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, jsonReplacer);
  res.cork(() => {
    res.writeStatus(`${status} ${status === 200 ? 'OK' : 'Error'}`).writeHeader('content-type', 'application/json').end(text);
  });
}

/** Sends a binary body as fast as the client reads it: what the socket does not take is resent when writable. */
function sendBytes(res: HttpResponse, bytes: Uint8Array): void {
  const total = bytes.byteLength;
  let start = 0;
  let done = false;
  res.cork(() => {
    res.writeHeader('content-type', 'application/octet-stream');
    start = res.getWriteOffset();
    done = res.tryEnd(bytes, total)[1];
  });
  if (!done) res.onWritable((offset) => res.tryEnd(bytes.subarray(offset - start), total)[0]);
}

function errorBody(error: unknown): { code: string; message: string } {
  const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : 'internal';
  return { code, message: error instanceof Error ? error.message : String(error) };
}

/** Bytes become base64 in JSON; bigints become strings. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function readBody(res: HttpResponse, bytesMax: number, done: (body: string, error: string | null) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  res.onAborted(() => (finished = true));
  res.onData((chunk, isLast) => {
    if (finished) return;
    size += chunk.byteLength;
    if (size > bytesMax) {
      finished = true;
      done('', `request body larger than ${bytesMax} bytes`);
      return;
    }
    chunks.push(Buffer.from(chunk.slice(0)));
    if (isLast) {
      finished = true;
      done(Buffer.concat(chunks).toString('utf8'), null);
    }
  });
}
