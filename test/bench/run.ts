// `npm run bench`: Synod, etcd and ZooKeeper side by side, each a 3-member ensemble on 127.0.0.1 with
// durable writes, on this machine. Prints a table per workload (each system's figures and Synod's ratio to
// each other system, >1 meaning Synod is better) and writes everything as JSON. What each workload does
// and the settings of each system: docs/performance.md.
//
//   npm run bench -- [--quick] [--only synod,etcd,zookeeper] [--workloads a,b] [--out FILE.json]
//
// Every process it starts and every temp dir it makes is removed at the end, on failure, and on Ctrl-C.

import { readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, usage, type BenchArgs } from './args.ts';
import type { Driver, EnsembleSettings, SystemName } from './driver.ts';
import { createDriver } from './drivers/index.ts';
import { describeMachine, measureFloor, type Floor, type MachineDescription } from './machine.ts';
import { cleanupAll, installCleanupHandlers, makeTempDir, ManagedProcess, removeTempDir, withTimeout } from './processes.ts';
import { formatNumber, markdownTable, ratios, tableRows, textTable } from './report.ts';
import { describeError, type Workload, type WorkloadResult } from './workloads/common.ts';
import { workloads as catalogue } from './workloads/index.ts';

const storageBench = fileURLToPath(new URL('./storage.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Bounds on whole phases: nothing may hang the run. */
const limits = {
  startMs: 3 * 60_000,
  stopMs: 60_000,
  workloadQuickMs: 5 * 60_000,
  workloadFullMs: 30 * 60_000,
  storageBenchMs: 15 * 60_000,
} as const;

interface SystemReport {
  readonly version?: string;
  readonly ensemble?: EnsembleSettings;
  readonly startSeconds?: number;
  readonly startError?: string;
}

interface WorkloadReport {
  readonly id: string;
  readonly title: string;
  readonly description: string;
  readonly metrics: Workload['metrics'];
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly results: Readonly<Record<string, unknown>>;
  readonly synodRatios: Readonly<Record<string, Record<string, number | null>>>;
  readonly notes: readonly string[];
  readonly seconds: number;
  readonly table: readonly string[][];
}

interface Report {
  readonly tool: 'synod-bench';
  readonly command: string;
  readonly date: string;
  readonly quick: boolean;
  readonly machine: MachineDescription;
  readonly floor: Floor | { readonly error: string };
  readonly storageBenchmark: unknown;
  readonly systems: Readonly<Record<string, SystemReport>>;
  readonly workloads: WorkloadReport[];
  readonly loadAverageAtEnd: readonly number[];
  readonly durationSeconds: number;
}

function log(line: string): void {
  console.log(line);
}

async function startDriver(system: SystemName): Promise<{ driver: Driver | null; report: SystemReport }> {
  const started = performance.now();
  let lastError: unknown = null;
  // One retry: a port taken between choosing and binding it, or a slow first JVM start, is not the system's fault.
  for (let attempt = 1; attempt <= 2; attempt++) {
    const driver = createDriver(system);
    try {
      await withTimeout(driver.start(), limits.startMs, `the ${system} ensemble to start`);
      const ensemble = driver.describe();
      const startSeconds = (performance.now() - started) / 1000;
      log(`  ${system} ${ensemble.version}: 3 members up in ${startSeconds.toFixed(1)} s`);
      return { driver, report: { version: ensemble.version, ensemble, startSeconds } };
    } catch (error) {
      lastError = error;
      log(`  ${system}: start attempt ${attempt} failed: ${describeError(error)}`);
      await withTimeout(driver.stop(), limits.stopMs, `${system} to stop`).catch(() => {});
    }
  }
  return { driver: null, report: { startError: describeError(lastError) } };
}

/** The existing storage benchmark (full run only), in its own process; its JSON becomes part of ours. */
async function runStorageBenchmark(): Promise<unknown> {
  // Its files go under a temp dir of ours, so they are removed even if it is killed half-way.
  const dir = makeTempDir('synod-bench-storage-run-');
  const out = join(dir, 'storage.json');
  log('\nstorage benchmark (test/bench/storage.ts)');
  const child = ManagedProcess.spawn('storage-bench', process.execPath, ['--import', 'tsx', storageBench, '--dir', dir, '--out', out], { cwd: repoRoot });
  child.child.stdout?.on('data', (chunk: Buffer) => process.stdout.write(chunk));
  try {
    const code = await withTimeout(child.exited, limits.storageBenchMs, 'the storage benchmark');
    if (code !== 0) return { error: `exited with ${code}: ${child.output.slice(-500)}` };
    return JSON.parse(readFileSync(out, 'utf8')) as unknown;
  } catch (error) {
    await child.kill();
    return { error: describeError(error) };
  } finally {
    removeTempDir(dir);
  }
}

function printFloor(floor: Floor): void {
  const f = floor.fdatasync;
  const l = floor.loopbackRoundTrip;
  log(`floor: write 256 B + fdatasync p50 ${formatNumber(f.p50Ms, 3)} ms, p99 ${formatNumber(f.p99Ms, 3)} ms (${formatNumber(f.perSecond, 0)}/s); ` +
    `loopback TCP round trip p50 ${formatNumber(l.p50Ms, 3)} ms, p99 ${formatNumber(l.p99Ms, 3)} ms`);
}

async function runWorkload(workload: Workload, args: BenchArgs, drivers: ReadonlyMap<SystemName, Driver>): Promise<WorkloadReport> {
  log(`\n${workload.title}`);
  const started = performance.now();
  let result: WorkloadResult;
  try {
    result = await withTimeout(workload.run({ quick: args.quick, drivers, log }), args.quick ? limits.workloadQuickMs : limits.workloadFullMs, workload.title);
  } catch (error) {
    const message = describeError(error);
    result = { parameters: {}, outcomes: new Map([...drivers.keys()].map((s) => [s, { kind: 'failed', error: message }])), notes: [] };
  }
  const table = tableRows(workload, result);
  log(textTable(table));
  for (const note of result.notes) log(`  note: ${note}`);
  return {
    id: workload.id,
    title: workload.title,
    description: workload.description,
    metrics: workload.metrics,
    parameters: result.parameters,
    results: Object.fromEntries(result.outcomes),
    synodRatios: ratios(workload, result.outcomes),
    notes: result.notes,
    seconds: (performance.now() - started) / 1000,
    table,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), [...catalogue.map((w) => w.id), 'storage']);
  if (args.help) {
    log(`${usage}\n\nworkloads: ${catalogue.map((w) => w.id).join(', ')}, storage (full run only)`);
    return;
  }
  installCleanupHandlers();
  const started = performance.now();
  const machine = await describeMachine();
  log(`synod bench${args.quick ? ' (quick)' : ''}: ${args.systems.join(', ')} | ${machine.cpuModel} x${machine.cores}, ${machine.memoryGiB} GiB, ${machine.kernel.split(' ').slice(0, 2).join(' ')}, disk ${machine.disk}`);

  const floor = await measureFloor(args.quick).catch((error: unknown) => ({ error: describeError(error) }));
  if ('error' in floor) log(`floor: failed: ${floor.error}`);
  else printFloor(floor);

  const wanted = (id: string): boolean => args.workloads === null || args.workloads.includes(id);
  const storageBenchmark = !args.quick && wanted('storage') ? await runStorageBenchmark() : { skipped: args.quick ? 'quick run' : 'not selected' };

  const drivers = new Map<SystemName, Driver>();
  const systems: Record<string, SystemReport> = {};
  const reports: WorkloadReport[] = [];
  try {
    log('\nstarting ensembles');
    for (const system of args.systems) {
      const { driver, report } = await startDriver(system);
      systems[system] = report;
      if (driver !== null) drivers.set(system, driver);
    }
    for (const workload of catalogue.filter((w) => wanted(w.id))) {
      if (drivers.size === 0) break;
      reports.push(await runWorkload(workload, args, drivers));
    }
  } finally {
    log('\nstopping ensembles');
    for (const driver of drivers.values()) await withTimeout(driver.stop(), limits.stopMs, `${driver.system} to stop`).catch((error: unknown) => log(`  ${driver.system}: ${describeError(error)}`));
    cleanupAll();
  }

  const report: Report = {
    tool: 'synod-bench',
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim().replace(/ --$/, ''),
    date: new Date().toISOString(),
    quick: args.quick,
    machine,
    floor,
    storageBenchmark,
    systems,
    workloads: reports,
    loadAverageAtEnd: os.loadavg(),
    durationSeconds: (performance.now() - started) / 1000,
  };
  writeFileSync(args.out, `${JSON.stringify(report, jsonReplacer, 2)}\n`);
  const markdownFile = args.out.replace(/\.json$/, '') + '.md';
  writeFileSync(markdownFile, markdown(report));
  log(`\ndone in ${(report.durationSeconds / 60).toFixed(1)} min; JSON written to ${args.out}, tables as Markdown to ${markdownFile}`);
}

/** The run as Markdown (machine, floor, versions, one table per workload), for docs/performance.md. */
function markdown(report: Report): string {
  const m = report.machine;
  const lines = [
    `Run of ${report.date.slice(0, 16).replace('T', ' ')} UTC${report.quick ? ' (**quick run**)' : ''}: \`${report.command}\``,
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, ${m.kernel.split(' ').slice(0, 2).join(' ')}, Node ${m.node}, disk ${m.disk}; ` +
      `load average at start ${m.loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')}.`,
  ];
  if (!('error' in report.floor)) {
    const f = report.floor;
    lines.push(
      '',
      `Floor: write 256 B + fdatasync p50 ${formatNumber(f.fdatasync.p50Ms, 3)} ms, p99 ${formatNumber(f.fdatasync.p99Ms, 3)} ms; ` +
        `loopback TCP round trip p50 ${formatNumber(f.loopbackRoundTrip.p50Ms, 3)} ms, p99 ${formatNumber(f.loopbackRoundTrip.p99Ms, 3)} ms.`,
    );
  }
  const versions = Object.entries(report.systems).map(([name, s]) => `${name} ${s.version ?? `(did not start: ${s.startError ?? '?'})`}`);
  lines.push('', `Versions: ${versions.join(', ')}.`);
  for (const w of report.workloads) {
    lines.push('', `#### ${w.title}`, '', markdownTable(w.table));
    for (const note of w.notes) lines.push('', `Note: ${note}`);
  }
  return `${lines.join('\n')}\n`;
}

/** NaN and Infinity have no JSON form: write null. */
function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? null : value;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  cleanupAll();
  process.exit(1);
});
