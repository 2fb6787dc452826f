// Locks and elections from the shell: take a lock (and run a command under it), campaign, listen for
// leaders, and show holders, waiters, tokens and since when, read from the recipes' nodes (docs/recipes.md).

import { hostname } from 'node:os';
import type { Command } from 'commander';
import type { Client, NodeData, Session } from '../../sdk/index.ts';
import { lockFolder, recipeRoot, SynodError } from '../../sdk/index.ts';
import { action, type Context } from './context.ts';
import { CliError } from './errors.ts';
import { startCommand } from './exec.ts';
import { examples } from './help.ts';
import { isoTime, since, usage, valueJson, valueText, type Rows } from './output.ts';
import { parseDuration } from './values.ts';

/** Nodes per page when reading a recipe folder. */
const pageNodes = 1000;
/** Contender nodes `lock list` reads at most. */
const listNodesMax = 100_000;

/** One contender of a lock queue or an election, in queue order. */
export interface Contender {
  readonly path: string;
  /** The node's data: the owner string of a lock, the value of a candidate. */
  readonly data: Uint8Array;
  /** The fencing token: the node's createRevision. */
  readonly token: number;
  readonly session: number;
  /** When it joined the queue (leader time, ms since the epoch). */
  readonly sinceMs: number;
  readonly sequence: number;
  /** `lock`, `read`, `write`, `candidate`... */
  readonly kind: string;
}

/** A queue node's name: `<kind>-<session>-<attempt>-<10 digits>` (or the older `<kind>-<session>-<10 digits>`). */
const contenderName = /^([a-z]+)-\d+(?:-\d+)?-(\d{10})$/;

export function registerLockCommands(program: Command): void {
  const lock = program
    .command('lock')
    .description('Take the lock NAME and hold it until Ctrl-C, printing the fencing token; or run a command while holding it.')
    .argument('[name]', 'the lock, a relative path like jobs/nightly')
    .argument('[command...]', 'after --: a command to run while holding the lock; synodctl exits with its status')
    .option('--ttl <duration>', 'TTL of the session that holds the lock (the lock is lost this long after this process dies)', '10s')
    .option('--owner <text>', 'who holds it, shown by lock owner (default: host/pid)')
    .option('--wait <duration>', 'give up (timeout) if the lock is not taken within this long')
    .action(action(async (ctx, name: string | undefined, argv: string[], flags: LockFlags) => {
      if (name === undefined) throw usage('give the lock NAME (or: lock list, lock owner NAME, lock waiters NAME)');
      return argv.length > 0 ? lockAndRun(ctx, name, argv, flags) : lockAndHold(ctx, name, flags);
    }));
  examples(
    lock,
    'synodctl lock jobs/nightly                                  # prints the token, holds until Ctrl-C',
    'synodctl lock jobs/nightly -- ./run-job.sh                  # $SYNOD_LOCK_TOKEN is set for the job',
    'synodctl lock jobs/nightly --wait 30s --ttl 5s -- ./run-job.sh',
  );
  registerLockList(lock);
  registerLockOwner(lock);
  registerLockWaiters(lock);
}

interface LockFlags {
  ttl: string;
  owner?: string;
  wait?: string;
}

/** Takes the lock with a session of its own; prints what it waits behind. */
async function acquire(ctx: Context, client: Client, name: string, flags: LockFlags): Promise<{ lock: import('../../sdk/index.ts').Lock; session: Session }> {
  const folder = lockFolder(name);
  const session = await client.session({ ttlMs: parseDuration(flags.ttl, '--ttl') });
  const queue = await readContenders(client, folder);
  const holder = queue[0];
  if (holder !== undefined) ctx.out.notice(`waiting for lock ${name}: held by ${valueText(holder.data) || `session ${holder.session}`} since ${isoTime(holder.sinceMs)}, ${queue.length - 1} waiting`);
  const waitMs = flags.wait === undefined ? undefined : parseDuration(flags.wait, '--wait');
  const lock = await client.lock(name, { session, signal: ctx.interruptSignal(), owner: flags.owner ?? `${hostname()}/${process.pid}`, ...(waitMs !== undefined ? { timeoutMs: waitMs } : {}) }).catch((error: unknown) => {
    if (error instanceof SynodError && error.code === 'timeout') throw new CliError('timeout', `lock ${name} was not free within ${flags.wait}`, 'see who holds it: synodctl lock owner ' + name, {}, { cause: error });
    throw error;
  });
  return { lock, session };
}

