// The namespace's commands and reads: create (every mode, sequential, parents), set, delete, exists/stat,
// children and range, with every error code they can answer and the revision rules.

import { describe, expect, it } from 'vitest';
import { SEQUENCE_MAX, type LeaseId } from '../../server/state/index.ts';
import { Harness, bytes, err, ok, text } from './helpers.ts';

describe('create', () => {
  it('creates a persistent node with stats and one event at the next revision', () => {
    const h = new Harness();
    const applied = h.create('/a', 'hello');
    const result = ok(applied.result);
    expect(applied.revision).toBe(1);
    expect(result.path).toBe('/a');
    expect(result.stat).toEqual({
      createRevision: 1,
      modRevision: 1,
      version: 0,
      cversion: 0,
      ephemeralOwner: 0,
      numChildren: 0,
      dataLength: 5,
      mode: 'persistent',
      sequential: false,
      ttlMs: 0,
      ctimeMs: h.timeMs,
      mtimeMs: h.timeMs,
    });
    expect(applied.events).toEqual([
      { type: 'create', path: '/a', revision: 1, stat: result.stat, data: bytes('hello'), prevData: null },
    ]);
    expect(h.read('/a')).toBe('hello');
    const root = ok(h.machine.stat('/')).stat;
    expect(root.numChildren).toBe(1);
    expect(root.cversion).toBe(1);
  });

  it('fails with exists, not_found, value_too_large and leaves the revision alone', () => {
    const h = new Harness({ dataBytesMax: 4 });
    ok(h.create('/a').result);
    expect(err(h.create('/a').result).code).toBe('exists');
    expect(err(h.create('/').result).code).toBe('exists');
    expect(err(h.create('/x/y').result).code).toBe('not_found');
    expect(err(h.create('/b', '12345').result).code).toBe('value_too_large');
    ok(h.create('/b', '1234').result);
    expect(h.machine.revision).toBe(2);
  });

  it('creates missing ancestors as persistent nodes with parents, in one revision', () => {
    const h = new Harness();
    ok(h.create('/a').result);
    const applied = h.create('/a/b/c/d', 'x', { parents: true });
    expect(applied.revision).toBe(2);
    expect(applied.events.map((e) => [e.type, e.path, e.revision])).toEqual([
      ['create', '/a/b', 2],
      ['create', '/a/b/c', 2],
      ['create', '/a/b/c/d', 2],
    ]);
    expect(ok(h.machine.stat('/a/b/c')).stat).toMatchObject({ mode: 'persistent', numChildren: 1, createRevision: 2 });
    // parents on an existing path is still `exists`.
    expect(err(h.create('/a/b', '', { parents: true }).result).code).toBe('exists');
  });

  it('rejects malformed arguments with bad_request', () => {
    const h = new Harness();
    expect(err(h.create('/e', '', { mode: 'ephemeral' }).result).code).toBe('bad_request');
    expect(err(h.create('/p', '', { leaseId: 1 as LeaseId }).result).code).toBe('bad_request');
    expect(err(h.create('/t', '', { mode: 'ttl' }).result).code).toBe('bad_request');
    expect(err(h.create('/t', '', { mode: 'ttl', ttlMs: 0 }).result).code).toBe('bad_request');
    expect(err(h.create('/p', '', { ttlMs: 5 }).result).code).toBe('bad_request');
    expect(err(h.create('/p', '', { mode: 'weird' as never }).result).code).toBe('bad_request');
    const noData = { op: 'create', path: '/x', data: 'text', mode: 'persistent', sequential: false, parents: false };
    expect(err(h.apply({ ...noData, ...h.meta() } as never).result).code).toBe('bad_request');
    expect(h.machine.revision).toBe(0);
  });

  it('names sequential nodes from the parent counter, never reusing a number', () => {
    const h = new Harness();
    ok(h.create('/q').result);
    const first = ok(h.create('/q/n-', 'a', { sequential: true }).result);
    const second = ok(h.create('/q/n-', 'b', { sequential: true }).result);
    const other = ok(h.create('/q/m', 'c', { sequential: true }).result);
    expect([first.path, second.path, other.path]).toEqual(['/q/n-0000000000', '/q/n-0000000001', '/q/m0000000002']);
    expect(first.stat.sequential).toBe(true);
    ok(h.delete(second.path).result);
    ok(h.delete(other.path).result);
    expect(ok(h.create('/q/n-', '', { sequential: true }).result).path).toBe('/q/n-0000000003');
    // A plain create does not use the counter.
    ok(h.create('/q/plain').result);
    expect(ok(h.create('/q/n-', '', { sequential: true }).result).path).toBe('/q/n-0000000004');
  });

  it('answers exists when the sequential name is taken, without using the number', () => {
    const h = new Harness();
    ok(h.create('/q').result);
    ok(h.create('/q/x0000000000').result);
    expect(err(h.create('/q/x', '', { sequential: true }).result).code).toBe('exists');
    expect(ok(h.create('/q/y', '', { sequential: true }).result).path).toBe('/q/y0000000000');
  });

  it('starts a new counter for a parent created with parents, and at the root', () => {
    const h = new Harness();
    expect(ok(h.create('/a/b/s', '', { sequential: true, parents: true }).result).path).toBe('/a/b/s0000000000');
    expect(ok(h.create('/r', '', { sequential: true }).result).path).toBe('/r0000000000');
    expect(ok(h.create('/r', '', { sequential: true }).result).path).toBe('/r0000000001');
  });

  it('counts the sequence suffix against the path length limit', () => {
    const h = new Harness({ pathBytesMax: 16 });
    expect(ok(h.create('/abcde', '', { sequential: true }).result).path).toBe('/abcde0000000000');
    expect(err(h.create('/abcdef', '', { sequential: true }).result).code).toBe('invalid_path');
  });

  it('fails with bad_request when the sequence is exhausted', () => {
    const h = new Harness();
    ok(h.create('/q').result);
    const q = h.machine.tree.lookup('/q');
    if (q === undefined) throw new Error('missing');
    q.sequenceNext = SEQUENCE_MAX;
    expect(ok(h.create('/q/x', '', { sequential: true }).result).path).toBe('/q/x9999999999');
    expect(err(h.create('/q/x', '', { sequential: true }).result).code).toBe('bad_request');
  });
});

