// Maintenance: compact the watch history, and `check perf`, a short load test judged against stated
// thresholds (as etcdctl's).

import type { Command } from 'commander';
import { Option } from 'commander';
import type { Client } from '../../sdk/index.ts';
import { action } from './context.ts';
import { exitStatuses } from './errors.ts';
import { examples } from './help.ts';
import { formatDuration } from './output.ts';
import { progressBar } from './progress.ts';
import { parseDuration, parseInteger } from './values.ts';

/** The loads of `check perf`: concurrent writers and the write rate asked of the cluster. */
export const perfLoads = {
  s: { writers: 20, writesPerSecond: 100 },
  m: { writers: 100, writesPerSecond: 1_000 },
  l: { writers: 400, writesPerSecond: 4_000 },
} as const;

/** What passes: at least this share of the asked rate, and latencies under these bounds. */
export const perfThresholds = {
  throughputRatioMin: 0.9,
  p99LatencyMsMax: 100,
  slowestLatencyMsMax: 500,
} as const;

/** Keys written in turn, and the size of each value. */
const perfKeys = 100;
const perfValueBytes = 256;
/** The longest run `check perf` accepts. */
const perfDurationMsMax = 60_000;

export function registerMaintenanceCommands(program: Command): void {
  const compact = program
    .command('compact')
    .description('Drop the watch history before REVISION (watches cannot start earlier afterwards).')
    .argument('<revision>', 'the oldest revision to keep')
    .action(action(async (ctx, revision: string) => {
      const client = await ctx.client();
      const oldest = await client.compact(parseInteger(revision, 'revision', 1));
      ctx.out.print({ json: { oldestRevision: oldest }, simple: () => [`compacted: the history now starts at revision ${oldest}`] });
    }));
  examples(compact, 'synodctl compact 1200');

  const check = program.command('check').description('Checks of a running cluster.');
  examples(check, 'synodctl check perf');
  const perf = check
    .command('perf')
    .description(
      `Write at a fixed rate for a while and judge the result: PASS when the throughput reaches ${perfThresholds.throughputRatioMin * 100}% of the rate, ` +
        `the 99th percentile latency stays under ${perfThresholds.p99LatencyMsMax} ms and the slowest write under ${perfThresholds.slowestLatencyMsMax} ms, with no error.`,
    )
    .addOption(new Option('--load <size>', 's: 20 writers at 100 writes/s; m: 100 at 1,000/s; l: 400 at 4,000/s').choices(['s', 'm', 'l']).default('s'))
    .option('--duration <duration>', 'how long to write', '10s')
    .option('--prefix <path>', 'where to write (deleted afterwards)', '/synod-check-perf')
    .action(action(async (ctx, flags: { load: keyof typeof perfLoads; duration: string; prefix: string }) => {
      const durationMs = Math.min(perfDurationMsMax, parseDuration(flags.duration, '--duration'));
      const load = perfLoads[flags.load];
      const client = await ctx.client();
      const prefix = `${flags.prefix}/${process.pid}-${Date.now()}`;
      ctx.out.notice(`check perf: ${load.writesPerSecond} writes/s of ${perfValueBytes} bytes by ${load.writers} writers for ${formatDuration(durationMs)}`);
      const report = await runLoad(client, prefix, load.writers, load.writesPerSecond, durationMs, process.stderr.isTTY === true && ctx.globals.output !== 'json');
      await client.delete(prefix, { recursive: true }).catch(() => {});
      // The shared parent goes too when no other run is writing under it.
      await client.delete(flags.prefix).catch(() => {});
      const checks = judge(report, load.writesPerSecond);
      const pass = checks.every((c) => c.pass);
      ctx.out.print({
        json: { load: flags.load, writers: load.writers, targetWritesPerSecond: load.writesPerSecond, durationMs, ...report, checks, pass },
        simple: () => [...checks.map((c) => `${c.pass ? 'PASS' : 'FAIL'}: ${c.description}`), pass ? 'PASS' : 'FAIL'],
      });
      return pass ? 0 : exitStatuses.check_failed;
    }));
  examples(perf, 'synodctl check perf', 'synodctl check perf --load m --duration 30s -o json');
}

interface LoadReport {
  readonly writes: number;
  readonly errors: number;
  readonly firstError: string | null;
  readonly writesPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number; readonly mean: number; readonly stddev: number };
}

/** Writes at `rate` per second (an open loop: each write has its due time) with `writers` at most in flight. */
async function runLoad(client: Client, prefix: string, writers: number, rate: number, durationMs: number, showProgress: boolean): Promise<LoadReport> {
  const value = new Uint8Array(perfValueBytes).fill(120);
  await client.create(`${prefix}/k0`, value, { parents: true });
  for (let i = 1; i < perfKeys; i += 50) {
    const ops = Array.from({ length: Math.min(50, perfKeys - i) }, (_, j) => ({ op: 'create' as const, path: `${prefix}/k${i + j}`, data: value }));
    await client.txn().then(...ops).commit();
  }
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  let next = 0;
  const total = Math.floor((rate * durationMs) / 1000);
  const progress = progressBar('check perf', 'writes', total, showProgress);
  const started = performance.now();
  const writer = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const dueMs = started + (i * 1000) / rate - performance.now();
      if (dueMs > 0) await new Promise((resolve) => setTimeout(resolve, dueMs));
      const sentAt = performance.now();
      try {
        await client.set(`${prefix}/k${i % perfKeys}`, value, { timeoutMs: 5_000 });
        latencies.push(performance.now() - sentAt);
      } catch (error) {
        errors++;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
      if (i % 50 === 0) progress.update(latencies.length + errors);
    }
  };
  await Promise.all(Array.from({ length: writers }, writer));
  progress.update(total);
  progress.stop();
  const elapsedMs = performance.now() - started;
  return { writes: latencies.length, errors, firstError, writesPerSecond: round((latencies.length * 1000) / elapsedMs), latencyMs: summarize(latencies) };
}

function summarize(values: number[]): LoadReport['latencyMs'] {
  if (values.length === 0) return { p50: 0, p90: 0, p99: 0, max: 0, mean: 0, stddev: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round(sorted[sorted.length - 1]!), mean: round(mean), stddev: round(Math.sqrt(variance)) };
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

interface Check {
  readonly name: string;
  readonly pass: boolean;
  readonly value: number;
  readonly limit: number;
  readonly description: string;
}

function judge(report: LoadReport, rate: number): Check[] {
  const minRate = rate * perfThresholds.throughputRatioMin;
  return [
    { name: 'throughput', pass: report.writesPerSecond >= minRate, value: report.writesPerSecond, limit: minRate, description: `throughput is ${report.writesPerSecond} writes/s (at least ${minRate})` },
    { name: 'p99Latency', pass: report.latencyMs.p99 <= perfThresholds.p99LatencyMsMax, value: report.latencyMs.p99, limit: perfThresholds.p99LatencyMsMax, description: `99th percentile latency is ${report.latencyMs.p99} ms (at most ${perfThresholds.p99LatencyMsMax} ms)` },
    { name: 'slowest', pass: report.latencyMs.max <= perfThresholds.slowestLatencyMsMax, value: report.latencyMs.max, limit: perfThresholds.slowestLatencyMsMax, description: `slowest write took ${report.latencyMs.max} ms (at most ${perfThresholds.slowestLatencyMsMax} ms)` },
    { name: 'errors', pass: report.errors === 0, value: report.errors, limit: 0, description: `${report.errors} writes failed${report.firstError !== null ? ` (first: ${report.firstError})` : ''}` },
  ];
}
