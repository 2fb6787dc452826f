// Path rules: which strings name a node, and that the configured length and depth limits hold.

import { describe, expect, it } from 'vitest';
import { pathProblem, stateDefaults } from '../../server/state/index.ts';
import { Harness, err } from './helpers.ts';

const limits = { pathBytesMax: 32, pathDepthMax: 3 };

describe('paths', () => {
  it.each(['/', '/a', '/a/b', '/a/b/c', '/ä', '/日本', '/😀', '/a b', '/.a', '/a.', '/...', '/-', '/a\u0001'])(
    'accepts %j',
    (path) => expect(pathProblem(path, limits)).toBeNull(),
  );

  it.each([
    ['', 'starting with /'],
    ['a', 'starting with /'],
    ['a/b', 'starting with /'],
    ['//', 'empty segment'],
    ['/a//b', 'empty segment'],
    ['/a/', 'trailing slash'],
    ['/.', '. and ..'],
    ['/..', '. and ..'],
    ['/a/./b', '. and ..'],
    ['/a/../b', '. and ..'],
    ['/a\u0000b', 'NUL'],
    ['/\ud800', 'surrogate'],
    ['/\udc00x', 'surrogate'],
    ['/x\ud83d', 'surrogate'],
    ['/a\ufffdb', 'U+FFFD'],
    ['/\uffff', 'U+FFF0..U+FFFF'],
  ])('rejects %j (%s)', (path, reason) => {
    expect(pathProblem(path, limits)).toContain(reason);
  });

  it('rejects non-strings', () => {
    expect(pathProblem(42, limits)).not.toBeNull();
    expect(pathProblem(undefined, limits)).not.toBeNull();
  });

  it('counts the length in UTF-8 bytes', () => {
    expect(pathProblem('/' + 'a'.repeat(31), limits)).toBeNull();
    expect(pathProblem('/' + 'a'.repeat(32), limits)).toContain('too long');
    // 'é' is 2 bytes: 1 + 15 * 2 = 31 fits, 1 + 16 * 2 = 33 does not.
    expect(pathProblem('/' + 'é'.repeat(15), limits)).toBeNull();
    expect(pathProblem('/' + 'é'.repeat(16), limits)).toContain('too long');
    // An astral character is 4 bytes (2 UTF-16 units).
    expect(pathProblem('/' + '😀'.repeat(7), limits)).toBeNull();
    expect(pathProblem('/' + '😀'.repeat(8), limits)).toContain('too long');
  });

  it('limits the depth', () => {
    expect(pathProblem('/a/b/c', limits)).toBeNull();
    expect(pathProblem('/a/b/c/d', limits)).toContain('too deep');
  });

  it('has sensible defaults', () => {
    expect(stateDefaults.pathBytesMax).toBeGreaterThanOrEqual(255);
    expect(stateDefaults.pathDepthMax).toBeGreaterThanOrEqual(16);
  });

  it('answers invalid_path from every operation', () => {
    const h = new Harness();
    expect(err(h.create('/a/').result).code).toBe('invalid_path');
    expect(err(h.set('a', 'x').result).code).toBe('invalid_path');
    expect(err(h.delete('/..').result).code).toBe('invalid_path');
    expect(err(h.machine.get('//')).code).toBe('invalid_path');
    expect(err(h.machine.exists('/a/')).code).toBe('invalid_path');
    expect(err(h.machine.stat('')).code).toBe('invalid_path');
    expect(err(h.machine.children('x', false)).code).toBe('invalid_path');
    expect(err(h.machine.range('/a/', 10)).code).toBe('invalid_path');
    expect(err(h.txn([{ path: 'x', target: 'exists', op: '=', value: true }], []).result).code).toBe('invalid_path');
    expect(h.machine.revision).toBe(0);
  });
});
