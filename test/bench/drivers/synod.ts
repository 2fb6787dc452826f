// Synod: three `synod start` processes (the compiled dist/cli/synod.js, as an installed package runs it; built
// by `start()` from the checkout) and clients from the SDK. Locks are the SDK's own recipe; an ephemeral node is owned by a session of the given TTL.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connect, ExistsError, NotFoundError, type Client, type WatchStream } from '../../../sdk/index.ts';
import { memberDefaults } from '../../../server/runtime/config.ts';
import type { BenchClient, ClientSpec, ClientTarget, Driver, EnsembleSettings, HeldLock, ReadMode, Unwatch } from '../driver.ts';
import { EnsembleDriver, ensembleSize, ProcessEnsemble } from '../ensemble.ts';
import { freePorts, waitFor } from '../processes.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const synodCli = fileURLToPath(new URL('../../../dist/cli/synod.js', import.meta.url));

/** package.json's version and the checkout's commit (read-only git), e.g. `0.1.0 (542235c, modified)`. */
function synodVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('package.json', `file://${repoRoot}`), 'utf8')) as { version: string };
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, timeout: 5_000 }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot, timeout: 5_000 }).toString().trim() !== '';
    return `${pkg.version} (${commit}${dirty ? ', modified' : ''})`;
  } catch {
    return pkg.version;
  }
}

/** The member status fields the driver reads (GET /status). */
interface MemberStatus {
  readonly member: string;
  readonly role: string;
  readonly leader: string | null;
  readonly term: number;
}

export class SynodDriver extends EnsembleDriver<MemberStatus> implements Driver {
  readonly system = 'synod';
  private peerPorts: number[] = [];

  async start(): Promise<void> {
    // The members run the checkout as compiled JavaScript: build it (a few seconds) so it is never stale.
    execFileSync(process.execPath, [fileURLToPath(new URL('node_modules/typescript/bin/tsc', `file://${repoRoot}`)), '-p', 'tsconfig.build.json'], { cwd: repoRoot, stdio: 'inherit', timeout: 120_000 });
    const ports = await freePorts(ensembleSize * 2);
    this.clientPorts = ports.slice(0, ensembleSize);
    this.peerPorts = ports.slice(ensembleSize);
    const cluster = this.peerPorts.map((port, i) => `n${i + 1}=127.0.0.1:${port}`).join(',');
    // SYNOD_* variables would override flags' defaults: the members get none of the caller's.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('SYNOD_')));
    this.ensemble = new ProcessEnsemble('synod', {
      command: (i, dataDir) => ({
        command: process.execPath,
        args: [synodCli, 'start', '--name', `n${i + 1}`, '--data-dir', dataDir, '--listen-client', `127.0.0.1:${this.clientPorts[i]!}`, '--listen-peer', `127.0.0.1:${this.peerPorts[i]!}`, '--initial-cluster', cluster],
        env,
        cwd: repoRoot,
      }),
      isReady: async (i) => (await this.status(i)) !== null,
    });
    await this.ensemble.startAll();
    await this.waitHealthy(30_000);
  }

  describe(): EnsembleSettings {
    return {
      version: synodVersion(),
      commandLine: `node dist/cli/synod.js start --name n1 --data-dir DIR/m1 --listen-client 127.0.0.1:C1 --listen-peer 127.0.0.1:P1 --initial-cluster n1=127.0.0.1:P1,n2=127.0.0.1:P2,n3=127.0.0.1:P3`,
      settings: {
        tickMs: memberDefaults.tickMs,
        electionTicks: memberDefaults.electionTicks,
        heartbeatTicks: memberDefaults.heartbeatTicks,
        'election timeout (ms)': memberDefaults.tickMs * memberDefaults.electionTicks,
        walSync: 'fdatasync per Ready batch (group commit), always on',
        snapshotEntries: memberDefaults.snapshotEntries,
        sessionTtlMinMs: memberDefaults.sessionTtlMinMs,
        node: process.version,
      },
      notes: ['defaults of server/runtime/config.ts; no SYNOD_* variables; members run the compiled build (dist/)'],
    };
  }

  clientSpec(): ClientSpec {
    return { system: 'synod', endpoints: this.clientPorts.map((port) => `127.0.0.1:${port}`) };
  }

  connect(target: ClientTarget = { kind: 'ensemble' }): Promise<BenchClient> {
    return openSynodClient(this.clientSpec(), target);
  }

