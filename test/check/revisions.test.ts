// The revision checker: writes commit at distinct revisions, and revisions never go back in real time, across keys.

import { describe, expect, it } from 'vitest';
import { create, get, o, op, r, set, txn } from './builders.ts';
import { checkRevisions, formatReport, type History } from './index.ts';

describe('checkRevisions', () => {
  it('accepts increasing write revisions, reads at or above what completed before, and any order when concurrent', () => {
    const history: History = [
      op(1, 0, 2, create('/a', 'x'), o.created(5)),
      op(2, 3, 10, set('/b', 'y'), o.set(1, 7)),
      op(3, 4, 9, set('/a', 'z'), o.set(1, 6)),
      op(4, 3, 4, get('/b'), o.missing(5)),
      op(4, 11, 12, get('/a'), o.found('z', 1, 7)),
      op(5, 11, 12, set('/a', 'q', 0), { status: 'error', error: 'bad_version', revision: 7 }),
      op(6, 11, 13, txn([], [get('/a')]), o.txn(true, [r.found('z', 1)], 7)),
    ];
    expect(checkRevisions(history)).toMatchObject({ ok: true, stats: { writes: 3, reads: 4, violations: 0 } });
  });

  it('catches a write whose revision is lower than that of a write completed before it', () => {
    const result = checkRevisions([
      op(1, 0, 2, set('/a', 'x'), o.set(1, 9)),
      op(2, 3, 5, set('/b', 'y'), o.set(1, 8)),
    ]);
    expect(result).toMatchObject({
      ok: false,
      violations: [{ kind: 'back_in_time', earlier: { index: 0 }, later: { index: 1 }, laterIsWrite: true }],
    });
    expect(formatReport(result)).toContain('revision 8 after 9 had completed (a write must commit above it)');
  });

  it('catches a write at the revision a completed read already saw', () => {
    const result = checkRevisions([op(1, 0, 2, get('/a'), o.missing(4)), op(2, 3, 5, create('/a', 'x'), o.created(4))]);
    expect(result).toMatchObject({ ok: false, violations: [{ kind: 'back_in_time', laterRevision: 4 }] });
  });

  it('catches a stale read of another key: below a write that completed before it began', () => {
    const result = checkRevisions([op(1, 0, 2, set('/a', 'x'), o.set(1, 12)), op(2, 3, 4, get('/b'), o.missing(11))]);
    expect(result).toMatchObject({ ok: false, violations: [{ kind: 'back_in_time', laterIsWrite: false }] });
  });

  it('catches two writes reporting one revision, even when concurrent', () => {
    const result = checkRevisions([op(1, 0, 5, set('/a', 'x'), o.set(1, 3)), op(2, 1, 6, set('/b', 'y'), o.set(1, 3))]);
    expect(result).toMatchObject({ ok: false, violations: [{ kind: 'duplicate', revision: 3 }] });
    expect(formatReport(result)).toContain('two writes committed at revision 3');
  });

  it('ignores outcomes without a revision, unknown outcomes and failures', () => {
    const result = checkRevisions([
      op(1, 0, 2, set('/a', 'x'), o.set(1, 3)),
      op(2, 3, 4, set('/a', 'y'), o.set(2)),
      { process: 3, invokeMs: 0, completeMs: null, operation: set('/a', 'z'), outcome: { status: 'unknown' } },
      op(4, 5, 6, set('/a', 'w'), { status: 'failed', reason: 'no_leader' }),
    ]);
    expect(result).toMatchObject({ ok: true, stats: { writes: 1, reads: 0 } });
  });
});
