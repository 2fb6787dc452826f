// Classic anomalies fail, each with a report that names the partition and the operation that cannot be placed.

import { describe, expect, it } from 'vitest';
import { create, exists, get, lost, o, op, r, set, txn, versionIs } from './builders.ts';
import { checkLinearizable, formatReport, type History, type LinearizabilityResult } from './index.ts';

type Violation = Extract<LinearizabilityResult, { ok: false }>;

function expectViolation(history: History): Violation {
  const result = checkLinearizable(history);
  if (result.ok !== false) throw new Error(`expected a violation, got ${formatReport(result)}`);
  return result;
}

describe('non-linearizable histories', () => {
  it('catches a stale read after a completed write', () => {
    const result = expectViolation([
      op(1, 0, 1, create('/a', 'old'), o.created()),
      op(1, 2, 5, set('/a', 'new'), o.set(1)),
      op(2, 6, 8, get('/a'), o.found('old', 0)),
    ]);
    expect(result.keys).toEqual(['/a']);
    expect(result.explanation.deadline.index).toBe(2);
    expect(result.explanation.state).toEqual([{ key: '/a', register: { value: 'new', version: 1 } }]);
  });

  it('catches a lost update: two CAS on the same version both succeed', () => {
    const result = expectViolation([
      op(1, 0, 1, create('/a', 'v0'), o.created()),
      op(1, 2, 6, set('/a', 'p1', 0), o.set(1)),
      op(2, 3, 7, set('/a', 'p2', 0), o.set(1)),
    ]);
    // Whichever CAS goes first, the other finds version 1 and would answer bad_version.
    expect(result.explanation.linearized.map((indexed) => indexed.index)).toEqual([0, 1]);
    expect(result.explanation.candidates).toMatchObject([{ entry: { index: 2 }, fits: false, model: o.error('bad_version') }]);
  });

  it('catches a read of a value never written', () => {
    expectViolation([op(1, 0, 1, create('/a', 'x'), o.created()), op(2, 2, 3, get('/a'), o.found('ghost', 0))]);
  });

  it('catches a read that goes back in time', () => {
    expectViolation([
      op(1, 0, 1, create('/a', 'old'), o.created()),
      op(1, 10, 30, set('/a', 'new'), o.set(1)),
      op(2, 11, 14, get('/a'), o.found('new', 1)),
      op(3, 15, 20, get('/a'), o.found('old', 0)),
    ]);
  });

  it('catches a txn observed half-applied', () => {
    const result = expectViolation([
      op(1, 0, 20, txn([exists('/a', false)], [create('/a', 'x'), create('/b', 'x')]), o.txn(true, [r.created, r.created])),
      op(2, 1, 4, get('/a'), o.found('x', 0)),
      op(2, 5, 8, get('/b'), o.missing()),
    ]);
    expect(result.keys).toEqual(['/a', '/b']);
  });

  it('catches an unknown-outcome write whose effect is seen, then unseen', () => {
    expectViolation([
      op(1, 0, 1, create('/a', 'v0'), o.created()),
      lost(2, 2, set('/a', 'maybe')),
      op(3, 10, 11, get('/a'), o.found('maybe', 1)),
      op(3, 12, 13, get('/a'), o.found('v0', 0)),
    ]);
  });

  it('catches the effect of an operation that definitely failed', () => {
    expectViolation([
      op(1, 0, 1, create('/a', 'v0'), o.created()),
      op(2, 2, 3, set('/a', 'rejected'), { status: 'failed', reason: 'no_leader' }),
      op(1, 4, 5, get('/a'), o.found('rejected', 1)),
    ]);
  });

  it('catches a CAS txn that succeeded on a version it could not have seen', () => {
    expectViolation([
      op(1, 0, 1, create('/a', 'v0'), o.created()),
      op(1, 2, 3, set('/a', 'v1'), o.set(1)),
      op(2, 4, 5, txn([versionIs('/a', 0)], [set('/a', 'late')], [get('/a')]), o.txn(true, [r.set(2)])),
    ]);
  });
});

describe('formatReport', () => {
  it('shows the partition, the prefix, the state, and why each candidate cannot go next', () => {
    const report = formatReport(
      expectViolation([
        op(1, 0, 1, create('/a', 'old'), o.created()),
        op(1, 2, 5, set('/a', 'new'), o.set(1)),
        op(2, 6, 8, get('/a'), o.found('old', 0)),
      ]),
    );
    expect(report).toContain('NOT LINEARIZABLE: partition {/a}');
    expect(report).toContain('No order of the operations places #2 before it returned at 8 ms.');
    expect(report).toContain('Longest linearizable prefix found: 2 of 3 operations');
    expect(report).toContain('State after it: /a = "new" v1');
    expect(report).toContain('does not fit here: the model answers found "new" v1');
    expect(report).toMatch(/! #2 p2 +\[ +6 → +8 ms\] {2}get \/a {2}→ found "old" v0/);
  });
});
