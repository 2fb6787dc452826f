// Hand-written linearizable histories pass: overlapping operations, CAS races with one winner, transactions, and
// operations whose outcome is unknown, whether they took effect or not.

import { describe, expect, it } from 'vitest';
import { create, del, exists, get, lost, o, op, r, set, txn, versionIs } from './builders.ts';
import { checkLinearizable, formatReport, type History } from './index.ts';

function expectLinearizable(history: History): void {
  const result = checkLinearizable(history);
  if (result.ok !== true) throw new Error(formatReport(result));
  expect(result.ok).toBe(true);
}

describe('linearizable histories', () => {
  it('passes a sequential history', () => {
    expectLinearizable([
      op(1, 0, 1, create('/a', 'x'), o.created()),
      op(1, 2, 3, get('/a'), o.found('x', 0)),
      op(1, 4, 5, set('/a', 'y'), o.set(1)),
      op(1, 6, 7, del('/a', 1), o.deleted()),
      op(1, 8, 9, get('/a'), o.missing()),
    ]);
  });

  it('lets reads concurrent with a write see either value, in an order real time allows', () => {
    expectLinearizable([
      op(1, 0, 1, create('/a', 'old'), o.created()),
      op(1, 10, 20, set('/a', 'new'), o.set(1)),
      op(2, 11, 13, get('/a'), o.found('old', 0)),
      op(3, 12, 14, get('/a'), o.found('new', 1)),
      op(2, 15, 25, get('/a'), o.found('new', 1)),
    ]);
  });

  it('orders overlapping writes by what later reads saw, even against invocation order', () => {
    expectLinearizable([
      op(1, 0, 10, create('/a', 'first-invoked'), o.error('exists')),
      op(2, 1, 9, create('/a', 'second-invoked'), o.created()),
      op(3, 11, 12, get('/a'), o.found('second-invoked', 0)),
    ]);
  });

  it('accepts a CAS race where exactly one writer wins', () => {
    expectLinearizable([
      op(1, 0, 1, create('/a', 'v0'), o.created()),
      op(1, 2, 8, set('/a', 'p1', 0), o.set(1)),
      op(2, 3, 9, set('/a', 'p2', 0), o.error('bad_version')),
      op(3, 4, 7, txn([versionIs('/a', 0)], [set('/a', 'p3')], [get('/a')]), o.txn(false, [r.found('p1', 1)])),
      op(3, 10, 11, get('/a'), o.found('p1', 1)),
    ]);
  });

  it('accepts an atomic two-key txn whose effects are seen together', () => {
    expectLinearizable([
      op(1, 0, 10, txn([exists('/a', false)], [create('/a', 'x'), create('/b', 'x')]), o.txn(true, [r.created, r.created])),
      op(2, 1, 3, get('/b'), o.missing()),
      op(2, 4, 6, get('/a'), o.found('x', 0)),
      op(3, 5, 8, get('/b'), o.found('x', 0)),
    ]);
  });

  it('accepts a txn that failed as a whole and changed nothing', () => {
    expectLinearizable([
      op(1, 0, 1, create('/b', 'taken'), o.created()),
      op(1, 2, 3, txn([], [create('/a', 'x'), create('/b', 'x')]), o.error('exists', 1)),
      op(1, 4, 5, get('/a'), o.missing()),
    ]);
  });

  it('accepts an unknown-outcome write that took effect, seen later', () => {
    expectLinearizable([
      op(1, 0, 1, create('/a', 'v0'), o.created()),
      lost(2, 2, set('/a', 'maybe')),
      op(3, 20, 21, get('/a'), o.found('maybe', 1)),
      op(3, 22, 23, set('/a', 'after'), o.set(2)),
    ]);
  });

  it('accepts an unknown-outcome write that never took effect', () => {
    expectLinearizable([
      op(1, 0, 1, create('/a', 'v0'), o.created()),
      lost(2, 2, set('/a', 'never')),
      op(3, 20, 21, get('/a'), o.found('v0', 0)),
      op(3, 22, 23, set('/a', 'after'), o.set(1)),
      op(3, 24, 25, get('/a'), o.found('after', 1)),
    ]);
  });

  it('accepts an unknown-outcome write that took effect long after its client gave up', () => {
    expectLinearizable([
      op(1, 0, 1, create('/a', 'v0'), o.created()),
      lost(2, 2, set('/a', 'late')),
      op(3, 20, 21, get('/a'), o.found('v0', 0)),
      op(3, 40, 41, get('/a'), o.found('late', 1)),
    ]);
  });

  it('accepts an unknown write seen only through the version it consumed', () => {
    expectLinearizable([
      op(1, 0, 1, create('/a', 'v0'), o.created()),
      lost(2, 2, set('/a', 'unseen')),
      op(3, 20, 21, set('/a', 'next'), o.set(2)),
    ]);
  });

  it('drops operations that definitely failed', () => {
    expectLinearizable([
      op(1, 0, 1, create('/a', 'v0'), o.created()),
      op(2, 2, 3, set('/a', 'rejected'), { status: 'failed', reason: 'no_leader' }),
      op(1, 4, 5, get('/a'), o.found('v0', 0)),
    ]);
  });

  it('checks keys independently and reports its work', () => {
    const history = [
      op(1, 0, 1, create('/a', 'x'), o.created()),
      op(2, 0, 1, create('/b', 'y'), o.created()),
      lost(3, 0, get('/b')),
    ];
    const result = checkLinearizable(history);
    expect(result).toMatchObject({ ok: true, stats: { operations: 3, dropped: 1, unknown: 0, partitions: 2 } });
  });
});
