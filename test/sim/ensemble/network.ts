// The simulated network between members and clients: every frame is really encoded and decoded (so no object
// is shared between processes), and each directed link can be cut, lossy, duplicating, slow or reordering.
// Connections to a process that died close; dialling it is refused (which is how peers learn it is down).

import type { Random } from '../../../server/raft/random.ts';
import type { PeerItem, PeerNetwork, PeerReceiver } from '../../../server/runtime/peers.ts';
import { ClientChannel, type ClientHandler } from '../../../server/transport/client.ts';
import type { Clock } from '../../../server/runtime/deps.ts';
import type { ClientSocket, SocketFactory } from '../../../sdk/deps.ts';
import { decodeFrame, encodeFrame } from '../../../sdk/protocol/codec.ts';
import type { Owner, Scheduler } from './scheduler.ts';

/** Conditions that apply to every link not cut. */
export interface NetworkConditions {
  /** One-way latency of a frame, uniform in this range (loopback: 0.05-0.3 ms). */
  latencyMs: readonly [number, number];
  lossRate: number;
  duplicateRate: number;
  /** Share of frames that take a slow path (and arrive out of order). */
  slowRate: number;
  slowMs: readonly [number, number];
}

export const calmConditions: NetworkConditions = { latencyMs: [0.05, 0.3], lossRate: 0, duplicateRate: 0, slowRate: 0, slowMs: [20, 200] };

/** What the network needs to know about a running member. */
export interface MemberEndpoint {
  readonly owner: Owner;
  readonly clock: Clock;
  readonly requests: ClientHandler;
  readonly receiver: PeerReceiver<PeerItem>;
}

