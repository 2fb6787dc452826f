// Proves that the built synodctl takes and shows locks (holders, waiters, tokens, since when), runs a command
// under a lock, campaigns and listens in elections, manages leases, lists sessions and holds ephemeral nodes
// against a real 3-member ensemble, with the documented output, JSON shapes and exit statuses.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitStatuses } from '../../cli/ctl/errors.ts';
import { ProcessCluster, waitFor } from '../e2e/harness.ts';
import { ctl, ctlBackground, ctlJson, requireBuilt } from './cli.ts';

describe('synodctl: locks, elections, leases and sessions', () => {
  let cluster: ProcessCluster;
  let endpoints: string[];

  beforeAll(async () => {
    requireBuilt();
    cluster = await ProcessCluster.start({ size: 3 });
    endpoints = cluster.endpoints;
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('holds a lock until Ctrl-C, printing the token, and shows holder and waiters in order', async () => {
    const alice = ctlBackground(endpoints, ['lock', 'jobs/nightly', '--owner', 'alice']);
    const token = Number((await alice.waitFor(/^(\d+)\n/))[1]);
    // stdout and stderr are separate pipes: the notice may arrive after the token, so wait for it too.
    await alice.waitFor(/holding lock jobs\/nightly \(token \d+, node \/synod\/locks\/jobs\/nightly\/lock-\d+-\d+-\d{10}\) until Ctrl-C/, 'stderr');

    // A second contender gives up after --wait, saying who holds the lock.
    const bob = await ctl(endpoints, ['lock', 'jobs/nightly', '--owner', 'bob', '--wait', '500ms']);
    expect(bob.status).toBe(exitStatuses.timeout);
    expect(bob.stderr).toMatch(/held by alice since/);

    const carol = ctlBackground(endpoints, ['lock', 'jobs/nightly', '--owner', 'carol', '-o', 'json']);
    await waitFor('carol to queue', async () => (await ctlJson(endpoints, ['lock', 'waiters', 'jobs/nightly'])).waiters.length === 1 || undefined);

    const owner = await ctlJson(endpoints, ['lock', 'owner', 'jobs/nightly']);
    expect(owner).toMatchObject({ name: 'jobs/nightly', kind: 'mutex', holders: [{ role: 'holder', owner: 'alice', token, session: expect.any(Number), since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), sinceMs: expect.any(Number) }] });
    const waiters = await ctlJson(endpoints, ['lock', 'waiters', 'jobs/nightly']);
    expect(waiters.waiters).toEqual([expect.objectContaining({ role: 'waiter', owner: 'carol', path: expect.stringMatching(/^\/synod\/locks\/jobs\/nightly\/lock-/) })]);
    expect(waiters.waiters[0].token).toBeGreaterThan(token);
    const table = await ctl(endpoints, ['lock', 'waiters', 'jobs/nightly']);
    expect(table.stdout).toMatch(/^# +ROLE +OWNER +TOKEN +SESSION +SINCE +NODE\n1 +holder +alice +\d+ +\d+ +\S+ \(.* ago\) +\/synod\/locks\/jobs\/nightly\/\S+\n2 +waiter +carol /);
    const list = await ctlJson(endpoints, ['lock', 'list']);
    expect(list.locks).toEqual([expect.objectContaining({ name: 'jobs/nightly', kind: 'mutex', holders: [expect.objectContaining({ owner: 'alice' })], waiters: [expect.objectContaining({ owner: 'carol' })] })]);
    expect((await ctl(endpoints, ['lock', 'list'])).stdout).toMatch(/^NAME +KIND +HOLDER +TOKEN +SESSION +SINCE +WAITERS\njobs\/nightly +mutex +alice +\d+ +\d+ +.* ago +1\n$/);

    // Ctrl-C releases: the next in line gets it, with a larger token.
    expect(await alice.interrupt()).toBe(0);
    const granted = (await carol.waitFor(/^(\{.*\})\n/))[1]!;
    expect(JSON.parse(granted)).toEqual({ name: 'jobs/nightly', token: expect.any(Number), path: expect.any(String), session: expect.any(Number) });
    expect(JSON.parse(granted).token).toBeGreaterThan(token);
    expect(await carol.interrupt()).toBe(0);
    const free = await ctl(endpoints, ['lock', 'owner', 'jobs/nightly']);
    expect(free.status).toBe(exitStatuses.not_found);
    expect(free.stderr).toMatch(/is free/);
  });

  it('runs a command while holding a lock, with the token in its environment, and exits with its status', async () => {
    const run = await ctl(endpoints, ['lock', 'deploy', '--', 'sh', '-c', 'echo "$SYNOD_LOCK_NAME $SYNOD_LOCK_TOKEN $SYNOD_LOCK_PATH"; exit 7']);
    expect(run.status).toBe(7);
    expect(run.stdout).toMatch(/^deploy \d+ \/synod\/locks\/deploy\/lock-\d+-\d+-\d{10}\n$/);
    // Released afterwards.
    expect((await ctl(endpoints, ['lock', 'owner', 'deploy'])).status).toBe(exitStatuses.not_found);
    expect((await ctl(endpoints, ['lock', 'deploy', '--', 'true'])).status).toBe(0);
    const missing = await ctl(endpoints, ['lock', 'deploy', '--', '/no/such/program']);
    expect(missing.status).toBe(exitStatuses.usage);
    expect(missing.stderr).toMatch(/cannot run \/no\/such\/program/);
  });

  it('says the lock was lost (session_expired) when the holder is paused past its TTL', async () => {
    const holder = ctlBackground(endpoints, ['lock', 'fragile', '--ttl', '1s']);
    await holder.waitFor(/^\d+\n/);
    holder.signal('SIGSTOP');
    try {
      await waitFor('the paused holder to lose the lock', async () => (await ctl(endpoints, ['lock', 'owner', 'fragile'])).status === exitStatuses.not_found || undefined, 20_000);
    } finally {
      holder.signal('SIGCONT');
    }
    expect(await holder.end()).toBe(exitStatuses.session_expired);
    expect(holder.stderr).toMatch(/session_expired: the lock fragile was lost/);
  });

  it('campaigns, prints when elected, hands over on Ctrl-C, and listens for leaders', async () => {
    const listener = ctlBackground(endpoints, ['elect', '--listen', 'svc/scheduler', '-o', 'json', '--count', '3']);
    await listener.waitFor(/"leader":null/);
    const first = ctlBackground(endpoints, ['elect', 'svc/scheduler', 'host-1']);
    await first.waitFor(/^elected: svc\/scheduler value="host-1" token=\d+\n/);
    const second = ctlBackground(endpoints, ['elect', 'svc/scheduler', 'host-2']);
    await second.waitFor(/the leader now is host-1/, 'stderr');
    await waitFor('two candidates', async () => (await ctlJson(endpoints, ['elect', 'status', 'svc/scheduler'])).candidates.length === 1 || undefined);

    const status = await ctlJson(endpoints, ['elect', 'status', 'svc/scheduler']);
    expect(status).toMatchObject({ name: 'svc/scheduler', leader: { role: 'leader', value: 'host-1', encoding: 'utf8', token: expect.any(Number), session: expect.any(Number), since: expect.any(String) }, candidates: [{ role: 'candidate', value: 'host-2' }] });
    expect((await ctl(endpoints, ['elect', 'status', 'svc/scheduler'])).stdout).toMatch(/^# +ROLE +VALUE +TOKEN +SESSION +SINCE +NODE\n1 +leader +host-1 /);

    expect(await first.interrupt()).toBe(0);
    await second.waitFor(/^elected: svc\/scheduler value="host-2" token=\d+\n/);
    expect(await listener.end()).toBe(0);
    expect(listener.jsonLines().map((line) => line.leader?.value ?? null)).toEqual([null, 'host-1', 'host-2']);
    expect(listener.jsonLines()[2]).toEqual({ name: 'svc/scheduler', leader: { value: 'host-2', encoding: 'utf8', token: status.candidates[0].token, path: expect.any(String) } });
    expect(await second.interrupt()).toBe(0);
    expect((await ctl(endpoints, ['elect', 'status', 'svc/scheduler'])).stdout).toBe('election svc/scheduler has no leader\n');
    expect((await ctl(endpoints, ['elect', 'svc/scheduler'])).status).toBe(exitStatuses.usage);
  });

  it('grants, inspects, keeps alive, lists and revokes leases', async () => {
    const granted = await ctlJson(endpoints, ['lease', 'grant', '30s']);
    expect(granted).toEqual({ leaseId: expect.any(Number), ttlMs: 30_000 });
    const id = String(granted.leaseId);
    expect((await ctl(endpoints, ['lease', 'grant', '5'])).stdout).toMatch(/^lease \d+ granted with TTL 5s\n$/);
    expect((await ctl(endpoints, ['put', '/svc/api/host-1', '10.0.0.7:80', '--lease', id])).status).toBe(0);
    expect((await ctl(endpoints, ['create', '/svc/api/host-2', '10.0.0.8:80', '--lease', id])).status).toBe(0);

    const ttl = await ctlJson(endpoints, ['lease', 'ttl', id, '--keys']);
    expect(ttl).toEqual({ leaseId: granted.leaseId, kind: 'lease', ttlMs: 30_000, remainingMs: expect.any(Number), keys: ['/svc/api/host-1', '/svc/api/host-2'] });
    expect((await ctl(endpoints, ['lease', 'ttl', id])).stdout).toMatch(new RegExp(`^lease ${id} \\(lease\\): TTL 30s, remaining `));
    const once = await ctl(endpoints, ['lease', 'keep-alive', id, '--once']);
    expect(once).toMatchObject({ status: 0, stdout: `lease ${id} kept alive with TTL 30s\n` });
    const keeper = ctlBackground(endpoints, ['lease', 'keep-alive', id, '-o', 'json']);
    await keeper.waitFor(/"leaseId"/);
    expect(await keeper.interrupt()).toBe(0);
    expect(keeper.jsonLines()[0]).toEqual({ leaseId: granted.leaseId, ttlMs: 30_000 });

    const list = await ctlJson(endpoints, ['lease', 'list']);
    expect(list.leases).toEqual(expect.arrayContaining([{ leaseId: granted.leaseId, kind: 'lease', ttlMs: 30_000 }]));
    expect((await ctl(endpoints, ['lease', 'list'])).stdout).toMatch(/^ID +KIND +TTL\n/);

    expect(await ctlJson(endpoints, ['lease', 'revoke', id])).toEqual({ leaseId: granted.leaseId, revoked: true });
    expect((await ctl(endpoints, ['ls', '/svc/api'])).stdout).toBe('');
    expect((await ctl(endpoints, ['lease', 'ttl', id])).status).toBe(exitStatuses.lease_not_found);
    expect((await ctl(endpoints, ['lease', 'keep-alive', id])).status).toBe(exitStatuses.lease_not_found);
    expect((await ctl(endpoints, ['put', '/svc/x', 'y', '--lease', id])).status).toBe(exitStatuses.lease_not_found);
  });

  it('holds ephemeral nodes until Ctrl-C and lists the sessions that own them', async () => {
    const put = ctlBackground(endpoints, ['put', '/members/me', '10.0.0.9', '--ephemeral']);
    await put.waitFor(/^created \/members\/me/);
    const create = ctlBackground(endpoints, ['create', '/members/worker-', 'w', '--sequential', '--ephemeral', '-o', 'json']);
    const created = JSON.parse((await create.waitFor(/^(\{[\s\S]*\})\n/))[1]!);
    expect(created).toMatchObject({ path: '/members/worker-0000000000', stat: { mode: 'ephemeral', ephemeralOwner: expect.any(Number) } });

    const sessions = await ctlJson(endpoints, ['session', 'list']);
    const owner = sessions.sessions.find((s: { sessionId: number }) => s.sessionId === created.stat.ephemeralOwner);
    expect(owner).toEqual({ sessionId: created.stat.ephemeralOwner, ttlMs: expect.any(Number), remainingMs: expect.any(Number), clientId: expect.any(String), nodes: ['/members/worker-0000000000'] });
    expect((await ctl(endpoints, ['session', 'list'])).stdout).toMatch(/^ID +TTL +REMAINING +NODES +CLIENT\n/);

    expect(await put.interrupt()).toBe(0);
    expect(await create.interrupt()).toBe(0);
    expect((await ctl(endpoints, ['ls', '/members'])).stdout).toBe('');
  });
});
