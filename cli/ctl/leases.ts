// Leases and sessions: grant, revoke, keep alive, time to live, list; and the sessions of connected clients.

import type { Command } from 'commander';
import type { Client } from '../../sdk/index.ts';
import { SynodError } from '../../sdk/index.ts';
import { action } from './context.ts';
import { CliError } from './errors.ts';
import { examples } from './help.ts';
import { formatDuration } from './output.ts';
import { parseDuration, parseInteger } from './values.ts';

/** Sessions whose details (`leaseTimeToLive`) `session list` asks for at once. */
const detailRequestsInFlight = 16;
/** Sessions `session list` describes in detail; beyond, it lists ids and TTLs only. */
const detailedSessionsMax = 1000;

interface LeaseEntry {
  readonly leaseId: number;
  readonly ttlMs: number;
  readonly kind: string;
  readonly clientId?: string;
}

export function registerLeaseCommands(program: Command): void {
  const lease = program.command('lease').description('Leases: TTLs that nodes attach to; when one ends, its nodes go in one revision.');
  examples(lease, 'synodctl lease grant 30s', 'synodctl lease ttl 42 --keys', 'synodctl lease list');

  const grant = lease
    .command('grant')
    .description('Grant a lease with this TTL; prints its id.')
    .argument('<ttl>', 'a duration (10s, 2m; a bare number is seconds)')
    .action(action(async (ctx, ttl: string) => {
      const client = await ctx.client();
      const granted = await client.grantLease(parseDuration(ttl, 'TTL'));
      ctx.out.print({ json: { leaseId: granted.leaseId, ttlMs: granted.ttlMs }, simple: () => [`lease ${granted.leaseId} granted with TTL ${formatDuration(granted.ttlMs)}`] });
    }));
  examples(grant, 'synodctl lease grant 30s', 'ID=$(synodctl lease grant 30 -o json | jq .leaseId)');

  const revoke = lease
    .command('revoke')
    .description('Revoke a lease: its nodes are deleted at once.')
    .argument('<id>', 'the lease id')
    .action(action(async (ctx, id: string) => {
      const leaseId = parseInteger(id, 'lease id', 1);
      const client = await ctx.client();
      await client.revokeLease(leaseId);
      ctx.out.print({ json: { leaseId, revoked: true }, simple: () => [`lease ${leaseId} revoked`] });
    }));
  examples(revoke, 'synodctl lease revoke 42');

  const keepAlive = lease
    .command('keep-alive')
    .description('Keep a lease alive (a renewal every third of its TTL) until Ctrl-C; with --once, renew once.')
    .argument('<id>', 'the lease id')
    .option('--once', 'renew once and exit')
    .action(action(async (ctx, id: string, flags: { once?: boolean }) => {
      const leaseId = parseInteger(id, 'lease id', 1);
      const client = await ctx.client();
      const signal = ctx.interruptSignal();
      const { ttlMs } = await client.leaseTimeToLive(leaseId).catch(missingLease(leaseId));
      for (;;) {
        await client.keepAliveLease(leaseId).catch(missingLease(leaseId));
        ctx.out.item({ leaseId, ttlMs }, `lease ${leaseId} kept alive with TTL ${formatDuration(ttlMs)}`);
        if (flags.once === true) return;
        const stopped = await sleep(Math.max(100, Math.floor(ttlMs / 3)), signal);
        if (stopped) return;
      }
    }));
  examples(keepAlive, 'synodctl lease keep-alive 42', 'synodctl lease keep-alive 42 --once');

  const ttl = lease
    .command('ttl')
    .description("A lease's TTL, the time it has left, and (with --keys) the nodes attached to it.")
    .argument('<id>', 'the lease id')
    .option('--keys', 'list the attached nodes')
    .action(action(async (ctx, id: string, flags: { keys?: boolean }) => {
      const leaseId = parseInteger(id, 'lease id', 1);
      const client = await ctx.client();
      const info = await client.leaseTimeToLive(leaseId, flags.keys === true ? { keys: true } : {}).catch(missingLease(leaseId));
      ctx.out.print({
        json: { leaseId, kind: info.kind, ttlMs: info.ttlMs, remainingMs: info.remainingMs === null ? null : Math.round(info.remainingMs), ...(flags.keys === true ? { keys: info.keys ?? [] } : {}) },
        simple: () => [
          `lease ${leaseId} (${info.kind}): TTL ${formatDuration(info.ttlMs)}, remaining ${info.remainingMs === null ? 'unknown' : formatDuration(info.remainingMs)}`,
          ...(flags.keys === true ? (info.keys ?? []).map((key) => `  ${key}`) : []),
        ],
      });
    }));
  examples(ttl, 'synodctl lease ttl 42', 'synodctl lease ttl 42 --keys -o json');

  const list = lease
    .command('list')
    .description('Every lease and session with its TTL.')
    .action(action(async (ctx) => {
      const client = await ctx.client();
      const leases = (await client.leases()) as LeaseEntry[];
      ctx.out.print({
        json: { leases: leases.map((l) => ({ leaseId: l.leaseId, kind: l.kind, ttlMs: l.ttlMs })) },
        simple: () => ({ head: ['ID', 'KIND', 'TTL'], rows: leases.map((l) => [String(l.leaseId), l.kind, formatDuration(l.ttlMs)]) }),
      });
    }));
  examples(list, 'synodctl lease list', 'synodctl lease list -o table');
}