describe('ephemeral nodes', () => {
  it('belong to an existing lease and cannot have children', () => {
    const h = new Harness();
    const lease = ok(h.grant().result).leaseId;
    const created = ok(h.create('/e', '', { mode: 'ephemeral', leaseId: lease }).result);
    expect(created.stat.ephemeralOwner).toBe(lease);
    expect(err(h.create('/e2', '', { mode: 'ephemeral', leaseId: 99 as LeaseId }).result).code).toBe('lease_not_found');
    expect(err(h.create('/e/child').result).code).toBe('no_children_for_ephemerals');
    expect(err(h.create('/e/a/b', '', { parents: true }).result).code).toBe('no_children_for_ephemerals');
    expect(err(h.create('/e/s', '', { sequential: true }).result).code).toBe('no_children_for_ephemerals');
  });

  it('can be sequential', () => {
    const h = new Harness();
    ok(h.create('/locks').result);
    const lease = ok(h.grant().result).leaseId;
    const node = ok(h.create('/locks/l-', '', { mode: 'ephemeral', leaseId: lease, sequential: true }).result);
    expect(node.path).toBe('/locks/l-0000000000');
    expect(node.stat).toMatchObject({ mode: 'ephemeral', sequential: true, ephemeralOwner: lease });
  });
});

describe('set', () => {
  it('changes data, bumps version and modRevision, and reports prevData', () => {
    const h = new Harness();
    ok(h.create('/a', 'one').result);
    h.timeMs += 5;
    const applied = h.set('/a', 'two');
    const stat = ok(applied.result).stat;
    expect(stat).toMatchObject({ version: 1, createRevision: 1, modRevision: 2, mtimeMs: h.timeMs, ctimeMs: h.timeMs - 5 });
    expect(applied.events).toEqual([
      { type: 'set', path: '/a', revision: 2, stat, data: bytes('two'), prevData: bytes('one') },
    ]);
  });

  it('compares and sets with expectedVersion', () => {
    const h = new Harness();
    ok(h.create('/a').result);
    expect(err(h.set('/a', 'x', 1).result)).toMatchObject({ code: 'bad_version', path: '/a' });
    ok(h.set('/a', 'x', 0).result);
    ok(h.set('/a', 'y', 1).result);
    expect(h.read('/a')).toBe('y');
    expect(h.machine.revision).toBe(3);
  });

  it('fails with not_found and value_too_large, and may set the root', () => {
    const h = new Harness({ dataBytesMax: 2 });
    expect(err(h.set('/nope', 'x').result).code).toBe('not_found');
    expect(err(h.set('/', 'xyz').result).code).toBe('value_too_large');
    ok(h.set('/', 'r').result);
    expect(h.read('/')).toBe('r');
  });
});

