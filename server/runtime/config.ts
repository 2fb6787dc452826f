// A member's configuration: built-in defaults, then a JSON file, then SYNOD_* environment variables, then
// flags (each later source wins). Every limit has a name and a default here, in one place.

import { readFileSync } from 'node:fs';
import { RuntimeError } from './errors.ts';

export interface Limits {
  /** Largest node value. */
  readonly valueBytesMax: number;
  /** Longest path, in bytes of UTF-8. */
  readonly pathBytesMax: number;
  /** Largest request frame. */
  readonly requestBytesMax: number;
  /** Watches one connection may hold. */
  readonly watchesPerConnectionMax: number;
  /** Requests one connection may have in flight. */
  readonly requestsInFlightPerConnectionMax: number;
  /** Bytes buffered toward one client before it is cut off as too slow. */
  readonly connectionBufferBytesMax: number;
  /** Operations in one transaction. */
  readonly txnOpsMax: number;
}

export interface MemberConfig {
  readonly name: string;
  readonly dataDir: string;
  /** host:port for clients (WebSocket, HTTP gateway, health, metrics). */
  readonly listenClient: string;
  /** host:port for peers. */
  readonly listenPeer: string;
  /** How clients reach this member, when it differs from listenClient. */
  readonly advertiseClient: string;
  /** Every initial member: name -> peer URL (ws://host:port). */
  readonly initialCluster: ReadonlyMap<string, string>;
  /** Client URLs of the initial members, when known (for `members` answers before they report). */
  readonly initialClientUrls: ReadonlyMap<string, string>;
  /** Whether this member joins an existing cluster (added with memberAdd) rather than forming a new one. */
  readonly join: boolean;
  readonly clusterToken: string;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly sessionTtlMinMs: number;
  readonly sessionTtlMaxMs: number;
  readonly snapshotEntries: number;
  readonly compactionMarginEntries: number;
  /** Events kept for watches that resume from the past, in revisions. */
  readonly historyRevisions: number;
  /** ...and at most this many events (whole revisions are dropped first). */
  readonly historyEvents: number;
  readonly proposalTimeoutMs: number;
  /** Interval of progress notices on idle watch streams. */
  readonly watchProgressMs: number;
  readonly limits: Limits;
}

export const limitDefaults: Limits = {
  valueBytesMax: 1024 * 1024,
  pathBytesMax: 4096,
  requestBytesMax: 4 * 1024 * 1024,
  watchesPerConnectionMax: 10_000,
  requestsInFlightPerConnectionMax: 10_000,
  connectionBufferBytesMax: 16 * 1024 * 1024,
  txnOpsMax: 128,
};

export const memberDefaults = {
  name: 'n1',
  dataDir: './synod-data/n1',
  listenClient: '127.0.0.1:4401',
  listenPeer: '127.0.0.1:4501',
  clusterToken: 'synod-dev-cluster',
  // A 10 ms tick: heartbeats every 100 ms, elections after 500-1000 ms of silence (or soon after the transport
  // sees the leader's process die: see Raft.peerDown).
  tickMs: 10,
  electionTicks: 50,
  heartbeatTicks: 10,
  sessionTtlMinMs: 1_000,
  sessionTtlMaxMs: 60_000,
  snapshotEntries: 100_000,
  compactionMarginEntries: 10_000,
  historyRevisions: 100_000,
  historyEvents: 200_000,
  proposalTimeoutMs: 5_000,
  watchProgressMs: 1_000,
} as const;

/** Raw settings by name, as they come from a file, the environment or flags (strings or numbers). */
export type ConfigInput = Record<string, unknown>;

/** `n1=ws://127.0.0.1:4501,n2=...` -> Map. */
export function parseCluster(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new RuntimeError('bad_request', `initial cluster entry "${part}" is not NAME=URL`);
    out.set(part.slice(0, eq), peerUrlOf(part.slice(eq + 1)));
  }
  return out;
}

/** Settings from SYNOD_* variables: SYNOD_DATA_DIR -> dataDir. */
export function configFromEnv(env: NodeJS.ProcessEnv): ConfigInput {
  const out: ConfigInput = {};
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('SYNOD_') || value === undefined || key === 'SYNOD_ENDPOINTS') continue;
    const name = key
      .slice('SYNOD_'.length)
      .toLowerCase()
      .replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
    out[name] = value;
  }
  return out;
}