async function lockAndHold(ctx: Context, name: string, flags: LockFlags): Promise<void> {
  const client = await ctx.client();
  const { lock, session } = await acquire(ctx, client, name, flags);
  ctx.out.item({ name, token: lock.token, path: lock.path, session: session.id }, String(lock.token));
  ctx.out.notice(`holding lock ${name} (token ${lock.token}, node ${lock.path}) until Ctrl-C`);
  const lost = new Promise<void>((resolve) => lock.signal.addEventListener('abort', () => resolve(), { once: true }));
  await Promise.race([ctx.untilInterrupted(), lost]);
  if (lock.signal.aborted && !ctx.interruptSignal().aborted) throw lostError('lock', name, lock.signal.reason);
  await lock.release();
}

/** Runs the command while holding the lock; stops it (SIGTERM) if the lock is lost. */
async function lockAndRun(ctx: Context, name: string, argv: string[], flags: LockFlags): Promise<number> {
  const client = await ctx.client();
  const { lock, session } = await acquire(ctx, client, name, flags);
  const running = startCommand(argv, {
    SYNOD_LOCK_NAME: name,
    SYNOD_LOCK_TOKEN: String(lock.token),
    SYNOD_LOCK_PATH: lock.path,
    SYNOD_LOCK_SESSION: String(session.id),
    SYNOD_ENDPOINTS: ctx.globals.endpoints.join(','),
  });
  let lostReason: unknown = null;
  const onLost = (): void => {
    lostReason = lock.signal.reason;
    running.kill('SIGTERM');
  };
  lock.signal.addEventListener('abort', onLost, { once: true });
  const status = await running.exited;
  lock.signal.removeEventListener('abort', onLost);
  if (lostReason !== null) throw lostError('lock', name, lostReason);
  await lock.release();
  return status;
}

function lostError(what: string, name: string, reason: unknown): CliError {
  const detail = reason instanceof Error ? `: ${reason.message}` : '';
  return new CliError('session_expired', `the ${what} ${name} was lost${detail}`, 'the session expired (this process was paused or cut off from the cluster longer than --ttl)');
}

// -------------------------------------------------------------------------------------------------------
// Reading queues

/** The contenders under `folder`, in queue order (empty when the folder does not exist). */
export async function readContenders(client: Client, folder: string): Promise<Contender[]> {
  const nodes = await readSubtree(client, folder, pageNodes);
  return contendersOf(folder, nodes);
}

function contendersOf(folder: string, nodes: readonly NodeData[]): Contender[] {
  const out: Contender[] = [];
  for (const node of nodes) {
    const slash = node.path.lastIndexOf('/');
    if (node.path.slice(0, slash) !== folder) continue;
    const match = contenderName.exec(node.path.slice(slash + 1));
    if (match === null) continue;
    out.push({ path: node.path, data: node.data, token: node.stat.createRevision, session: node.stat.ephemeralOwner, sinceMs: node.stat.ctimeMs, sequence: Number(match[2]), kind: match[1]! });
  }
  return out.sort((a, b) => a.sequence - b.sequence);
}

/** Every node under `path` (pre-order), page by page, at most `listNodesMax`. */
async function readSubtree(client: Client, path: string, limit: number): Promise<NodeData[]> {
  const out: NodeData[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await client.range(path, { limit, ...(after !== undefined ? { after } : {}) }).catch((error: unknown) => {
      if (error instanceof SynodError && error.code === 'not_found') return { nodes: [], more: false, revision: 0 };
      throw error;
    });
    out.push(...page.nodes);
    if (out.length > listNodesMax) throw new CliError('too_many_requests', `more than ${listNodesMax} nodes under ${path}`);
    if (!page.more || page.nodes.length === 0) return out;
    after = page.nodes[page.nodes.length - 1]!.path;
  }
}

/** Who holds a lock queue: the first node of a mutex; the readers before the first writer of a rwlock. */
function holdersOf(kind: 'mutex' | 'rwlock', queue: readonly Contender[]): Contender[] {
  if (kind === 'mutex' || queue[0]?.kind === 'write') return queue.slice(0, 1);
  const firstWriter = queue.findIndex((c) => c.kind === 'write');
  return firstWriter < 0 ? [...queue] : queue.slice(0, firstWriter);
}

/** A contender in JSON (docs/cli.md). */
function contenderJson(c: Contender, role: 'holder' | 'waiter' | 'leader' | 'candidate'): Record<string, unknown> {
  return { role, ...(c.kind === 'candidate' ? valueJson(c.data) : { owner: valueJson(c.data).value }), token: c.token, session: c.session, path: c.path, since: isoTime(c.sinceMs), sinceMs: c.sinceMs, kind: c.kind };
}

