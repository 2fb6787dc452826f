// Transactions: compares on every target, the chosen branch, all-or-nothing at one revision, reads that see
// the transaction's own writes, and a rollback that restores every kind of change exactly.

import { describe, expect, it } from 'vitest';
import type { Compare, LeaseId } from '../../server/state/index.ts';
import { Harness, bytes, createOp, deleteOp, dump, err, getOp, ok, setOp, text } from './helpers.ts';

function setup(): Harness {
  const h = new Harness();
  ok(h.create('/a', 'alpha').result); // revision 1
  ok(h.set('/a', 'beta').result); // revision 2, version 1
  ok(h.create('/b', 'b').result); // revision 3
  return h;
}

describe('txn compares', () => {
  const cases: [string, Compare, boolean][] = [
    ['exists = true', { path: '/a', target: 'exists', op: '=', value: true }, true],
    ['exists = false', { path: '/a', target: 'exists', op: '=', value: false }, false],
    ['exists != true', { path: '/a', target: 'exists', op: '!=', value: true }, false],
    ['missing exists = false', { path: '/z', target: 'exists', op: '=', value: false }, true],
    ['missing exists != false', { path: '/z', target: 'exists', op: '!=', value: false }, false],
    ['version =', { path: '/a', target: 'version', op: '=', value: 1 }, true],
    ['version !=', { path: '/a', target: 'version', op: '!=', value: 1 }, false],
    ['version <', { path: '/a', target: 'version', op: '<', value: 2 }, true],
    ['version >', { path: '/a', target: 'version', op: '>', value: 1 }, false],
    ['missing version = 0', { path: '/z', target: 'version', op: '=', value: 0 }, true],
    ['modRevision =', { path: '/a', target: 'modRevision', op: '=', value: 2 }, true],
    ['modRevision <', { path: '/b', target: 'modRevision', op: '<', value: 3 }, false],
    ['createRevision =', { path: '/a', target: 'createRevision', op: '=', value: 1 }, true],
    ['createRevision >', { path: '/b', target: 'createRevision', op: '>', value: 1 }, true],
    ['missing createRevision = 0', { path: '/z', target: 'createRevision', op: '=', value: 0 }, true],
    ['value =', { path: '/a', target: 'value', op: '=', value: bytes('beta') }, true],
    ['value !=', { path: '/a', target: 'value', op: '!=', value: bytes('beta') }, false],
    ['value <', { path: '/a', target: 'value', op: '<', value: bytes('betb') }, true],
    ['value < (prefix is smaller)', { path: '/a', target: 'value', op: '<', value: bytes('beta!') }, true],
    ['value >', { path: '/a', target: 'value', op: '>', value: bytes('b') }, true],
    ['missing value !=', { path: '/z', target: 'value', op: '!=', value: bytes('x') }, false],
  ];

  it.each(cases)('%s', (_name, compare, expected) => {
    const h = setup();
    const result = ok(h.txn([compare], [getOp('/a')], [getOp('/b')]).result);
    expect(result.succeeded).toBe(expected);
  });

  it('needs every compare to hold', () => {
    const h = setup();
    const holds: Compare = { path: '/a', target: 'exists', op: '=', value: true };
    const fails: Compare = { path: '/b', target: 'version', op: '=', value: 9 };
    expect(ok(h.txn([holds, holds], []).result).succeeded).toBe(true);
    expect(ok(h.txn([holds, fails], []).result).succeeded).toBe(false);
    expect(ok(h.txn([], []).result).succeeded).toBe(true);
  });

  it('rejects malformed compares with bad_request', () => {
    const h = setup();
    const bad = [
      { path: '/a', target: 'exists', op: '<', value: true },
      { path: '/a', target: 'exists', op: '=', value: 1 },
      { path: '/a', target: 'version', op: '=', value: -1 },
      { path: '/a', target: 'value', op: '=', value: 'x' },
      { path: '/a', target: 'color', op: '=', value: 1 },
      { path: '/a', target: 'version', op: '>=', value: 1 },
    ];
    for (const compare of bad) expect(err(h.txn([compare as Compare], []).result).code).toBe('bad_request');
  });
});

