// The cluster: members (list, add, promote, remove), each endpoint's status and health, moving the leader.

import type { Command } from 'commander';
import type { Client, MemberInfo, StatusResult } from '../../sdk/index.ts';
import { action, fetchJson, type Context } from './context.ts';
import { CliError, exitStatuses } from './errors.ts';
import { examples } from './help.ts';
import { formatBytes, usage } from './output.ts';

/** Longest wait for one member's HTTP answer in `endpoint status` and `endpoint health`. */
const endpointTimeoutMsMax = 5_000;

/** What GET /status answers (the SDK's `status`); members of an older version may leave out the log and disk figures. */
type MemberStatus = Omit<StatusResult, 'firstIndex' | 'lastIndex' | 'dbBytes'> & Partial<Pick<StatusResult, 'firstIndex' | 'lastIndex' | 'dbBytes'>>;

export function registerClusterCommands(program: Command): void {
  registerMember(program);
  registerEndpoint(program);
  const moveLeader = program
    .command('move-leader')
    .description('Hand the leadership to another voting member (answered once it leads).')
    .argument('<id>', 'the member to lead (its name, as member list shows it)')
    .action(action(async (ctx, id: string) => {
      const client = await leaderReady(ctx);
      const before = await client.status();
      await client.moveLeader(id);
      ctx.out.print({ json: { from: before.leader, to: id }, simple: () => [`leadership moved from ${before.leader ?? '(none)'} to ${id}`] });
    }));
  examples(moveLeader, 'synodctl move-leader n2');
}

