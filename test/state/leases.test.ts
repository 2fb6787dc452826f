// Leases and sessions through the log: grant, revoke and expire, attached ephemerals deleted in one revision,
// the reads the leader runtime needs (leases(), time-to-live, list), and sessions tied to a client.

import { describe, expect, it } from 'vitest';
import type { LeaseId } from '../../server/state/index.ts';
import { Harness, err, ok } from './helpers.ts';

describe('lease grant', () => {
  it('grants with a chosen id or the next unused one, never reusing a picked id', () => {
    const h = new Harness();
    expect(ok(h.grant(5000).result)).toEqual({ ok: true, op: 'leaseGrant', leaseId: 1, ttlMs: 5000, kind: 'lease' });
    expect(ok(h.grant(5000, 'session', 10).result).leaseId).toBe(10);
    expect(ok(h.grant(5000).result).leaseId).toBe(11);
    ok(h.revoke(11).result);
    expect(ok(h.grant(5000).result).leaseId).toBe(12);
    expect(err(h.grant(5000, 'lease', 10).result).code).toBe('exists');
    expect(h.machine.revision).toBe(0);
  });

  it('validates the TTL and kind', () => {
    const h = new Harness({ leaseTtlMsMax: 1000 });
    expect(err(h.grant(0).result).code).toBe('bad_request');
    expect(err(h.grant(1001).result).code).toBe('bad_request');
    expect(err(h.grant(10, 'forever' as never).result).code).toBe('bad_request');
    expect(err(h.grant(10, 'lease', -1).result).code).toBe('bad_request');
    ok(h.grant(1000).result);
  });

  it('lists leases for the runtime, sorted by id', () => {
    const h = new Harness();
    h.clientId = 'c1';
    ok(h.grant(300, 'session', 7).result);
    h.clientId = '';
    ok(h.grant(100, 'lease', 3).result);
    expect(h.machine.leases()).toEqual([
      { leaseId: 3, ttlMs: 100, kind: 'lease', clientId: '' },
      { leaseId: 7, ttlMs: 300, kind: 'session', clientId: 'c1' },
    ]);
    expect(ok(h.machine.leaseList()).leases).toEqual(h.machine.leases());
    expect(ok(h.machine.query({ op: 'leaseList' })).leases).toHaveLength(2);
  });

  it('answers time-to-live with the attached keys, sorted', () => {
    const h = new Harness();
    const id = ok(h.grant(100).result).leaseId;
    ok(h.create('/b', '', { mode: 'ephemeral', leaseId: id }).result);
    ok(h.create('/a', '', { mode: 'ephemeral', leaseId: id }).result);
    expect(h.machine.leaseTimeToLive(id, true)).toMatchObject({ leaseId: id, ttlMs: 100, keys: ['/a', '/b'] });
    expect(h.machine.leaseTimeToLive(id, false)).toMatchObject({ keys: null });
    expect(err(h.machine.leaseTimeToLive(99 as LeaseId, false)).code).toBe('lease_not_found');
  });
});

