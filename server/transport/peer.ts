// Member-to-member transport: every member listens on its peer port (uWebSockets.js) and dials every other
// member with one outgoing WebSocket (`ws`), so each direction has its own connection. Items queued in one
// event-loop turn leave as one CBOR frame. Delivery is best effort: Raft retransmits what is lost. A peer
// whose connection closes and whose port then refuses a new one is reported down (its process is gone).

import { timingSafeEqual } from 'node:crypto';
import { App, us_listen_socket_close, us_socket_local_port, type us_listen_socket, type WebSocket as ServerSocket } from 'uWebSockets.js';
import { WebSocket } from 'ws';
import type { Random } from '../raft/random.ts';
import type { PeerNetwork, PeerReceiver } from '../runtime/peers.ts';
import { decodeFrame, encodeFrame } from '../../sdk/protocol/codec.ts';

export interface PeerTransportOptions<Item> {
  readonly self: string;
  readonly host: string;
  /** 0 picks a free port (see `port` after `listen`). */
  readonly port: number;
  /** Shared secret: a connection without it is refused, so a stray process cannot join or vote. */
  readonly clusterToken: string;
  readonly random: Random;
  readonly limits?: Partial<PeerLimits>;
}

export interface PeerLimits {
  /** Largest frame accepted (a snapshot chunk plus framing must fit). */
  readonly frameBytesMax: number;
  /** Items waiting for a connection to one peer; beyond this they are dropped (Raft resends). */
  readonly queueItemsMax: number;
  /** Bytes buffered in the socket to one peer beyond which frames are dropped. */
  readonly socketBufferBytesMax: number;
  readonly reconnectDelayMinMs: number;
  readonly reconnectDelayMaxMs: number;
}

export const peerLimitDefaults: PeerLimits = {
  frameBytesMax: 64 * 1024 * 1024,
  queueItemsMax: 8192,
  socketBufferBytesMax: 32 * 1024 * 1024,
  reconnectDelayMinMs: 20,
  reconnectDelayMaxMs: 1000,
};

const peerPath = '/peer';
const tokenHeader = 'x-synod-cluster-token';
const fromHeader = 'x-synod-member';

interface Outgoing<Item> {
  readonly id: string;
  readonly url: string;
  socket: WebSocket | null;
  open: boolean;
  queue: Item[];
  attempt: number;
  timer: NodeJS.Timeout | null;
  /** Reported down since it last connected. */
  down: boolean;
}

export class PeerTransport<Item> implements PeerNetwork<Item> {
  private readonly limits: PeerLimits;
  private readonly peers = new Map<string, Outgoing<Item>>();
  private readonly incoming = new Set<ServerSocket<{ from: string }>>();
  private listenSocket: us_listen_socket | null = null;
  private flushScheduled = false;
  private closed = false;
  private receiver: PeerReceiver<Item> | null = null;
  port = 0;

  constructor(private readonly options: PeerTransportOptions<Item>) {
    this.limits = { ...peerLimitDefaults, ...options.limits };
  }

  attach(receiver: PeerReceiver<Item>): void {
    this.receiver = receiver;
  }

