// ZooKeeper 3.8 from Debian: three QuorumPeerMain JVMs launched the way Debian's zkServer.sh does, each with
// the zoo.cfg that Debian ships (tickTime 2000, initLimit 10, syncLimit 5; forceSync defaults to yes) plus
// the per-member ports and directories. Clients from `node-zookeeper-client` (pure JavaScript). Locks are
// the classic recipe (ephemeral sequential node, watch on the predecessor); the watch on a folder is the
// classic one-shot-watch cache (data watch per child, child watch on the folder, re-armed on each event).

import { mkdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import zookeeper from 'node-zookeeper-client';
import type { Client, Event, Stat } from 'node-zookeeper-client';
import type { BenchClient, ClientSpec, ClientTarget, Driver, EnsembleSettings, HeldLock, ReadMode, Unwatch } from '../driver.ts';
import { EnsembleDriver, ensembleSize, ProcessEnsemble } from '../ensemble.ts';
import { ensureDebianPackages, zookeeperPackages } from '../install.ts';
import { freePorts, registerForCleanup, removeTempDir, run, withTimeout } from '../processes.ts';
import { zookeeperSync } from './zookeeper-sync.ts';

const { createClient, CreateMode, Event: ZkEvent, Exception } = zookeeper;

const java = '/usr/bin/java';
/** Debian's CLASSPATH (/etc/zookeeper/conf/environment); the jar's manifest lists its dependencies. */
const classPath = '/etc/zookeeper/conf:/usr/share/java/zookeeper.jar';

/** Debian's zoo.cfg, as shipped (the rest are ZooKeeper's defaults). */
const debianZooCfg = { tickTime: 2000, initLimit: 10, syncLimit: 5 } as const;

export class ZookeeperDriver extends EnsembleDriver<'leader' | 'follower'> implements Driver {
  readonly system = 'zookeeper';
  protected override readonly healthPollMs = 100;
  private quorumPorts: number[] = [];
  private electionPorts: number[] = [];
  private adminPorts: number[] = [];
  private version = 'unknown';
  private javaVersion = 'unknown';
  /**
   * The perf-data file of every JVM started (/tmp/hsperfdata_USER/PID): a JVM removes its own only on a clean
   * exit, and these are killed with -9.
   */
  private readonly perfFiles = new Set<string>();

  async start(): Promise<void> {
    await ensureDebianPackages(zookeeperPackages);
    this.javaVersion = (await run(java, ['-version'], 30_000)).split('\n').find((l) => l.includes('Runtime Environment'))?.trim() ?? 'unknown';
    const versionText = await run(java, ['-cp', classPath, 'org.apache.zookeeper.version.VersionInfoMain'], 30_000);
    this.version = /version (\S+)/.exec(versionText)?.[1] ?? 'unknown';
    const ports = await freePorts(ensembleSize * 4);
    this.clientPorts = ports.slice(0, 3);
    this.quorumPorts = ports.slice(3, 6);
    this.electionPorts = ports.slice(6, 9);
    this.adminPorts = ports.slice(9, 12);
    this.ensemble = new ProcessEnsemble('zookeeper', {
      command: (i, dir) => {
        const config = this.writeConfig(i, dir);
        return { command: java, args: this.javaArgs(dir, config), env: { ...process.env } };
      },
      isReady: async (i) => {
        this.rememberPids();
        return (await fourLetterWord(this.clientPorts[i]!, 'srvr')) !== null;
      },
    });
    await this.ensemble.startAll();
    await this.waitHealthy(60_000);
  }

  private zooCfg(index: number, dataDir: string): Record<string, string | number> {
    const servers: Record<string, string> = {};
    for (let i = 0; i < ensembleSize; i++) servers[`server.${i + 1}`] = `127.0.0.1:${this.quorumPorts[i]!}:${this.electionPorts[i]!}`;
    return {
      ...debianZooCfg,
      dataDir,
      clientPort: this.clientPorts[index]!,
      clientPortAddress: '127.0.0.1',
      // Three AdminServers on one host need three ports (the default is 8080 for all).
      'admin.serverAddress': '127.0.0.1',
      'admin.serverPort': this.adminPorts[index]!,
      ...servers,
    };
  }

  /** Writes zoo.cfg and myid for member `index`; returns the config file. */
  private writeConfig(index: number, memberDir: string): string {
    const dataDir = join(memberDir, 'data');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, 'myid'), `${index + 1}\n`);
    const file = join(memberDir, 'zoo.cfg');
    const lines = Object.entries(this.zooCfg(index, dataDir)).map(([k, v]) => `${k}=${v}`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  }

  /** What `zkServer.sh start-foreground` runs on Debian (JMX local only), with logs in the member's dir. */
  private javaArgs(memberDir: string, config: string): string[] {
    return [
      `-Dzookeeper.log.dir=${memberDir}`, '-Dzookeeper.log.file=zookeeper.log',
      '-XX:+HeapDumpOnOutOfMemoryError', '-XX:OnOutOfMemoryError=kill -9 %p',
      '-cp', classPath,
      '-Dcom.sun.management.jmxremote', '-Dcom.sun.management.jmxremote.local.only=true',
      'org.apache.zookeeper.server.quorum.QuorumPeerMain', config,
    ];
  }

  private rememberPids(): void {
    for (const pid of this.ensemble?.pids() ?? []) {
      if (pid === null) continue;
      const file = `/tmp/hsperfdata_${userInfo().username}/${pid}`;
      if (!this.perfFiles.has(file)) registerForCleanup(file);
      this.perfFiles.add(file);
    }
  }

  override async stop(): Promise<void> {
    try {
      await super.stop();
    } finally {
      for (const file of this.perfFiles) removeTempDir(file);
      this.perfFiles.clear();
    }
  }

  describe(): EnsembleSettings {
    const cfg = this.zooCfg(0, 'DIR/m1/data');
    const settings: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(cfg)) settings[k] = typeof v === 'number' && k !== 'tickTime' && k !== 'initLimit' && k !== 'syncLimit' ? 'PORT' : v;
    for (const k of Object.keys(settings)) if (k.startsWith('server.')) settings[k] = '127.0.0.1:PORT:PORT';
    return {
      version: this.version,
      commandLine: `java ${this.javaArgs('DIR/m1', 'DIR/m1/zoo.cfg').join(' ')}`,
      settings: {
        ...settings,
        forceSync: 'yes (default: fsync of the transaction log before acknowledging)',
        snapCount: '100000 (default)',
        'minSessionTimeout (ms)': `${2 * debianZooCfg.tickTime} (default: 2 x tickTime)`,
        'maxSessionTimeout (ms)': `${20 * debianZooCfg.tickTime} (default: 20 x tickTime)`,
        maxClientCnxns: '60 per client IP (default)',
        'JVM heap': 'JVM default (no -Xmx: a quarter of RAM), as Debian launches it',
        java: this.javaVersion,
      },
      notes: [
        'zoo.cfg is Debian\'s /etc/zookeeper/conf/zoo.cfg plus each member\'s dataDir, ports, and server.N lines',
        'client: node-zookeeper-client (pure JavaScript), default options (sessionTimeout 30 s, spinDelay 1 s between servers)',
        'linearizable read = sync(path) pipelined with getData(path) in one session (ZooKeeper\'s documented way to read the latest state)',
      ],
    };
  }

  clientSpec(): ClientSpec {
    return { system: 'zookeeper', endpoints: this.clientPorts.map((port) => `127.0.0.1:${port}`) };
  }

  connect(target: ClientTarget = { kind: 'ensemble' }): Promise<BenchClient> {
    return openZookeeperClient(this.clientSpec(), target);
  }

  /** The member's mode (null: it does not serve, as while it looks for a leader). */
  protected async view(index: number): Promise<'leader' | 'follower' | null> {
    const answer = await fourLetterWord(this.clientPorts[index]!, 'srvr');
    const mode = answer === null ? null : /^Mode: (\w+)/m.exec(answer)?.[1];
    return mode === 'leader' || mode === 'follower' ? mode : null;
  }

  protected leads(mode: 'leader' | 'follower'): boolean {
    return mode === 'leader';
  }

  protected agree(modes: ReadonlyArray<'leader' | 'follower'>): boolean {
    return modes.filter((mode) => mode === 'leader').length === 1;
  }
}

