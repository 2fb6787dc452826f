// Output of synodctl in three forms: `simple` (lines for people and for grep), `table` (bordered, with
// cli-table3) and `json` (one stable document per command, or one per line for streams; docs/cli.md).

import Table from 'cli-table3';
import type { NodeData, NodeStat } from '../../sdk/index.ts';
import { CliError, exitStatuses, type ExitCode } from './errors.ts';

export const outputModes = ['simple', 'table', 'json'] as const;
export type OutputMode = (typeof outputModes)[number];

/** Rows with a header: what list-like commands print in `simple` (aligned columns) and `table` form. */
export interface Rows {
  readonly head: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
}

/** What a command prints: its JSON document, and how people see it. */
export interface View {
  readonly json: unknown;
  /** Lines for `simple`; a Rows value is printed as aligned columns. */
  readonly simple: () => readonly string[] | Rows;
  /** Rows for `table`; when absent, `table` prints the simple form. */
  readonly table?: () => Rows;
}

/** Writes to stdout and stderr in the chosen mode. */
export class Output {
  constructor(
    readonly mode: OutputMode,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
  ) {}

  print(view: View): void {
    if (this.mode === 'json') {
      this.write(`${JSON.stringify(view.json, null, 2)}\n`);
      return;
    }
    if (this.mode === 'table') {
      const rows = view.table?.() ?? view.simple();
      this.write(isRows(rows) ? `${renderTable(rows)}\n` : lines(rows));
      return;
    }
    const simple = view.simple();
    this.write(isRows(simple) ? lines(alignColumns(simple)) : lines(simple));
  }

  /** One item of a stream: a JSON line in json mode, else the given text. */
  item(json: unknown, text: string): void {
    this.write(this.mode === 'json' ? `${JSON.stringify(json)}\n` : `${text}\n`);
  }

  /** A line for people (progress, notices) on stderr, never mixed into the data on stdout. */
  notice(text: string): void {
    if (this.mode !== 'json') this.stderr.write(`${text}\n`);
  }

  /** Raw bytes to stdout (get --raw). */
  raw(bytes: Uint8Array): void {
    this.stdout.write(bytes);
  }

  write(text: string): void {
    this.stdout.write(text);
  }

  /** Reports a failure on stderr: `synodctl: CODE: message` and a hint, or a JSON document in json mode. */
  error(error: CliError): void {
    const code: ExitCode = error.code;
    if (this.mode === 'json') {
      const body = { error: { code, exitStatus: exitStatuses[code], message: error.message, ...(error.hint !== null ? { hint: error.hint } : {}), ...error.details } };
      this.stderr.write(`${JSON.stringify(body)}\n`);
      return;
    }
    this.stderr.write(`synodctl: ${code}: ${error.message}\n`);
    if (error.hint !== null) this.stderr.write(`  hint: ${error.hint}\n`);
  }
}

function isRows(value: readonly string[] | Rows): value is Rows {
  return !Array.isArray(value);
}

function lines(items: readonly string[]): string {
  return items.length === 0 ? '' : `${items.join('\n')}\n`;
}

/** A bordered table with a line under the header only. */
export function renderTable(rows: Rows): string {
  const table = new Table({
    ...(rows.head.length > 0 ? { head: [...rows.head] } : {}),
    // No colors (the output is often piped), and no lines between rows.
    style: { head: [], border: [], compact: true },
  });
  for (const row of rows.rows) table.push([...row]);
  return table.toString();
}

/** Columns padded to their widest cell, two spaces apart, the last column unpadded. */
export function alignColumns(rows: Rows): string[] {
  const all = rows.head.length === 0 ? [...rows.rows] : [rows.head, ...rows.rows];
  const columns = Math.max(0, ...all.map((row) => row.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

// -------------------------------------------------------------------------------------------------------
// JSON shapes shared by several commands (documented in docs/cli.md)

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Node data for JSON: text when it is valid UTF-8, else base64, and which of the two it is. */
export interface ValueJson {
  readonly value: string;
  readonly encoding: 'utf8' | 'base64';
}

export function valueJson(data: Uint8Array): ValueJson {
  try {
    return { value: decoder.decode(data), encoding: 'utf8' };
  } catch {
    return { value: Buffer.from(data).toString('base64'), encoding: 'base64' };
  }
}

/** Node data for people: the text, or `<N bytes, base64 ...>` when it is not UTF-8. */
export function valueText(data: Uint8Array): string {
  const { value, encoding } = valueJson(data);
  return encoding === 'utf8' ? value : `<${data.length} bytes, base64 ${value}>`;
}

/** Node data quoted on one line (watch events, trees). */
export function quotedValue(data: Uint8Array, maxChars = 200): string {
  const { value, encoding } = valueJson(data);
  if (encoding === 'base64') return `<${data.length} bytes>`;
  const quoted = JSON.stringify(value.length > maxChars ? `${value.slice(0, maxChars)}…` : value);
  return quoted;
}

/** Every field of a stat, as the SDK has it. */
export function statJson(stat: NodeStat): NodeStat {
  return { ...stat };
}

export function nodeJson(node: NodeData): { path: string; value: string; encoding: 'utf8' | 'base64'; stat: NodeStat } {
  return { path: node.path, ...valueJson(node.data), stat: statJson(node.stat) };
}

/** A stat as `name value` lines (simple) or rows (table), with times in ISO form. */
export function statRows(path: string, stat: NodeStat): Rows {
  const rows: string[][] = [
    ['path', path],
    ['mode', stat.mode + (stat.sequential ? ' (sequential)' : '')],
    ['version', String(stat.version)],
    ['cversion', String(stat.cversion)],
    ['createRevision', String(stat.createRevision)],
    ['modRevision', String(stat.modRevision)],
    ['ephemeralOwner', stat.ephemeralOwner === 0 ? '0' : String(stat.ephemeralOwner)],
    ['numChildren', String(stat.numChildren)],
    ['dataLength', String(stat.dataLength)],
    ['ttl', stat.ttlMs === 0 ? '-' : formatDuration(stat.ttlMs)],
    ['ctime', isoTime(stat.ctimeMs)],
    ['mtime', isoTime(stat.mtimeMs)],
  ];
  return { head: [], rows };
}

export function isoTime(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString() : '-';
}

/** 1500 -> "1.5s", 90000 -> "1m30s", 250 -> "250ms". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  if (minutes < 60) return seconds === 0 ? `${minutes}m` : `${minutes}m${seconds}s`;
  const hours = Math.floor(minutes / 60);
  return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
}

/** How long ago `ms` (epoch) was, relative to `nowMs`: "3s ago". */
export function since(ms: number, nowMs: number): string {
  if (ms <= 0) return '-';
  return `${formatDuration(Math.max(0, nowMs - ms))} ago`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** A usage error for a bad argument value. */
export function usage(message: string, hint: string | null = null): CliError {
  return new CliError('usage', message, hint);
}
