// Parsing of argument values: node data (argument, file or stdin), durations, integers, node paths.

import { readFile } from 'node:fs/promises';
import { CliError } from './errors.ts';
import { usage } from './output.ts';

/** The most synodctl reads from stdin or a file for one value (the server's own limit is lower by default). */
export const valueBytesMax = 64 * 1024 * 1024;

const encoder = new TextEncoder();

/**
 * The value of a write: `--file FILE`, `-` (stdin), the text argument, or empty. Exactly one source may be
 * given.
 */
export async function readValue(argument: string | undefined, file: string | undefined, stdin: NodeJS.ReadableStream = process.stdin): Promise<Uint8Array> {
  if (file !== undefined && argument !== undefined) throw usage('give the value either as an argument or with --file, not both');
  if (file !== undefined) return readLocalFile(file);
  if (argument === '-') return readStream(stdin, 'stdin');
  return encoder.encode(argument ?? '');
}

/** A whole local file, bounded by valueBytesMax; a failure is a file_error naming the file. */
export async function readLocalFile(file: string, bytesMax = valueBytesMax): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new CliError('file_error', `cannot read ${file}: ${(error as Error).message}`, null, {}, { cause: error });
  }
  if (bytes.length > bytesMax) throw new CliError('value_too_large', `${file} is larger than ${bytesMax} bytes`);
  return new Uint8Array(bytes);
}

/** A whole stream (stdin), bounded by `bytesMax`. */
export async function readStream(stream: NodeJS.ReadableStream, what: string, bytesMax = valueBytesMax): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
    size += buffer.length;
    if (size > bytesMax) throw new CliError('value_too_large', `${what} is larger than ${bytesMax} bytes`);
    chunks.push(buffer);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

const durationUnits: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration in milliseconds: `500ms`, `10s`, `1.5m`, `2h`, or a bare number of seconds (`10` = 10 s), as
 * etcdctl takes TTLs.
 */
export function parseDuration(text: string, what: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null) throw usage(`${what} "${text}" is not a duration`, 'write durations like 500ms, 10s, 2m or 1h (a bare number means seconds)');
  const ms = Number(match[1]) * durationUnits[match[2] ?? 's']!;
  if (!Number.isFinite(ms) || ms <= 0 || ms > 365 * 24 * 3_600_000) throw usage(`${what} "${text}" is out of range`);
  return Math.round(ms);
}

/** A non-negative safe integer (a revision, a version, a lease id). */
export function parseInteger(text: string, what: string, min = 0): number {
  if (!/^\d+$/.test(text.trim())) throw usage(`${what} "${text}" is not a whole number`);
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) throw usage(`${what} "${text}" is out of range`);
  return value;
}

/** Paths are checked by the server; the CLI only catches the common slip of a relative path. */
export function checkPath(path: string): string {
  if (!path.startsWith('/')) throw new CliError('invalid_path', `"${path}" is not an absolute path`, `write it as /${path}`);
  return path;
}

/** `/a/b` -> `b`; `/` -> `/`. */
export function baseName(path: string): string {
  return path === '/' ? '/' : path.slice(path.lastIndexOf('/') + 1);
}

/** The path of `name` under `parent`. */
export function joinPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/** The parent of a path (`/` for top-level nodes). */
export function parentPath(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}