describe('delete', () => {
  it('deletes a leaf, bumping the parent cversion', () => {
    const h = new Harness();
    ok(h.create('/a').result);
    ok(h.create('/a/b', 'data').result);
    const applied = h.delete('/a/b');
    expect(ok(applied.result).deleted).toBe(1);
    expect(applied.events).toMatchObject([{ type: 'delete', path: '/a/b', revision: 3, data: bytes('data') }]);
    expect(applied.events[0]?.stat.createRevision).toBe(2);
    expect(ok(h.machine.stat('/a')).stat).toMatchObject({ numChildren: 0, cversion: 2 });
    expect(h.read('/a/b')).toBeUndefined();
  });

  it('fails with not_found, bad_version, not_empty, and bad_request for the root', () => {
    const h = new Harness();
    ok(h.create('/a').result);
    ok(h.create('/a/b').result);
    expect(err(h.delete('/x').result).code).toBe('not_found');
    expect(err(h.delete('/a/b', false, 3).result).code).toBe('bad_version');
    expect(err(h.delete('/a').result).code).toBe('not_empty');
    expect(err(h.delete('/').result).code).toBe('bad_request');
    expect(err(h.delete('/', true).result).code).toBe('bad_request');
    ok(h.delete('/a/b', false, 0).result);
    expect(h.machine.revision).toBe(3);
  });

  it('deletes a subtree recursively in one revision, children first in name order', () => {
    const h = new Harness();
    for (const path of ['/a', '/a/y', '/a/x', '/a/x/2', '/a/x/1', '/b']) ok(h.create(path).result);
    const applied = h.delete('/a', true);
    expect(ok(applied.result).deleted).toBe(5);
    expect(applied.revision).toBe(7);
    expect(applied.events.map((e) => `${e.type} ${e.path} ${e.revision}`)).toEqual([
      'delete /a/x/1 7',
      'delete /a/x/2 7',
      'delete /a/x 7',
      'delete /a/y 7',
      'delete /a 7',
    ]);
    expect(h.names('/')).toEqual(['b']);
  });

  it('deletes ephemerals and TTL nodes inside a subtree from their lease and the sweep set', () => {
    const h = new Harness();
    const lease = ok(h.grant().result).leaseId;
    ok(h.create('/a').result);
    ok(h.create('/a/e', '', { mode: 'ephemeral', leaseId: lease }).result);
    ok(h.create('/a/t', '', { mode: 'ttl', ttlMs: 5 }).result);
    ok(h.delete('/a', true).result);
    expect(h.machine.leaseTimeToLive(lease, true)).toMatchObject({ keys: [] });
    expect(h.machine.tree.ttlNodes.size).toBe(0);
  });
});

describe('containers', () => {
  it('stay while they never had a child, and go with their last child in the same revision', () => {
    const h = new Harness();
    ok(h.create('/c', '', { mode: 'container' }).result);
    ok(h.create('/c/a').result);
    ok(h.create('/c/b').result);
    ok(h.delete('/c/a').result);
    expect(h.read('/c')).toBe('');
    const applied = h.delete('/c/b');
    expect(ok(applied.result).deleted).toBe(2);
    expect(applied.events.map((e) => `${e.type} ${e.path} ${e.revision}`)).toEqual(['delete /c/b 5', 'delete /c 5']);
    expect(h.read('/c')).toBeUndefined();
  });

  it('cascade through nested containers but stop at other modes', () => {
    const h = new Harness();
    ok(h.create('/p').result);
    ok(h.create('/p/c1', '', { mode: 'container' }).result);
    ok(h.create('/p/c1/c2', '', { mode: 'container' }).result);
    ok(h.create('/p/c1/c2/leaf').result);
    const applied = h.delete('/p/c1/c2/leaf');
    expect(applied.events.map((e) => e.path)).toEqual(['/p/c1/c2/leaf', '/p/c1/c2', '/p/c1']);
    expect(h.names('/p')).toEqual([]);
    expect(h.read('/p')).toBe('');
  });

  it('are removed when the last child goes with a recursive delete below them', () => {
    const h = new Harness();
    ok(h.create('/c', '', { mode: 'container' }).result);
    ok(h.create('/c/d/e', '', { parents: true }).result);
    expect(ok(h.delete('/c/d', true).result).deleted).toBe(3);
    expect(h.read('/c')).toBeUndefined();
  });
});