/** A four-letter-word command's answer (srvr is allowed by default), or null when the member does not answer. */
function fourLetterWord(port: number, word: string): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    let answer = '';
    const done = (value: string | null): void => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(1_000, () => done(null));
    socket.on('connect', () => socket.write(word));
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('end', () => done(answer));
    socket.on('error', () => done(null));
  });
}

/** Connects a client and waits (bounded) for its session. */
async function connectZk(connectionString: string, sessionTimeoutMs?: number): Promise<Client> {
  const client = createClient(connectionString, sessionTimeoutMs === undefined ? {} : { sessionTimeout: sessionTimeoutMs });
  const connected = new Promise<void>((resolve) => client.once('connected', () => resolve()));
  client.connect();
  try {
    await withTimeout(connected, 15_000, `a ZooKeeper session at ${connectionString}`);
  } catch (error) {
    client.close();
    throw error;
  }
  return client;
}

/** A ZooKeeper client (also used by the session-holder child process). */
export async function openZookeeperClient(spec: ClientSpec, target: ClientTarget): Promise<BenchClient> {
  const endpoints = target.kind === 'member' ? [spec.endpoints[target.index]!] : [...spec.endpoints];
  const connectionString = endpoints.join(',');
  return new ZookeeperBenchClient(await connectZk(connectionString), connectionString);
}

