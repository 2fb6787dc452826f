// Idempotent retries (the Raft dissertation's client sessions): a repeated (clientId, sequence) returns the
// first result without applying again, older sequences are refused, and the table is bounded (LRU).

import { describe, expect, it } from 'vitest';
import type { Command } from '../../server/state/index.ts';
import { Harness, bytes, err, ok } from './helpers.ts';

const meta = (clientId: string, sequence: number) => ({ clientId, sequence, timeMs: 5 });
const create = (path: string, clientId: string, sequence: number): Command => ({
  op: 'create',
  path,
  data: bytes(''),
  mode: 'persistent',
  sequential: true,
  parents: false,
  ...meta(clientId, sequence),
});

describe('idempotency', () => {
  it('returns the first result for a retried command without applying it again', () => {
    const h = new Harness();
    const first = h.apply(create('/job-', 'c1', 1));
    const retry = h.apply(create('/job-', 'c1', 1));
    expect(retry.result).toBe(first.result);
    expect(retry.revision).toBe(first.revision);
    expect(retry.events).toEqual([]);
    expect(h.names('/')).toEqual(['job-0000000000']);
    expect(h.machine.revision).toBe(1);
  });

  it('returns a recorded failure too', () => {
    const h = new Harness();
    const set: Command = { op: 'set', path: '/missing', data: bytes('x'), ...meta('c1', 1) };
    const first = h.apply(set);
    expect(err(first.result).code).toBe('not_found');
    ok(h.create('/missing').result);
    expect(h.apply(set).result).toBe(first.result);
  });

  it('answers the first result even after later writes moved the revision', () => {
    const h = new Harness();
    const first = h.apply(create('/a-', 'c1', 1));
    ok(h.create('/other').result);
    const retry = h.apply(create('/a-', 'c1', 1));
    expect(retry.revision).toBe(1);
    expect(retry.result).toBe(first.result);
  });

  it('answers a retry of an earlier write after later writes of the same client applied (pipelining)', () => {
    const h = new Harness();
    const fifth = h.apply(create('/a-', 'c1', 5));
    const sixth = h.apply(create('/a-', 'c1', 6));
    const retry = h.apply(create('/a-', 'c1', 5));
    expect(retry.result).toBe(fifth.result);
    expect(retry.revision).toBe(fifth.revision);
    expect(h.apply(create('/a-', 'c1', 6)).result).toBe(sixth.result);
    expect(h.names('/')).toHaveLength(2);
  });

  it('applies a lower new sequence that arrives after a higher one (reordered, never seen before)', () => {
    const h = new Harness();
    ok(h.apply(create('/a-', 'c1', 6)).result);
    ok(h.apply(create('/a-', 'c1', 5)).result);
    expect(h.names('/')).toHaveLength(2);
  });

  it('forgets results below the acknowledged mark and refuses those sequences with stale_sequence', () => {
    const h = new Harness();
    ok(h.apply(create('/a-', 'c1', 1)).result);
    ok(h.apply(create('/a-', 'c1', 2)).result);
    ok(h.apply({ ...create('/a-', 'c1', 3), ack: 2 }).result);
    expect([...h.machine.clients.peek('c1')!.results.keys()]).toEqual([2, 3]);
    const stale = h.apply(create('/a-', 'c1', 1));
    expect(err(stale.result).code).toBe('stale_sequence');
    expect(h.names('/')).toHaveLength(3);
    // Still remembered above the mark.
    expect(h.apply(create('/a-', 'c1', 2)).revision).toBe(2);
  });

  it('keeps at most clientResultsMax results per client, refusing retries of the ones it dropped', () => {
    const h = new Harness({ clientResultsMax: 3 });
    for (let sequence = 1; sequence <= 5; sequence++) ok(h.apply(create('/a-', 'c1', sequence)).result);
    expect([...h.machine.clients.peek('c1')!.results.keys()]).toEqual([3, 4, 5]);
    expect(err(h.apply(create('/a-', 'c1', 2)).result).code).toBe('stale_sequence');
    expect(h.names('/')).toHaveLength(5);
  });

  it('refuses an ack above the sequence as a malformed command, recording nothing', () => {
    const h = new Harness();
    expect(err(h.apply({ ...create('/a-', 'c1', 2), ack: 3 }).result).code).toBe('bad_request');
    expect(h.machine.clients.peek('c1')).toBeUndefined();
  });

  it('accepts gaps in sequence numbers', () => {
    const h = new Harness();
    ok(h.apply(create('/a-', 'c1', 1)).result);
    ok(h.apply(create('/a-', 'c1', 10)).result);
    expect(h.names('/')).toHaveLength(2);
  });

  it('refuses a reused sequence number for a different command type', () => {
    const h = new Harness();
    ok(h.apply(create('/a-', 'c1', 1)).result);
    const other = h.apply({ op: 'sweep', ...meta('c1', 1) });
    expect(err(other.result).code).toBe('bad_request');
  });

  it('keeps clients apart', () => {
    const h = new Harness();
    ok(h.apply(create('/a-', 'c1', 1)).result);
    ok(h.apply(create('/a-', 'c2', 1)).result);
    expect(h.names('/')).toHaveLength(2);
  });

  it('does not deduplicate the empty client id', () => {
    const h = new Harness();
    ok(h.apply(create('/a-', '', 1)).result);
    ok(h.apply(create('/a-', '', 1)).result);
    expect(h.names('/')).toHaveLength(2);
    expect(h.machine.clients.size).toBe(0);
  });

  it('forgets the least recently used client beyond clientsMax', () => {
    const h = new Harness({ clientsMax: 2 });
    ok(h.apply(create('/a-', 'c1', 1)).result);
    ok(h.apply(create('/a-', 'c2', 1)).result);
    // A replay counts as a use: c1 becomes the most recent.
    h.apply(create('/a-', 'c1', 1));
    ok(h.apply(create('/a-', 'c3', 1)).result);
    expect([...h.machine.clients.records.keys()]).toEqual(['c1', 'c3']);
    // c2 was forgotten: its retry is applied again (the documented limit of a bounded table).
    ok(h.apply(create('/a-', 'c2', 1)).result);
    expect(h.names('/')).toHaveLength(4);
  });

  it('rejects a too-long client id with bad_request, unrecorded', () => {
    const h = new Harness({ clientIdLengthMax: 4 });
    expect(err(h.apply(create('/a-', 'c12345', 1)).result).code).toBe('bad_request');
    expect(h.machine.clients.size).toBe(0);
  });
});
