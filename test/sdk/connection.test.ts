// The SDK's connection and client against scripted members (no server): which requests it resends, which it
// gives up, and what a write barrier sends.

import { describe, expect, it } from 'vitest';
import { connect } from '../../sdk/client.ts';
import { Connection } from '../../sdk/connection.ts';
import { systemDeps, type SocketEvents } from '../../sdk/deps.ts';
import { decodeFrame, encodeFrame } from '../../sdk/protocol/codec.ts';
import type { Request, Response, ServerMessage } from '../../sdk/protocol/messages.ts';

/**
 * Members that answer each request with `answer(endpoint, request)`, drop the connection unanswered ('die') or
 * never answer ('hold'); records every request with the endpoint that received it.
 */
function scriptedMembers(answer: (endpoint: string, request: Request) => Response | ServerMessage[] | 'die' | 'hold') {
  const received: Array<{ endpoint: string; request: Request }> = [];
  const connect = (url: string, events: SocketEvents) => {
    const endpoint = url.replace(/^ws:\/\//, '').replace(/\/v1\/ws$/, '');
    let open = true;
    setImmediate(() => events.onOpen());
    const close = (): void => {
      if (!open) return;
      open = false;
      setImmediate(() => events.onClose());
    };
    return {
      send: (frame: Uint8Array) => {
        for (const request of decodeFrame(frame) as Request[]) {
          received.push({ endpoint, request });
          const response = answer(endpoint, request);
          if (response === 'die') close();
          else if (response !== 'hold') setImmediate(() => open && events.onMessage(encodeFrame(Array.isArray(response) ? response : [response])));
        }
      },
      terminate: close,
      close,
    };
  };
  const ops = (): Array<{ endpoint: string; op: string }> => received.map(({ endpoint, request }) => ({ endpoint, op: request.op }));
  const requests = (): Request[] => received.map(({ request }) => request);
  return { ops, requests, deps: { ...systemDeps, connect } };
}

/** A connection to member a:1, which names no leader when it opens. */
function connection(deps: typeof systemDeps): Connection {
  return new Connection({
    endpoints: ['a:1'],
    requestTimeoutMs: 2_000,
    connectTimeoutMs: 1_000,
    backoffMinMs: 1,
    backoffMaxMs: 5,
    stallTimeoutMs: 1_000,
    preferLeader: true,
    deps,
    onConnect: () => Promise.resolve({ leaderEndpoint: null }),
    onPush: () => {},
    onDisconnect: () => {},
    needsLiveness: () => false,
  });
}

const header = { revision: 1, term: 1, member: 'x' } as never;

describe('connection', () => {
  it('carries a request not to be repeated to the leader after a no_leader answer that named it, instead of failing it', async () => {
    // Member a does not know the leader when the connection opens; by the time the request arrives it does,
    // and refuses with no_leader naming b. The connection moves to b, where the request succeeds.
    const { ops, deps } = scriptedMembers((endpoint, request): Response =>
      endpoint === 'a:1'
        ? { id: request.id, ok: false, error: { code: 'no_leader', message: 'ask b', leader: 'b', leaderEndpoint: 'b:2' } }
        : { id: request.id, ok: true, header, result: { removed: 'n3' } },
    );
    const conn = connection(deps);
    try {
      const answer = await conn.call({ op: 'memberRemove', name: 'n3' }, { retry: false });
      expect(answer.result).toEqual({ removed: 'n3' });
      expect(ops()).toEqual([{ endpoint: 'a:1', op: 'memberRemove' }, { endpoint: 'b:2', op: 'memberRemove' }]);
    } finally {
      conn.close();
    }
  });

  it('fails a request not to be repeated whose connection closed while it was out, without sending it again', async () => {
    const { ops, deps } = scriptedMembers(() => 'die');
    const conn = connection(deps);
    try {
      await expect(conn.call({ op: 'memberRemove', name: 'n3' }, { retry: false })).rejects.toMatchObject({ code: 'unavailable' });
      expect(ops()).toEqual([{ endpoint: 'a:1', op: 'memberRemove' }]);
    } finally {
      conn.close();
    }
  });

  it('follows the members a member announces: when its member dies, it goes to one it was told of since', async () => {
    // The client was given a:1 only. a:1 announces b:2 with its first answer, then dies on every request.
    const { ops, deps } = scriptedMembers((endpoint, request): Response | ServerMessage[] | 'die' => {
      if (endpoint === 'b:2') return { id: request.id, ok: true, header, result: 'from b' };
      return request.op === 'ping' ? [{ endpoints: ['a:1', 'b:2'] }, { id: request.id, ok: true, header, result: 'from a' }] : 'die';
    });
    const conn = connection(deps);
    try {
      expect((await conn.call({ op: 'ping' })).result).toBe('from a');
      expect((await conn.call({ op: 'get', path: '/x' })).result).toBe('from b');
      expect(ops().at(-1)).toEqual({ endpoint: 'b:2', op: 'get' });
    } finally {
      conn.close();
    }
  });

  it('sends a write barrier only once the writes in flight settled, acknowledging past every write given up', async () => {
    const hello = { member: 'a', sessionTtlMinMs: 1000, sessionTtlMaxMs: 60_000, leader: 'a', leaderEndpoint: 'a:1' };
    const { requests, deps } = scriptedMembers((_endpoint, request): Response | 'hold' =>
      request.op === 'create' ? 'hold' : { id: request.id, ok: true, header, result: request.op === 'hello' ? hello : {} },
    );
    const client = await connect({ endpoints: ['a:1'], deps });
    try {
      const givenUp = client.create('/given-up', 'x', { timeoutMs: 20 });
      // Long enough that a stalled event loop cannot let it settle before the barrier is asked for.
      const slow = client.create('/slow', 'x', { timeoutMs: 1_500 });
      await expect(givenUp).rejects.toMatchObject({ code: 'timeout' });
      const barrier = client.writeBarrier();
      // The barrier waits for the write still in flight: an acknowledgement mark past it would refuse it.
      await expect(slow).rejects.toMatchObject({ code: 'timeout' });
      const sentBeforeSlowSettled = requests().length;
      await barrier;
      const sent = requests();
      expect(sent.findIndex((r) => r.op === 'txn')).toBeGreaterThanOrEqual(sentBeforeSlowSettled);
      const creates = sent.flatMap((r) => (r.op === 'create' ? [r.sequence ?? 0] : []));
      const txn = sent.find((r) => r.op === 'txn');
      expect(txn).toMatchObject({ compares: [], success: [], failure: [] });
      expect(txn?.ack).toBeGreaterThan(Math.max(...creates));
      expect(txn?.ack).toBe(txn?.sequence);
    } finally {
      await client.close();
    }
  });
});