describe('TTL nodes and sweep', () => {
  it('removes childless TTL nodes unmodified for their TTL, by leader time, in one revision', () => {
    const h = new Harness();
    const start = h.timeMs;
    ok(h.create('/t1', '', { mode: 'ttl', ttlMs: 100 }).result);
    ok(h.create('/t2', '', { mode: 'ttl', ttlMs: 100 }).result);
    ok(h.create('/t3', '', { mode: 'ttl', ttlMs: 1000 }).result);
    h.timeMs = start + 60;
    ok(h.set('/t2', 'touch').result);
    h.timeMs = start + 99;
    expect(ok(h.sweep().result).deleted).toBe(0);
    expect(h.machine.revision).toBe(4);
    h.timeMs = start + 100;
    const applied = h.sweep();
    expect(ok(applied.result).deleted).toBe(1);
    expect(applied.events.map((e) => e.path)).toEqual(['/t1']);
    expect(applied.revision).toBe(5);
    h.timeMs = start + 160;
    expect(h.sweep().events.map((e) => e.path)).toEqual(['/t2']);
    expect(h.read('/t3')).toBe('');
  });

  it('keeps TTL nodes with children, and removes a TTL parent whose TTL children all expire', () => {
    const h = new Harness();
    const start = h.timeMs;
    ok(h.create('/t', '', { mode: 'ttl', ttlMs: 10 }).result);
    ok(h.create('/t/p').result);
    ok(h.create('/u', '', { mode: 'ttl', ttlMs: 10 }).result);
    ok(h.create('/u/v', '', { mode: 'ttl', ttlMs: 10 }).result);
    h.timeMs = start + 10;
    const applied = h.sweep();
    expect(applied.events.map((e) => e.path)).toEqual(['/u/v', '/u']);
    expect(h.read('/t')).toBe('');
  });

  it('never lets the clock go back: command times are clamped to the latest seen', () => {
    const h = new Harness();
    const start = h.timeMs;
    ok(h.create('/t', '', { mode: 'ttl', ttlMs: 10 }).result);
    h.timeMs = start + 20;
    ok(h.create('/x').result);
    h.timeMs = start; // a new leader with a slower clock
    ok(h.set('/x', 'y').result);
    expect(ok(h.machine.stat('/x')).stat.mtimeMs).toBe(start + 20);
    expect(ok(h.sweep().result).deleted).toBe(1);
  });
});

describe('reads', () => {
  it('get, exists and stat', () => {
    const h = new Harness();
    ok(h.create('/a', 'v').result);
    const got = ok(h.machine.get('/a'));
    expect(got).toMatchObject({ revision: 1, node: { path: '/a', stat: { version: 0 } } });
    expect(text(got.node.data)).toBe('v');
    expect(err(h.machine.get('/b')).code).toBe('not_found');
    expect(ok(h.machine.exists('/b')).stat).toBeNull();
    expect(ok(h.machine.exists('/a')).stat?.dataLength).toBe(1);
    expect(err(h.machine.stat('/b')).code).toBe('not_found');
    expect(ok(h.machine.query({ op: 'stat', path: '/' })).stat.numChildren).toBe(1);
  });

  it('lists children sorted by name, with stats when asked', () => {
    const h = new Harness();
    ok(h.create('/d').result);
    for (const name of ['b', 'a', 'c10', 'c2', 'B']) ok(h.create(`/d/${name}`, name).result);
    const listing = ok(h.machine.children('/d', true));
    expect(listing.names).toEqual(['B', 'a', 'b', 'c10', 'c2']);
    expect(listing.stats?.map((s) => s.dataLength)).toEqual([1, 1, 1, 3, 2]);
    expect(ok(h.machine.children('/d', false)).stats).toBeNull();
    expect(ok(h.machine.children('/d/a', false)).names).toEqual([]);
    expect(err(h.machine.children('/nope', false)).code).toBe('not_found');
    // The cache follows later changes.
    ok(h.delete('/d/b').result);
    ok(h.create('/d/aa').result);
    ok(h.create('/d/0').result);
    expect(h.names('/d')).toEqual(['0', 'B', 'a', 'aa', 'c10', 'c2']);
  });

  it('ranges over a subtree in pre-order with continuation', () => {
    const h = new Harness();
    for (const path of ['/a', '/a/b', '/a/b/c', '/a/b-', '/a/x', '/a/x/y', '/z']) ok(h.create(path).result);
    const all = ok(h.machine.range('/a', 100));
    expect(all.nodes.map((n) => n.path)).toEqual(['/a', '/a/b', '/a/b/c', '/a/b-', '/a/x', '/a/x/y']);
    expect(all.more).toBe(false);
    const pages: string[][] = [];
    let after: string | undefined;
    for (;;) {
      const page = ok(h.machine.range('/a', 2, after));
      pages.push(page.nodes.map((n) => n.path));
      if (!page.more) break;
      after = page.nodes[page.nodes.length - 1]?.path;
    }
    expect(pages).toEqual([['/a', '/a/b'], ['/a/b/c', '/a/b-'], ['/a/x', '/a/x/y']]);
    expect(ok(h.machine.range('/', 100)).nodes.map((n) => n.path)).toEqual([
      '/',
      '/a',
      '/a/b',
      '/a/b/c',
      '/a/b-',
      '/a/x',
      '/a/x/y',
      '/z',
    ]);
  });

  it('resumes a range after a path that was deleted meanwhile', () => {
    const h = new Harness();
    for (const path of ['/a', '/a/b', '/a/b/c', '/a/d', '/a/e']) ok(h.create(path).result);
    const first = ok(h.machine.range('/a', 2));
    expect(first.nodes.map((n) => n.path)).toEqual(['/a', '/a/b']);
    ok(h.delete('/a/b', true).result);
    expect(ok(h.machine.range('/a', 10, '/a/b')).nodes.map((n) => n.path)).toEqual(['/a/d', '/a/e']);
    expect(ok(h.machine.range('/a', 10, '/a/b/zz/deep')).nodes.map((n) => n.path)).toEqual(['/a/d', '/a/e']);
    expect(ok(h.machine.range('/a', 10, '/a')).nodes.map((n) => n.path)).toEqual(['/a/d', '/a/e']);
  });

  it('validates range arguments', () => {
    const h = new Harness({ rangeLimitMax: 5 });
    ok(h.create('/a').result);
    expect(err(h.machine.range('/a', 0)).code).toBe('bad_request');
    expect(err(h.machine.range('/a', 6)).code).toBe('bad_request');
    expect(err(h.machine.range('/a', 1.5)).code).toBe('bad_request');
    expect(err(h.machine.range('/a', 5, '/b')).code).toBe('bad_request');
    expect(err(h.machine.range('/a', 5, '/ab')).code).toBe('bad_request');
    expect(err(h.machine.range('/a', 5, '/a/')).code).toBe('invalid_path');
    expect(err(h.machine.range('/nope', 5)).code).toBe('not_found');
  });
});

