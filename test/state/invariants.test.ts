// The invariant checker accepts every state the machine can reach and names each kind of corruption.

import { describe, expect, it } from 'vitest';
import { checkInvariants, type Revision } from '../../server/state/index.ts';
import { TreeNode } from '../../server/state/tree.ts';
import { Harness, ok } from './helpers.ts';

function populated(): Harness {
  const h = new Harness();
  const lease = ok(h.grant().result).leaseId;
  ok(h.create('/a/b', 'x', { parents: true }).result);
  ok(h.create('/a/s-', '', { sequential: true }).result);
  ok(h.create('/a/e', '', { mode: 'ephemeral', leaseId: lease }).result);
  ok(h.create('/t', '', { mode: 'ttl', ttlMs: 50 }).result);
  ok(h.create('/c', '', { mode: 'container' }).result);
  ok(h.set('/a/b', 'y').result);
  h.names('/a');
  return h;
}

const node = (h: Harness, path: string): TreeNode => {
  const found = h.machine.tree.lookup(path);
  if (found === undefined) throw new Error(`no ${path}`);
  return found;
};

describe('checkInvariants', () => {
  it('accepts reachable states', () => {
    const h = populated();
    expect(() => checkInvariants(h.machine)).not.toThrow();
  });

  const corruptions: [string, (h: Harness) => void, RegExp][] = [
    [
      'a child under an ephemeral',
      (h) => {
        const parent = node(h, '/a/e');
        const child = new TreeNode('x', parent, new Uint8Array(), 1 as Revision, 1 as Revision, 0, 'persistent', false, 0, 0, 0);
        parent.children = new Map([['x', child]]);
      },
      /ephemeral node has children/,
    ],
    ['an ephemeral without its lease', (h) => h.machine.leaseTable.byId.clear(), /missing lease/],
    ['a sequence counter not above a suffix', (h) => (node(h, '/a').sequenceNext = 0), /not below the parent's counter/],
    ['a modRevision in the future', (h) => (node(h, '/a/b').modRevision = 99 as Revision), /modRevision 99 > revision/],
    ['a stale sorted-name cache', (h) => node(h, '/a').sortedNames?.pop(), /sorted child names/],
    ['a TTL node missing from the sweep set', (h) => h.machine.tree.ttlNodes.clear(), /TTL/],
    [
      'a broken parent link',
      (h) => {
        const a = node(h, '/a');
        a.children?.set('zz', node(h, '/t'));
      },
      /not linked to its parent/,
    ],
    ['a lease holding a node it does not own', (h) => h.machine.leaseTable.get(1)?.nodes.add(node(h, '/a/b')), /does not own/],
  ];

  it.each(corruptions)('names %s', (_name, corrupt, message) => {
    const h = populated();
    corrupt(h);
    expect(() => checkInvariants(h.machine)).toThrow(message);
  });
});