type ZkError = Error & { code?: number };

function isCode(error: unknown, code: number): boolean {
  return typeof error === 'object' && error !== null && (error as ZkError).code === code;
}

/** The callback API as promises. */
const zk = {
  setData: (c: Client, path: string, data: Buffer): Promise<Stat> => new Promise((ok, fail) => c.setData(path, data, -1, (e, stat) => (e ? fail(e) : ok(stat)))),
  create: (c: Client, path: string, data: Buffer, mode: number): Promise<string> => new Promise((ok, fail) => c.create(path, data, mode, (e, p) => (e ? fail(e) : ok(p)))),
  mkdirp: (c: Client, path: string): Promise<string> => new Promise((ok, fail) => c.mkdirp(path, (e, p) => (e ? fail(e) : ok(p)))),
  remove: (c: Client, path: string): Promise<void> => new Promise((ok, fail) => c.remove(path, -1, (e) => (e ? fail(e) : ok()))),
  getData: (c: Client, path: string, watcher?: (event: Event) => void): Promise<Buffer | null> =>
    new Promise((ok, fail) => {
      const callback = (e: Error | unknown, data: Buffer): void => (e ? (isCode(e, Exception.NO_NODE) ? ok(null) : fail(e)) : ok(data ?? Buffer.alloc(0)));
      if (watcher === undefined) c.getData(path, callback);
      else c.getData(path, watcher, callback);
    }),
  getChildren: (c: Client, path: string, watcher?: (event: Event) => void): Promise<string[]> =>
    new Promise((ok, fail) => {
      const callback = (e: Error | unknown, children: string[]): void => (e ? fail(e) : ok(children));
      if (watcher === undefined) c.getChildren(path, callback);
      else c.getChildren(path, watcher, callback);
    }),
  exists: (c: Client, path: string, watcher: (event: Event) => void): Promise<Stat | null> => new Promise((ok, fail) => c.exists(path, watcher, (e, stat) => (e ? fail(e) : ok(stat ?? null)))),
};

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

class ZookeeperBenchClient implements BenchClient {
  /** Extra connections that own ephemeral nodes (a ZooKeeper session is a connection). */
  private readonly sessions: Client[] = [];

  constructor(
    private readonly client: Client,
    private readonly connectionString: string,
  ) {}

  async ensureFolder(folder: string): Promise<void> {
    await zk.mkdirp(this.client, folder);
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    const data = Buffer.from(value);
    try {
      await zk.setData(this.client, key, data);
    } catch (error) {
      if (!isCode(error, Exception.NO_NODE)) throw error;
      await this.createOrSet(key, data);
    }
  }

  private async createOrSet(key: string, data: Buffer): Promise<void> {
    try {
      await zk.create(this.client, key, data, CreateMode.PERSISTENT);
    } catch (error) {
      if (isCode(error, Exception.NODE_EXISTS)) await zk.setData(this.client, key, data);
      else if (isCode(error, Exception.NO_NODE)) {
        await zk.mkdirp(this.client, parentOf(key));
        await this.createOrSet(key, data);
      } else throw error;
    }
  }

  async create(key: string, value: Uint8Array): Promise<void> {
    await zk.create(this.client, key, Buffer.from(value), CreateMode.PERSISTENT);
  }

  async get(key: string, mode: ReadMode): Promise<Uint8Array | null> {
    if (mode === 'serializable') return zk.getData(this.client, key);
    // Pipelined: the member answers a session's requests in order, so the read waits for the sync.
    const [, data] = await Promise.all([zookeeperSync(this.client, key), zk.getData(this.client, key)]);
    return data;
  }

  async watchFolder(folder: string, handlers: { onChange(key: string, value: Uint8Array): void; onDelete(key: string): void }): Promise<Unwatch> {
    const cache = new FolderCache(this.client, folder, handlers);
    await cache.start();
    return async () => cache.stop();
  }

