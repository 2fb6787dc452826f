// A fault-injecting TCP proxy in front of one member's peer port. Every peer names itself in its WebSocket
// upgrade (`x-synod-member`), so the proxy knows which directed link each connection carries and can cut it:
// a cut link black-holes its bytes (the connection stays open, nothing crosses, as in a network partition);
// healing lets what waited cross, as TCP's retransmissions would, unless too much piled up, in which case the
// connection is reset (as a real one would time out). While its member is down, the proxy stops listening too,
// so peers are refused as they would be by a dead member's port.

import { createServer, connect, type Server, type Socket } from 'node:net';

/** Bytes held back on one cut connection before it is reset. */
const heldBytesMax = 4 * 1024 * 1024;
const headerEnd = Buffer.from('\r\n\r\n');

interface Link {
  readonly from: string;
  readonly client: Socket;
  readonly upstream: Socket;
  held: Buffer[];
  heldBytes: number;
}

export class PeerProxy {
  private server: Server | null = null;
  private readonly links = new Set<Link>();
  /** Members whose bytes to this member are black-holed. */
  private readonly cutFrom = new Set<string>();
  port = 0;

  constructor(
    /** The member this proxy stands in front of. */
    readonly member: string,
    private readonly upstreamPort: number,
  ) {}

  async listen(port = this.port): Promise<number> {
    if (this.server !== null) return this.port;
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  /** Whether bytes from `from` to this member cross. */
  setCut(from: string, cut: boolean): void {
    if (cut) {
      this.cutFrom.add(from);
      return;
    }
    if (!this.cutFrom.delete(from)) return;
    for (const link of this.links) if (link.from === from) this.release(link);
  }

  healAll(): void {
    for (const from of [...this.cutFrom]) this.setCut(from, false);
  }

  /** Resets every connection (as when the member's host reboots its network). */
  resetAll(): void {
    for (const link of [...this.links]) this.drop(link);
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    let head = Buffer.alloc(0);
    const onHead = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf(headerEnd);
      if (end < 0) {
        if (head.length > 64 * 1024) socket.destroy();
        return;
      }
      socket.off('data', onHead);
      const from = /x-synod-member:\s*([^\r\n]+)/i.exec(head.subarray(0, end).toString('latin1'))?.[1]?.trim() ?? '?';
      this.open(socket, from, head);
    };
    socket.on('data', onHead);
    socket.on('error', () => socket.destroy());
  }

  private open(client: Socket, from: string, first: Buffer): void {
    const upstream = connect(this.upstreamPort, '127.0.0.1');
    upstream.setNoDelay(true);
    const link: Link = { from, client, upstream, held: [], heldBytes: 0 };
    this.links.add(link);
    const close = (): void => this.drop(link);
    upstream.on('error', close);
    upstream.on('close', close);
    client.on('close', close);
    client.on('error', close);
    this.forward(link, first);
    client.on('data', (chunk: Buffer) => this.forward(link, chunk));
    // The answering direction carries only the handshake and WebSocket control frames: let it through.
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
  }

  private forward(link: Link, chunk: Buffer): void {
    if (!this.cutFrom.has(link.from) && link.held.length === 0) {
      link.upstream.write(chunk);
      return;
    }
    link.held.push(chunk);
    link.heldBytes += chunk.length;
    if (link.heldBytes > heldBytesMax) this.drop(link);
  }

  private release(link: Link): void {
    const held = link.held;
    link.held = [];
    link.heldBytes = 0;
    for (const chunk of held) link.upstream.write(chunk);
  }

  private drop(link: Link): void {
    if (!this.links.delete(link)) return;
    link.client.destroy();
    link.upstream.destroy();
  }

  /** Stops listening and resets every connection: the member's port refuses, as a dead process's does. */
  async close(): Promise<void> {
    this.resetAll();
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