describe('revisions and malformed commands', () => {
  it('counts only successful tree changes', () => {
    const h = new Harness();
    ok(h.create('/a').result);
    err(h.create('/a').result);
    ok(h.grant().result);
    ok(h.sweep().result);
    ok(h.set('/a', 'x').result);
    expect(h.machine.revision).toBe(2);
    expect(h.machine.appliedIndex).toBe(5);
  });

  it('answers bad_request for malformed commands without throwing', () => {
    const h = new Harness();
    const m = h.machine;
    let index = 0;
    const apply = (command: unknown) => m.apply(++index, command as never).result;
    expect(err(apply(null)).code).toBe('bad_request');
    expect(err(apply('create')).code).toBe('bad_request');
    expect(err(apply({ op: 'create', clientId: 1, sequence: 0, timeMs: 0 })).code).toBe('bad_request');
    expect(err(apply({ op: 'create', clientId: '', sequence: -1, timeMs: 0 })).code).toBe('bad_request');
    expect(err(apply({ op: 'create', clientId: '', sequence: 0, timeMs: 1.5 })).code).toBe('bad_request');
    expect(err(apply({ op: 'nope', clientId: '', sequence: 0, timeMs: 0 })).code).toBe('bad_request');
    expect(err(apply({ op: 'set', path: '/a', clientId: '', sequence: 0, timeMs: 0 })).code).toBe('bad_request');
    expect(err(apply({ op: 'delete', path: '/a', recursive: 'yes', clientId: '', sequence: 0, timeMs: 0 })).code).toBe(
      'bad_request',
    );
    expect(err(apply({ op: 'txn', compares: [], success: {}, failure: [], clientId: '', sequence: 0, timeMs: 0 })).code).toBe(
      'bad_request',
    );
    expect(err(apply({ op: 'compact', revision: 'x', clientId: '', sequence: 0, timeMs: 0 })).code).toBe('bad_request');
    expect(err(apply({ op: 'leaseGrant', leaseId: 0, ttlMs: 0, kind: 'lease', clientId: '', sequence: 0, timeMs: 0 })).code).toBe(
      'bad_request',
    );
    expect(m.revision).toBe(0);
  });

  it('throws only on an invariant violation: log indexes must increase', () => {
    const h = new Harness();
    ok(h.create('/a').result);
    expect(() => h.machine.apply(1, { op: 'sweep', clientId: '', sequence: 0, timeMs: 0 })).toThrow(/applied after/);
    h.machine.skip(5);
    expect(h.machine.appliedIndex).toBe(5);
    expect(() => h.machine.skip(5)).toThrow();
  });
});
