// Proves the session guarantees against real processes: a client that stops heartbeating loses its ephemeral
// nodes after its TTL (not before, and within a small bound after), while a client that moves to another
// member within its TTL, or lives through a leader change, keeps them.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, WatchEvent } from '../../sdk/index.ts';
import { ProcessCluster, waitFor } from './harness.ts';
import { collect, connectTo, endpointOf, memberAt, sleep } from './helpers.ts';

const holderScript = fileURLToPath(new URL('./fixtures/session-holder.ts', import.meta.url));
const ttlMs = 1500;
// The sessions that must live through a reconnect or a failover: long enough that a loaded machine's stalls
// (a member's election timeout is 0.5 s) cannot expire them, short enough that holding past it is quick.
const survivingTtlMs = 3000;

interface HolderEvent {
  readonly event: 'session' | 'ready' | 'beatSent' | 'beatAnswered' | 'jeopardy' | 'recovered' | 'expired';
  readonly atMs: number;
  readonly sessionId?: number;
  readonly path?: string;
  readonly ttlMs?: number;
  /** For `beatAnswered`: when that heartbeat was sent. */
  readonly sentAtMs?: number;
}

/** A session-holding client in its own process (so it can be paused or killed like a real application). */
class Holder {
  readonly events: HolderEvent[] = [];
  private output = '';
  private buffered = '';