  async lock(name: string): Promise<HeldLock> {
    await zk.mkdirp(this.client, name);
    const mine = await zk.create(this.client, `${name}/lock-`, Buffer.alloc(0), CreateMode.EPHEMERAL_SEQUENTIAL);
    const myName = mine.slice(name.length + 1);
    for (;;) {
      const queue = (await zk.getChildren(this.client, name)).sort((a, b) => sequenceOf(a) - sequenceOf(b));
      const i = queue.indexOf(myName);
      if (i < 0) throw new Error(`our lock node ${mine} is gone (session expired?)`);
      if (i === 0) return { release: () => zk.remove(this.client, mine) };
      await waitForDeletion(this.client, `${name}/${queue[i - 1]!}`);
    }
  }

  async createEphemeral(key: string, value: Uint8Array, ttlMs: number): Promise<{ grantedTtlMs: number }> {
    // The session timeout is negotiated: ZooKeeper clamps it to [2, 20] x tickTime.
    const session = await connectZk(this.connectionString, ttlMs);
    this.sessions.push(session);
    await zk.mkdirp(session, parentOf(key));
    await zk.create(session, key, Buffer.from(value), CreateMode.EPHEMERAL);
    return { grantedTtlMs: session.getSessionTimeout() };
  }

  async watchDeletion(key: string): Promise<{ readonly deleted: Promise<void> }> {
    const first = await armDeletionWatch(this.client, key);
    if (first === null) return { deleted: Promise.resolve() };
    return { deleted: first.event.then(() => waitForDeletion(this.client, key)) };
  }

  async close(): Promise<void> {
    for (const session of this.sessions) session.close();
    this.client.close();
  }
}

/** The 10-digit counter ZooKeeper appends to a sequential node's name. */
function sequenceOf(name: string): number {
  return Number(name.slice(-10));
}

/** exists() with a watch: null when `path` is gone, else the watch's next event (wrapped: not flattened). */
async function armDeletionWatch(client: Client, path: string): Promise<{ readonly event: Promise<void> } | null> {
  let fired!: () => void;
  const event = new Promise<void>((resolve) => (fired = resolve));
  const stat = await zk.exists(client, path, () => fired());
  return stat === null ? null : { event };
}

/** Resolves when `path` is gone: exists() with a watch, re-armed after any other event. */
async function waitForDeletion(client: Client, path: string): Promise<void> {
  for (;;) {
    const armed = await armDeletionWatch(client, path);
    if (armed === null) return;
    await armed.event;
  }
}

/**
 * The classic ZooKeeper cache of a folder's children (what Curator's PathChildrenCache does): a child watch on
 * the folder finds new children; a data watch on each child reports its changes. A ZooKeeper watch fires once
 * and carries no data, so each event is followed by a getData that reads the value and sets the next watch.
 */
class FolderCache {
  private readonly known = new Set<string>();
  private stopped = false;

  constructor(
    private readonly client: Client,
    private readonly folder: string,
    private readonly handlers: { onChange(key: string, value: Uint8Array): void; onDelete(key: string): void },
  ) {}

  private readonly onDataEvent = (event: Event): void => {
    if (this.stopped) return;
    const path = event.getPath();
    if (event.getType() === ZkEvent.NODE_DELETED) {
      this.known.delete(path);
      this.handlers.onDelete(path);
    } else void this.read(path, true);
  };

  private readonly onChildEvent = (): void => {
    if (!this.stopped) void this.listChildren(true).catch(() => {});
  };

  async start(): Promise<void> {
    await this.listChildren(false);
  }

  stop(): void {
    this.stopped = true;
  }

  /** Reads a child (arming its data watch); reports the value when `report`. */
  private async read(path: string, report: boolean): Promise<void> {
    try {
      const data = await zk.getData(this.client, path, this.onDataEvent);
      if (data === null) {
        this.known.delete(path);
        return;
      }
      if (report && !this.stopped) this.handlers.onChange(path, data);
    } catch {
      // The connection was lost: the client library re-registers its watches when it reconnects.
    }
  }

  /** Lists the folder (arming the child watch) and reads the children not seen before. */
  private async listChildren(report: boolean): Promise<void> {
    const names = await zk.getChildren(this.client, this.folder, this.onChildEvent);
    const fresh = names.map((name) => `${this.folder}/${name}`).filter((path) => !this.known.has(path));
    for (const path of fresh) this.known.add(path);
    await Promise.all(fresh.map((path) => this.read(path, report)));
  }
}