describe('lease revoke and expire', () => {
  it('revoke deletes every attached node in one revision', () => {
    const h = new Harness();
    const id = ok(h.grant().result).leaseId;
    const other = ok(h.grant().result).leaseId;
    ok(h.create('/app').result);
    ok(h.create('/app/z', '', { mode: 'ephemeral', leaseId: id }).result);
    ok(h.create('/app/a', '', { mode: 'ephemeral', leaseId: id }).result);
    ok(h.create('/app/keep', '', { mode: 'ephemeral', leaseId: other }).result);
    const applied = h.revoke(id);
    expect(ok(applied.result)).toEqual({ ok: true, op: 'leaseRevoke', leaseId: id, deleted: 2 });
    expect(applied.revision).toBe(5);
    expect(applied.events.map((e) => `${e.type} ${e.path} ${e.revision}`)).toEqual([
      'delete /app/a 5',
      'delete /app/z 5',
    ]);
    expect(h.names('/app')).toEqual(['keep']);
    expect(h.machine.leases().map((l) => l.leaseId)).toEqual([other]);
    expect(err(h.revoke(id).result).code).toBe('lease_not_found');
  });

  it('revoking a lease without nodes changes no revision', () => {
    const h = new Harness();
    const id = ok(h.grant().result).leaseId;
    const applied = h.revoke(id);
    expect(ok(applied.result).deleted).toBe(0);
    expect(applied.revision).toBe(0);
    expect(applied.events).toEqual([]);
  });

  it('expire ends several leases in one revision, ignoring ids already gone', () => {
    const h = new Harness();
    const a = ok(h.grant().result).leaseId;
    const b = ok(h.grant().result).leaseId;
    const c = ok(h.grant().result).leaseId;
    ok(h.create('/a', '', { mode: 'ephemeral', leaseId: a }).result);
    ok(h.create('/b', '', { mode: 'ephemeral', leaseId: b }).result);
    ok(h.create('/c', '', { mode: 'ephemeral', leaseId: c }).result);
    const applied = h.expire(b, 404, a, b);
    expect(ok(applied.result)).toEqual({ ok: true, op: 'leaseExpire', expired: [b, a], deleted: 2 });
    expect(applied.events.map((e) => `${e.path}@${e.revision}`)).toEqual(['/b@4', '/a@4']);
    expect(h.machine.revision).toBe(4);
    expect(h.machine.leases().map((l) => l.leaseId)).toEqual([c]);
    expect(ok(h.expire(a, b).result)).toEqual({ ok: true, op: 'leaseExpire', expired: [], deleted: 0 });
    expect(h.machine.revision).toBe(4);
  });

  it('removes a container emptied by an expiry in the same revision', () => {
    const h = new Harness();
    const id = ok(h.grant().result).leaseId;
    ok(h.create('/svc', '', { mode: 'container' }).result);
    ok(h.create('/svc/m1', '', { mode: 'ephemeral', leaseId: id }).result);
    ok(h.create('/svc/m2', '', { mode: 'ephemeral', leaseId: id }).result);
    const applied = h.expire(id);
    expect(applied.events.map((e) => e.path)).toEqual(['/svc/m1', '/svc/m2', '/svc']);
    expect(ok(applied.result).deleted).toBe(3);
    expect(new Set(applied.events.map((e) => e.revision)).size).toBe(1);
  });

  it('validates expire arguments', () => {
    const h = new Harness({ leaseExpireIdsMax: 2 });
    expect(err(h.expire(1, 2, 3).result).code).toBe('bad_request');
    expect(err(h.expire(0).result).code).toBe('bad_request');
    expect(err(h.revoke(0).result).code).toBe('bad_request');
  });
});

describe('sessions', () => {
  it('drop the tied client idempotency record when the session ends', () => {
    const h = new Harness();
    h.clientId = 'client-1';
    const session = ok(h.grant(100, 'session').result).leaseId;
    ok(h.create('/e', '', { mode: 'ephemeral', leaseId: session }).result);
    expect(h.machine.clients.peek('client-1')).toBeDefined();
    h.clientId = '';
    ok(h.expire(session).result);
    expect(h.machine.clients.peek('client-1')).toBeUndefined();
  });

  it('keep the result of the revoke the client itself sent', () => {
    const h = new Harness();
    h.clientId = 'client-1';
    const session = ok(h.grant(100, 'session').result).leaseId;
    const revoke = { op: 'leaseRevoke' as const, leaseId: session, ...h.meta() };
    const first = h.apply(revoke);
    ok(first.result);
    // A retry of the same command is answered from the record, not applied again.
    expect(h.apply(revoke).result).toEqual(first.result);
  });

  it('a plain lease is not tied to its client', () => {
    const h = new Harness();
    h.clientId = 'client-2';
    const id = ok(h.grant(100, 'lease').result).leaseId;
    expect(h.machine.leases()[0]?.clientId).toBe('');
    h.clientId = '';
    ok(h.revoke(id).result);
    expect(h.machine.clients.peek('client-2')).toBeDefined();
  });
});