  private async status(index: number): Promise<MemberStatus | null> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.clientPorts[index]!}/status`, { signal: AbortSignal.timeout(1_000) });
      return res.ok ? ((await res.json()) as MemberStatus) : null;
    } catch {
      return null;
    }
  }

  protected view(index: number): Promise<MemberStatus | null> {
    return this.status(index);
  }

  protected leads(status: MemberStatus): boolean {
    return status.role === 'leader';
  }

  protected agree(statuses: readonly MemberStatus[]): boolean {
    const leaders = new Set(statuses.map((s) => s.leader));
    return leaders.size === 1 && !leaders.has(null);
  }
}

/** A Synod client over the SDK (also used by the session-holder child process). */
export async function openSynodClient(spec: ClientSpec, target: ClientTarget): Promise<BenchClient> {
  // A pinned client stays on its member (the SDK otherwise moves to the leader, which it does by default for
  // an ensemble client: that is kept, as users get it).
  const client =
    target.kind === 'member'
      ? await connect({ endpoints: [spec.endpoints[target.index]!], preferLeader: false, requestTimeoutMs: 30_000 })
      : await connect({ endpoints: [...spec.endpoints], requestTimeoutMs: 30_000 });
  return new SynodBenchClient(client);
}

class SynodBenchClient implements BenchClient {
  constructor(private readonly client: Client) {}

  async ensureFolder(folder: string): Promise<void> {
    await this.client.create(folder, new Uint8Array(0), { parents: true }).catch(ignore(ExistsError));
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    try {
      await this.client.set(key, value);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      await this.client.create(key, value, { parents: true }).catch(async (e: unknown) => {
        if (!(e instanceof ExistsError)) throw e;
        await this.client.set(key, value); // created meanwhile by another writer
      });
    }
  }

  async create(key: string, value: Uint8Array): Promise<void> {
    await this.client.create(key, value);
  }

  async get(key: string, mode: ReadMode): Promise<Uint8Array | null> {
    try {
      return (await this.client.get(key, { serializable: mode === 'serializable' })).data;
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      throw error;
    }
  }

  async watchFolder(folder: string, handlers: { onChange(key: string, value: Uint8Array): void; onDelete(key: string): void }): Promise<Unwatch> {
    const stream = this.client.watch(folder, { recursive: true });
    await waitStarted(stream);
    const consumed = (async () => {
      for await (const item of stream) {
        if (!('path' in item)) continue; // initial state or progress notices
        if (item.type === 'delete') handlers.onDelete(item.path);
        else handlers.onChange(item.path, item.data);
      }
    })().catch(() => {});
    return async () => {
      stream.finish(null);
      await consumed;
    };
  }

  async lock(name: string): Promise<HeldLock> {
    const held = await this.client.lock(name.replace(/^\/+/, ''), { timeoutMs: 60_000 });
    return { release: () => held.release() };
  }

  async createEphemeral(key: string, value: Uint8Array, ttlMs: number): Promise<{ grantedTtlMs: number }> {
    // The client keeps the session alive by heartbeats, and revokes it on close().
    const session = await this.client.session({ ttlMs });
    await this.client.create(key, value, { mode: 'ephemeral', session, parents: true });
    return { grantedTtlMs: session.ttlMs };
  }

  async watchDeletion(key: string): Promise<{ readonly deleted: Promise<void> }> {
    const stream = this.client.watch(key);
    try {
      await waitStarted(stream);
      if ((await this.client.exists(key)) === null) {
        stream.finish(null);
        return { deleted: Promise.resolve() };
      }
    } catch (error) {
      stream.finish(null);
      throw error;
    }
    const deleted = (async () => {
      try {
        for await (const item of stream) {
          if ('path' in item && item.type === 'delete') return;
        }
        throw new Error(`the watch on ${key} ended before the node was deleted`);
      } finally {
        stream.finish(null);
      }
    })();
    return { deleted };
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** The SDK starts a watch in the background; its server-side id is set once the member has it. */
async function waitStarted(stream: WatchStream): Promise<void> {
  await waitFor(`the watch on ${stream.path} to start`, () => stream.watchId !== 0, 10_000, 5);
}

function ignore(kind: abstract new (...args: never[]) => Error): (error: unknown) => void {
  return (error) => {
    if (!(error instanceof kind)) throw error;
  };
}
