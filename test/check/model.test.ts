// The sequential specification: versions, guards, compares on absent keys, and all-or-nothing transactions.

import { describe, expect, it } from 'vitest';
import { create, del, exists, get, r, set, txn, versionIs } from './builders.ts';
import { applyOperation, type Compare, type ModelOutcome, type Operation, type Register } from './index.ts';

/** Applies operations in order from an empty map; returns every outcome and the final state. */
function run(...operations: Operation[]): { outcomes: ModelOutcome[]; state: ReadonlyMap<string, Register> } {
  let state: ReadonlyMap<string, Register> = new Map();
  const outcomes = operations.map((operation) => {
    const step = applyOperation(state, operation);
    state = step.state;
    return step.outcome;
  });
  return { outcomes, state };
}

const ok = (result: unknown) => ({ status: 'ok', result });
const error = (code: string, opIndex?: number) =>
  opIndex === undefined ? { status: 'error', error: code } : { status: 'error', error: code, opIndex };

describe('single operations', () => {
  it('creates at version 0 and bumps the version on each set', () => {
    const { outcomes, state } = run(create('/a', 'x'), set('/a', 'y'), set('/a', 'z'), get('/a'));
    expect(outcomes).toEqual([ok(r.created), ok(r.set(1)), ok(r.set(2)), ok(r.found('z', 2))]);
    expect(state.get('/a')).toEqual({ value: 'z', version: 2 });
  });

  it('refuses with exists, not_found and bad_version, without effect', () => {
    const { outcomes, state } = run(
      set('/a', 'x'),
      del('/a'),
      create('/a', 'x'),
      create('/a', 'y'),
      set('/a', 'y', 3),
      del('/a', 3),
      get('/a'),
    );
    expect(outcomes).toEqual([
      error('not_found'),
      error('not_found'),
      ok(r.created),
      error('exists'),
      error('bad_version'),
      error('bad_version'),
      ok(r.found('x', 0)),
    ]);
    expect(state.get('/a')).toEqual({ value: 'x', version: 0 });
  });

  it('reports not_found before bad_version on an absent key', () => {
    expect(run(set('/a', 'x', 0)).outcomes).toEqual([error('not_found')]);
  });

  it('restarts versions at 0 after a delete and a new create', () => {
    const { outcomes } = run(create('/a', 'x'), set('/a', 'y'), del('/a', 1), get('/a'), create('/a', 'z'), get('/a'));
    expect(outcomes.slice(2)).toEqual([ok(r.deleted), ok(r.missing), ok(r.created), ok(r.found('z', 0))]);
  });
});

describe('transactions', () => {
  it('runs success when every compare holds, failure otherwise', () => {
    const cas = txn([versionIs('/a', 0)], [set('/a', 'y')], [get('/a')]);
    const { outcomes } = run(create('/a', 'x'), cas, cas);
    expect(outcomes.slice(1)).toEqual([
      ok({ op: 'txn', succeeded: true, results: [r.set(1)] }),
      ok({ op: 'txn', succeeded: false, results: [r.found('y', 1)] }),
    ]);
  });

  it('compares an absent key as Synod does: exists false, version 0, and every value compare false', () => {
    const holds = (compare: Compare): boolean => {
      const outcome = run(txn([compare], [], [])).outcomes[0];
      return outcome?.status === 'ok' && outcome.result.op === 'txn' && outcome.result.succeeded;
    };
    const results = (['=', '!=', '<', '>'] as const).map((op) => [
      holds({ key: '/a', target: 'version', op, value: 0 }),
      holds({ key: '/a', target: 'value', op, value: 'x' }),
    ]);
    expect(results).toEqual([
      [true, false],
      [false, false],
      [false, false],
      [false, false],
    ]);
    expect(holds(exists('/a', false))).toBe(true);
    expect(holds({ key: '/a', target: 'version', op: '<', value: 1 })).toBe(true);
  });

  it('lets each sub-operation see the effects of the ones before it', () => {
    const { outcomes } = run(txn([], [create('/a', 'x'), set('/a', 'y'), get('/a'), del('/a', 1), get('/a')]));
    expect(outcomes[0]).toEqual(
      ok({ op: 'txn', succeeded: true, results: [r.created, r.set(1), r.found('y', 1), r.deleted, r.missing] }),
    );
  });

  it('undoes the whole branch when a sub-operation fails, and names it', () => {
    const { outcomes, state } = run(create('/b', 'x'), txn([], [create('/a', 'x'), create('/b', 'y')]), get('/a'));
    expect(outcomes[1]).toEqual(error('exists', 1));
    expect(outcomes[2]).toEqual(ok(r.missing));
    expect(state.has('/a')).toBe(false);
  });
});
