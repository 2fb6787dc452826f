// Proves that the built binaries manage a real ensemble: synod version and synod dev; synodctl member list, add
// (the printed start command works), promote and remove, endpoint status and health, move-leader and check
// perf; help with an example on every command and shell completion; and the exit statuses of an unreachable
// cluster, a timeout and a cluster without a leader.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitStatuses } from '../../cli/ctl/errors.ts';
import { buildProgram } from '../../cli/ctl/program.ts';
import { freePorts, ProcessCluster, waitFor } from '../e2e/harness.ts';
import { background, ctl, ctlJson, run, startCliEnsemble, stopCliEnsemble, synodBin, synodctlBin } from './cli.ts';

const packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('synod and synodctl: the cluster', () => {
  let cluster: ProcessCluster;
  let endpoints: string[];
  let dir: string;

  beforeAll(async () => {
    ({ cluster, endpoints, dir } = await startCliEnsemble('synodctl-cluster-'));
  });
  afterAll(() => stopCliEnsemble(cluster, dir));

  it('prints versions', async () => {
    expect(await run(synodBin, ['version'])).toMatchObject({ status: 0, stdout: `synod ${packageVersion}\n` });
    expect(await run(synodctlBin, ['--version'])).toMatchObject({ status: 0, stdout: `synodctl ${packageVersion}\n` });
  });

  it('lists members and shows every endpoint\'s status and health', async () => {
    const leader = await cluster.waitForLeader();
    const members = await ctlJson(endpoints, ['member', 'list']);
    expect(members).toEqual({
      leader,
      members: cluster.members.map((m) => ({ id: m.name, name: m.name, peerUrl: `ws://127.0.0.1:${m.peerPort}`, clientUrl: `127.0.0.1:${m.clientPort}`, learner: false, leader: m.name === leader })),
    });
    expect((await ctl(endpoints, ['member', 'list'])).stdout).toMatch(/^ID +STATUS +LEADER +PEER URL +CLIENT URL\nn1 +voter /);

    const status = await ctlJson(endpoints, ['endpoint', 'status']);
    expect(status.unreachable).toEqual([]);
    expect(status.endpoints).toHaveLength(3);
    for (const row of status.endpoints) {
      expect(Object.keys(row).sort()).toEqual(['applied', 'commit', 'dbBytes', 'endpoint', 'id', 'isLeader', 'leader', 'logEntries', 'revision', 'role', 'term'].sort());
      expect(row).toMatchObject({ leader, isLeader: row.id === leader, dbBytes: expect.any(Number), term: expect.any(Number), commit: expect.any(Number) });
    }
    const table = await ctl(endpoints, ['endpoint', 'status', '-o', 'table']);
    expect(table.stdout).toMatch(/│ ENDPOINT +│ ID +│ ROLE +│ TERM +│ LEADER +│ REVISION +│ COMMIT +│ APPLIED +│ LOG +│ DB SIZE +│/);
    expect(table.stdout).toMatch(/│ leader +│/);
    expect((await ctlJson([endpoints[0]!], ['endpoint', 'status', '--cluster'])).endpoints).toHaveLength(3);

    const health = await ctlJson(endpoints, ['endpoint', 'health']);
    expect(health.endpoints).toEqual(endpoints.map((endpoint) => ({ endpoint, healthy: true, tookMs: expect.any(Number), leader, error: null })));
    expect((await ctl(endpoints, ['endpoint', 'health'])).stdout).toMatch(/^127\.0\.0\.1:\d+ is healthy: a linearizable read took \d+ ms\n/);
  });

  it('moves the leadership', async () => {
    const leader = await cluster.waitForLeader();
    const target = cluster.members.find((m) => m.name !== leader)!.name;
    expect(await ctlJson(endpoints, ['move-leader', target])).toEqual({ from: leader, to: target });
    expect(await cluster.waitForLeader()).toBe(target);
    expect((await ctl(endpoints, ['move-leader', 'nobody'])).status).not.toBe(0);
  });

  it('adds a learner that starts with the printed command, promotes it, and removes it', async () => {
    const [clientPort, peerPort] = await freePorts(2);
    const added = await ctlJson(endpoints, ['member', 'add', 'n4', '--peer-url', `127.0.0.1:${peerPort}`, '--client-url', `127.0.0.1:${clientPort}`, '--learner']);
    expect(added).toMatchObject({ id: 'n4', learner: true, start: expect.stringMatching(/^synod start --name n4 --join --initial-cluster n1=127\.0\.0\.1:\d+,n2=.*,n4=127\.0\.0\.1:\d+ /) });
    expect((await ctlJson(endpoints, ['member', 'list'])).members.find((m: { id: string }) => m.id === 'n4')).toMatchObject({ learner: true });

    // The printed command, with the data directory moved to a temporary one.
    const args = (added.start as string).split(' ').slice(1);
    args[args.indexOf('--data-dir') + 1] = join(dir, 'n4');
    const n4 = background(synodBin, args);
    try {
      await n4.waitFor(/clients on/);
      const joined = [`127.0.0.1:${clientPort}`];
      await waitFor('n4 to catch up', async () => {
        const rows = (await ctlJson(endpoints, ['endpoint', 'status', '--cluster'])).endpoints as Array<{ id: string; applied: number }>;
        const n4Row = rows.find((r) => r.id === 'n4');
        return n4Row !== undefined && n4Row.applied >= rows.find((r) => r.id === 'n1')!.applied - 5 ? true : undefined;
      });
      expect(await ctlJson(endpoints, ['member', 'promote', 'n4'])).toEqual({ id: 'n4', promoted: true });
      expect((await ctl(endpoints, ['put', '/joined', 'yes'])).status).toBe(0);
      await waitFor('n4 to serve the write', async () => (await ctl(joined, ['get', '/joined', '--serializable'])).stdout === 'yes\n' || undefined);
      expect((await ctlJson(endpoints, ['member', 'list'])).members.find((m: { id: string }) => m.id === 'n4')).toMatchObject({ learner: false });

      expect(await ctlJson(endpoints, ['member', 'remove', 'n4'])).toEqual({ id: 'n4', removed: true });
      expect(await n4.end(20_000)).toBe(0);
      expect((await ctlJson(endpoints, ['member', 'list'])).members.map((m: { id: string }) => m.id)).toEqual(['n1', 'n2', 'n3']);
    } finally {
      n4.signal('SIGKILL');
    }
    expect((await ctl(endpoints, ['member', 'promote', 'n9'])).status).toBe(exitStatuses.not_found);
  });

  it('runs a short load test and judges it against stated thresholds', async () => {
    const result = await ctl(endpoints, ['check', 'perf', '--duration', '2s', '-o', 'json']);
    expect([0, exitStatuses.check_failed]).toContain(result.status);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ load: 's', writers: 20, targetWritesPerSecond: 100, durationMs: 2000, writes: expect.any(Number), errors: expect.any(Number), writesPerSecond: expect.any(Number), pass: result.status === 0 });
    expect(Object.keys(report.latencyMs).sort()).toEqual(['max', 'mean', 'p50', 'p90', 'p99', 'stddev']);
    expect(report.checks.map((c: { name: string }) => c.name)).toEqual(['throughput', 'p99Latency', 'slowest', 'errors']);
    expect((await ctl(endpoints, ['ls', '/'])).stdout).not.toMatch(/synod-check-perf/);
  });

  it('runs a one-member dev ensemble until Ctrl-C', async () => {
    const [clientPort, peerPort] = await freePorts(2);
    const dev = background(synodBin, ['dev', '--members', '1', '--client-port', String(clientPort), '--peer-port', String(peerPort), '--data-dir', join(dir, 'dev')]);
    try {
      await dev.waitFor(/export SYNOD_ENDPOINTS=127\.0\.0\.1:\d+/);
      const one = [`127.0.0.1:${clientPort}`];
      await waitFor('the dev member to answer', async () => (await ctl(one, ['put', '/dev', 'up'])).status === 0 || undefined);
      expect((await run(synodctlBin, ['get', '/dev'], { env: { SYNOD_ENDPOINTS: one[0]! } })).stdout).toBe('up\n');
      expect(await dev.interrupt()).toBe(0);
    } finally {
      dev.signal('SIGKILL');
    }
  });

  it('has help with an example on every command, and completion for bash and zsh', async () => {
    for (const command of allCommands(buildProgram())) {
      let help = '';
      command.configureOutput({ writeOut: (text) => (help += text) });
      command.outputHelp();
      expect(help, command.name()).toMatch(/\nExamples:\n {2}\S/);
    }
    const help = await run(synodctlBin, ['lock', '--help']);
    expect(help).toMatchObject({ status: 0, stdout: expect.stringContaining('synodctl lock jobs/nightly -- ./run-job.sh') });

    const bash = await run(synodctlBin, ['completion', 'bash']);
    expect(bash.status).toBe(0);
    const complete = (line: string): string[] => {
      const words = line.split(' ');
      const script = `${bash.stdout}\nCOMP_WORDS=(${words.map((w) => `"${w}"`).join(' ')}); COMP_CWORD=${words.length - 1}; _synodctl; echo "\${COMPREPLY[@]}"`;
      return spawnSync('bash', ['-c', script], { encoding: 'utf8' }).stdout.trim().split(' ');
    };
    expect(complete('synodctl lo')).toEqual(['lock']);
    expect(complete('synodctl lock ')).toEqual(expect.arrayContaining(['list', 'owner', 'waiters', '--ttl']));
    expect(complete('synodctl member a')).toEqual(['add']);
    expect(complete('synodctl -o json endpoint s')).toEqual(['status']);
    const zsh = await run(synodctlBin, ['completion', 'zsh']);
    expect(zsh.stdout).toMatch(/^#compdef synodctl\n/);
    expect(zsh.stdout).toContain("'synodctl snapshot' 'save restore");
    if (spawnSync('zsh', ['--version']).status === 0) expect(spawnSync('zsh', ['-n'], { input: zsh.stdout }).status).toBe(0);
    expect((await run(synodctlBin, ['completion', 'fish'])).status).toBe(exitStatuses.usage);
  });

  it('exits with timeout, unavailable and no_leader, saying what to do', async () => {
    const timeout = await ctl(endpoints, ['get', '/', '--timeout', '1ms']);
    expect(timeout.status).toBe(exitStatuses.timeout);
    expect(timeout.stderr).toMatch(/hint: raise --timeout/);

    const [deadA, deadB] = await freePorts(2);
    const dead = [`127.0.0.1:${deadA}`, `127.0.0.1:${deadB}`];
    const unreachable = await ctl(dead, ['get', '/', '--timeout', '1s']);
    expect(unreachable.status).toBe(exitStatuses.unavailable);
    expect(unreachable.stderr).toContain(`no member answered at ${dead.join(', ')}`);
    const json = await ctl(dead, ['get', '/', '--timeout', '1s', '-o', 'json']);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'unavailable', exitStatus: exitStatuses.unavailable, endpoints: dead, hint: expect.any(String) } });
    expect((await run(synodctlBin, ['get', '/', '--timeout', '1s'], { env: { SYNOD_ENDPOINTS: dead.join(',') } })).stderr).toContain(dead[0]);

    // Two of three members gone: the survivor knows no leader.
    const survivor = cluster.members[0]!;
    const alone = [`127.0.0.1:${survivor.clientPort}`];
    await ctl(endpoints, ['put', '/survives', 'yes']);
    await waitFor('the survivor to apply the write', async () => (await ctl(alone, ['get', '/survives', '--serializable'])).stdout === 'yes\n' || undefined);
    await cluster.kill(cluster.members[1]!.name);
    await cluster.kill(cluster.members[2]!.name);
    const noLeader = await ctl(endpoints, ['put', '/x', '1', '--timeout', '2s']);
    expect(noLeader.status).toBe(exitStatuses.no_leader);
    expect(noLeader.stderr).toMatch(new RegExp(`the members that answered \\(${survivor.name}\\) know no leader`));
    expect(noLeader.stderr).toMatch(/hint: a majority of the members must run/);
    expect((await ctl(endpoints, ['endpoint', 'health', '--timeout', '2s'])).status).toBe(exitStatuses.unhealthy);
    expect((await ctl(endpoints, ['endpoint', 'status', '--timeout', '2s'])).status).toBe(exitStatuses.unavailable);
    // A serializable read still answers from the survivor's own state.
    expect(await ctl(alone, ['get', '/survives', '--serializable'])).toMatchObject({ status: 0, stdout: 'yes\n' });
  });
});

function allCommands(program: Command): Command[] {
  return [program, ...program.commands.flatMap((command) => allCommands(command))];
}
