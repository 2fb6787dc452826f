// Snapshot and restore: the whole state (tree, revision, counters, leases, idempotency records, history window)
// round-trips exactly and canonically, restored machines behave identically, big states chunk, and damaged
// snapshots are refused with snapshot_invalid rather than restored wrongly.

import { Decoder } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../server/raft/random.ts';
import {
  SNAPSHOT_FORMAT,
  SnapshotReader,
  StateMachine,
  StateMachineError,
  checkInvariants,
  restore,
  snapshot,
  snapshotChunks,
  snapshotCodecOptions,
  type Command,
} from '../../server/state/index.ts';
import { Harness, bytes, dump, ok, sameBytes } from './helpers.ts';
import { CommandGenerator, Model } from './model.ts';

function rich(): Harness {
  const h = new Harness({ historyRevisionsMax: 50 });
  h.clientId = 'session-client';
  const session = ok(h.grant(3000, 'session').result).leaseId;
  h.clientId = 'other';
  const lease = ok(h.grant(500, 'lease', 40).result).leaseId;
  ok(h.create('/app/config', '{"a":1}', { parents: true }).result);
  ok(h.set('/app/config', '{"a":2}').result);
  ok(h.create('/app/locks/l-', '', { parents: true, sequential: true, mode: 'ephemeral', leaseId: session }).result);
  ok(h.create('/app/locks/l-', '', { sequential: true, mode: 'ephemeral', leaseId: lease }).result);
  ok(h.create('/svc', '', { mode: 'container' }).result);
  ok(h.create('/svc/m', 'ü', { mode: 'ephemeral', leaseId: lease }).result);
  ok(h.create('/tmp', 'x', { mode: 'ttl', ttlMs: 100 }).result);
  ok(h.create('/日本/😀', 'unicode', { parents: true }).result);
  ok(h.create('/bin', '', {}).result);
  ok(h.set('/bin', '\u0000\u00ff').result);
  ok(h.delete('/bin').result);
  h.clientId = '';
  ok(h.txn([], [{ op: 'get', path: '/app/config' }]).result);
  h.clientId = 'reader';
  ok(h.txn([], [{ op: 'get', path: '/app/config' }]).result);
  ok(h.compact(3).result);
  h.machine.skip(h.index + 5);
  h.index += 5;
  return h;
}

const followUps = (h: Harness): Command[] => {
  h.timeMs += 1000;
  const meta = { clientId: 'other', sequence: 100, timeMs: h.timeMs };
  return [
    { op: 'create', path: '/app/locks/l-', data: bytes(''), mode: 'persistent', sequential: true, parents: false, ...meta },
    { op: 'create', path: '/app/locks/l-', data: bytes(''), mode: 'persistent', sequential: true, parents: false, ...meta },
    { op: 'sweep', clientId: '', sequence: 0, timeMs: h.timeMs },
    { op: 'leaseExpire', leaseIds: [40, 1] as never, clientId: '', sequence: 0, timeMs: h.timeMs },
    { op: 'leaseGrant', leaseId: 0 as never, ttlMs: 10, kind: 'lease', clientId: 'reader', sequence: 5, timeMs: h.timeMs },
    { op: 'delete', path: '/app', recursive: true, clientId: '', sequence: 0, timeMs: h.timeMs },
  ];
};