  private constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => {
      this.buffered += chunk.toString();
      const lines = this.buffered.split('\n');
      this.buffered = lines.pop()!;
      for (const line of lines) if (line.startsWith('{')) this.events.push(JSON.parse(line) as HolderEvent);
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-5000)));
  }

  static async start(endpoints: readonly string[], path: string): Promise<Holder> {
    const child = spawn(process.execPath, ['--import', 'tsx', holderScript, endpoints.join(','), path, String(ttlMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const holder = new Holder(child);
    await waitFor('the holder to create its ephemeral node', () => {
      if (child.exitCode !== null) throw new Error(`the holder exited: ${holder.output}`);
      return holder.events.find((e) => e.event === 'ready');
    }, 20_000);
    // A heartbeat has been answered: the session is live from the server's point of view.
    await waitFor('a first answered heartbeat', () => holder.events.some((e) => e.event === 'beatAnswered'), 5_000);
    return holder;
  }

  last(event: HolderEvent['event']): HolderEvent {
    const found = this.events.filter((e) => e.event === event);
    if (found.length === 0) throw new Error(`no ${event} event`);
    return found[found.length - 1]!;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGCONT');
    this.child.kill('SIGKILL');
    await exited;
  }
}

/** Polls `condition` for `durationMs` and fails as soon as it does not hold. */
async function holdsFor(what: string, durationMs: number, condition: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + durationMs;
  while (Date.now() < until) {
    if (!(await condition())) throw new Error(`${what} stopped holding ${durationMs - (until - Date.now())} ms into ${durationMs} ms`);
    await sleep(50);
  }
}

describe('sessions', () => {
  let cluster: ProcessCluster;
  let observer: Client;
  const expiryLatenciesMs: number[] = [];
  const sinceLastAnsweredMs: number[] = [];

  beforeAll(async () => {
    cluster = await ProcessCluster.start({ size: 3 });
    observer = await connectTo(cluster.endpoints);
  });

  afterAll(async () => {
    if (expiryLatenciesMs.length > 0) {
      console.log(`session expiry (TTL ${ttlMs} ms): deleted ${expiryLatenciesMs.map((ms) => ms.toFixed(0)).join(', ')} ms after TTL had passed since the last heartbeat sent; ${sinceLastAnsweredMs.join(', ')} ms after the last answered heartbeat`);
    }
    await observer?.close();
    await cluster?.stop();
  });

  /** Stops a holder with `signal` and checks its node goes after its TTL, not before, and soon after. */
  async function expectExpiry(signal: 'SIGSTOP' | 'SIGKILL', path: string): Promise<Holder> {
    const holder = await Holder.start(cluster.endpoints, path);
    const watch = collect(observer.watch(path));
    await sleep(50); // the watch is registered before the holder stops
    holder.child.kill(signal);
    await watch.until('the ephemeral node to be deleted', (items) => items.some((i) => i.type === 'delete'), ttlMs * 4);
    const deletedAtMs = Date.now();
    const deletion = watch.items.find((i): i is WatchEvent => i.type === 'delete')!;
    expect(deletion.stat.ephemeralOwner).toBe(holder.events.find((e) => e.event === 'ready')!.sessionId);
    const answered = holder.last('beatAnswered');
    const lastAnswered = answered.atMs;
    const lastSent = holder.last('beatSent').atMs;
    // Not before the TTL: the server heard the last answered heartbeat after it was sent, so the node lives
    // TTL past its sending (20 ms of slack for the two processes' readings of one clock, in whole ms).
    expect(deletedAtMs - answered.sentAtMs!).toBeGreaterThanOrEqual(ttlMs - 20);
    // Soon after: the deadline is at most TTL past the last heartbeat sent (plus forwarding to the leader).
    const latencyMs = deletedAtMs - (Math.max(lastSent, lastAnswered) + ttlMs);
    expiryLatenciesMs.push(latencyMs);
    sinceLastAnsweredMs.push(deletedAtMs - lastAnswered);
    expect(latencyMs).toBeLessThan(ttlMs); // well before a second TTL, with room for a stalled disk
    expect(await observer.exists(path)).toBeNull();
    return holder;
  }

  it('expires the ephemeral node of a paused client (SIGSTOP) after its TTL, and the client learns it on waking', async () => {
    const holder = await expectExpiry('SIGSTOP', '/sessions/paused');
    try {
      holder.child.kill('SIGCONT');
      await waitFor('the woken client to learn its session expired', () => holder.events.some((e) => e.event === 'expired'), 5_000);
    } finally {
      await holder.stop();
    }
  });

  it('expires the ephemeral node of a killed client (SIGKILL) after its TTL', async () => {
    const holder = await expectExpiry('SIGKILL', '/sessions/killed');
    await holder.stop();
  });

  it('keeps the session of a client that moves to another member within its TTL', async () => {
    const leaderName = await cluster.waitForLeader();
    const followers = cluster.members.filter((m) => m.name !== leaderName).map(endpointOf);
    const client = await connectTo(followers);
    try {
      const session = await client.session({ ttlMs: survivingTtlMs });
      await client.create('/sessions/mover', '', { mode: 'ephemeral', session, parents: true });
      const exists = async (): Promise<boolean> => (await observer.exists('/sessions/mover')) !== null && session.status !== 'expired';

      // A dropped connection: the client reconnects to the other follower.
      const first = client.endpoint!;
      client.dropConnection();
      await waitFor('the client to reconnect elsewhere', () => client.endpoint !== null && client.endpoint !== first, 5_000);
      await holdsFor('the node after a dropped connection', survivingTtlMs * 2, exists);

      // The member it talks to dies: it moves to the other one.
      const second = client.endpoint!;
      const victim = memberAt(cluster, second);
      await cluster.kill(victim.name);
      await waitFor('the client to move off the killed member', () => client.endpoint !== null && client.endpoint !== second, 5_000);
      await holdsFor('the node after its member was killed', survivingTtlMs * 2, exists);
      expect(session.status).not.toBe('expired');
      await cluster.restart(victim.name);
    } finally {
      await client.close();
    }
  });

  it('does not expire live sessions when the leader changes', async () => {
    const leaderName = await cluster.waitForLeader();
    const leaderEndpoint = endpointOf(cluster.member(leaderName));
    // One client on the followers only, one on the leader (which it will have to leave).
    const onFollowers = await connectTo(cluster.endpoints.filter((e) => e !== leaderEndpoint));
    const onLeader = await connectTo(cluster.endpoints);
    try {
      for (let tries = 0; onLeader.endpoint !== leaderEndpoint; tries++) {
        expect(tries).toBeLessThan(20);
        const before = onLeader.endpoint;
        onLeader.dropConnection();
        // The client moves to the next endpoint on each drop, so it reaches the leader within a round.
        await waitFor('a reconnect elsewhere', () => onLeader.endpoint !== null && onLeader.endpoint !== before, 5_000);
      }
      const sessions = await Promise.all([onFollowers.session({ ttlMs: survivingTtlMs }), onLeader.session({ ttlMs: survivingTtlMs })]);
      await onFollowers.create('/sessions/through-failover/followers', '', { mode: 'ephemeral', session: sessions[0]!, parents: true });
      await onLeader.create('/sessions/through-failover/leader', '', { mode: 'ephemeral', session: sessions[1]!, parents: true });

      await cluster.kill(leaderName);
      const newLeader = await cluster.waitForLeader();
      expect(newLeader).not.toBe(leaderName);
      await holdsFor('both ephemeral nodes through the leader change', survivingTtlMs * 2, async () =>
        (await observer.children('/sessions/through-failover')).length === 2 && sessions.every((s) => s.status !== 'expired'),
      );
      await cluster.restart(leaderName);
    } finally {
      await onFollowers.close();
      await onLeader.close();
    }
  });
});
