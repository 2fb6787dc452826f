// Proves the SDK's lock, read-write lock, semaphore and election recipes against a real 3-member ensemble, with
// holders and candidates in their own processes that get paused and killed: mutual exclusion seen by a fenced
// resource, FIFO grants without a herd, loss only after the session TTL, jeopardy before loss, and elections
// that hand over on resignation and on death with every change observed in order.

import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, text, type Client, type LeaderInfo, type Lock, type WatchStream } from '../../sdk/index.ts';
import { ProcessCluster, waitFor } from './harness.ts';
import { ClientProcess, connectTo, endpointOf, FencedStore, holdsFor, type ProcessEvent } from './helpers.ts';

const lockHolderScript = fileURLToPath(new URL('./fixtures/lock-holder.ts', import.meta.url));
const candidateScript = fileURLToPath(new URL('./fixtures/election-candidate.ts', import.meta.url));

/** Session TTL of the holders and candidates in other processes. */
const ttlMs = 1500;
/** How long past its deadline the ensemble may take to expire a session (detection, a log round, a watch push). */
const expirySlackMs = 1000;

/** A promise whose outcome can be read synchronously (to show that a waiter still waits). */
interface Tracked<T> {
  readonly promise: Promise<T>;
  settled: boolean;
  value: T | undefined;
  error: unknown;
  settledAtMs: number;
}

function track<T>(promise: Promise<T>): Tracked<T> {
  const tracked: Tracked<T> = { promise, settled: false, value: undefined, error: null, settledAtMs: 0 };
  promise.then(
    (value) => Object.assign(tracked, { settled: true, value, settledAtMs: Date.now() }),
    (error: unknown) => Object.assign(tracked, { settled: true, error, settledAtMs: Date.now() }),
  );
  return tracked;
}

/** The sequence suffix of a queue node's name. */
const sequenceOf = (name: string): number => Number(name.slice(-10));

