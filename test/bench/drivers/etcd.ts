// etcd 3.4 from Debian: three `etcd` processes with their defaults (the WAL is fsynced on every commit) and
// clients from the `etcd3` package. etcd3's own Lock only tries once (it fails when the lock is taken), so
// the waiting mutex here follows etcd's client/v3/concurrency Mutex: a key per session under the lock's
// prefix, and a wait on the deletion of the key created just before ours.

import { Etcd3, SortOrder, SortTarget, type Lease } from 'etcd3';
import type { BenchClient, ClientSpec, ClientTarget, Driver, EnsembleSettings, HeldLock, ReadMode, Unwatch } from '../driver.ts';
import { EnsembleDriver, ensembleSize, ProcessEnsemble } from '../ensemble.ts';
import { ensureDebianPackages, etcdPackages } from '../install.ts';
import { freePorts, run } from '../processes.ts';

const etcdBinary = '/usr/bin/etcd';
const clusterToken = 'synod-bench';

export class EtcdDriver extends EnsembleDriver<{ self: string; leader: string }> implements Driver {
  readonly system = 'etcd';
  private peerPorts: number[] = [];
  private version = 'unknown';

  async start(): Promise<void> {
    await ensureDebianPackages(etcdPackages);
    this.version = /etcd Version: (\S+)/.exec(await run(etcdBinary, ['--version'], 10_000))?.[1] ?? 'unknown';
    const ports = await freePorts(ensembleSize * 2);
    this.clientPorts = ports.slice(0, ensembleSize);
    this.peerPorts = ports.slice(ensembleSize);
    // ETCD_* variables would override flags' defaults: the members get none of the caller's.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('ETCD_')));
    this.ensemble = new ProcessEnsemble('etcd', {
      command: (i, dataDir) => ({ command: etcdBinary, args: this.memberArgs(i, dataDir), env }),
      isReady: async (i) => (await this.fetchJson(i, '/version', 'GET')) !== null,
    });
    await this.ensemble.startAll();
    await this.waitHealthy(30_000);
  }

  private memberArgs(index: number, dataDir: string): string[] {
    const cluster = this.peerPorts.map((port, i) => `e${i + 1}=http://127.0.0.1:${port}`).join(',');
    const client = `http://127.0.0.1:${this.clientPorts[index]!}`;
    const peer = `http://127.0.0.1:${this.peerPorts[index]!}`;
    return [
      '--name', `e${index + 1}`, '--data-dir', dataDir,
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', cluster, '--initial-cluster-token', clusterToken, '--initial-cluster-state', 'new',
    ];
  }

  describe(): EnsembleSettings {
    return {
      version: this.version,
      commandLine: `etcd ${this.memberArgs(0, 'DIR/m1').join(' ')}`.replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT'),
      settings: {
        'heartbeat-interval (ms)': 100,
        'election-timeout (ms)': 1000,
        'unsafe-no-fsync': false,
        'snapshot-count': 100_000,
        'quota-backend-bytes': '2 GiB (default 0 = 2 GiB)',
        'auto-compaction': 'off (default)',
        'max-request-bytes': 1_572_864,
        GOMAXPROCS: 'default (all cores)',
      },
      notes: ['every value above is the etcd 3.4 default; the flags given are names, URLs, data dir and cluster token only', 'client: etcd3 (gRPC, @grpc/grpc-js), default fault handling (3 retries, per-host circuit breaker)'],
    };
  }

  clientSpec(): ClientSpec {
    return { system: 'etcd', endpoints: this.clientPorts.map((port) => `127.0.0.1:${port}`) };
  }

  connect(target: ClientTarget = { kind: 'ensemble' }): Promise<BenchClient> {
    return openEtcdClient(this.clientSpec(), target);
  }