interface LockInfo {
  readonly name: string;
  readonly kind: 'mutex' | 'rwlock';
  readonly holders: Contender[];
  readonly waiters: Contender[];
}

async function lockInfo(client: Client, name: string, rw: boolean): Promise<LockInfo> {
  const kind = rw ? 'rwlock' : 'mutex';
  const queue = await readContenders(client, lockFolder(name, rw ? 'rwlocks' : 'locks'));
  const holders = holdersOf(kind, queue);
  return { name, kind, holders, waiters: queue.slice(holders.length) };
}

function lockInfoJson(info: LockInfo): Record<string, unknown> {
  return { name: info.name, kind: info.kind, holders: info.holders.map((c) => contenderJson(c, 'holder')), waiters: info.waiters.map((c) => contenderJson(c, 'waiter')) };
}

function contenderRows(contenders: ReadonlyArray<{ role: string; c: Contender; position: number }>, nowMs: number, valueHead = 'OWNER'): Rows {
  return {
    head: ['#', 'ROLE', valueHead, 'TOKEN', 'SESSION', 'SINCE', 'NODE'],
    rows: contenders.map(({ role, c, position }) => [String(position), role, valueText(c.data), String(c.token), String(c.session), `${isoTime(c.sinceMs)} (${since(c.sinceMs, nowMs)})`, c.path]),
  };
}

function registerLockList(lock: Command): void {
  const command = lock
    .command('list')
    .description('Every lock that is held: holder, token, session, since when, and how many wait.')
    .action(action(async (ctx) => {
      const client = await ctx.client();
      const locks: LockInfo[] = [];
      for (const [kind, folder] of [['mutex', `${recipeRoot}/locks`], ['rwlock', `${recipeRoot}/rwlocks`]] as const) {
        const nodes = await readSubtree(client, folder, pageNodes);
        const folders = new Set(nodes.map((n) => n.path.slice(0, n.path.lastIndexOf('/'))));
        for (const path of [...folders].sort()) {
          const queue = contendersOf(path, nodes);
          if (queue.length === 0) continue;
          const holders = holdersOf(kind, queue);
          locks.push({ name: path.slice(folder.length + 1), kind, holders, waiters: queue.slice(holders.length) });
        }
      }
      const nowMs = Date.now();
      ctx.out.print({
        json: { locks: locks.map(lockInfoJson) },
        simple: () => ({
          head: ['NAME', 'KIND', 'HOLDER', 'TOKEN', 'SESSION', 'SINCE', 'WAITERS'],
          rows: locks.flatMap((l) => l.holders.map((h) => [l.name, l.kind, valueText(h.data), String(h.token), String(h.session), since(h.sinceMs, nowMs), String(l.waiters.length)])),
        }),
      });
    }));
  examples(command, 'synodctl lock list', 'synodctl lock list -o json');
}

function registerLockOwner(lock: Command): void {
  const command = lock
    .command('owner')
    .description('Who holds the lock NAME: owner, fencing token, session, since when (not_found when it is free).')
    .argument('<name>', 'the lock')
    .option('--rw', 'a read-write lock (its holders: the readers, or one writer)')
    .action(action(async (ctx, name: string, flags: { rw?: boolean }) => {
      const client = await ctx.client();
      const info = await lockInfo(client, name, flags.rw === true);
      if (info.holders.length === 0) throw new CliError('not_found', `lock ${name} is free`);
      const nowMs = Date.now();
      ctx.out.print({
        json: lockInfoJson(info),
        simple: () => contenderRows(info.holders.map((c, i) => ({ role: 'holder', c, position: i + 1 })), nowMs),
      });
    }));
  examples(command, 'synodctl lock owner jobs/nightly', 'synodctl lock owner jobs/nightly -o json');
}

function registerLockWaiters(lock: Command): void {
  const command = lock
    .command('waiters')
    .description('The queue of the lock NAME in order: the holder first, then each waiter with its token and since when.')
    .argument('<name>', 'the lock')
    .option('--rw', 'a read-write lock')
    .action(action(async (ctx, name: string, flags: { rw?: boolean }) => {
      const client = await ctx.client();
      const info = await lockInfo(client, name, flags.rw === true);
      const nowMs = Date.now();
      const all = [...info.holders.map((c) => ({ role: 'holder', c })), ...info.waiters.map((c) => ({ role: 'waiter', c }))];
      ctx.out.print({
        json: lockInfoJson(info),
        simple: () => contenderRows(all.map((e, i) => ({ ...e, position: i + 1 })), nowMs),
      });
    }));
  examples(command, 'synodctl lock waiters jobs/nightly');
}