function registerMember(program: Command): void {
  const member = program.command('member').description('Cluster membership: list, add, promote, remove.');
  examples(member, 'synodctl member list', 'synodctl member add n4 --peer-url 10.0.0.4:4501 --client-url 10.0.0.4:4401');

  const list = member
    .command('list')
    .description('Every member: id, voter or learner, leader, peer and client URLs.')
    .action(action(async (ctx) => {
      const client = await ctx.client();
      const [status, list] = await Promise.all([client.status(), client.members(ctx.read)]);
      const members = list.filter(inCluster).map((m) => ({ id: m.name, name: m.name, peerUrl: m.peerUrl, clientUrl: m.clientUrl, learner: m.learner, leader: m.name === status.leader }));
      ctx.out.print({
        json: { leader: status.leader, members },
        simple: () => ({
          head: ['ID', 'STATUS', 'LEADER', 'PEER URL', 'CLIENT URL'],
          rows: members.map((m) => [m.id, m.learner ? 'learner' : 'voter', m.leader ? '*' : '', m.peerUrl, m.clientUrl === '' ? '-' : m.clientUrl]),
        }),
      });
    }));
  examples(list, 'synodctl member list', 'synodctl member list -o json');

  const add = member
    .command('add')
    .description('Add a member (as a learner, then promoted to voter unless --learner); prints how to start it.')
    .argument('<name>', 'the new member\'s name (its id)')
    .requiredOption('--peer-url <url>', 'where the others reach it (host:port)')
    .option('--client-url <url>', 'where clients reach it (host:port)')
    .option('--learner', 'leave it a learner (it replicates but does not vote) until member promote')
    .action(action(async (ctx, name: string, flags: { peerUrl: string; clientUrl?: string; learner?: boolean }) => {
      const client = await leaderReady(ctx);
      await client.addMember(name, flags.peerUrl, flags.clientUrl ?? '');
      if (flags.learner !== true) await client.promoteMember(name);
      // The new member must know every peer's address to answer them: --initial-cluster names them all.
      const members = await client.members();
      const cluster = members.filter(inCluster).map((m) => `${m.name}=${m.peerUrl.replace(/^[a-z]+:\/\//, '')}`).join(',');
      const listen = flags.peerUrl.replace(/^[a-z]+:\/\//, '');
      const start = `synod start --name ${name} --join --initial-cluster ${cluster} --listen-peer ${listen}${flags.clientUrl !== undefined ? ` --listen-client ${flags.clientUrl}` : ''} --data-dir ./synod-data/${name}`;
      ctx.out.print({
        json: { id: name, peerUrl: flags.peerUrl, clientUrl: flags.clientUrl ?? '', learner: flags.learner === true, start },
        simple: () => [`member ${name} added as ${flags.learner === true ? 'a learner' : 'a voter'}; start it with:`, `  ${start}`],
      });
    }));
  examples(add, 'synodctl member add n4 --peer-url 127.0.0.1:4504 --client-url 127.0.0.1:4404 --learner', 'synodctl member promote n4');

  const promote = member
    .command('promote')
    .description('Make a learner a voting member.')
    .argument('<id>', 'the learner')
    .action(action(async (ctx, id: string) => {
      const client = await leaderReady(ctx);
      await client.promoteMember(id);
      ctx.out.print({ json: { id, promoted: true }, simple: () => [`member ${id} promoted to voter`] });
    }));
  examples(promote, 'synodctl member promote n4');

  const remove = member
    .command('remove')
    .description('Remove a member; it stops when it learns of it.')
    .argument('<id>', 'the member')
    .action(action(async (ctx, id: string) => {
      const client = await leaderReady(ctx);
      await client.removeMember(id);
      ctx.out.print({ json: { id, removed: true }, simple: () => [`member ${id} removed`] });
    }));
  examples(remove, 'synodctl member remove n4');
}

function registerEndpoint(program: Command): void {
  const endpoint = program.command('endpoint').description("Each endpoint's status or health, asked of each member directly.");
  examples(endpoint, 'synodctl endpoint status -o table', 'synodctl endpoint health --cluster');

  const status = endpoint
    .command('status')
    .description('A table of every endpoint: member id, role, term, leader, revision, commit, applied, log, DB size.')
    .option('--cluster', 'every member the cluster lists, not just --endpoints')
    .action(action(async (ctx, flags: { cluster?: boolean }) => {
      const endpoints = await targets(ctx, flags.cluster === true);
      const timeoutMs = Math.min(ctx.globals.timeoutMs, endpointTimeoutMsMax);
      const answers = await Promise.all(endpoints.map(async (endpoint) => ({ endpoint, status: asStatus(await fetchJson(`http://${endpoint}/status`, timeoutMs)) })));
      const rows = answers.filter((a) => a.status !== null).map(({ endpoint, status: s }) => ({
        endpoint,
        id: s!.member,
        role: s!.role,
        term: s!.term,
        leader: s!.leader,
        isLeader: s!.leader === s!.member,
        revision: s!.revision,
        commit: s!.commit,
        applied: s!.applied,
        logEntries: s!.firstIndex !== undefined && s!.lastIndex !== undefined ? Math.max(0, s!.lastIndex - s!.firstIndex + 1) : null,
        dbBytes: s!.dbBytes ?? null,
      }));
      const failed = answers.filter((a) => a.status === null).map((a) => a.endpoint);
      ctx.out.print({
        json: { endpoints: rows, unreachable: failed },
        simple: () => ({
          head: ['ENDPOINT', 'ID', 'ROLE', 'TERM', 'LEADER', 'REVISION', 'COMMIT', 'APPLIED', 'LOG', 'DB SIZE'],
          rows: rows.map((r) => [r.endpoint, r.id, r.role, String(r.term), r.leader ?? '-', String(r.revision), String(r.commit), String(r.applied), r.logEntries === null ? '-' : `${r.logEntries} entries`, r.dbBytes === null ? 'n/a' : formatBytes(r.dbBytes)]),
        }),
      });
      if (failed.length > 0) throw new CliError('unavailable', `no answer from ${failed.join(', ')}`, 'check that those members run', { unreachable: failed });
    }));
  examples(status, 'synodctl endpoint status', 'synodctl endpoint status --cluster -o table', 'synodctl endpoint status -o json');

  const health = endpoint
    .command('health')
    .description('Whether each endpoint knows a leader and serves a linearizable read, and how long it took.')
    .option('--cluster', 'every member the cluster lists, not just --endpoints')
    .action(action(async (ctx, flags: { cluster?: boolean }) => {
      const endpoints = await targets(ctx, flags.cluster === true);
      const timeoutMs = Math.min(ctx.globals.timeoutMs, endpointTimeoutMsMax);
      const results = await Promise.all(endpoints.map((endpoint) => checkHealth(endpoint, timeoutMs)));
      ctx.out.print({
        json: { endpoints: results },
        simple: () => results.map((r) => (r.healthy ? `${r.endpoint} is healthy: a linearizable read took ${r.tookMs} ms` : `${r.endpoint} is unhealthy: ${r.error}`)),
        table: () => ({ head: ['ENDPOINT', 'HEALTH', 'TOOK', 'ERROR'], rows: results.map((r) => [r.endpoint, String(r.healthy), `${r.tookMs}ms`, r.error ?? '']) }),
      });
      return results.some((r) => !r.healthy) ? exitStatuses.unhealthy : 0;
    }));
  examples(health, 'synodctl endpoint health', 'synodctl endpoint health --cluster -o json');
}

/**
 * The client, once the cluster has a leader: membership changes are not retried by the SDK (they must not
 * apply twice), so they go out only when a leader can take them, not into an election.
 */
async function leaderReady(ctx: Context): Promise<Client> {
  const client = await ctx.client();
  await client.sync();
  return client;
}

/** The endpoints to ask: --endpoints, or every member's client URL with --cluster. */
async function targets(ctx: Context, cluster: boolean): Promise<string[]> {
  if (!cluster) return [...ctx.globals.endpoints];
  const client = await ctx.client();
  const members = await client.members();
  const urls = members.filter(inCluster).map((m) => m.clientUrl).filter((url) => url !== '');
  if (urls.length === 0) throw usage('no member has registered a client URL yet', 'give --endpoints instead of --cluster');
  return urls;
}

/**
 * Whether a registry entry is a member now: the registry keeps the addresses of removed members, and the
 * status marks who votes or learns.
 */
function inCluster(member: MemberInfo & { voter?: boolean }): boolean {
  return member.voter !== false || member.learner;
}

function asStatus(value: unknown): MemberStatus | null {
  return typeof value === 'object' && value !== null && typeof (value as { member?: unknown }).member === 'string' ? (value as MemberStatus) : null;
}

interface Health {
  readonly endpoint: string;
  readonly healthy: boolean;
  readonly tookMs: number;
  readonly leader: string | null;
  readonly error: string | null;
}

/** GET /health, then a linearizable read of `/` through the member's HTTP gateway, timed. */
async function checkHealth(endpoint: string, timeoutMs: number): Promise<Health> {
  const started = performance.now();
  const took = (): number => Math.round(performance.now() - started);
  const health = (await fetchJson(`http://${endpoint}/health`, timeoutMs)) as { healthy?: boolean; leader?: string | null } | null;
  if (health === null) return { endpoint, healthy: false, tookMs: took(), leader: null, error: `did not answer (connection refused, or no answer within ${timeoutMs} ms)` };
  if (health.healthy !== true) return { endpoint, healthy: false, tookMs: took(), leader: health.leader ?? null, error: health.leader === null ? 'knows no leader' : 'applies too far behind its commit' };
  try {
    const response = await fetch(`http://${endpoint}/v1/stat`, { method: 'POST', body: JSON.stringify({ path: '/' }), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
    const body = (await response.json()) as { ok?: boolean; error?: { code: string; message: string } };
    if (body.ok !== true) return { endpoint, healthy: false, tookMs: took(), leader: health.leader ?? null, error: `read failed: ${body.error?.code ?? 'unknown'}: ${body.error?.message ?? ''}` };
  } catch (error) {
    return { endpoint, healthy: false, tookMs: took(), leader: health.leader ?? null, error: `read failed: ${(error as Error).message}` };
  }
  return { endpoint, healthy: true, tookMs: took(), leader: health.leader ?? null, error: null };
}