  /** The grpc-gateway's JSON answer at `path` (etcd 3.4 serves it on the client URL), or null. */
  private async fetchJson(index: number, path: string, method: 'GET' | 'POST'): Promise<Record<string, unknown> | null> {
    try {
      const init: RequestInit = { method, signal: AbortSignal.timeout(1_000), ...(method === 'POST' ? { body: '{}' } : {}) };
      const res = await fetch(`http://127.0.0.1:${this.clientPorts[index]!}${path}`, init);
      return res.ok ? ((await res.json()) as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }

  /** Each member's view: its own id and the leader's id (strings: uint64). */
  protected async view(index: number): Promise<{ self: string; leader: string } | null> {
    const status = await this.fetchJson(index, '/v3/maintenance/status', 'POST');
    const header = status?.['header'] as { member_id?: string } | undefined;
    const leader = status?.['leader'];
    if (header?.member_id === undefined || typeof leader !== 'string' || leader === '0') return null;
    return { self: header.member_id, leader };
  }

  protected leads(view: { self: string; leader: string }): boolean {
    return view.self === view.leader;
  }

  protected agree(views: ReadonlyArray<{ leader: string }>): boolean {
    return new Set(views.map((view) => view.leader)).size === 1;
  }
}

/** An etcd client (also used by the session-holder child process). */
export async function openEtcdClient(spec: ClientSpec, target: ClientTarget): Promise<BenchClient> {
  const endpoints = target.kind === 'member' ? [spec.endpoints[target.index]!] : [...spec.endpoints];
  const client = new Etcd3({ hosts: endpoints.map((e) => `http://${e}`), dialTimeout: 10_000 });
  const bench = new EtcdBenchClient(client);
  try {
    await client.get('/bench-connect').string(); // connect now, as the other drivers do
  } catch (error) {
    await bench.close();
    throw error;
  }
  return bench;
}

/** The smallest key greater than every key with `prefix`: etcd's range end for a prefix. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

class EtcdBenchClient implements BenchClient {
  /** The session of this client's mutexes: a lease kept alive in the background, made on first use. */
  private lockSession: Lease | null = null;
  private readonly leases: Lease[] = [];

  constructor(private readonly client: Etcd3) {}

  async ensureFolder(): Promise<void> {
    // etcd keys are flat: a prefix needs no parent.
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    await this.client.put(key).value(Buffer.from(value.buffer, value.byteOffset, value.byteLength)).exec();
  }

  async create(key: string, value: Uint8Array): Promise<void> {
    await this.put(key, value); // etcd has no separate create; a put of a new key is the same request
  }

  async get(key: string, mode: ReadMode): Promise<Uint8Array | null> {
    return this.client.get(key).serializable(mode === 'serializable').buffer();
  }

  async watchFolder(folder: string, handlers: { onChange(key: string, value: Uint8Array): void; onDelete(key: string): void }): Promise<Unwatch> {
    const watcher = await this.client.watch().prefix(`${folder}/`).create();
    watcher.on('put', (kv) => handlers.onChange(kv.key.toString(), kv.value));
    watcher.on('delete', (kv) => handlers.onDelete(kv.key.toString()));
    return () => watcher.cancel();
  }

  /** concurrency.Mutex.Lock: our key `prefix/<lease hex>`, then wait for each older key to go, newest first. */
  async lock(name: string): Promise<HeldLock> {
    this.lockSession ??= this.client.lease(60);
    const leaseId = await this.lockSession.grant();
    const prefix = Buffer.from(`${name}/`);
    const myKey = Buffer.concat([prefix, Buffer.from(BigInt(leaseId).toString(16))]);
    const result = await this.client
      .if(myKey, 'Create', '==', 0)
      .then({ request_put: { key: myKey, value: Buffer.alloc(0), lease: leaseId } })
      .else({ request_range: { key: myKey } })
      .commit();
    const myRevision = result.succeeded ? BigInt(result.header.revision) : BigInt(result.responses[0]!.response_range.kvs[0]!.create_revision);
    await this.waitOlderKeysDeleted(prefix, myRevision - 1n);
    return { release: () => this.client.delete().key(myKey).exec().then(() => undefined) };
  }

  /** concurrency.waitDeletes: while a key created at or before `maxCreateRevision` exists, wait for the newest to go. */
  private async waitOlderKeysDeleted(prefix: Buffer, maxCreateRevision: bigint): Promise<void> {
    for (;;) {
      const { kvs, header } = await this.client.kv.range({
        key: prefix,
        range_end: prefixEnd(prefix),
        sort_target: SortTarget.Create,
        sort_order: SortOrder.Descend,
        max_create_revision: maxCreateRevision.toString(),
        limit: 1,
      });
      const last = kvs[0];
      if (last === undefined) return;
      await this.waitDeleted(last.key, BigInt(header.revision) + 1n);
    }
  }

  /** Resolves on the deletion of `key` at or after `fromRevision` (a watch replays from there: no gap). */
  private async waitDeleted(key: Buffer, fromRevision: bigint): Promise<void> {
    await (await this.watchDeleted(key, fromRevision)).deleted;
  }

  /** A watch on `key` from `fromRevision`, in place when this resolves. */
  private async watchDeleted(key: Buffer, fromRevision: bigint): Promise<{ readonly deleted: Promise<void> }> {
    const watcher = await this.client.watch().key(key).startRevision(fromRevision.toString()).create();
    const deleted = new Promise<void>((resolve, reject) => {
      watcher.on('delete', () => resolve());
      watcher.on('error', reject);
    }).finally(() => watcher.cancel());
    return { deleted };
  }

  async createEphemeral(key: string, value: Uint8Array, ttlMs: number): Promise<{ grantedTtlMs: number }> {
    const lease = this.client.lease(Math.ceil(ttlMs / 1000)); // etcd's TTLs are whole seconds
    this.leases.push(lease);
    lease.on('lost', () => {});
    const leaseId = await lease.grant();
    await lease.put(key).value(Buffer.from(value)).exec();
    const info = await this.client.leaseClient.leaseTimeToLive({ ID: leaseId });
    return { grantedTtlMs: Number(info.grantedTTL) * 1000 };
  }

  async watchDeletion(key: string): Promise<{ readonly deleted: Promise<void> }> {
    const current = await this.client.kv.range({ key: Buffer.from(key) });
    if (current.kvs.length === 0) return { deleted: Promise.resolve() };
    return this.watchDeleted(Buffer.from(key), BigInt(current.header.revision) + 1n);
  }

  async close(): Promise<void> {
    // Revoke the mutex session (its keys go at once); leases of ephemeral keys just stop being kept alive.
    await this.lockSession?.revoke().catch(() => {});
    for (const lease of this.leases) lease.release();
    this.client.close();
  }
}