export function configFromFile(path: string): ConfigInput {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ConfigInput;
  } catch (error) {
    throw new RuntimeError('bad_request', `cannot read config file ${path}: ${(error as Error).message}`, {}, { cause: error });
  }
}

export function resolveMemberConfig(...sources: ConfigInput[]): MemberConfig {
  const merged: ConfigInput = {};
  for (const source of sources) for (const [k, v] of Object.entries(source)) if (v !== undefined) merged[k] = v;
  const str = (key: keyof typeof memberDefaults | 'advertiseClient' | 'initialCluster'): string | undefined =>
    merged[key] === undefined ? undefined : String(merged[key]);
  const num = (key: string, fallback: number): number => {
    const value = merged[key];
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new RuntimeError('bad_request', `${key} must be a positive number, got ${String(value)}`);
    return n;
  };
  const name = str('name') ?? memberDefaults.name;
  const listenPeer = str('listenPeer') ?? memberDefaults.listenPeer;
  const listenClient = str('listenClient') ?? memberDefaults.listenClient;
  const clusterText = merged.initialCluster;
  const initialCluster =
    clusterText instanceof Map ? (clusterText as Map<string, string>) : parseCluster(typeof clusterText === 'string' ? clusterText : `${name}=ws://${listenPeer}`);
  if (!initialCluster.has(name) && merged.join !== true && merged.join !== 'true') {
    throw new RuntimeError('bad_request', `initial cluster does not name this member (${name})`);
  }
  const limitsInput = (merged.limits ?? {}) as Partial<Limits>;
  const limits: Limits = { ...limitDefaults };
  for (const key of Object.keys(limitDefaults) as Array<keyof Limits>) {
    (limits as Record<keyof Limits, number>)[key] = num(key, limitsInput[key] ?? limitDefaults[key]);
  }
  const config: MemberConfig = {
    name,
    dataDir: str('dataDir') ?? `./synod-data/${name}`,
    listenClient,
    listenPeer,
    advertiseClient: str('advertiseClient') ?? listenClient,
    initialCluster,
    initialClientUrls: (merged.initialClientUrls as Map<string, string> | undefined) ?? new Map(),
    join: merged.join === true || merged.join === 'true',
    clusterToken: str('clusterToken') ?? memberDefaults.clusterToken,
    tickMs: num('tickMs', memberDefaults.tickMs),
    electionTicks: num('electionTicks', memberDefaults.electionTicks),
    heartbeatTicks: num('heartbeatTicks', memberDefaults.heartbeatTicks),
    sessionTtlMinMs: num('sessionTtlMinMs', memberDefaults.sessionTtlMinMs),
    sessionTtlMaxMs: num('sessionTtlMaxMs', memberDefaults.sessionTtlMaxMs),
    snapshotEntries: num('snapshotEntries', memberDefaults.snapshotEntries),
    compactionMarginEntries: num('compactionMarginEntries', memberDefaults.compactionMarginEntries),
    historyRevisions: num('historyRevisions', memberDefaults.historyRevisions),
    historyEvents: num('historyEvents', memberDefaults.historyEvents),
    proposalTimeoutMs: num('proposalTimeoutMs', memberDefaults.proposalTimeoutMs),
    watchProgressMs: num('watchProgressMs', memberDefaults.watchProgressMs),
    limits,
  };
  if (config.electionTicks <= config.heartbeatTicks) throw new RuntimeError('bad_request', 'electionTicks must exceed heartbeatTicks');
  if (config.sessionTtlMinMs > config.sessionTtlMaxMs) throw new RuntimeError('bad_request', 'sessionTtlMinMs must not exceed sessionTtlMaxMs');
  return config;
}

/** `host:port` or `ws://host:port` as the peer URL members dial (`ws://host:port`); bad_request otherwise. */
export function peerUrlOf(address: string): string {
  const { host, port } = hostPort(address);
  if (host === '' || /[\s/]/.test(host)) throw new RuntimeError('bad_request', `"${address}" is not host:port`);
  return `ws://${host}:${port}`;
}

/** Splits `host:port`. */
export function hostPort(address: string): { host: string; port: number } {
  const stripped = address.replace(/^[a-z]+:\/\//, '');
  const colon = stripped.lastIndexOf(':');
  const port = Number(stripped.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RuntimeError('bad_request', `"${address}" is not host:port`);
  }
  return { host: stripped.slice(0, colon), port };
}