describe('snapshot round trip', () => {
  it('restores an empty machine', () => {
    const machine = new StateMachine();
    const restored = restore(snapshot(machine));
    expect(dump(restored)).toEqual(dump(machine));
    expect(restored.config).toEqual(machine.config);
  });

  it('restores every part of a rich state exactly and canonically', () => {
    const h = rich();
    const bytes1 = snapshot(h.machine);
    const restored = restore(bytes1);
    expect(dump(restored)).toEqual(dump(h.machine));
    expect(restored.appliedIndex).toBe(h.machine.appliedIndex);
    expect(restored.revision).toBe(h.machine.revision);
    expect(restored.timeMs).toBe(h.machine.timeMs);
    expect(restored.config).toEqual(h.machine.config);
    expect(restored.eventHistory.oldestRevision).toBe(3);
    expect(snapshot(restored)).toEqual(bytes1);
    checkInvariants(restored);
  });

  it('gives a restored machine the same future', () => {
    const h = rich();
    const restored = restore(snapshot(h.machine));
    let index = h.index;
    for (const command of followUps(h)) {
      index++;
      expect(restored.apply(index, command)).toEqual(h.machine.apply(index, command));
    }
    expect(dump(restored)).toEqual(dump(h.machine));
  });

  it('round-trips random states', () => {
    for (let seed = 100; seed < 130; seed++) {
      const machine = new StateMachine({ clientsMax: 3, historyEventsMax: 50 });
      const generator = new CommandGenerator(seededRandom(seed), new Model(machine.config));
      const model = new Model(machine.config);
      for (let i = 1; i <= 200; i++) {
        const command = generator.next();
        machine.apply(i, command);
        model.apply(command);
      }
      const bytes1 = snapshot(machine);
      const restored = restore(bytes1);
      expect(dump(restored), `seed ${seed}`).toEqual(dump(machine));
      expect(snapshot(restored), `seed ${seed}`).toEqual(bytes1);
    }
  });

  it('does not alias the input buffer', () => {
    const h = rich();
    const bytes1 = snapshot(h.machine);
    const restored = restore(bytes1);
    const before = dump(restored);
    bytes1.fill(0);
    expect(dump(restored)).toEqual(before);
  });

  it('keeps the snapshot limits unless told otherwise, and applies new ones', () => {
    const h = new Harness({ dataBytesMax: 10 });
    for (let i = 0; i < 20; i++) ok(h.create(`/n${i}`).result);
    expect(restore(snapshot(h.machine)).config.dataBytesMax).toBe(10);
    const trimmed = restore(snapshot(h.machine), { config: { historyRevisionsMax: 5 } });
    expect(trimmed.config.dataBytesMax).toBe(10);
    expect(trimmed.history(15)).toEqual({ ok: false, code: 'compacted', oldestRevision: 16 });
  });

  it('splits big states into chunks that stream and restore', () => {
    const h = new Harness();
    ok(h.create('/big').result);
    const wide = 20_000;
    const commands: Command[] = [];
    for (let i = 0; i < wide; i++) {
      commands.push({ op: 'create', path: `/big/n${i}`, data: bytes(String(i)), mode: 'persistent', sequential: false, parents: false, ...h.meta() });
    }
    for (const command of commands) h.apply(command);
    const large = new Uint8Array(1024 * 1024).fill(7);
    for (let i = 0; i < 5; i++) {
      h.apply({ op: 'create', path: `/large${i}`, data: large, mode: 'persistent', sequential: false, parents: false, ...h.meta() });
    }
    const chunks = [...snapshotChunks(h.machine)];
    expect(chunks.length).toBeGreaterThan(6);
    const joined = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let offset = 0;
    for (const chunk of chunks) {
      joined.set(chunk, offset);
      offset += chunk.length;
    }
    const whole = snapshot(h.machine);
    expect(sameBytes(joined, whole)).toBe(true);
    // Streaming restore: items decoded one at a time.
    const reader = new SnapshotReader();
    const decoder = new Decoder(snapshotCodecOptions);
    for (const chunk of chunks) reader.push(decoder.decode(chunk));
    const restored = reader.finish();
    expect(ok(restored.children('/big', false)).names).toHaveLength(wide);
    const restoredLarge = ok(restored.get('/large4')).node.data;
    expect(restoredLarge.constructor).toBe(Uint8Array);
    expect(sameBytes(restoredLarge, large)).toBe(true);
    expect(dump(restored)).toEqual(dump(h.machine));
  });
});

describe('damaged snapshots', () => {
  const refused = (run: () => unknown): void => {
    let thrown: unknown;
    try {
      run();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StateMachineError);
    expect((thrown as StateMachineError).code).toBe('snapshot_invalid');
  };

  it('refuses truncation at any item boundary and inside items', () => {
    const bytes1 = snapshot(rich().machine);
    for (const cut of [0, 1, 10, bytes1.length >> 1, bytes1.length - 1]) refused(() => restore(bytes1.subarray(0, cut)));
    const chunks = [...snapshotChunks(rich().machine)];
    refused(() => restore(chunks[0] as Uint8Array)); // header only: no end
  });

  it('refuses other formats, versions and item orders', () => {
    const chunks = [...snapshotChunks(new StateMachine())];
    const decoder = new Decoder(snapshotCodecOptions);
    const header = decoder.decode(chunks[0] as Uint8Array) as Record<string, unknown>;
    expect(header['format']).toBe(SNAPSHOT_FORMAT);
    const reader = (): SnapshotReader => new SnapshotReader();
    refused(() => reader().push({ ...header, format: 'other' }));
    refused(() => reader().push({ ...header, version: 99 }));
    refused(() => reader().push({ ...header, config: { dataBytesMax: -1 } }));
    refused(() => reader().push({ kind: 'nodes', names: [], fields: new Uint8Array(), data: new Uint8Array() }));
    refused(() => reader().push('not an item'));
    const items = chunks.map((c) => decoder.decode(c) as Record<string, unknown>);
    refused(() => {
      const r = reader();
      for (const item of [...items].reverse()) r.push(item);
    });
    refused(() => {
      const r = reader();
      for (const item of items) r.push(item);
      r.push(items[1]);
    });
    refused(() => {
      const r = reader();
      for (const item of items.slice(0, -1)) r.push(item);
      r.push({ ...items[items.length - 1], nodeCount: 7 });
    });
  });

  it('restores or refuses, never anything else, under random byte damage', () => {
    const original = snapshot(rich().machine);
    const random = seededRandom(7);
    let refusedCount = 0;
    for (let trial = 0; trial < 300; trial++) {
      const damaged = original.slice();
      const flips = 1 + random.int(3);
      for (let i = 0; i < flips; i++) {
        const at = random.int(damaged.length);
        damaged[at] = (damaged[at] as number) ^ (1 << random.int(8));
      }
      try {
        checkInvariants(restore(damaged));
      } catch (error) {
        expect(error).toBeInstanceOf(StateMachineError);
        expect((error as StateMachineError).code).toBe('snapshot_invalid');
        refusedCount++;
      }
    }
    expect(refusedCount).toBeGreaterThan(0);
  });
});