describe('lock and election recipes against a real ensemble', () => {
  let cluster: ProcessCluster;
  /** In-process contenders, each with its own connection and default session. */
  let pool: Client[];
  let observer: Client;
  const processes: ClientProcess[] = [];

  beforeAll(async () => {
    cluster = await ProcessCluster.start({ size: 3 });
    pool = await Promise.all(Array.from({ length: 6 }, () => connectTo(cluster.endpoints, { sessionTtlMs: 3_000 })));
    observer = await connectTo(cluster.endpoints);
  });

  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
  });

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await Promise.all((pool ?? []).map((c) => c.close()));
    await observer?.close();
    await cluster?.stop();
  });

  function startProcess(name: string, script: string, argument: Record<string, unknown>): ClientProcess {
    const child = ClientProcess.start(name, script, { endpoints: cluster.endpoints, ttlMs, ...argument });
    processes.push(child);
    return child;
  }

  /** Queue node names under a recipe folder, in queue order (none before the folder exists). */
  async function queue(folder: string): Promise<string[]> {
    const names = await observer.children(folder).catch((error: unknown) => {
      if (error instanceof NotFoundError) return [];
      throw error;
    });
    return names.sort((a, b) => sequenceOf(a) - sequenceOf(b));
  }

  /** Waits until the session `sessionId` has a node in `folder`'s queue; returns the node's name. */
  async function queued(folder: string, sessionId: number): Promise<string> {
    return waitFor(`session ${sessionId} to queue under ${folder}`, async () => (await queue(folder)).find((n) => n.split('-')[1] === String(sessionId)), 10_000);
  }

  async function sessionIdOf(client: Client): Promise<number> {
    return (await client.session()).id;
  }

  /** Waits for the first event `event` of `child` that came after `after` (an earlier event of it). */
  function eventAfter(child: ClientProcess, event: string, after: ProcessEvent, timeoutMs = 15_000): Promise<ProcessEvent> {
    return child.waitEvent(event, timeoutMs, (e) => child.events.indexOf(e) > child.events.indexOf(after));
  }

  /**
   * When `child` sent the last request that renewed its session before `beforeMs`: its last answered heartbeat,
   * or the grant when none was answered yet. The session lives at least until then plus its TTL.
   */
  function lastRenewalBefore(child: ClientProcess, beforeMs: number): number {
    const answered = child.events.filter((e) => e.event === 'beatAnswered' && e.atMs <= beforeMs);
    if (answered.length > 0) return answered.at(-1)!['sentAtMs'] as number;
    const session = child.events.find((e) => e.event === 'session');
    expect(session, `${child.name} reported its session`).toBeDefined();
    return session!['grantSentAtMs'] as number;
  }

  // -------------------------------------------------------------------------------------------------------
  // Mutex

  it('grants the lock to one holder at a time with strictly increasing tokens, and the fence refuses no write', async () => {
    const store = await FencedStore.start();
    const rounds = 5;
    const grants: Array<{ holder: string; token: number }> = [];
    const counter = '/recipes/contention/counter';
    await observer.create(counter, '0', { parents: true });
    try {
      await Promise.all(
        pool.map(async (client, c) => {
          for (let round = 0; round < rounds; round++) {
            const holder = `c${c}r${round}`;
            const lock = await client.lock('contention', { timeoutMs: 60_000 });
            grants.push({ holder, token: lock.token });
            store.enter(holder);
            expect(store.write(lock.token, holder)).toBe(true);
            // A read-modify-write inside Synod, guarded by the lock and by the version it read.
            const read = await client.get(counter);
            const next = String(Number(text(read.data)) + 1);
            const txn = await client.txn().if(lock.ifHeld(), { path: counter, target: 'version', op: '=', value: read.stat.version }).then({ op: 'set', path: counter, data: new TextEncoder().encode(next) }).commit();
            expect(txn.succeeded, `${holder}'s guarded increment`).toBe(true);
            expect(store.write(lock.token, holder)).toBe(true);
            store.leave(holder);
            await lock.release();
          }
        }),
      );
    } finally {
      await store.close();
    }
    expect(grants).toHaveLength(pool.length * rounds);
    for (let i = 1; i < grants.length; i++) expect(grants[i]!.token, `grant ${i} (${grants[i]!.holder})`).toBeGreaterThan(grants[i - 1]!.token);
    expect(store.insideMax).toBe(1);
    expect(store.rejected).toEqual([]);
    expect(text((await observer.get(counter)).data)).toBe(String(pool.length * rounds));
    expect(await queue('/synod/locks/contention')).toEqual([]);
    console.log(`mutex: ${grants.length} grants to ${pool.length} contenders, tokens ${grants[0]!.token}..${grants.at(-1)!.token}, ${store.writes.length} fenced writes, none refused`);
  });

  it('refuses the late write of a holder paused past its session TTL, while the next holder proceeds', async () => {
    const store = await FencedStore.start();
    try {
      const a = startProcess('A', lockHolderScript, { kind: 'lock', name: 'fenced', fenceUrl: store.url, writer: 'A' });
      const aAcquired = await a.waitEvent('acquired', 20_000);
      a.send({ cmd: 'write' });
      expect((await a.waitEvent('wrote'))['accepted']).toBe(true);

      const b = track(pool[0]!.lock('fenced', { timeoutMs: 20_000 }));
      await queued('/synod/locks/fenced', await sessionIdOf(pool[0]!));

      // A checks that it still holds the lock, then stalls (SIGSTOP) before its write, as in a long GC pause.
      a.send({ cmd: 'pauseThenWrite' });
      const checked = await a.waitEvent('checked');
      expect(checked['held']).toBe(true);
      await waitFor('A to be stopped', () => a.stopped(), 5_000);
      const pausedAtMs = Date.now();

      await waitFor('B to get the lock', () => b.settled, ttlMs + expirySlackMs + 5_000);
      expect(b.error).toBeNull();
      const bLock = b.value!;
      expect(b.settledAtMs - lastRenewalBefore(a, pausedAtMs), 'B waited out A\'s TTL').toBeGreaterThanOrEqual(ttlMs);
      expect(bLock.token).toBeGreaterThan(aAcquired['token'] as number);
      expect(store.write(bLock.token, 'B')).toBe(true);

      // A wakes up and writes with its old token: the fence refuses it; then A learns it lost the lock.
      a.signal('SIGCONT');
      expect((await eventAfter(a, 'wrote', checked))['accepted']).toBe(false);
      await a.waitEvent('lost', 10_000);
      expect(store.rejected.map((w) => `${w.writer}@${w.token}`)).toEqual([`A@${aAcquired['token']}`]);
      expect(store.write(bLock.token, 'B')).toBe(true);
      await bLock.release();
    } finally {
      await store.close();
    }
  });

  it('grants waiters the lock in the order they queued (FIFO)', async () => {
    const folder = '/synod/locks/fifo';
    const holder = await pool[0]!.lock('fifo');
    const arrival = [3, 1, 5, 2, 4];
    const order: number[] = [];
    const waiters: Array<Promise<void>> = [];
    for (const c of arrival) {
      waiters.push(
        pool[c]!.lock('fifo', { timeoutMs: 30_000 }).then(async (lock) => {
          order.push(c);
          await lock.release();
        }),
      );
      // The next contender arrives only once this one is in the queue.
      await queued(folder, await sessionIdOf(pool[c]!));
    }
    expect((await queue(folder)).map((n) => Number(n.split('-')[1]))).toEqual([await sessionIdOf(pool[0]!), ...(await Promise.all(arrival.map((c) => sessionIdOf(pool[c]!))))]);
    await holder.release();
    await Promise.all(waiters);
    expect(order).toEqual(arrival);
  });

  it('wakes only the next waiter when the lock is released: each waits on its predecessor alone (no herd)', async () => {
    const folder = '/synod/locks/herd';
    // Fresh clients whose reads and watches are counted.
    const clients = await Promise.all([0, 1, 2, 3].map(() => connectTo(cluster.endpoints)));
    const ranges = clients.map(() => 0);
    const watched: string[][] = clients.map(() => []);
    clients.forEach((client, i) => {
      const range = client.range.bind(client);
      client.range = (path, options) => {
        if (path === folder) ranges[i]!++;
        return range(path, options);
      };
      const watch = client.watch.bind(client);
      client.watch = (path, options): WatchStream => {
        watched[i]!.push(path);
        return watch(path, options);
      };
    });
    try {
      const holder = await clients[0]!.lock('herd');
      const waiters: Array<Tracked<Lock>> = [];
      const nodes = [holder.path.slice(folder.length + 1)];
      for (const i of [1, 2, 3]) {
        waiters.push(track(clients[i]!.lock('herd', { timeoutMs: 30_000 })));
        nodes.push(await queued(folder, await sessionIdOf(clients[i]!)));
        await waitFor(`waiter ${i} to watch`, () => watched[i]!.length > 0, 5_000);
      }
      // Each waiter watches only the node just ahead of it.
      for (const i of [1, 2, 3]) expect(watched[i], `waiter ${i}'s watches`).toEqual([`${folder}/${nodes[i - 1]}`]);

      for (const next of [1, 2, 3]) {
        const before = [...ranges];
        const watchesBefore = watched.map((w) => w.length);
        const releasing = next === 1 ? holder : waiters[next - 2]!.value!;
        await releasing.release();
        await waitFor(`waiter ${next} to get the lock`, () => waiters[next - 1]!.settled, 10_000);
        expect(waiters[next - 1]!.error).toBeNull();
        // The others still wait, and the release made them read nothing and watch nothing new.
        await holdsFor('the later waiters untouched', 750, () =>
          waiters.slice(next).every((w) => !w.settled) &&
          [...Array(4).keys()].filter((i) => i > next).every((i) => ranges[i] === before[i] && watched[i]!.length === watchesBefore[i]),
        );
        // The woken waiter looked at the queue once.
        expect(ranges[next]! - before[next]!).toBe(1);
      }
      await waiters[2]!.value!.release();
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  it('gives the lock of a holder killed with SIGKILL to the next waiter once its session TTL has passed, not before', async () => {
    const a = startProcess('A', lockHolderScript, { kind: 'lock', name: 'killed', writer: 'A' });
    const acquired = await a.waitEvent('acquired', 20_000);
    await eventAfter(a, 'beatAnswered', acquired, 5_000);
    const b = track(pool[1]!.lock('killed', { timeoutMs: 20_000 }));
    await queued('/synod/locks/killed', await sessionIdOf(pool[1]!));

    await a.stop(); // SIGKILL
    const killedAtMs = Date.now();
    await waitFor('B to get the lock', () => b.settled, ttlMs + expirySlackMs + 5_000);
    expect(b.error).toBeNull();
    const sinceRenewalMs = b.settledAtMs - lastRenewalBefore(a, killedAtMs);
    const sinceLastBeatMs = b.settledAtMs - a.last('beatSent')!.atMs;
    console.log(`killed holder: lock granted ${sinceRenewalMs} ms after its last renewal, ${sinceLastBeatMs} ms after its last heartbeat (TTL ${ttlMs} ms)`);
    expect(sinceRenewalMs, 'not before the TTL').toBeGreaterThanOrEqual(ttlMs);
    expect(sinceLastBeatMs, 'soon after the TTL').toBeLessThan(ttlMs + expirySlackMs);
    expect(b.value!.token).toBeGreaterThan(acquired['token'] as number);
    await b.value!.release();
  });

  // -------------------------------------------------------------------------------------------------------
  // Read-write lock and semaphore

  it('lets readers share the read-write lock and a writer exclude everyone, in queue order', async () => {
    const folder = '/synod/rwlocks/rw';
    const [r1, r2] = await Promise.all([pool[0]!.readLock('rw'), pool[1]!.readLock('rw')]);
    const w = track(pool[2]!.writeLock('rw', { timeoutMs: 30_000 }));
    await queued(folder, await sessionIdOf(pool[2]!));
    // A reader arriving after the writer waits for it (no writer starvation).
    const r3 = track(pool[3]!.readLock('rw', { timeoutMs: 30_000 }));
    await queued(folder, await sessionIdOf(pool[3]!));
    await holdsFor('the writer and the later reader waiting while two readers hold', 500, () => !w.settled && !r3.settled);

    await r1.release();
    await holdsFor('the writer waiting while one reader holds', 300, () => !w.settled);
    await r2.release();
    await waitFor('the writer to get the lock', () => w.settled, 10_000);
    expect(w.error).toBeNull();
    await holdsFor('the later reader waiting while the writer holds', 300, () => !r3.settled);
    await w.value!.release();
    await waitFor('the later reader to get the lock', () => r3.settled, 10_000);
    expect(r3.error).toBeNull();
    expect(r3.value!.token).toBeGreaterThan(w.value!.token);
    expect(w.value!.token).toBeGreaterThan(Math.max(r1.token, r2.token));
    await r3.value!.release();

    // Under contention: never a writer with anyone else, and readers do overlap.
    const inside = { readers: 0, writers: 0, readersMax: 0, violations: 0 };
    await Promise.all(
      pool.map(async (client, c) => {
        for (let round = 0; round < 4; round++) {
          const writer = (c + round) % 3 === 0;
          const lock = await (writer ? client.writeLock('rw', { timeoutMs: 60_000 }) : client.readLock('rw', { timeoutMs: 60_000 }));
          if (writer) inside.writers++;
          else inside.readers++;
          inside.readersMax = Math.max(inside.readersMax, inside.readers);
          if (inside.writers > 1 || (inside.writers === 1 && inside.readers > 0)) inside.violations++;
          await client.exists('/recipes/rw-work'); // some work under the lock: a linearizable read
          if (writer) inside.writers--;
          else inside.readers--;
          await lock.release();
        }
      }),
    );
    expect(inside.violations).toBe(0);
    expect(inside.readersMax).toBeGreaterThan(1);
  });

  it('never lets more than N holders into a semaphore of N permits', async () => {
    const folder = '/synod/semaphores/pool';
    const [p1, p2] = await Promise.all([pool[0]!.semaphore('pool', 2), pool[1]!.semaphore('pool', 2)]);
    const third = track(pool[2]!.semaphore('pool', 2, { timeoutMs: 30_000 }));
    await queued(folder, await sessionIdOf(pool[2]!));
    await holdsFor('a third contender waiting while 2 permits are held', 500, () => !third.settled);
    await p2.release();
    await waitFor('the third contender to get a permit', () => third.settled, 10_000);
    expect(third.error).toBeNull();
    await Promise.all([p1.release(), third.value!.release()]);

    let holders = 0;
    let holdersMax = 0;
    await Promise.all(
      pool.map(async (client) => {
        for (let round = 0; round < 3; round++) {
          const permit = await client.semaphore('pool', 2, { timeoutMs: 60_000 });
          holdersMax = Math.max(holdersMax, ++holders);
          await client.exists('/recipes/semaphore-work');
          holders--;
          await permit.release();
        }
      }),
    );
    expect(holdersMax).toBe(2);
    expect(await queue(folder)).toEqual([]);
  });

  // -------------------------------------------------------------------------------------------------------
  // Elections

  /** Collects everything `election.observe()` yields on `client`, as `value@token` (or `none`). */
  function observeElection(client: Client, name: string, signal: AbortSignal): { seen: string[]; error: unknown } {
    const out = { seen: [] as string[], error: null as unknown };
    const label = (leader: LeaderInfo | null): string => (leader === null ? 'none' : `${text(leader.value)}@${leader.token}`);
    void (async () => {
      try {
        for await (const leader of client.election(name).observe({ signal })) out.seen.push(label(leader));
      } catch (error) {
        if (!signal.aborted) out.error = error;
      }
    })();
    return out;
  }

  it('hands leadership over on resignation and on the leader\'s death, every observer seeing each change in order, and ifHeld fences', async () => {
    const election = 'handover';
    const statePath = '/recipes/election/state';
    await observer.create(statePath, 'none', { parents: true });
    const stop = new AbortController();
    // Two observers on different members.
    const observerClients = await Promise.all([connectTo([cluster.endpoints[0]!]), connectTo([cluster.endpoints[1]!])]);
    try {
      const observers = observerClients.map((client) => observeElection(client, election, stop.signal));
      await waitFor('both observers to see that nobody leads', () => observers.every((o) => o.seen.length === 1), 10_000);

      const c1 = startProcess('c1', candidateScript, { election, value: 'c1' });
      const c1Leading = await c1.waitEvent('leading', 20_000);
      const c2 = startProcess('c2', candidateScript, { election, value: 'c2' });
      await c2.waitEvent('campaigning', 20_000);
      await waitFor('c2 to queue', async () => (await queue(`/synod/elections/${election}`)).length === 2, 10_000);
      const c3 = startProcess('c3', candidateScript, { election, value: 'c3' });
      await c3.waitEvent('campaigning', 20_000);
      await waitFor('c3 to queue', async () => (await queue(`/synod/elections/${election}`)).length === 3, 10_000);
      expect(text((await observerClients[0]!.election(election).leader())!.value)).toBe('c1');

      // The leader writes under its guard; a proclamation changes the value observers see.
      c1.send({ cmd: 'fencedWrite', path: statePath, value: 'by c1' });
      expect((await c1.waitEvent('wrote'))['succeeded']).toBe(true);
      c1.send({ cmd: 'proclaim', value: 'c1-proclaimed' });
      await c1.waitEvent('proclaimed');

      // Resignation hands over to the next in line at once; the resigned leader's guard no longer holds.
      c1.send({ cmd: 'resign' });
      const resigned = await c1.waitEvent('resigned');
      const c2Leading = await c2.waitEvent('leading', 10_000);
      c1.send({ cmd: 'fencedWrite', path: statePath, value: 'late c1' });
      expect((await eventAfter(c1, 'wrote', resigned))['succeeded']).toBe(false);
      c2.send({ cmd: 'fencedWrite', path: statePath, value: 'by c2' });
      expect((await c2.waitEvent('wrote'))['succeeded']).toBe(true);

      // kill -9 of the leader's process: the next candidate leads once the dead one's session expires.
      await c2.stop();
      const c2KilledAtMs = Date.now();
      const c3Leading = await c3.waitEvent('leading', ttlMs + expirySlackMs + 5_000);
      expect(c3Leading.atMs - lastRenewalBefore(c2, c2KilledAtMs), 'not before c2\'s TTL').toBeGreaterThanOrEqual(ttlMs);
      c3.send({ cmd: 'fencedWrite', path: statePath, value: 'by c3' });
      expect((await c3.waitEvent('wrote'))['succeeded']).toBe(true);
      expect(text((await observer.get(statePath)).data)).toBe('by c3');

      const tokens = [c1Leading, c2Leading, c3Leading].map((e) => e['token'] as number);
      expect(tokens[1]).toBeGreaterThan(tokens[0]!);
      expect(tokens[2]).toBeGreaterThan(tokens[1]!);
      const expected = ['none', `c1@${tokens[0]}`, `c1-proclaimed@${tokens[0]}`, `c2@${tokens[1]}`, `c3@${tokens[2]}`];
      await waitFor('both observers to see c3 lead', () => observers.every((o) => o.seen.at(-1) === expected.at(-1)), 10_000);
      for (const o of observers) {
        expect(o.error).toBeNull();
        expect(o.seen).toEqual(expected);
      }
      c3.send({ cmd: 'resign' });
      await c3.waitEvent('resigned');
      await waitFor('both observers to see nobody lead', () => observers.every((o) => o.seen.at(-1) === 'none'), 10_000);
    } finally {
      stop.abort();
      await Promise.all(observerClients.map((c) => c.close()));
    }
  });

  it('refuses the guarded write of a leader paused past its session TTL, while the new leader\'s write commits', async () => {
    const election = 'paused-leader';
    const statePath = '/recipes/election/paused-state';
    await observer.create(statePath, 'none', { parents: true });
    const old = startProcess('old', candidateScript, { election, value: 'old' });
    const oldLeading = await old.waitEvent('leading', 20_000);
    const next = startProcess('next', candidateScript, { election, value: 'next' });
    await next.waitEvent('campaigning', 20_000);
    await waitFor('next to queue', async () => (await queue(`/synod/elections/${election}`)).length === 2, 10_000);

    old.send({ cmd: 'pauseThenWrite', path: statePath, value: 'late write of the old leader' });
    expect((await old.waitEvent('checked'))['held']).toBe(true);
    await waitFor('the old leader to be stopped', () => old.stopped(), 5_000);
    const nextLeading = await next.waitEvent('leading', ttlMs + expirySlackMs + 5_000);
    expect(nextLeading['token']).toBeGreaterThan(oldLeading['token'] as number);
    next.send({ cmd: 'fencedWrite', path: statePath, value: 'by the new leader' });
    expect((await next.waitEvent('wrote'))['succeeded']).toBe(true);

    old.signal('SIGCONT');
    expect((await old.waitEvent('wrote', 10_000))['succeeded']).toBe(false);
    await old.waitEvent('lost', 10_000);
    expect(text((await observer.get(statePath)).data)).toBe('by the new leader');
  });

  // -------------------------------------------------------------------------------------------------------
  // Jeopardy (these pause members: last)

  /** Checks that the cut-off holder `a` was warned at 2/3 of its TTL, well before `b` got its lock. */
  async function checkJeopardyBeforeLoss(a: ClientProcess, b: Tracked<Lock>, beat: ProcessEvent, jeopardyTtlMs: number): Promise<void> {
    expect(b.error).toBeNull();
    const lastAnswered = a.events.filter((e) => e.event === 'beatAnswered').at(-1)!;
    const jeopardy = a.last('jeopardy');
    console.log(`cut-off holder (TTL ${jeopardyTtlMs} ms): last heartbeat answered at +0, jeopardy at ${jeopardy === undefined ? 'never' : `+${jeopardy.atMs - lastAnswered.atMs}`} ms, lock given away at +${b.settledAtMs - lastAnswered.atMs} ms`);
    expect(lastAnswered.atMs).toBeGreaterThanOrEqual(beat.atMs);
    expect(jeopardy, 'a jeopardy warning before the lock was given away').toBeDefined();
    expect(jeopardy!.atMs - lastAnswered.atMs, 'jeopardy at 2/3 of the TTL after the last answer').toBeLessThanOrEqual((jeopardyTtlMs * 2) / 3 + 250);
    expect(b.settledAtMs - jeopardy!.atMs, 'time between the warning and the loss').toBeGreaterThanOrEqual(jeopardyTtlMs / 3 - 250);
    await a.waitEvent('lost', 10_000);
    await b.value!.release();
  }

  it('warns a holder cut off from the ensemble (jeopardy) at two thirds of its TTL, well before the lock is given away', async () => {
    const jeopardyTtlMs = 3_000;
    const leaderName = await cluster.waitForLeader();
    const follower = cluster.members.find((m) => m.name !== leaderName)!;
    // The holder talks to one follower only; pausing that follower cuts it off while the leader lives.
    const a = startProcess('A', lockHolderScript, { endpoints: [endpointOf(follower)], pinned: true, kind: 'lock', name: 'jeopardy-cut', ttlMs: jeopardyTtlMs, writer: 'A' });
    const acquired = await a.waitEvent('acquired', 20_000);
    // The next waiter talks to the leader, which the pause does not touch.
    const waiter = await connectTo([endpointOf(cluster.member(leaderName))]);
    try {
      const b = track(waiter.lock('jeopardy-cut', { timeoutMs: 30_000 }));
      await queued('/synod/locks/jeopardy-cut', await sessionIdOf(waiter));
      const beat = await eventAfter(a, 'beatAnswered', acquired, 5_000);
      cluster.signal(follower.name, 'SIGSTOP');
      try {
        await waitFor('the lock to go to the next waiter', () => b.settled, jeopardyTtlMs + expirySlackMs + 5_000);
      } finally {
        cluster.signal(follower.name, 'SIGCONT');
      }
      await checkJeopardyBeforeLoss(a, b, beat, jeopardyTtlMs);
    } finally {
      await waiter.close();
    }
    await cluster.waitForLeader();
  });

  it('warns a holder when the whole ensemble pauses briefly (jeopardy), then recovers and keeps the lock', async () => {
    const jeopardyTtlMs = 4_500;
    const a = startProcess('A', lockHolderScript, { kind: 'lock', name: 'jeopardy-pause', ttlMs: jeopardyTtlMs, writer: 'A' });
    const acquired = await a.waitEvent('acquired', 20_000);
    const beat = await eventAfter(a, 'beatAnswered', acquired, 5_000);
    // Every member stops for 75% of the TTL, counted from the last answered heartbeat: past the jeopardy
    // warning (at two thirds), with room for the members to wake and hear a heartbeat before the TTL.
    const pauseUntilMs = beat.atMs + jeopardyTtlMs * 0.75;
    for (const m of cluster.members) cluster.signal(m.name, 'SIGSTOP');
    try {
      await waitFor('the end of the pause', () => Date.now() >= pauseUntilMs, jeopardyTtlMs);
    } finally {
      for (const m of cluster.members) cluster.signal(m.name, 'SIGCONT');
    }
    const resumedAtMs = Date.now();
    await cluster.waitForLeader();
    await eventAfter(a, 'beatAnswered', beat, jeopardyTtlMs);
    const jeopardy = a.last('jeopardy');
    console.log(`ensemble paused ${resumedAtMs - beat.atMs} ms (TTL ${jeopardyTtlMs} ms): jeopardy at ${jeopardy === undefined ? 'never' : `+${jeopardy.atMs - beat.atMs}`} ms after the last answered heartbeat`);
    expect(jeopardy, 'a jeopardy warning during the pause').toBeDefined();
    expect(jeopardy!.atMs - beat.atMs).toBeLessThanOrEqual((jeopardyTtlMs * 2) / 3 + 250);
    await a.waitEvent('recovered', jeopardyTtlMs);
    // The lock survived: its node is there and the holder never heard it was lost.
    expect(await observer.exists(acquired['path'] as string)).not.toBeNull();
    await holdsFor('the lock held after the pause', 1_000, () => !a.has('lost'));
  });
});
