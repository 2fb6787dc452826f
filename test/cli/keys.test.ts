// Proves that the built synodctl serves the tree commands (get, put, create, rm, ls, tree, stat, txn), watches,
// compaction, and snapshot save and restore against a real 3-member ensemble, with the documented JSON shapes
// and exit statuses.

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitStatuses } from '../../cli/ctl/errors.ts';
import { freePorts, ProcessCluster } from '../e2e/harness.ts';
import { background, ctl, ctlBackground, ctlJson, startCliEnsemble, stopCliEnsemble, synodBin, waitForWatchRequests, watchRequests } from './cli.ts';

const statKeys = ['createRevision', 'modRevision', 'version', 'cversion', 'ephemeralOwner', 'numChildren', 'dataLength', 'mode', 'sequential', 'ttlMs', 'ctimeMs', 'mtimeMs'].sort();

describe('synodctl: the tree, transactions, watches and snapshots', () => {
  let cluster: ProcessCluster;
  let endpoints: string[];
  let dir: string;

  beforeAll(async () => {
    ({ cluster, endpoints, dir } = await startCliEnsemble('synodctl-test-'));
  });
  afterAll(() => stopCliEnsemble(cluster, dir));

  it('puts, gets and stats a node, in simple and JSON form', async () => {
    expect(await ctl(endpoints, ['put', '/app/config', 'mode=blue'])).toMatchObject({ status: 0, stdout: expect.stringMatching(/^created \/app\/config \(revision \d+\)\n$/) });
    expect((await ctl(endpoints, ['put', '/app/config', 'mode=green'])).stdout).toMatch(/^updated \/app\/config to version 1 \(revision \d+\)\n$/);
    expect(await ctl(endpoints, ['get', '/app/config'])).toMatchObject({ status: 0, stdout: 'mode=green\n', stderr: '' });

    const got = await ctlJson(endpoints, ['get', '/app/config']);
    expect(Object.keys(got).sort()).toEqual(['encoding', 'path', 'stat', 'value']);
    expect(got).toMatchObject({ path: '/app/config', value: 'mode=green', encoding: 'utf8', stat: { version: 1, mode: 'persistent', dataLength: 10, numChildren: 0 } });
    expect(Object.keys(got.stat).sort()).toEqual(statKeys);

    const stat = await ctlJson(endpoints, ['stat', '/app/config']);
    expect(stat).toEqual({ path: '/app/config', stat: got.stat });
    const simple = await ctl(endpoints, ['get', '/app/config', '--stat']);
    expect(simple.stdout).toMatch(/^mode=green\npath +\/app\/config\nmode +persistent\nversion +1\n/);
    expect((await ctl(endpoints, ['stat', '/app/config', '-o', 'table'])).stdout).toMatch(/│ version +│ 1 +│/);

    const put = await ctlJson(endpoints, ['put', '/app/config', 'mode=red']);
    expect(put).toMatchObject({ path: '/app/config', created: false, stat: { version: 2 } });
  });

  it('reads values from stdin and files, and writes them back byte for byte', async () => {
    const binary = new Uint8Array([0, 1, 2, 255, 254, 10, 13]);
    const file = join(dir, 'binary.bin');
    writeFileSync(file, binary);
    expect((await ctl(endpoints, ['put', '/files/bin', '--file', file])).status).toBe(0);
    const raw = await ctl(endpoints, ['get', '/files/bin', '--raw']);
    expect(raw.stdoutBytes).toEqual(Buffer.from(binary));
    const asJson = await ctlJson(endpoints, ['get', '/files/bin']);
    expect(asJson).toMatchObject({ encoding: 'base64', value: Buffer.from(binary).toString('base64') });

    expect((await ctl(endpoints, ['put', '/files/stdin', '-'], { input: 'from stdin\nline 2' })).status).toBe(0);
    expect((await ctl(endpoints, ['get', '/files/stdin', '--raw'])).stdout).toBe('from stdin\nline 2');
  });

  it('creates sequential, container, TTL and nested nodes, lists and draws them', async () => {
    const first = await ctl(endpoints, ['create', '/jobs/job-', 'a', '--sequential', '--parents']);
    expect(first).toMatchObject({ status: 0, stdout: '/jobs/job-0000000000\n' });
    const second = await ctlJson(endpoints, ['create', '/jobs/job-', 'b', '--sequential']);
    expect(second).toMatchObject({ path: '/jobs/job-0000000001', stat: { sequential: true, mode: 'persistent' } });
    expect((await ctlJson(endpoints, ['create', '/box', '--container'])).stat.mode).toBe('container');
    expect((await ctl(endpoints, ['create', '/box/item', 'x'])).status).toBe(0);
    expect((await ctlJson(endpoints, ['create', '/scratch', '--ttl', '1h'])).stat).toMatchObject({ mode: 'ttl', ttlMs: 3_600_000 });
    expect((await ctl(endpoints, ['create', '/deep/a/b', 'v', '-p'])).status).toBe(0);

    expect((await ctl(endpoints, ['ls', '/jobs'])).stdout).toBe('job-0000000000\njob-0000000001\n');
    const long = await ctl(endpoints, ['ls', '-l', '/jobs']);
    expect(long.stdout.split('\n')[0]).toMatch(/^MODE +VERSION +CHILDREN +SIZE +MODIFIED +NAME$/);
    expect(long.stdout).toMatch(/persistent\+seq +0 +0 +1 +\S+ +job-0000000000/);
    const listed = await ctlJson(endpoints, ['ls', '/jobs', '-l']);
    expect(listed.children.map((c: { path: string }) => c.path)).toEqual(['/jobs/job-0000000000', '/jobs/job-0000000001']);
    expect(Object.keys(listed.children[0].stat).sort()).toEqual(statKeys);
    expect((await ctlJson(endpoints, ['ls', '/jobs'])).children[0]).toEqual({ name: 'job-0000000000', path: '/jobs/job-0000000000' });

    const tree = await ctl(endpoints, ['tree', '/deep']);
    expect(tree.stdout).toBe('/deep\n└── a\n    └── b\n');
    expect((await ctl(endpoints, ['tree', '/', '--depth', '1'])).stdout).toMatch(/├── box \[container\]\n/);
    expect((await ctl(endpoints, ['tree', '/jobs', '-v'])).stdout).toBe('/jobs\n├── job-0000000000 [persistent+seq] = "a"\n└── job-0000000001 [persistent+seq] = "b"\n');
    const treeJson = await ctlJson(endpoints, ['tree', '/deep']);
    expect(treeJson).toMatchObject({ truncated: false, tree: { path: '/deep', children: [{ name: 'a', children: [{ name: 'b', path: '/deep/a/b', value: 'v', children: [] }] }] } });
    expect((await ctl(endpoints, ['tree', '/', '--max-nodes', '2'])).stdout).toMatch(/stopped after 2 nodes/);
  });

  it('exits with one status per error code, naming the path', async () => {
    const missing = await ctl(endpoints, ['get', '/no/such']);
    expect(missing).toMatchObject({ status: exitStatuses.not_found, stdout: '' });
    expect(missing.stderr).toMatch(/^synodctl: not_found: \/no\/such: /);
    expect((await ctl(endpoints, ['create', '/app/config'])).status).toBe(exitStatuses.exists);
    const badVersion = await ctl(endpoints, ['put', '/app/config', 'x', '--expect-version', '99']);
    expect(badVersion.status).toBe(exitStatuses.bad_version);
    expect(badVersion.stderr).toMatch(/hint: /);
    expect((await ctl(endpoints, ['rm', '/app'])).status).toBe(exitStatuses.not_empty);
    expect((await ctl(endpoints, ['get', 'relative'])).status).toBe(exitStatuses.invalid_path);
    expect((await ctl(endpoints, ['get', '/a//b'])).status).toBe(exitStatuses.invalid_path);
    expect((await ctl(endpoints, ['get'])).status).toBe(exitStatuses.usage);
    expect((await ctl(endpoints, ['frobnicate'])).status).toBe(exitStatuses.usage);
    expect((await ctl(endpoints, ['create', '/x', '--ttl', 'soon'])).status).toBe(exitStatuses.usage);

    const json = await ctl(endpoints, ['get', '/no/such', '-o', 'json']);
    expect(json.status).toBe(exitStatuses.not_found);
    expect(JSON.parse(json.stderr)).toEqual({ error: { code: 'not_found', exitStatus: 3, message: expect.stringContaining('/no/such') } });
    // The documented numbers (docs/cli.md) are the ones in the code.
    expect([exitStatuses.not_found, exitStatuses.exists, exitStatuses.bad_version, exitStatuses.no_leader, exitStatuses.timeout, exitStatuses.unavailable]).toEqual([3, 4, 5, 10, 12, 13]);
  });

  it('deletes with an expected version and recursively', async () => {
    await ctl(endpoints, ['create', '/gone/a/b', '-p']);
    expect((await ctl(endpoints, ['rm', '/gone/a/b', '--expect-version', '3'])).status).toBe(exitStatuses.bad_version);
    expect(await ctl(endpoints, ['rm', '/gone/a/b', '--expect-version', '0'])).toMatchObject({ status: 0, stdout: 'deleted 1 node\n' });
    expect(await ctlJson(endpoints, ['rm', '/gone', '--recursive'])).toEqual({ path: '/gone', deleted: 2 });
    expect((await ctl(endpoints, ['stat', '/gone'])).status).toBe(exitStatuses.not_found);
  });

  it('runs transactions in the line format and in JSON, with compare_failed when the else branch ran', async () => {
    await ctl(endpoints, ['put', '/txn/a', 'one']);
    const lines = 'version(/txn/a) = 0\nvalue(/txn/a) = "one"\nexists(/txn/b) = false\n\nset /txn/a "two words"\ncreate /txn/b "bee"\nget /txn/a\n\nget /txn/a\n';
    const ok = await ctl(endpoints, ['txn'], { input: lines });
    expect(ok).toMatchObject({ status: 0, stdout: 'SUCCEEDED\nupdated /txn/a to version 1\ncreated /txn/b\n/txn/a = "two words"\n' });
    const again = await ctl(endpoints, ['txn', '-o', 'json'], { input: lines });
    expect(again.status).toBe(exitStatuses.compare_failed);
    const failed = JSON.parse(again.stdout);
    expect(failed).toMatchObject({ succeeded: false, revision: expect.any(Number), results: [{ op: 'get', path: '/txn/a', exists: true, value: 'two words', encoding: 'utf8' }] });

    const doc = { if: [{ path: '/txn/c', target: 'exists', op: '=', value: false }], then: [{ op: 'create', path: '/txn/c', value: 'sea' }, { op: 'delete', path: '/txn/b' }], else: [] };
    const json = await ctlJson(endpoints, ['txn'], { input: JSON.stringify(doc) });
    expect(json).toMatchObject({ succeeded: true, results: [{ op: 'create', path: '/txn/c', stat: { version: 0 } }, { op: 'delete', path: '/txn/b', deleted: 1 }] });

    const broken = await ctl(endpoints, ['txn'], { input: 'version(/txn/a) ~ 3\n' });
    expect(broken.status).toBe(exitStatuses.usage);
    expect(broken.stderr).toMatch(/txn: /);
    // A failing operation fails the whole transaction with its code.
    expect((await ctl(endpoints, ['txn'], { input: '\ncreate /txn/c "again"\n' })).status).toBe(exitStatuses.exists);
  });

  it('reads a value as of a past revision from the history, until it is compacted', async () => {
    const v1 = await ctlJson(endpoints, ['put', '/hist/x', 'first']);
    const v2 = await ctlJson(endpoints, ['put', '/hist/x', 'second']);
    const v3 = await ctlJson(endpoints, ['put', '/hist/x', 'third']);
    const r1 = v1.stat.modRevision;
    expect((await ctl(endpoints, ['get', '/hist/x', '--revision', String(r1)])).stdout).toBe('first\n');
    expect((await ctl(endpoints, ['get', '/hist/x', '--revision', String(v2.stat.modRevision)])).stdout).toBe('second\n');
    expect((await ctl(endpoints, ['get', '/hist/x', '--revision', String(r1 - 1)])).status).toBe(exitStatuses.not_found);
    const exact = await ctlJson(endpoints, ['get', '/hist/x', '--revision', String(v2.stat.modRevision)]);
    expect(exact).toMatchObject({ path: '/hist/x', revision: v2.stat.modRevision, value: 'second', stat: null });
    expect((await ctl(endpoints, ['get', '/hist/x', '--revision', '999999999'])).status).toBe(exitStatuses.bad_request);

    const compacted = await ctlJson(endpoints, ['compact', String(v3.stat.modRevision)]);
    expect(compacted).toEqual({ oldestRevision: v3.stat.modRevision });
    const old = await ctl(endpoints, ['get', '/hist/x', '--revision', String(r1)]);
    expect(old.status).toBe(exitStatuses.compacted);
    expect(old.stderr).toMatch(/older than the history kept/);
  });

  it('watches a node, its children or its subtree, printing lines or JSON lines, until the count or Ctrl-C', async () => {
    await ctl(endpoints, ['create', '/w']);
    const before = await watchRequests(endpoints);
    const lines = ctlBackground(endpoints, ['watch', '/w', '--recursive', '--prev', '--count', '3']);
    const json = ctlBackground(endpoints, ['watch', '/w', '--children', '-o', 'json']);
    const node = ctlBackground(endpoints, ['watch', '/w/a']);
    await waitForWatchRequests(endpoints, before + 3);
    await ctl(endpoints, ['put', '/w/a', 'one']);
    await ctl(endpoints, ['put', '/w/a', 'two']);
    await ctl(endpoints, ['rm', '/w/a']);
    expect(await lines.end()).toBe(0);
    expect(lines.stdout).toMatch(/^\d+ create \/w\/a "one"\n\d+ set \/w\/a "two" prev="one"\n\d+ delete \/w\/a\n$/);
    await json.waitFor(/"delete"/);
    const events = json.jsonLines();
    expect(events.map((e) => e.type)).toEqual(['create', 'set', 'delete']);
    expect(Object.keys(events[1]).sort()).toEqual(['encoding', 'path', 'revision', 'stat', 'type', 'value']);
    expect(events[1]).toMatchObject({ type: 'set', path: '/w/a', value: 'two', encoding: 'utf8', revision: events[0].revision + 1 });
    await node.waitFor(/delete \/w\/a/);
    expect(await json.interrupt()).toBe(0);
    expect(await node.interrupt()).toBe(0);

    // Replay from a revision, then a compacted start.
    const replay = await ctl(endpoints, ['watch', '/w/a', '--from-revision', String(events[0].revision), '--count', '2']);
    expect(replay.stdout).toMatch(/^\d+ create \/w\/a "one"\n\d+ set \/w\/a "two"\n$/);
    const tooOld = await ctl(endpoints, ['watch', '/w', '--from-revision', '1']);
    expect(tooOld.status).toBe(exitStatuses.compacted);
  });

  it('runs a command per event with the event in its environment', async () => {
    const script = 'echo "$SYNOD_WATCH_EVENT_TYPE $SYNOD_WATCH_PATH $SYNOD_WATCH_VALUE $SYNOD_WATCH_REVISION $SYNOD_WATCH_PREV_VALUE"; echo "$SYNOD_WATCH_EVENT" >&2';
    await ctl(endpoints, ['create', '/cmd']);
    const before = await watchRequests(endpoints);
    const watcher = ctlBackground(endpoints, ['watch', '/cmd', '-r', '--prev', '--count', '2', '--', 'sh', '-c', script]);
    await waitForWatchRequests(endpoints, before + 1);
    const created = await ctlJson(endpoints, ['put', '/cmd/x', 'hello world']);
    await ctl(endpoints, ['put', '/cmd/x', 'bye']);
    expect(await watcher.end()).toBe(0);
    expect(watcher.stdout).toBe(`create /cmd/x hello world ${created.stat.modRevision} \nset /cmd/x bye ${created.stat.modRevision + 1} hello world\n`);
    expect(JSON.parse(watcher.stderr.split('\n')[0]!)).toMatchObject({ type: 'create', path: '/cmd/x', value: 'hello world' });
  });

  it('saves a member\'s whole state and seeds a new cluster from it that keeps revisions, stats and leases', async () => {
    await ctl(endpoints, ['put', '/snap/a', 'alpha']);
    await ctl(endpoints, ['create', '/snap/seq-', 's', '--sequential']);
    const lease = await ctlJson(endpoints, ['lease', 'grant', '10m']);
    await ctl(endpoints, ['put', '/snap/leased', 'held', '--lease', String(lease.leaseId)]);
    const lastWrite = (await ctlJson(endpoints, ['stat', '/snap/leased'])).stat.modRevision;
    const file = join(dir, 'backup.snap');
    const saved = await ctlJson(endpoints, ['snapshot', 'save', file]);
    const bytes = readFileSync(file);
    expect(saved).toMatchObject({ file, member: expect.stringMatching(/^n\d$/), index: expect.any(Number), bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    // Taken after a ReadIndex round: every write acknowledged before the save is in it.
    expect(saved.revision).toBeGreaterThanOrEqual(lastWrite);

    // A damaged or foreign file is refused before anything is written.
    const damaged = join(dir, 'damaged.snap');
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 20]! ^= 0x40;
    writeFileSync(damaged, flipped);
    const refused = await ctl(endpoints, ['snapshot', 'restore', damaged, '--data-dir', join(dir, 'never')]);
    expect(refused.status).toBe(exitStatuses.file_error);
    expect(refused.stderr).toMatch(/SHA-256/);
    writeFileSync(damaged, 'not a snapshot');
    expect((await ctl(endpoints, ['snapshot', 'restore', damaged, '--data-dir', join(dir, 'never')])).status).toBe(exitStatuses.file_error);

    const [clientPort, peerPort] = await freePorts(2);
    const dataDir = join(dir, 'restored');
    const restored = await ctlJson(endpoints, ['snapshot', 'restore', file, '--data-dir', dataDir, '--name', 'r1', '--peer-url', `127.0.0.1:${peerPort}`, '--client-url', `127.0.0.1:${clientPort}`]);
    expect(restored).toMatchObject({ revision: saved.revision, index: saved.index, savedFrom: saved.member, dataDir, name: 'r1', start: expect.stringContaining('synod start --name r1') });
    expect((await ctl(endpoints, ['snapshot', 'restore', file, '--data-dir', dataDir])).status).toBe(exitStatuses.exists);

    const config = join(dir, 'r1.json');
    writeFileSync(config, JSON.stringify({ name: 'r1', dataDir, listenClient: `127.0.0.1:${clientPort}`, listenPeer: `127.0.0.1:${peerPort}` }));
    const member = background(synodBin, ['start', '--config', config]);
    try {
      await member.waitFor(/clients on 127\.0\.0\.1:\d+/);
      const one = [`127.0.0.1:${clientPort}`];
      expect((await ctl(one, ['get', '/snap/a'])).stdout).toBe('alpha\n');
      expect((await ctl(one, ['get', '/files/bin', '--raw'])).stdoutBytes).toEqual((await ctl(endpoints, ['get', '/files/bin', '--raw'])).stdoutBytes);
      // The same tree with the same stats (revisions, versions, times, owners) as the saved cluster.
      expect((await ctl(one, ['tree', '/snap', '-v'])).stdout).toBe((await ctl(endpoints, ['tree', '/snap', '-v'])).stdout);
      expect(await ctlJson(one, ['stat', '/snap/leased'])).toEqual(await ctlJson(endpoints, ['stat', '/snap/leased']));
      expect(await ctlJson(one, ['lease', 'ttl', String(lease.leaseId), '--keys'])).toMatchObject({ leaseId: lease.leaseId, ttlMs: 600_000, keys: ['/snap/leased'] });
      expect((await ctlJson(one, ['member', 'list'])).members.map((m: { name: string }) => m.name)).toEqual(['r1']);
      // Revisions go on from the saved one.
      const next = await ctlJson(one, ['put', '/snap/after', 'x']);
      expect(next.stat.modRevision).toBeGreaterThan(saved.revision);
    } finally {
      await member.interrupt();
    }
  });
});
