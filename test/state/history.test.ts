// The watch history: replay from a revision with node, children and subtree filters, whole revisions only,
// retention limits, the compact command, and the `compacted` answer with the oldest revision kept.

import { describe, expect, it } from 'vitest';
import { matches, type WatchEvent, type WatchFilter } from '../../server/state/index.ts';
import { Harness, err, ok } from './helpers.ts';

const paths = (events: readonly WatchEvent[]) => events.map((e) => `${e.type} ${e.path}@${e.revision}`);

function read(h: Harness, from: number, filter: WatchFilter | null = null, eventsMax?: number) {
  const result = h.machine.history(from, filter, eventsMax);
  if (!result.ok) throw new Error(`compacted at ${result.oldestRevision}`);
  return result;
}

describe('matches', () => {
  const event = (path: string): WatchEvent => ({ path }) as WatchEvent;
  it.each([
    ['node', '/a', '/a', true],
    ['node', '/a', '/a/b', false],
    ['node', '/', '/', true],
    ['children', '/a', '/a/b', true],
    ['children', '/a', '/a', false],
    ['children', '/a', '/a/b/c', false],
    ['children', '/a', '/ab', false],
    ['children', '/a', '/ab/c', false],
    ['children', '/', '/a', true],
    ['children', '/', '/a/b', false],
    ['children', '/', '/', false],
    ['subtree', '/a', '/a', true],
    ['subtree', '/a', '/a/b/c', true],
    ['subtree', '/a', '/ab', false],
    ['subtree', '/a', '/b', false],
    ['subtree', '/', '/anything/at/all', true],
  ] as const)('%s %s vs %s -> %s', (kind, path, eventPath, expected) => {
    expect(matches({ kind, path }, event(eventPath))).toBe(expected);
  });
});

describe('history', () => {
  function populated(): Harness {
    const h = new Harness();
    ok(h.create('/a').result); // 1
    ok(h.create('/a/b').result); // 2
    ok(h.create('/a/b/c').result); // 3
    ok(h.set('/a', 'x').result); // 4
    ok(h.delete('/a', true).result); // 5
    ok(h.create('/z').result); // 6
    return h;
  }

  it('replays every event from a revision, in order', () => {
    const h = populated();
    expect(paths(read(h, 4).events)).toEqual(['set /a@4', 'delete /a/b/c@5', 'delete /a/b@5', 'delete /a@5', 'create /z@6']);
    expect(read(h, 1).events).toHaveLength(8);
    expect(read(h, 0).events).toHaveLength(8);
    expect(read(h, 6).nextRevision).toBe(7);
    expect(read(h, 7)).toEqual({ ok: true, events: [], nextRevision: 7 });
    expect(read(h, 50)).toEqual({ ok: true, events: [], nextRevision: 50 });
  });

  it('filters by node, children and subtree', () => {
    const h = populated();
    expect(paths(read(h, 1, { kind: 'node', path: '/a' }).events)).toEqual(['create /a@1', 'set /a@4', 'delete /a@5']);
    expect(paths(read(h, 1, { kind: 'children', path: '/a' }).events)).toEqual(['create /a/b@2', 'delete /a/b@5']);
    expect(paths(read(h, 3, { kind: 'subtree', path: '/a/b' }).events)).toEqual([
      'create /a/b/c@3',
      'delete /a/b/c@5',
      'delete /a/b@5',
    ]);
  });

  it('bounds a read at a revision boundary and says where to continue', () => {
    const h = populated();
    const first = read(h, 1, null, 4);
    expect(paths(first.events)).toEqual(['create /a@1', 'create /a/b@2', 'create /a/b/c@3', 'set /a@4']);
    expect(first.nextRevision).toBe(5);
    // Revision 5 has three events: they come together even past the bound.
    const second = read(h, first.nextRevision, null, 1);
    expect(paths(second.events)).toEqual(['delete /a/b/c@5', 'delete /a/b@5', 'delete /a@5']);
    expect(second.nextRevision).toBe(6);
  });

  it('answers compacted with the oldest revision after a compact command', () => {
    const h = populated();
    const applied = h.compact(4);
    expect(ok(applied.result)).toEqual({ ok: true, op: 'compact', oldestRevision: 4 });
    expect(applied.revision).toBe(6);
    expect(h.machine.history(3)).toEqual({ ok: false, code: 'compacted', oldestRevision: 4 });
    expect(paths(read(h, 4).events)[0]).toBe('set /a@4');
    expect(err(h.compact(3).result)).toMatchObject({ code: 'compacted', oldestRevision: 4 });
    expect(err(h.compact(7).result).code).toBe('bad_request');
    ok(h.compact(4).result);
    ok(h.compact(6).result);
    expect(read(h, 6).events).toHaveLength(1);
  });

  it('keeps at most historyRevisionsMax revisions', () => {
    const h = new Harness({ historyRevisionsMax: 3 });
    for (let i = 0; i < 10; i++) ok(h.create(`/n${i}`).result);
    expect(h.machine.history(7)).toEqual({ ok: false, code: 'compacted', oldestRevision: 8 });
    expect(read(h, 8).events).toHaveLength(3);
  });

  it('keeps at most historyEventsMax events, dropping whole revisions but never the latest', () => {
    const h = new Harness({ historyEventsMax: 4 });
    ok(h.create('/a/b/c', '', { parents: true }).result); // 3 events at revision 1
    ok(h.create('/x').result); // 4 events kept
    ok(h.create('/y').result); // 5 > 4: revision 1 goes
    const kept = h.machine.history(0);
    expect(kept).toEqual({ ok: false, code: 'compacted', oldestRevision: 2 });
    expect(paths(read(h, 2).events)).toEqual(['create /x@2', 'create /y@3']);
    ok(h.delete('/a', true).result); // 3 events at revision 4: 5 > 4, so revision 2 goes
    expect(paths(read(h, 3).events)).toHaveLength(4);
    expect(h.machine.eventHistory.oldestRevision).toBe(3);
    const big = new Harness({ historyEventsMax: 2 });
    ok(big.create('/p/q/r/s', '', { parents: true }).result);
    expect(read(big, 1).events).toHaveLength(4);
  });

  it('records no events for failures, replays or lease-only changes', () => {
    const h = new Harness();
    err(h.delete('/nope').result);
    ok(h.grant().result);
    expect(read(h, 1).events).toEqual([]);
  });
});