  async listen(): Promise<void> {
    const token = Buffer.from(this.options.clusterToken);
    const app = App().ws<{ from: string }>(peerPath, {
      maxPayloadLength: this.limits.frameBytesMax,
      maxBackpressure: this.limits.socketBufferBytesMax,
      idleTimeout: 0,
      upgrade: (res, req, context) => {
        const offered = Buffer.from(req.getHeader(tokenHeader));
        const from = req.getHeader(fromHeader);
        if (offered.length !== token.length || !timingSafeEqual(offered, token) || from === '') {
          res.writeStatus('401 Unauthorized').end('unauthenticated: wrong cluster token');
          return;
        }
        res.upgrade({ from }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
      },
      open: (ws) => void this.incoming.add(ws),
      close: (ws) => void this.incoming.delete(ws),
      message: (ws, data) => {
        let items: Item[];
        try {
          // uWebSockets.js reuses `data` after this callback; decoded byte strings must not point into it.
          items = decodeFrame(new Uint8Array(data.slice(0))) as Item[];
          if (!Array.isArray(items)) throw new Error('a peer frame is an array');
        } catch {
          ws.end(1003, 'bad_request: malformed frame');
          return;
        }
        this.receiver?.onItems(ws.getUserData().from, items);
      },
    });
    await new Promise<void>((resolve, reject) => {
      app.listen(this.options.host, this.options.port, (socket) => {
        if (socket === false) {
          reject(new Error(`cannot listen for peers on ${this.options.host}:${this.options.port}`));
          return;
        }
        this.listenSocket = socket;
        this.port = us_socket_local_port(socket);
        resolve();
      });
    });
  }

  /** Sets where each peer listens (`ws://host:port`); peers no longer named are disconnected. */
  setPeers(urls: ReadonlyMap<string, string>): void {
    for (const [id, peer] of this.peers) {
      if (urls.get(id) !== peer.url) {
        this.disconnect(peer);
        this.peers.delete(id);
      }
    }
    for (const [id, url] of urls) {
      if (id === this.options.self || this.peers.has(id)) continue;
      const peer: Outgoing<Item> = { id, url, socket: null, open: false, queue: [], attempt: 0, timer: null, down: false };
      this.peers.set(id, peer);
      this.connect(peer);
    }
  }

  /** Queues an item for a peer; it leaves with everything else queued in this turn of the event loop. */
  send(to: string, item: Item): void {
    const peer = this.peers.get(to);
    if (peer === undefined || peer.queue.length >= this.limits.queueItemsMax) return;
    peer.queue.push(item);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const peer of this.peers.values()) {
      if (!peer.open || peer.queue.length === 0 || peer.socket === null) continue;
      const items = peer.queue;
      peer.queue = [];
      // A peer that cannot keep up loses frames rather than growing our memory; Raft resends.
      if (peer.socket.bufferedAmount > this.limits.socketBufferBytesMax) continue;
      peer.socket.send(encodeFrame(items));
    }
  }

  private connect(peer: Outgoing<Item>): void {
    if (this.closed) return;
    let socket: WebSocket;
    try {
      socket = new WebSocket(peer.url + peerPath, {
        headers: { [tokenHeader]: this.options.clusterToken, [fromHeader]: this.options.self },
        maxPayload: this.limits.frameBytesMax,
        perMessageDeflate: false,
      });
    } catch {
      // An address that cannot be dialled (the member list is validated, so this is an old or odd entry):
      // never let it take the member down; try again later, as for any unreachable peer.
      peer.timer = setTimeout(() => this.connect(peer), this.limits.reconnectDelayMaxMs);
      return;
    }
    peer.socket = socket;
    socket.binaryType = 'nodebuffer';
    let wasOpen = false;
    socket.on('open', () => {
      wasOpen = true;
      peer.open = true;
      peer.attempt = 0;
      peer.down = false;
      if (peer.queue.length > 0) this.scheduleFlush();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // 'close' follows and schedules the retry. Refused: nothing listens on the peer's port any more.
      if (error.code === 'ECONNREFUSED' && !peer.down && !this.closed) {
        peer.down = true;
        this.receiver?.onPeerDown(peer.id);
      }
    });
    socket.on('close', () => {
      peer.open = false;
      peer.socket = null;
      if (this.closed || this.peers.get(peer.id) !== peer) return;
      // The first redial after a lost connection is immediate: it tells a dead peer from a live one at once.
      const attempt = wasOpen ? 0 : ++peer.attempt;
      const { reconnectDelayMinMs: min, reconnectDelayMaxMs: max } = this.limits;
      const base = attempt === 0 ? 0 : Math.min(max, min * 2 ** Math.min(attempt - 1, 16));
      peer.timer = setTimeout(() => this.connect(peer), base === 0 ? 0 : base / 2 + this.options.random.int(Math.max(1, base / 2)));
    });
  }

  private disconnect(peer: Outgoing<Item>): void {
    if (peer.timer !== null) clearTimeout(peer.timer);
    peer.timer = null;
    peer.socket?.terminate();
    peer.socket = null;
    peer.open = false;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const peer of this.peers.values()) this.disconnect(peer);
    this.peers.clear();
    for (const ws of this.incoming) ws.close();
    this.incoming.clear();
    if (this.listenSocket !== null) us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
  }
}
