// Proves that a 3-member and a 5-member ensemble of real processes elect a leader and serve every operation of
// the API (tree, transactions, leases, watches, reads, cluster status, HTTP gateway) with the documented results.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CompactedError, text, type Client, type WatchEvent, type WatchItem } from '../../sdk/index.ts';
import { ProcessCluster, waitFor } from './harness.ts';
import { collect, connectTo, endpointOf, RawSocket, statusesOf, type MemberStatus } from './helpers.ts';

const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);
const isEvent = (item: WatchItem): item is WatchEvent => item.type === 'create' || item.type === 'set' || item.type === 'delete';
const events = (items: readonly WatchItem[]): WatchEvent[] => items.filter(isEvent);
const summary = (e: WatchEvent): string => `${e.type} ${e.path}`;

async function post(endpoint: string, op: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://${endpoint}/v1/${op}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.json() };
}

describe.each([3, 5])('a %i-member ensemble', (size) => {
  let cluster: ProcessCluster;
  let client: Client;
  let leaderName: string;

  beforeAll(async () => {
    cluster = await ProcessCluster.start({ size, env: { SYNOD_WATCH_PROGRESS_MS: '200' } });
    leaderName = await cluster.waitForLeader();
    client = await connectTo(cluster.endpoints);
  });

  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
  });

  // A stalled disk on a busy machine may cost a leader its term between tests: each test starts from the current one.
  beforeEach(async () => {
    leaderName = await cluster.waitForLeader();
  });

  const leader = () => cluster.member(leaderName);

  it('moves a client that reached a follower to the leader, which every member registered as its client address', async () => {
    const follower = cluster.members.find((m) => m.name !== leaderName)!;
    const moving = await connectTo([endpointOf(follower)], { preferLeader: true });
    try {
      await waitFor('the client to reach the leader', () => moving.endpoint === endpointOf(leader()), 5_000);
      const created = await moving.create('/ops/through-leader', 'x', { parents: true });
      expect(created.header.member).toBe(leaderName);
      const members = await moving.members();
      for (const m of cluster.members) expect(members.find((info) => info.name === m.name)?.clientUrl).toBe(endpointOf(m));
    } finally {
      await moving.close();
    }
  });

  it('elects exactly one leader that every member names, with every member voting', async () => {
    const statuses = await statusesOf(cluster.members);
    expect(statuses.filter((s) => s.role === 'leader').map((s) => s.member)).toEqual([leaderName]);
    expect(new Set(statuses.map((s) => s.leader))).toEqual(new Set([leaderName]));
    expect(new Set(statuses.map((s) => s.term)).size).toBe(1);
    for (const s of statuses) expect([...s.voters].sort()).toEqual(cluster.members.map((m) => m.name).sort());
  });

  it('creates persistent nodes, with missing parents on request', async () => {
    const created = await client.create('/ops/tree/a/b', 'leaf', { parents: true });
    expect(created.path).toBe('/ops/tree/a/b');
    expect(created.stat).toMatchObject({ mode: 'persistent', version: 0, dataLength: 4, ephemeralOwner: 0, createRevision: created.header.revision, modRevision: created.header.revision });
    // The parents came into being in the same revision, as persistent empty nodes.
    const parent = await client.get('/ops/tree/a');
    expect(parent.stat).toMatchObject({ mode: 'persistent', createRevision: created.header.revision, numChildren: 1, dataLength: 0 });
    await expect(client.create('/ops/tree/missing/child', 'x')).rejects.toMatchObject({ code: 'not_found' });
    await expect(client.create('/ops/tree/a/b', 'again')).rejects.toMatchObject({ code: 'exists' });
    expect(text((await client.get('/ops/tree/a/b')).data)).toBe('leaf');
  });

  it('creates ephemeral nodes owned by a session, which cannot have children', async () => {
    const session = await client.session({ ttlMs: 5000 });
    const node = await client.create('/ops/eph/owned', 'mine', { parents: true, mode: 'ephemeral', session });
    expect(node.stat).toMatchObject({ mode: 'ephemeral', ephemeralOwner: session.id });
    await expect(client.create('/ops/eph/owned/child', 'x')).rejects.toMatchObject({ code: 'no_children_for_ephemerals' });
    await session.close();
    expect(await client.exists('/ops/eph/owned')).toBeNull();
  });

  it('creates sequential nodes with increasing zero-padded suffixes from the parent counter', async () => {
    const paths: string[] = [];
    for (let i = 0; i < 3; i++) paths.push((await client.create('/ops/seq/job-', `${i}`, { parents: true, sequential: true })).path);
    expect(paths).toEqual(['/ops/seq/job-0000000000', '/ops/seq/job-0000000001', '/ops/seq/job-0000000002']);
    // The counter belongs to the parent: another prefix continues it, and a deletion never reuses a number.
    await client.delete('/ops/seq/job-0000000002');
    const other = await client.create('/ops/seq/other-', '', { sequential: true });
    expect(other.path).toBe('/ops/seq/other-0000000003');
    expect(other.stat.sequential).toBe(true);
  });

  it('removes a container in the revision its last child goes', async () => {
    await client.create('/ops/box', '', { mode: 'container' });
    await client.create('/ops/box/a', '1');
    await client.create('/ops/box/b', '2');
    expect((await client.get('/ops/box')).stat.mode).toBe('container');
    expect(await client.delete('/ops/box/a')).toBe(1);
    expect(await client.exists('/ops/box')).not.toBeNull();
    // The last child and the container go together.
    expect(await client.delete('/ops/box/b')).toBe(2);
    expect(await client.exists('/ops/box')).toBeNull();
  });

  it('removes a TTL node once it has gone unmodified for its TTL', async () => {
    const createdAt = Date.now(); // before the member stamps the node's time on receipt
    const created = await client.create('/ops/ttl-node', 'short-lived', { mode: 'ttl', ttlMs: 300 });
    expect(created.stat).toMatchObject({ mode: 'ttl', ttlMs: 300 });
    await waitFor('the TTL node to be swept', async () => (await client.exists('/ops/ttl-node')) === null, 5000);
    expect(Date.now() - createdAt).toBeGreaterThanOrEqual(300);
  });

  it('gets and sets with compare-and-set on the version', async () => {
    await client.create('/ops/cas', 'v0');
    const v1 = await client.set('/ops/cas', 'v1', { expectedVersion: 0 });
    expect(v1.version).toBe(1);
    await expect(client.set('/ops/cas', 'lost', { expectedVersion: 0 })).rejects.toMatchObject({ code: 'bad_version' });
    const v2 = await client.set('/ops/cas', 'v2');
    expect(v2.version).toBe(2);
    expect(v2.modRevision).toBeGreaterThan(v1.modRevision);
    const got = await client.get('/ops/cas');
    expect(text(got.data)).toBe('v2');
    expect(got.stat).toMatchObject({ version: 2, modRevision: v2.modRevision, createRevision: v1.createRevision });
    await expect(client.get('/ops/nothing-here')).rejects.toMatchObject({ code: 'not_found' });
    await expect(client.set('/ops/nothing-here', 'x')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('answers each write with the revision it committed at, even when many commit together', async () => {
    const writers = await Promise.all(cluster.endpoints.map((e) => connectTo([e])));
    try {
      await client.create('/ops/burst', '', { parents: true });
      const answers = await Promise.all(
        writers.flatMap((writer, w) => Array.from({ length: 20 }, (_, i) => writer.create(`/ops/burst/w${w}-${i}`, `${i}`))),
      );
      const mismatched = answers.filter((a) => a.header.revision !== a.stat.createRevision).map((a) => `${a.path}: header ${a.header.revision}, created at ${a.stat.createRevision}`);
      expect(mismatched).toEqual([]);
      const txn = await Promise.all(writers.map((writer, w) => writer.txn().then({ op: 'set', path: `/ops/burst/w${w}-0`, data: bytes('t') }).commit()));
      for (const t of txn) expect(t.header.revision).toBe((t.results[0] as { stat: { modRevision: number } }).stat.modRevision);
    } finally {
      await Promise.all(writers.map((w) => w.close()));
    }
  });

  it('deletes with an expected version, refuses a node with children, and deletes subtrees recursively', async () => {
    await client.create('/ops/del/x/y', 'deep', { parents: true });
    await client.set('/ops/del/x', 'changed');
    await expect(client.delete('/ops/del/x', { expectedVersion: 0 })).rejects.toMatchObject({ code: 'bad_version' });
    await expect(client.delete('/ops/del/x', { expectedVersion: 1 })).rejects.toMatchObject({ code: 'not_empty' });
    expect(await client.delete('/ops/del/x', { expectedVersion: 1, recursive: true })).toBe(2);
    expect(await client.exists('/ops/del/x')).toBeNull();
    expect(await client.exists('/ops/del/x/y')).toBeNull();
    await expect(client.delete('/ops/del/x')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('answers exists with a stat (null when absent) and lists children sorted, with stats', async () => {
    for (const name of ['delta', 'alpha', 'charlie', 'bravo']) await client.create(`/ops/kids/${name}`, name, { parents: true });
    await client.set('/ops/kids/charlie', 'charlie-2');
    const stat = await client.exists('/ops/kids');
    expect(stat).toMatchObject({ numChildren: 4, mode: 'persistent' });
    expect(stat!.cversion).toBeGreaterThanOrEqual(4);
    expect(await client.exists('/ops/kids/zulu')).toBeNull();
    expect(await client.children('/ops/kids')).toEqual(['alpha', 'bravo', 'charlie', 'delta']);
    const withStats = await client.childrenWithStats('/ops/kids');
    expect(withStats.map((c) => c.name)).toEqual(['alpha', 'bravo', 'charlie', 'delta']);
    expect(withStats.find((c) => c.name === 'charlie')!.stat).toMatchObject({ version: 1, dataLength: 'charlie-2'.length });
    expect(await client.children('/ops/kids/alpha')).toEqual([]);
    await expect(client.children('/ops/kids/zulu')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('ranges over a subtree in pages, continuing after the last path', async () => {
    for (let i = 0; i < 7; i++) await client.create(`/ops/range/n${i}`, `${i}`, { parents: true });
    await client.create('/ops/range/n3/inner', 'in');
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await client.range('/ops/range', { limit: 3, ...(after !== undefined ? { after } : {}) });
      expect(page.nodes.length).toBeLessThanOrEqual(3);
      pages++;
      seen.push(...page.nodes.map((n) => n.path));
      if (!page.more) break;
      after = page.nodes[page.nodes.length - 1]!.path;
    }
    // Pre-order: the node itself first, children by name, each subtree before the next sibling.
    expect(seen).toEqual(['/ops/range', '/ops/range/n0', '/ops/range/n1', '/ops/range/n2', '/ops/range/n3', '/ops/range/n3/inner', '/ops/range/n4', '/ops/range/n5', '/ops/range/n6']);
    expect(pages).toBe(3);
  });

  it('commits a transaction at one revision when every compare holds, the else branch when one fails', async () => {
    const a = await client.create('/ops/txn/a', 'x', { parents: true });
    const compares = [
      { path: '/ops/txn/a', target: 'exists', op: '=', value: true },
      { path: '/ops/txn/nope', target: 'exists', op: '!=', value: true },
      { path: '/ops/txn/a', target: 'version', op: '=', value: 0 },
      { path: '/ops/txn/a', target: 'modRevision', op: '=', value: a.stat.modRevision },
      { path: '/ops/txn/a', target: 'createRevision', op: '<', value: a.stat.createRevision + 1 },
      { path: '/ops/txn/a', target: 'value', op: '=', value: bytes('x') },
      { path: '/ops/txn/a', target: 'value', op: '>', value: bytes('w') },
    ] as const;
    const ok = await client
      .txn()
      .if(...compares)
      .then(
        { op: 'create', path: '/ops/txn/b', data: bytes('b') },
        { op: 'set', path: '/ops/txn/a', data: bytes('y') },
        { op: 'get', path: '/ops/txn/a' },
      )
      .else({ op: 'create', path: '/ops/txn/else', data: bytes('else') })
      .commit();
    expect(ok.succeeded).toBe(true);
    const [created, set, got] = ok.results as Array<{ stat?: { createRevision: number; modRevision: number }; node?: { data: Uint8Array } }>;
    // Everything in the transaction carries one revision: the one in the header.
    expect(created!.stat!.createRevision).toBe(ok.header.revision);
    expect(set!.stat!.modRevision).toBe(ok.header.revision);
    expect(text(got!.node!.data)).toBe('y');
    expect(await client.exists('/ops/txn/else')).toBeNull();

    const failed = await client
      .txn()
      .if({ path: '/ops/txn/a', target: 'version', op: '>', value: 5 })
      .then({ op: 'delete', path: '/ops/txn/a' })
      .else({ op: 'create', path: '/ops/txn/else', data: bytes('else') }, { op: 'set', path: '/ops/txn/b', data: bytes('b2') })
      .commit();
    expect(failed.succeeded).toBe(false);
    expect((await client.get('/ops/txn/else')).stat.createRevision).toBe(failed.header.revision);
    expect((await client.get('/ops/txn/b')).stat.modRevision).toBe(failed.header.revision);
    expect(text((await client.get('/ops/txn/a')).data)).toBe('y');

    // An operation that fails undoes the whole branch.
    await expect(
      client.txn().then({ op: 'create', path: '/ops/txn/c', data: bytes('c') }, { op: 'create', path: '/ops/txn/a', data: bytes('dup') }).commit(),
    ).rejects.toMatchObject({ code: 'exists' });
    expect(await client.exists('/ops/txn/c')).toBeNull();
  });

  it('grants leases, keeps them alive, reports time to live with keys, lists them, and revokes in one revision', async () => {
    const lease = await client.grantLease(3000);
    expect(lease.ttlMs).toBe(3000);
    await client.create('/ops/lease/one', '1', { parents: true, mode: 'ephemeral', leaseId: lease.leaseId });
    await client.create('/ops/lease/two', '2', { mode: 'ephemeral', leaseId: lease.leaseId });
    expect((await client.leases()).map((l) => l.leaseId)).toContain(lease.leaseId);
    const ttl = await client.leaseTimeToLive(lease.leaseId, { keys: true });
    expect(ttl).toMatchObject({ ttlMs: 3000, kind: 'lease', keys: ['/ops/lease/one', '/ops/lease/two'] });
    // The leader keeps the deadlines: it reports the time remaining.
    const atLeader = await connectTo([endpointOf(leader())]);
    try {
      const remaining = (await atLeader.leaseTimeToLive(lease.leaseId)).remainingMs;
      expect(remaining).not.toBeNull();
      expect(remaining!).toBeGreaterThan(0);
      expect(remaining!).toBeLessThanOrEqual(3000);
    } finally {
      await atLeader.close();
    }

    // Kept alive for one and a half times its TTL, the lease and its nodes stay.
    const keptUntil = Date.now() + 4500;
    while (Date.now() < keptUntil) {
      await client.keepAliveLease(lease.leaseId);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(await client.exists('/ops/lease/one')).not.toBeNull();

    const watch = collect(client.watch('/ops/lease', { scope: 'children' }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = (await client.range('/ops/lease', { limit: 1 })).revision;
    await client.revokeLease(lease.leaseId);
    await watch.until('both deletions', (items) => events(items).length >= 2);
    const deletions = events(watch.items);
    expect(deletions.map(summary)).toEqual(['delete /ops/lease/one', 'delete /ops/lease/two']);
    expect(new Set(deletions.map((e) => e.revision))).toEqual(new Set([before + 1]));
    await expect(client.leaseTimeToLive(lease.leaseId)).rejects.toMatchObject({ code: 'lease_not_found' });
    expect((await client.leases()).map((l) => l.leaseId)).not.toContain(lease.leaseId);
    await expect(client.keepAliveLease(lease.leaseId)).rejects.toMatchObject({ code: 'session_expired' });

    // A lease nobody keeps alive ends by itself, and its node with it.
    const lapsing = await client.grantLease(500);
    await client.create('/ops/lease/lapsing', '', { mode: 'ephemeral', leaseId: lapsing.leaseId });
    await waitFor('the lapsed lease to take its node', async () => (await client.exists('/ops/lease/lapsing')) === null, 5000);
  });

  it('watches one node, its children, or its subtree, with previous data on request', async () => {
    await client.create('/ops/w', '', { parents: true });
    const node = collect(client.watch('/ops/w/n'));
    const children = collect(client.watch('/ops/w/n', { scope: 'children' }));
    const subtree = collect(client.watch('/ops/w', { recursive: true, prevData: true }));
    await new Promise((resolve) => setTimeout(resolve, 100)); // the watches are registered before the writes below
    await client.create('/ops/w/n', 'a');
    await client.set('/ops/w/n', 'b');
    await client.create('/ops/w/n/c1', 'c');
    await client.create('/ops/w/n/c1/deep', 'd');
    await client.set('/ops/w/n/c1', 'c2');
    await client.delete('/ops/w/n', { recursive: true });
    await subtree.until('the subtree events', (items) => events(items).length >= 8);
    await node.until('the node events', (items) => events(items).length >= 3);
    await children.until('the children events', (items) => events(items).length >= 3);
    expect(events(node.items).map(summary)).toEqual(['create /ops/w/n', 'set /ops/w/n', 'delete /ops/w/n']);
    expect(events(children.items).map(summary)).toEqual(['create /ops/w/n/c1', 'set /ops/w/n/c1', 'delete /ops/w/n/c1']);
    const all = events(subtree.items);
    expect(all.map(summary)).toEqual([
      'create /ops/w/n',
      'set /ops/w/n',
      'create /ops/w/n/c1',
      'create /ops/w/n/c1/deep',
      'set /ops/w/n/c1',
      'delete /ops/w/n/c1/deep',
      'delete /ops/w/n/c1',
      'delete /ops/w/n',
    ]);
    // The recursive delete is one revision; everything else one revision each, increasing.
    const revisions = all.map((e) => e.revision);
    expect(new Set(revisions.slice(5)).size).toBe(1);
    for (let i = 1; i <= 5; i++) expect(revisions[i]!).toBe(revisions[i - 1]! + 1);
    const sets = all.filter((e) => e.type === 'set');
    expect(sets.map((e) => [text(e.data), e.prevData === null ? null : text(e.prevData)])).toEqual([['b', 'a'], ['c2', 'c']]);
    // Without prevData, set events do not carry it.
    expect(events(node.items).find((e) => e.type === 'set')!.prevData).toBeNull();
    expect(node.error ?? children.error ?? subtree.error).toBeNull();
  });

  it('replays history from a revision, and delivers the initial state before live changes', async () => {
    const first = await client.create('/ops/hist/1', 'one', { parents: true });
    await client.create('/ops/hist/2', 'two');
    await client.set('/ops/hist/1', 'uno');
    const replay = collect(client.watch('/ops/hist', { recursive: true, fromRevision: first.header.revision }));
    const initial = collect(client.watch('/ops/hist', { scope: 'children', initial: true }));
    await replay.until('the replayed events', (items) => events(items).length >= 4);
    await initial.until('the initial state', (items) => items.some((i) => i.type === 'initial' && i.done));
    const live = await client.create('/ops/hist/3', 'three');
    await replay.until('the live event after the replay', (items) => events(items).length >= 5);
    await initial.until('the live event after the initial state', (items) => events(items).length >= 1);
    expect(events(replay.items).map((e) => `${summary(e)}@${e.revision}`)).toEqual([
      `create /ops/hist@${first.header.revision}`,
      `create /ops/hist/1@${first.header.revision}`,
      `create /ops/hist/2@${first.header.revision + 1}`,
      `set /ops/hist/1@${first.header.revision + 2}`,
      `create /ops/hist/3@${live.header.revision}`,
    ]);
    const [state, ...rest] = initial.items;
    if (state?.type !== 'initial') throw new Error(`expected the initial state first, got ${JSON.stringify(state)}`);
    expect(state.nodes.map((n) => [n.path, text(n.data)])).toEqual([['/ops/hist/1', 'uno'], ['/ops/hist/2', 'two']]);
    expect(state.revision).toBeLessThan(live.header.revision);
    expect(events(rest).map(summary)).toEqual(['create /ops/hist/3']);
  });

  it('ends a one-shot watch after its first event (wire protocol)', async () => {
    const raw = await RawSocket.open(cluster.endpoints[0]!);
    try {
      const oneShot = await raw.request({ op: 'watch', path: '/ops/once', scope: 'node', oneShot: true });
      const steady = await raw.request({ op: 'watch', path: '/ops/once', scope: 'node' });
      expect(oneShot.ok && steady.ok).toBe(true);
      const oneShotId = (oneShot['result'] as { watchId: number }).watchId;
      const steadyId = (steady['result'] as { watchId: number }).watchId;
      await client.create('/ops/once', '1');
      await client.set('/ops/once', '2');
      // Pushes on one connection are ordered: once the steady watch has the set, the one-shot would have it too.
      await raw.waitMessage('the set on the steady watch', (m) => m.watch === steadyId && Array.isArray(m['events']) && (m['events'] as WatchEvent[]).some((e) => e.type === 'set'));
      const oneShotEvents = raw.received.filter((m) => m.watch === oneShotId && Array.isArray(m['events'])).flatMap((m) => m['events'] as WatchEvent[]);
      expect(oneShotEvents.map(summary)).toEqual(['create /ops/once']);
    } finally {
      raw.close();
    }
  });

  it('sends progress notices on an idle watch as the revision moves elsewhere', async () => {
    const idle = collect(client.watch('/ops/idle', { progress: true }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const elsewhere = await client.create('/ops/elsewhere', 'x');
    await idle.until('a progress notice at or past the unrelated write', (items) => items.some((i) => i.type === 'progress' && i.revision >= elsewhere.header.revision), 5000);
    expect(events(idle.items)).toEqual([]);
  });

  it('reads linearizably by default on every member, serializably from the member itself, and sync catches a member up', async () => {
    const readers = await Promise.all(cluster.endpoints.map((e) => connectTo([e])));
    try {
      for (let round = 0; round < 3; round++) {
        const written = await client.set('/ops/cas', `round-${round}`);
        // A linearizable read anywhere sees every write acknowledged before it started.
        for (const reader of readers) expect((await reader.get('/ops/cas')).stat.version).toBe(written.version);
        // After sync, the member's own state has it too.
        for (const reader of readers) {
          await reader.sync();
          expect((await reader.get('/ops/cas', { serializable: true })).stat.modRevision).toBe(written.modRevision);
        }
      }
      // Serializable reads are answered by the member asked, without the leader (through the gateway's header).
      for (const member of cluster.members) {
        const answer = await post(endpointOf(member), 'get', { path: '/ops/cas', serializable: true });
        expect(answer.body.header.member).toBe(member.name);
      }

      // Without a quorum, only serializable reads are possible: pause every member but one follower.
      const lone = cluster.members.find((m) => m.name !== leaderName)!;
      const loneReader = readers[cluster.members.indexOf(lone)]!;
      const paused = cluster.members.filter((m) => m !== lone);
      for (const m of paused) cluster.signal(m.name, 'SIGSTOP');
      try {
        const stale = await loneReader.get('/ops/cas', { serializable: true });
        expect(text(stale.data)).toBe('round-2');
        await expect(loneReader.get('/ops/cas', { timeoutMs: 800 })).rejects.toMatchObject({ code: expect.stringMatching(/^(timeout|no_leader|leader_changed|unavailable)$/) });
        await waitFor('the lone member to report itself unhealthy', async () => (await fetch(`http://${endpointOf(lone)}/health`)).status === 503, 5000);
      } finally {
        for (const m of paused) cluster.signal(m.name, 'SIGCONT');
      }
      leaderName = await cluster.waitForLeader();
      expect(text((await loneReader.get('/ops/cas')).data)).toBe('round-2');
    } finally {
      await Promise.all(readers.map((r) => r.close()));
    }
  });

  it('answers a serializable read with minRevision on any member only once that member has applied the revision', async () => {
    const readers = await Promise.all(cluster.endpoints.map((e) => connectTo([e])));
    try {
      await client.create('/minrev').catch((error: unknown) => expect(error).toMatchObject({ code: 'exists' }));
      for (let round = 0; round < 20; round++) {
        const stat = await client.set('/minrev', `minrev-${round}`);
        for (const reader of readers) {
          const got = await reader.get('/minrev', { minRevision: stat.modRevision });
          expect(got.stat.modRevision).toBeGreaterThanOrEqual(stat.modRevision);
        }
      }
      // A revision far ahead is waited for, boundedly, then refused.
      const future = (await client.get('/minrev')).stat.modRevision + 1_000_000;
      await expect(readers[0]!.get('/minrev', { minRevision: future, timeoutMs: 1_500 })).rejects.toMatchObject({ code: 'timeout' });
    } finally {
      await Promise.all(readers.map((r) => r.close()));
    }
  });

  it('reports status, members, health and metrics over HTTP', async () => {
    for (const member of cluster.members) {
      const status = (await (await fetch(`http://${endpointOf(member)}/status`)).json()) as MemberStatus;
      expect(status).toMatchObject({ member: member.name, leader: leaderName });
      expect(status.applied).toBeGreaterThan(0);
      expect(status.members.map((m) => m.name).sort()).toEqual(cluster.members.map((m) => m.name).sort());
      const health = await fetch(`http://${endpointOf(member)}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ healthy: true, leader: leaderName });
      const metrics = await (await fetch(`http://${endpointOf(member)}/metrics`)).text();
      for (const name of ['synod_revision', 'synod_raft_term', 'synod_raft_commit_index', 'synod_raft_applied_index', 'synod_client_connections', 'synod_role']) {
        expect(metrics).toMatch(new RegExp(`^${name}[ {]`, 'm'));
      }
    }
    const metrics = await (await fetch(`http://${endpointOf(leader())}/metrics`)).text();
    expect(metrics).toMatch(/^synod_role\{role="leader"\} 1$/m);
    // The member process's own memory, read at the scrape: a resident set of some MB, a heap within it.
    const memory = (kind: string): number => Number(new RegExp(`^synod_process_memory_bytes\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(metrics)?.[1]);
    expect(memory('rss')).toBeGreaterThan(10_000_000);
    expect(memory('heapUsed')).toBeGreaterThan(1_000_000);
    expect(memory('heapUsed')).toBeLessThan(memory('rss'));
    const members = await client.members();
    expect(members.map((m) => m.name).sort()).toEqual(cluster.members.map((m) => m.name).sort());
    expect(members.every((m) => m.peerUrl.startsWith('ws://127.0.0.1:') && !m.learner)).toBe(true);
    const status = await client.status();
    expect(status['leader']).toBe(leaderName);
  });

  it('serves the same operations through the HTTP JSON gateway', async () => {
    const at = endpointOf(cluster.members[size - 1]!);
    const created = await post(at, 'create', { path: '/ops/http/a', value: 'text', parents: true });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ ok: true, result: { path: '/ops/http/a' } });
    const got = await post(at, 'get', { path: '/ops/http/a' });
    expect(Buffer.from(got.body.result.node.data, 'base64').toString()).toBe('text');
    expect((await post(at, 'set', { path: '/ops/http/a', data: Buffer.from('bin').toString('base64'), expectedVersion: 0 })).status).toBe(200);
    const conflict = await post(at, 'set', { path: '/ops/http/a', value: 'x', expectedVersion: 0 });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('bad_version');
    expect((await post(at, 'stat', { path: '/ops/http/a' })).body.result.stat.version).toBe(1);
    expect((await post(at, 'children', { path: '/ops/http' })).body.result.names).toEqual(['a']);
    expect((await post(at, 'range', { path: '/ops/http' })).body.result.nodes.map((n: { path: string }) => n.path)).toEqual(['/ops/http', '/ops/http/a']);
    const txn = await post(at, 'txn', {
      compares: [
        { path: '/ops/http/a', target: 'version', op: '=', value: 1 },
        { path: '/ops/http/a', target: 'value', op: '=', value: 'bin' },
      ],
      success: [{ op: 'create', path: '/ops/http/b', value: 'from-txn' }, { op: 'set', path: '/ops/http/a', data: Buffer.from('after').toString('base64') }],
      failure: [],
    });
    expect(txn.status).toBe(200);
    expect(txn.body.result.succeeded).toBe(true);
    expect(text((await client.get('/ops/http/b')).data)).toBe('from-txn');
    expect(text((await client.get('/ops/http/a')).data)).toBe('after');
    const lease = await post(at, 'leaseGrant', { ttlMs: 5000 });
    expect(lease.body.result.leaseId).toBeGreaterThan(0);
    expect((await post(at, 'create', { path: '/ops/http/eph', mode: 'ephemeral', leaseId: lease.body.result.leaseId })).status).toBe(200);
    expect((await post(at, 'leaseTimeToLive', { leaseId: lease.body.result.leaseId, keys: true })).body.result.keys).toEqual(['/ops/http/eph']);
    expect((await post(at, 'leaseRevoke', { leaseId: lease.body.result.leaseId })).status).toBe(200);
    expect((await post(at, 'delete', { path: '/ops/http', recursive: true })).body.result.deleted).toBe(3);
    expect((await post(at, 'get', { path: '/ops/http/a' })).status).toBe(404);
    expect((await post(at, 'members', {})).body.result).toHaveLength(size);
    expect((await post(at, 'sync', {})).status).toBe(200);
    // Refusals carry stable codes.
    expect(await post(at, 'watch', { path: '/' })).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    expect(await post(at, 'frobnicate', {})).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    expect(await post(at, 'get', '{not json')).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    expect(await post(at, 'get', { path: 'relative' })).toMatchObject({ status: 400, body: { error: { code: 'invalid_path' } } });
    const unknownPath = await fetch(`http://${at}/v2/get`);
    expect(unknownPath.status).toBe(404);
  });

  it('answers a watch from before the compacted history with compacted and the oldest revision kept', async () => {
    const mark = await client.create('/ops/compact/mark', 'x', { parents: true });
    await client.set('/ops/compact/mark', 'y');
    const oldest = await client.compact(mark.header.revision + 1);
    expect(oldest).toBe(mark.header.revision + 1);
    const early = collect(client.watch('/ops/compact', { recursive: true, fromRevision: mark.header.revision }));
    await waitFor('the compacted answer', () => early.done, 5000);
    expect(early.error).toBeInstanceOf(CompactedError);
    expect((early.error as CompactedError).details.compactRevision).toBe(mark.header.revision + 1);
    // From the oldest kept revision, history is still there.
    const kept = collect(client.watch('/ops/compact', { recursive: true, fromRevision: oldest }));
    await kept.until('the kept event', (items) => events(items).length >= 1);
    expect(events(kept.items).map((e) => `${summary(e)}@${e.revision}`)).toEqual([`set /ops/compact/mark@${oldest}`]);
    await expect(client.compact(mark.header.revision)).rejects.toMatchObject({ code: 'compacted' });
  });
});