describe('txn branches', () => {
  it('runs the success branch at one revision, reads seeing earlier writes', () => {
    const h = setup();
    const applied = h.txn(
      [{ path: '/a', target: 'version', op: '=', value: 1 }],
      [createOp('/c', 'c'), setOp('/a', 'gamma'), getOp('/a'), getOp('/missing'), deleteOp('/b'), createOp('/c/d', 'd')],
      [createOp('/never')],
    );
    const result = ok(applied.result);
    expect(result.succeeded).toBe(true);
    expect(applied.revision).toBe(4);
    expect(applied.events.map((e) => `${e.type} ${e.path} ${e.revision}`)).toEqual([
      'create /c 4',
      'set /a 4',
      'delete /b 4',
      'create /c/d 4',
    ]);
    const read = result.results[2];
    if (read?.op !== 'get' || read.node === null) throw new Error('expected a read');
    expect(text(read.node.data)).toBe('gamma');
    expect(read.node.stat).toMatchObject({ version: 2, modRevision: 4 });
    expect(result.results[3]).toEqual({ ok: true, op: 'get', path: '/missing', node: null });
    expect(h.read('/never')).toBeUndefined();
    expect(h.machine.revision).toBe(4);
  });

  it('runs the failure branch when a compare fails', () => {
    const h = setup();
    const applied = h.txn([{ path: '/a', target: 'version', op: '=', value: 7 }], [createOp('/s')], [createOp('/f')]);
    expect(ok(applied.result).succeeded).toBe(false);
    expect(h.read('/f')).toBe('');
    expect(h.read('/s')).toBeUndefined();
    expect(applied.revision).toBe(4);
  });

  it('does not change the revision for a read-only or empty branch', () => {
    const h = setup();
    const applied = h.txn([], [getOp('/a')]);
    expect(ok(applied.result).results).toHaveLength(1);
    expect(applied.revision).toBe(3);
    expect(applied.events).toEqual([]);
    expect(h.txn([{ path: '/a', target: 'exists', op: '=', value: false }], [createOp('/x')]).revision).toBe(3);
  });

  it('is all or nothing: a failing operation rolls back every earlier one', () => {
    const h = setup();
    const lease = ok(h.grant().result).leaseId;
    ok(h.create('/c', '', { mode: 'container' }).result);
    ok(h.create('/c/only').result);
    ok(h.create('/q').result);
    ok(h.create('/t', '', { mode: 'ttl', ttlMs: 10 }).result);
    ok(h.create('/deep/x/y', 'y', { parents: true }).result);
    const before = dump(h.machine);
    const revision = h.machine.revision;
    const applied = h.txn(
      [],
      [
        createOp('/new/a/b', 'n', { parents: true }),
        createOp('/q/s-', '', { sequential: true }),
        createOp('/e', '', { mode: 'ephemeral', leaseId: lease }),
        createOp('/t2', '', { mode: 'ttl', ttlMs: 5 }),
        setOp('/a', 'changed'),
        deleteOp('/c/only'), // removes the container too
        deleteOp('/deep', true),
        deleteOp('/t'),
        createOp('/deep', 'recreated'),
        createOp('/a', 'duplicate'), // fails: exists
      ],
    );
    expect(err(applied.result)).toMatchObject({ code: 'exists', opIndex: 9, path: '/a' });
    expect(applied.events).toEqual([]);
    expect(applied.revision).toBe(revision);
    expect(h.machine.revision).toBe(revision);
    expect(dump(h.machine)).toEqual(before);
    // The state still works normally afterwards.
    expect(ok(h.create('/q/s-', '', { sequential: true }).result).path).toBe('/q/s-0000000000');
    expect(h.machine.leaseTimeToLive(lease, true)).toMatchObject({ keys: [] });
    expect(h.machine.tree.ttlNodes.size).toBe(1);
  });

  it('reports the failing operation index and its error code', () => {
    const h = setup();
    expect(err(h.txn([], [setOp('/a', 'x', 0)]).result)).toMatchObject({ code: 'bad_version', opIndex: 0 });
    expect(err(h.txn([], [getOp('/a'), deleteOp('/zz')]).result)).toMatchObject({ code: 'not_found', opIndex: 1 });
    expect(err(h.txn([], [createOp('/a/b'), deleteOp('/a')]).result)).toMatchObject({ code: 'not_empty', opIndex: 1 });
    expect(err(h.txn([], [getOp('bad')]).result)).toMatchObject({ code: 'invalid_path', opIndex: 0 });
    const lease = 77 as LeaseId;
    expect(err(h.txn([], [createOp('/e', '', { mode: 'ephemeral', leaseId: lease })]).result).code).toBe(
      'lease_not_found',
    );
    expect(h.machine.revision).toBe(3);
  });

  it('enforces its limits with bad_request', () => {
    const h = new Harness({ txnOpsMax: 2, txnComparesMax: 1 });
    const compare: Compare = { path: '/', target: 'exists', op: '=', value: true };
    expect(err(h.txn([compare, compare], []).result).code).toBe('bad_request');
    expect(err(h.txn([], [getOp('/'), getOp('/'), getOp('/')]).result).code).toBe('bad_request');
    expect(err(h.txn([], [], [getOp('/'), getOp('/'), getOp('/')]).result).code).toBe('bad_request');
    expect(err(h.txn([], [{ op: 'txn' } as never]).result).code).toBe('bad_request');
    ok(h.txn([compare], [getOp('/'), getOp('/')]).result);
  });

  it('deletes and recreates a node in one transaction', () => {
    const h = setup();
    const applied = h.txn([], [deleteOp('/a'), createOp('/a', 'again')]);
    ok(applied.result);
    const stat = ok(h.machine.stat('/a')).stat;
    expect(stat).toMatchObject({ createRevision: 4, version: 0 });
    expect(applied.events.map((e) => e.type)).toEqual(['delete', 'create']);
  });
});