export function registerSessionCommands(program: Command): void {
  const session = program.command('session').description('Sessions: leases that clients keep alive by heartbeats.');
  examples(session, 'synodctl session list');
  const list = session
    .command('list')
    .description('Every session: id, TTL, time left, ephemeral nodes it owns, and its client.')
    .action(action(async (ctx) => {
      const client = await ctx.client();
      const sessions = ((await client.leases()) as LeaseEntry[]).filter((l) => l.kind === 'session');
      const details = await describe(client, sessions.slice(0, detailedSessionsMax));
      const rows = sessions.map((s, i) => ({ ...s, remainingMs: details[i]?.remainingMs ?? null, nodes: details[i]?.keys ?? null }));
      ctx.out.print({
        json: { sessions: rows.map((s) => ({ sessionId: s.leaseId, ttlMs: s.ttlMs, remainingMs: s.remainingMs, clientId: s.clientId ?? null, nodes: s.nodes })) },
        simple: () => ({
          head: ['ID', 'TTL', 'REMAINING', 'NODES', 'CLIENT'],
          rows: rows.map((s) => [String(s.leaseId), formatDuration(s.ttlMs), s.remainingMs === null ? '-' : formatDuration(s.remainingMs), s.nodes === null ? '-' : String(s.nodes.length), s.clientId ?? '-']),
        }),
      });
    }));
  examples(list, 'synodctl session list', 'synodctl session list -o json');
}

/** Time left and attached nodes of each session, a bounded number of requests at a time (null if it ended). */
async function describe(client: Client, sessions: readonly LeaseEntry[]): Promise<Array<{ remainingMs: number | null; keys: string[] } | null>> {
  const out: Array<{ remainingMs: number | null; keys: string[] } | null> = new Array(sessions.length).fill(null);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < sessions.length) {
      const i = next++;
      const info = await client.leaseTimeToLive(sessions[i]!.leaseId, { keys: true }).catch(() => null);
      out[i] = info === null ? null : { remainingMs: info.remainingMs === null ? null : Math.round(info.remainingMs), keys: info.keys ?? [] };
    }
  };
  await Promise.all(Array.from({ length: Math.min(detailRequestsInFlight, sessions.length) }, worker));
  return out;
}

function missingLease(leaseId: number): (error: unknown) => never {
  return (error: unknown) => {
    if (error instanceof SynodError && (error.code === 'lease_not_found' || error.code === 'session_expired')) {
      throw new CliError('lease_not_found', `lease ${leaseId} does not exist (it expired or was revoked)`, 'list the leases with synodctl lease list', {}, { cause: error });
    }
    throw error;
  };
}

/** Waits `ms`; resolves true if interrupted first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(false);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