export class SimNetwork {
  conditions: NetworkConditions;
  /** Directed cuts, `from->to`; `*` matches any process. */
  private readonly cuts = new Set<string>();
  /** When the last frame on each directed link arrives, so frames stay in order unless one takes the slow path. */
  private readonly lastArrival = new Map<string, number>();
  private readonly members = new Map<string, MemberEndpoint>();
  private readonly sockets = new Set<SimSocket>();
  stats = { framesSent: 0, framesDelivered: 0, framesDropped: 0 };
  /** Debugging: traces the client frames of these clients (decoded). */
  frameTrace: { readonly clients: ReadonlySet<string>; readonly trace: (who: string, text: string) => void } | null = null;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Random,
    /** Latency when no fault slows the network. */
    private readonly latencyMs: readonly [number, number] = calmConditions.latencyMs,
  ) {
    this.conditions = { ...calmConditions, latencyMs };
  }

  // --- faults ---------------------------------------------------------------------------------------------

  cut(from: string, to: string): void {
    this.cuts.add(`${from}->${to}`);
  }

  cutBoth(a: string, b: string): void {
    this.cut(a, b);
    this.cut(b, a);
  }

  heal(): void {
    this.cuts.clear();
    this.conditions = { ...calmConditions, latencyMs: this.latencyMs };
  }

  isCut(from: string, to: string): boolean {
    return this.cuts.has(`${from}->${to}`) || this.cuts.has(`${from}->*`) || this.cuts.has(`*->${to}`);
  }

  // --- processes ------------------------------------------------------------------------------------------

  /** A member's incarnation starts listening. */
  attachMember(name: string, endpoint: MemberEndpoint): void {
    this.members.set(name, endpoint);
  }

  /** A member's process is gone: its connections close (peers that redial it are refused). */
  detachMember(name: string): void {
    this.members.delete(name);
    for (const socket of [...this.sockets]) if (socket.member === name) socket.drop();
  }

  /** A client's process is gone: the members see its connections close. */
  detachClient(client: string): void {
    for (const socket of [...this.sockets]) if (socket.client === client) socket.drop();
  }

  running(name: string): MemberEndpoint | undefined {
    return this.members.get(name);
  }

  // --- delivery -------------------------------------------------------------------------------------------

  /** Runs `run` after `delayMs` on behalf of `owner`. */
  later(delayMs: number, run: () => void, owner: Owner): void {
    this.scheduler.at(delayMs, run, owner);
  }

  /**
   * Carries one frame of a peer link from `from` to `to`; `arrive` runs at the destination unless the frame is
   * lost. Peer frames may be lost, duplicated or overtaken (Raft must cope: connections drop and are redialled).
   */
  transmit(from: string, to: string, arrive: () => void, owner: () => Owner | null): void {
    this.stats.framesSent++;
    const c = this.conditions;
    if (this.isCut(from, to) || this.random.float() < c.lossRate) {
      this.stats.framesDropped++;
      return;
    }
    const copies = this.random.float() < c.duplicateRate ? 2 : 1;
    for (let i = 0; i < copies; i++) this.schedule(from, to, arrive, owner, this.random.float() < c.slowRate);
  }

  /**
   * Carries one frame of a client connection, which is a stream: frames arrive in order, once, or not at all
   * from the first one that could not cross (a cut link leaves the connection silently dead). False then.
   */
  transmitInOrder(from: string, to: string, arrive: () => void, owner: () => Owner | null): boolean {
    this.stats.framesSent++;
    if (this.isCut(from, to)) {
      this.stats.framesDropped++;
      return false;
    }
    this.schedule(from, to, arrive, owner, this.random.float() < this.conditions.slowRate);
    return true;
  }

  private schedule(from: string, to: string, arrive: () => void, owner: () => Owner | null, slow: boolean): void {
    const link = `${from}->${to}`;
    const now = this.scheduler.now;
    let at: number;
    if (slow) {
      const [lo, hi] = this.conditions.slowMs;
      at = now + lo + this.random.float() * (hi - lo);
    } else {
      // In order behind the frames already on their way.
      const [lo, hi] = this.conditions.latencyMs;
      at = Math.max(now + lo + this.random.float() * (hi - lo), this.lastArrival.get(link) ?? 0);
      this.lastArrival.set(link, at);
    }
    this.scheduler.at(at - now, () => {
      const target = owner();
      if (target === null) {
        this.stats.framesDropped++;
        return;
      }
      this.stats.framesDelivered++;
      // Delivered on behalf of the destination: a paused process receives nothing until it resumes.
      this.scheduler.runAs(target, arrive);
    });
  }

  // --- peers ----------------------------------------------------------------------------------------------

  /** The peer transport of one member incarnation; `onSend` sees every item it sends. */
  peerNetwork(self: string, owner: Owner, clock: Clock, onSend: (item: PeerItem) => void): SimPeerNetwork {
    return new SimPeerNetwork(this, self, owner, clock, onSend);
  }

  /** Members told (by a refused redial) that `name` is down; called when its process dies. */
  announceDown(name: string, peerDownRate: number): void {
    for (const [peer, endpoint] of this.members) {
      if (peer === name || this.isCut(peer, name) || this.random.float() >= peerDownRate) continue;
      this.scheduler.at(0.5 + this.random.float() * 5, () => endpoint.receiver.onPeerDown(name), endpoint.owner);
    }
  }

  // --- clients --------------------------------------------------------------------------------------------

  /** The socket factory of one client process: `ws://sim-NAME/v1/ws` reaches member NAME. */
  socketFactory(client: string, owner: Owner): SocketFactory {
    return (url, events) => {
      const member = /^ws:\/\/sim-([^/:]+)/.exec(url)?.[1] ?? '';
      const socket = new SimSocket(this, client, owner, member, events);
      this.scheduler.at(0.05 + this.random.float() * 0.2, () => socket.connect(), owner);
      return socket;
    };
  }

  /** @internal */
  register(socket: SimSocket): void {
    this.sockets.add(socket);
  }

  /** @internal */
  unregister(socket: SimSocket): void {
    this.sockets.delete(socket);
  }
}

export class SimPeerNetwork implements PeerNetwork<PeerItem> {
  private receiver: PeerReceiver<PeerItem> | null = null;
  private readonly queues = new Map<string, PeerItem[]>();
  private flushScheduled = false;
  private closed = false;

  constructor(
    private readonly network: SimNetwork,
    private readonly self: string,
    private readonly owner: Owner,
    private readonly clock: Clock,
    private readonly onSend: (item: PeerItem) => void,
  ) {}

  attach(receiver: PeerReceiver<PeerItem>): void {
    this.receiver = receiver;
  }

  get peerReceiver(): PeerReceiver<PeerItem> {
    if (this.receiver === null) throw new Error(`${this.self} has no peer receiver`);
    return this.receiver;
  }

  setPeers(): void {
    // Every member can reach every other; the network decides what arrives.
  }

