// A member's snapshot is put together around the state machine's parts a step at a time; it must be the very
// frame `encodeFrame({ format, machine, members })` gives, at every size of CBOR byte-string head, and restore.

import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../sdk/protocol/codec.ts';
import { ReplicatedApp, type AppHooks } from '../../server/runtime/app.ts';
import { snapshot, snapshotChunks, snapshotSteps } from '../../server/state/snapshot.ts';
import { Harness } from '../state/helpers.ts';

const hooks: AppHooks = { onApplied: () => {}, onRegistryChange: () => {}, onRestore: () => {}, onConfChange: () => {}, onRoleChange: () => {} };
const members = new Map([['n1', { peerUrl: 'ws://127.0.0.1:4501', clientUrl: 'ws://127.0.0.1:4401' }]]);

describe('member snapshot frame', () => {
  // Node counts whose machine snapshots straddle the 1-, 2- and 4-byte length heads (and a folder big enough
  // to be sorted in steps).
  it.each([0, 40, 2_000, 40_000])('with %i nodes is the frame encodeFrame gives, and restores', (nodes) => {
    const h = new Harness();
    h.create('/f');
    for (let i = 0; i < nodes; i++) h.create(`/f/n${i}`, 'v');
    const app = new ReplicatedApp({}, members, hooks);
    app.machine = h.machine;
    let steps = 0;
    const generator = app.snapshotSteps();
    let bytes: Uint8Array;
    for (;;) {
      const step = generator.next();
      if (step.done === true) {
        bytes = step.value;
        break;
      }
      steps++;
    }
    const machine = snapshot(h.machine);
    expect(Buffer.compare(bytes, encodeFrame({ format: 'synod.member', machine, members: [...members] }))).toBe(0);
    expect(steps).toBeGreaterThanOrEqual(3); // the header, the nodes and the end at least: a step each
    const copy = new ReplicatedApp({}, new Map(), hooks);
    copy.restore(bytes);
    expect(Buffer.compare(snapshot(copy.machine), machine)).toBe(0);
    expect([...copy.members]).toEqual([...members]);
  });

  it('sorts a folder of more children than one step sorts a slice at a time, into the order a whole sort gives', () => {
    const h = new Harness();
    h.create('/f');
    // Names whose order of creation is not their sorted order (n10 < n2), so the tree keeps no sorted cache.
    for (let i = 0; i < 70_000; i++) h.create(`/f/n${(i * 7919) % 70_000}`, '');
    let steps = 0;
    const generator = snapshotSteps(h.machine);
    while (generator.next().done !== true) steps++;
    // A step per item, and more: the sort of 70,000 names paused after each of its 18 runs of 4,096 at least.
    const items = [...snapshotChunks(h.machine)].length;
    expect(steps).toBeGreaterThanOrEqual(items + 18);
    const names = [...h.machine.tree.sortedNames(h.machine.tree.root.children!.get('f')!)];
    expect(names).toEqual([...names].sort());
    expect(names).toHaveLength(70_000);
  });
});
