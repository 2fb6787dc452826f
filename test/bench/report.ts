// Tables for the console (and for docs/performance.md): one per workload, a row per system, then one row per
// other system with Synod's ratio to it, oriented so that >1 means Synod is better (higher throughput or
// lower latency).

import type { SystemName } from './driver.ts';
import type { MetricSpec, SystemOutcome, Workload, WorkloadResult } from './workloads/common.ts';

/** Synod's ratio to `other` for one metric: >1 when Synod is better; null when it cannot be computed. */
export function ratio(metric: MetricSpec, synod: number | undefined, other: number | undefined): number | null {
  if (metric.better === 'none' || synod === undefined || other === undefined) return null;
  if (!Number.isFinite(synod) || !Number.isFinite(other) || synod <= 0 || other <= 0) return null;
  return metric.better === 'higher' ? synod / other : other / synod;
}

/** Ratios of Synod to each other measured system, per metric key. */
export function ratios(workload: Workload, outcomes: ReadonlyMap<SystemName, SystemOutcome>): Record<string, Record<string, number | null>> {
  const synod = outcomes.get('synod');
  const out: Record<string, Record<string, number | null>> = {};
  if (synod?.kind !== 'measured') return out;
  for (const [system, outcome] of outcomes) {
    if (system === 'synod' || outcome.kind !== 'measured') continue;
    out[system] = Object.fromEntries(workload.metrics.map((m) => [m.key, ratio(m, synod.figures[m.key], outcome.figures[m.key])]));
  }
  return out;
}

export function formatNumber(value: number | undefined, digits: number): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** The table's cells: a header, a row per system, a ratio row per other system. */
export function tableRows(workload: Workload, result: WorkloadResult): string[][] {
  const rows: string[][] = [['system', ...workload.metrics.map((m) => m.label)]];
  for (const [system, outcome] of result.outcomes) {
    if (outcome.kind === 'failed') rows.push([system, `failed: ${outcome.error}`.slice(0, 100), ...workload.metrics.slice(1).map(() => '')]);
    else rows.push([system, ...workload.metrics.map((m) => formatNumber(outcome.figures[m.key], m.digits))]);
  }
  const r = ratios(workload, result.outcomes);
  for (const [other, byMetric] of Object.entries(r)) {
    rows.push([`synod vs ${other}`, ...workload.metrics.map((m) => (byMetric[m.key] == null ? '-' : `${formatNumber(byMetric[m.key]!, 2)}x`))]);
  }
  return rows;
}

/** Plain aligned text: first column left, others right. */
export function textTable(rows: readonly string[][]): string {
  const columns = Math.max(...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd()).join('\n');
}

/** The same table as Markdown. */
export function markdownTable(rows: readonly string[][]): string {
  const [header, ...body] = rows;
  if (header === undefined) return '';
  const line = (r: readonly string[]): string => `| ${r.join(' | ')} |`;
  return [line(header), line(header.map((_, c) => (c === 0 ? '---' : '---:'))), ...body.map(line)].join('\n');
}
