// Proves that a watch stream survives the loss of its connection, by a dropped socket, by the death of the
// member serving it, or by that member going silent (paused), delivering every event the writers had
// acknowledged exactly once and in revision order.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, WatchEvent, WatchItem } from '../../sdk/index.ts';
import { ProcessCluster, waitFor } from './harness.ts';
import { collect, connectTo, memberAt, type Collector } from './helpers.ts';

const isEvent = (item: WatchItem): item is WatchEvent => item.type === 'create' || item.type === 'set' || item.type === 'delete';

/** Two clients writing under `prefix` (creates, and sets of what they created), recording each acknowledged event. */
class Writers {
  /** `type path@revision` of every acknowledged write (each write is one event at its own revision). */
  readonly acked = new Set<string>();
  maxRevision = 0;
  readonly errors: string[] = [];
  private stopping = false;
  private readonly loops: Promise<void>[];

  constructor(clients: readonly Client[], prefix: string) {
    this.loops = clients.map(async (client, c) => {
      for (let i = 0; !this.stopping; i++) {
        const path = `${prefix}/w${c}/k${String(i).padStart(5, '0')}`;
        try {
          const created = await client.create(path, `v${i}`);
          this.record(`create ${path}@${created.stat.createRevision}`, created.stat.createRevision);
          if (i % 3 === 2) {
            const set = await client.set(path, `v${i}-changed`);
            this.record(`set ${path}@${set.modRevision}`, set.modRevision);
          }
        } catch (error) {
          this.errors.push(`${path}: ${String(error)}`);
        }
      }
    });
  }

  private record(event: string, revision: number): void {
    this.acked.add(event);
    this.maxRevision = Math.max(this.maxRevision, revision);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }
}

describe('watch streams across connection loss', () => {
  let cluster: ProcessCluster;
  let writerClients: Client[];

  beforeAll(async () => {
    cluster = await ProcessCluster.start({ size: 3 });
    writerClients = await Promise.all([0, 1].map(() => connectTo(cluster.endpoints)));
  });

  afterAll(async () => {
    await Promise.all((writerClients ?? []).map((c) => c.close()));
    await cluster?.stop();
  });

  /** Runs writers under `prefix` while `disrupt` interferes with a watcher, then checks what it saw. */
  async function watchThrough(prefix: string, disrupt: (watcher: Client, stream: Collector) => Promise<void>): Promise<void> {
    const watcher = await connectTo(cluster.endpoints);
    try {
      // The writers' folders exist first, so that each acknowledged write is exactly one event.
      for (const c of [0, 1]) await writerClients[0]!.create(`${prefix}/w${c}`, '', { parents: true });
      const start = (await writerClients[0]!.range('/', { limit: 1 })).revision + 1;
      const stream = collect(watcher.watch(prefix, { recursive: true, fromRevision: start }));
      const writers = new Writers(writerClients, prefix);
      try {
        await disrupt(watcher, stream);
      } finally {
        await writers.stop();
      }
      expect(writers.errors).toEqual([]);
      await stream.until('the last acknowledged revision', (items) => items.some((i) => isEvent(i) && i.revision >= writers.maxRevision), 15_000);
      const seen = stream.items.filter(isEvent);
      const revisions = seen.map((e) => e.revision);
      for (let i = 1; i < revisions.length; i++) expect(revisions[i]!, `event ${i} after revision ${revisions[i - 1]}`).toBeGreaterThan(revisions[i - 1]!);
      const described = seen.map((e) => `${e.type} ${e.path}@${e.revision}`);
      expect(new Set(described).size).toBe(described.length);
      expect(new Set(described)).toEqual(writers.acked);
      console.log(`${prefix}: ${described.length} events, each once and in order, through the disruptions`);
    } finally {
      await watcher.close();
    }
  }

  /** Waits until the stream has `count` more events than now. */
  async function moreEvents(stream: Collector, count: number): Promise<void> {
    const target = stream.items.filter(isEvent).length + count;
    await stream.until(`${count} more events`, (items) => items.filter(isEvent).length >= target, 10_000);
  }

  it('resumes after dropped connections with every event exactly once, in order', async () => {
    await watchThrough('/resume/dropped', async (watcher, stream) => {
      for (let drop = 0; drop < 4; drop++) {
        await moreEvents(stream, 25);
        const before = watcher.endpoint;
        watcher.dropConnection();
        await waitFor('the watcher to reconnect', () => watcher.endpoint !== null && watcher.endpoint !== before, 5_000);
      }
      await moreEvents(stream, 25);
    });
  });

  it('resumes on another member after its member is killed, with every event exactly once, in order', async () => {
    await watchThrough('/resume/killed', async (watcher, stream) => {
      for (let kill = 0; kill < 2; kill++) {
        await moreEvents(stream, 25);
        const victim = memberAt(cluster, watcher.endpoint!);
        await cluster.kill(victim.name);
        await waitFor('the watcher to move to another member', () => watcher.endpoint !== null && watcher.endpoint !== `127.0.0.1:${victim.clientPort}`, 10_000);
        await moreEvents(stream, 25);
        await cluster.restart(victim.name);
        await cluster.waitForLeader();
      }
      await moreEvents(stream, 25);
    });
  });

  it('resumes on another member when its member is paused (SIGSTOP), with every event exactly once, in order', async () => {
    await watchThrough('/resume/paused', async (watcher, stream) => {
      await moreEvents(stream, 25);
      const victim = memberAt(cluster, watcher.endpoint!);
      // Nothing closes the socket of a paused member: the client's stall detection must notice the silence.
      cluster.signal(victim.name, 'SIGSTOP');
      try {
        await waitFor('the watcher to leave the paused member', () => watcher.endpoint !== null && watcher.endpoint !== `127.0.0.1:${victim.clientPort}`, 15_000);
        await moreEvents(stream, 25);
      } finally {
        cluster.signal(victim.name, 'SIGCONT');
      }
      await cluster.waitForLeader();
      await moreEvents(stream, 25);
    });
  });
});