// -------------------------------------------------------------------------------------------------------
// Elections

interface ElectFlags {
  listen?: boolean;
  ttl: string;
  count?: string;
}

export function registerElectCommands(program: Command): void {
  const elect = program
    .command('elect')
    .description('Campaign in the election NAME with VALUE, print when elected, lead until Ctrl-C; or --listen to print each leader.')
    .argument('[name]', 'the election, a relative path like services/scheduler')
    .argument('[value]', "this candidate's value (e.g. its address), shown to everyone")
    .option('-l, --listen', 'print the leader now and whenever it changes, without campaigning')
    .option('--ttl <duration>', 'TTL of the session that holds the leadership', '10s')
    .option('--count <n>', 'with --listen: stop after this many leaders')
    .action(action(async (ctx, name: string | undefined, value: string | undefined, flags: ElectFlags) => {
      if (name === undefined) throw usage('give the election NAME (or: elect status NAME)');
      if (flags.listen === true) return listen(ctx, name, flags);
      if (value === undefined) throw usage('give the VALUE to campaign with (or --listen)');
      return campaign(ctx, name, value, flags);
    }));
  examples(elect, 'synodctl elect services/scheduler host-1:8080        # prints when it leads; Ctrl-C resigns', 'synodctl elect --listen services/scheduler', 'synodctl elect --listen services/scheduler -o json');
  const status = elect
    .command('status')
    .description('The leader of the election NAME and the candidates in line, with tokens and since when.')
    .argument('<name>', 'the election')
    .action(action(async (ctx, name: string) => {
      const client = await ctx.client();
      const queue = await readContenders(client, client.election(name).folder);
      const nowMs = Date.now();
      ctx.out.print({
        json: { name, leader: queue[0] === undefined ? null : contenderJson(queue[0], 'leader'), candidates: queue.slice(1).map((c) => contenderJson(c, 'candidate')) },
        simple: () => (queue.length === 0 ? [`election ${name} has no leader`] : contenderRows(queue.map((c, i) => ({ role: i === 0 ? 'leader' : 'candidate', c, position: i + 1 })), nowMs, 'VALUE')),
      });
    }));
  examples(status, 'synodctl elect status services/scheduler');
}

async function campaign(ctx: Context, name: string, value: string, flags: ElectFlags): Promise<void> {
  const client = await ctx.client();
  const election = client.election(name);
  const session = await client.session({ ttlMs: parseDuration(flags.ttl, '--ttl') });
  const current = await election.leader();
  if (current !== null) ctx.out.notice(`campaigning in ${name}; the leader now is ${valueText(current.value)} (token ${current.token})`);
  const leadership = await election.campaign(value, { session, signal: ctx.interruptSignal() });
  ctx.out.item({ name, ...valueJson(new TextEncoder().encode(value)), token: leadership.token, path: leadership.path, session: session.id }, `elected: ${name} value=${JSON.stringify(value)} token=${leadership.token}`);
  ctx.out.notice(`leading ${name} until Ctrl-C`);
  const lost = new Promise<void>((resolve) => leadership.signal.addEventListener('abort', () => resolve(), { once: true }));
  await Promise.race([ctx.untilInterrupted(), lost]);
  if (leadership.signal.aborted && !ctx.interruptSignal().aborted) throw lostError('leadership of', name, leadership.signal.reason);
  await leadership.resign();
}

async function listen(ctx: Context, name: string, flags: ElectFlags): Promise<number> {
  const client = await ctx.client();
  const count = flags.count === undefined ? Number.POSITIVE_INFINITY : Number(flags.count);
  if (!(count > 0)) throw usage('--count must be a positive number');
  const signal = ctx.interruptSignal();
  let seen = 0;
  try {
    for await (const leader of client.election(name).observe({ signal })) {
      ctx.out.item(
        { name, leader: leader === null ? null : { ...valueJson(leader.value), token: leader.token, path: leader.path } },
        leader === null ? 'no leader' : `leader: ${JSON.stringify(valueText(leader.value))} token=${leader.token}`,
      );
      if (++seen >= count) break;
    }
  } catch (error) {
    if (signal.aborted) return 0;
    throw error;
  }
  return 0;
}