  send(to: string, item: PeerItem): void {
    if (this.closed || to === this.self || !this.owner.alive) return;
    this.onSend(item);
    let queue = this.queues.get(to);
    if (queue === undefined) this.queues.set(to, (queue = []));
    queue.push(item);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.clock.defer(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const [to, items] of this.queues) {
      if (items.length === 0) continue;
      const frame = encodeFrame(items);
      this.queues.set(to, []);
      this.network.transmit(
        this.self,
        to,
        () => this.network.running(to)?.receiver.onItems(this.self, decodeFrame(frame) as PeerItem[]),
        () => this.network.running(to)?.owner ?? null,
      );
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/**
 * A client's connection to one member. The client side is the SDK's ClientSocket; the member side is a
 * ClientChannel on the member's request handler, exactly as behind a real WebSocket.
 */
export class SimSocket implements ClientSocket {
  private channel: ClientChannel | null = null;
  private state: 'connecting' | 'open' | 'closed' = 'connecting';
  /** A frame could not cross (a cut): the connection silently carries nothing more, as a dead TCP stream. */
  private dead = false;
  private sentToMember = 0;
  private sentToClient = 0;
  private deliveredToMember = 0;
  private deliveredToClient = 0;
  private readonly heldForMember = new Map<number, () => void>();
  private readonly heldForClient = new Map<number, () => void>();
  private static sequence = 0;

  constructor(
    private readonly network: SimNetwork,
    readonly client: string,
    private readonly clientOwner: Owner,
    readonly member: string,
    private readonly events: { onOpen(): void; onMessage(frame: Uint8Array): void; onClose(): void },
  ) {}

  /** The TCP handshake: refused when the member is not running or the link is cut. */
  connect(): void {
    if (this.state !== 'connecting') return;
    this.network.frameTrace?.trace(this.client, `connect ${this.member}`);
    const endpoint = this.network.running(this.member);
    if (endpoint === undefined || this.network.isCut(this.client, this.member) || this.network.isCut(this.member, this.client)) {
      this.state = 'closed';
      this.events.onClose();
      return;
    }
    this.network.register(this);
    this.state = 'open';
    this.channel = new ClientChannel(++SimSocket.sequence, endpoint.requests, (frame) => this.toClient(frame), (callback) => endpoint.clock.defer(callback));
    this.events.onOpen();
  }

  private traceFrame(direction: string, frame: Uint8Array): void {
    const debug = this.network.frameTrace;
    if (debug === null || !debug.clients.has(this.client)) return;
    const shown = JSON.stringify(decodeFrame(frame), (_k, v: unknown) => (v instanceof Uint8Array ? `bytes(${v.length})` : v));
    debug.trace(this.client, `${direction} ${this.member}: ${shown.slice(0, 400)}`);
  }

  send(frame: Uint8Array): void {
    if (this.state !== 'open' || this.dead) return;
    this.traceFrame('->', frame);
    const channel = this.channel;
    const sequence = ++this.sentToMember;
    const sent = this.network.transmitInOrder(
      this.client,
      this.member,
      () => this.inOrder('member', sequence, () => channel?.receive(frame)),
      () => (this.state === 'open' ? (this.network.running(this.member)?.owner ?? null) : null),
    );
    if (!sent) this.dead = true;
  }

  private toClient(frame: Uint8Array): void {
    if (this.state !== 'open' || this.dead) return;
    const sequence = ++this.sentToClient;
    const sent = this.network.transmitInOrder(
      this.member,
      this.client,
      () =>
        this.inOrder('client', sequence, () => {
          this.traceFrame('<-', frame);
          this.events.onMessage(frame);
        }),
      () => (this.state === 'open' && this.clientOwner.alive ? this.clientOwner : null),
    );
    if (!sent) this.dead = true;
  }

  /**
   * A stream delivers in order: a frame that took the slow path holds back the ones behind it. Frames are
   * numbered per direction; each runs only after its predecessor did.
   */
  private inOrder(side: 'member' | 'client', sequence: number, deliver: () => void): void {
    const waiting = side === 'member' ? this.heldForMember : this.heldForClient;
    waiting.set(sequence, deliver);
    for (;;) {
      const next = (side === 'member' ? this.deliveredToMember : this.deliveredToClient) + 1;
      const run = waiting.get(next);
      if (run === undefined || this.state !== 'open') return;
      waiting.delete(next);
      if (side === 'member') this.deliveredToMember = next;
      else this.deliveredToClient = next;
      run();
    }
  }

  terminate(): void {
    this.drop();
  }

  close(): void {
    this.drop();
  }

  /** Both ends learn the connection is gone (the member's side at once, the client's a moment later). */
  drop(): void {
    if (this.state === 'closed') return;
    if (this.network.frameTrace?.clients.has(this.client) === true) this.network.frameTrace.trace(this.client, `closed ${this.member}`);
    this.state = 'closed';
    this.network.unregister(this);
    this.channel?.closed();
    this.channel = null;
    this.network.later(0.05, () => this.events.onClose(), this.clientOwner);
  }
}
