// Clock, randomness and sockets for the SDK's timers, backoff, jitter and connections: injected, so tests
// (and the whole-node simulator) can control them.

import { randomInt } from 'node:crypto';
import { WebSocket } from 'ws';

/** A pending timer from `Deps.clock.setTimeout`, for `clearTimeout`. */
export interface Timer {
  readonly handle: unknown;
}

/** What a connection hears from its socket. */
export interface SocketEvents {
  onOpen(): void;
  /** One binary frame; the bytes are the receiver's to keep. */
  onMessage(frame: Uint8Array): void;
  /** Closed or failed; called once, also when opening failed. */
  onClose(): void;
}

/** A client-side socket to one member (a WebSocket by default). */
export interface ClientSocket {
  send(frame: Uint8Array): void;
  /** Ends the connection abruptly (as a network failure would). */
  terminate(): void;
  /** Ends it politely. */
  close(): void;
}

export interface SocketOptions {
  /** Deadline of the opening handshake (ConnectOptions.connectTimeoutMs). */
  readonly connectTimeoutMs: number;
  /** The largest frame to accept from the member, in bytes. */
  readonly frameBytesMax: number;
}

export type SocketFactory = (url: string, events: SocketEvents, options: SocketOptions) => ClientSocket;

/**
 * What the SDK uses of the outside world, injected so tests and the whole-node simulator control it; the system
 * implementation (`performance.now()`, Node timers, `node:crypto`, `ws`) by default.
 */
export interface Deps {
  /** Time and timers. */
  readonly clock: {
    /** Milliseconds on a monotonic clock; only differences matter. */
    now(): number;
    /** Runs `callback` once, `delayMs` from now. */
    setTimeout(callback: () => void, delayMs: number): Timer;
    /** Cancels a timer that has not run. */
    clearTimeout(timer: Timer): void;
    /** Runs `callback` after the current turn (requests made in one turn share a frame). */
    defer(callback: () => void): void;
  };
  /** A uniform integer in [0, bound) (backoff jitter, the first endpoint to try). */
  readonly random: { int(bound: number): number };
  /** Opens a socket to `ws://host:port/v1/ws`. */
  readonly connect: SocketFactory;
  /** Tests only: deliberately broken variants the whole-node simulator must catch. */
  readonly plantedBugs?: SdkBugs;
}

/** Deliberately broken variants of the SDK (tests only). */
export interface SdkBugs {
  /** A lock waiter takes the lock when its predecessor goes, without looking again (its own node may be gone). */
  readonly lockWithoutRecheck?: boolean;
  /** A watch resumes one revision too late, dropping the events of the revision after the last delivered. */
  readonly watchResumeSkipsOne?: boolean;
}

/** The default transport: a WebSocket from the `ws` package. */
export const webSocketFactory: SocketFactory = (url, events, options) => {
  const socket = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: options.connectTimeoutMs, maxPayload: options.frameBytesMax });
  socket.binaryType = 'nodebuffer';
  socket.on('open', () => events.onOpen());
  socket.on('message', (data: Buffer) => events.onMessage(data));
  socket.on('error', () => {}); // 'close' follows
  socket.on('close', () => events.onClose());
  return {
    send: (frame) => socket.send(frame),
    terminate: () => socket.terminate(),
    close: () => socket.close(),
  };
};

export const systemDeps: Deps = {
  clock: {
    now: () => performance.now(),
    // Not unref'd: a request waiting for an answer (or for the reconnect that will carry it) keeps the process
    // alive, as any I/O does; close() ends them all.
    setTimeout: (callback, delayMs) => ({ handle: setTimeout(callback, delayMs) }),
    clearTimeout: (timer) => clearTimeout(timer.handle as NodeJS.Timeout),
    defer: (callback) => void setImmediate(callback),
  },
  random: { int: (bound) => (bound <= 1 ? 0 : randomInt(bound)) },
  connect: webSocketFactory,
};
