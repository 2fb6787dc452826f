// `synodctl txn`: a transaction read from stdin, in JSON or in etcdctl's line format (docs/cli.md):
// compares, an empty line, the operations on success, an empty line, the operations on failure.

import type { Command } from 'commander';
import type { Compare, CompareOperator, NodeStat, TxnOp } from '../../sdk/index.ts';
import { action } from './context.ts';
import { CliError, exitStatuses } from './errors.ts';
import { examples } from './help.ts';
import { statJson, valueJson, valueText } from './output.ts';
import { parseDuration, parseInteger, readLocalFile, readStream } from './values.ts';

/** A parsed transaction. */
export interface TxnSpec {
  readonly compares: Compare[];
  readonly success: TxnOp[];
  readonly failure: TxnOp[];
}

/** Largest transaction text read from stdin. */
const txnTextBytesMax = 8 * 1024 * 1024;

const encoder = new TextEncoder();

export function registerTxnCommand(program: Command): void {
  const command = program
    .command('txn')
    .description('Run a transaction read from stdin (or --file): compares, then operations on success, then on failure.')
    .option('--file <file>', 'read the transaction from a file instead of stdin')
    .action(action(async (ctx, flags: { file?: string }) => {
      const bytes = flags.file !== undefined ? await readLocalFile(flags.file, txnTextBytesMax) : await readStream(process.stdin, 'stdin', txnTextBytesMax);
      const spec = parseTxn(new TextDecoder().decode(bytes));
      const client = await ctx.client();
      const result = await client.txn().if(...spec.compares).then(...spec.success).else(...spec.failure).commit();
      const ops = result.succeeded ? spec.success : spec.failure;
      const results = result.results.map((r, i) => resultJson(ops[i]!, r));
      ctx.out.print({
        json: { succeeded: result.succeeded, revision: result.header.revision, results },
        simple: () => [result.succeeded ? 'SUCCEEDED' : 'FAILED', ...results.map(resultLine)],
      });
      return result.succeeded ? 0 : exitStatuses.compare_failed;
    }));
  examples(
    command,
    `printf 'version(/app/config) = 3\\n\\nset /app/config "v4"\\n\\nget /app/config\\n' | synodctl txn`,
    `synodctl txn <<'EOF'
  value(/app/mode) = "blue"
  exists(/app/lock) = false

  set /app/mode "green"
  create /app/lock "me" --lease 42

  get /app/mode
  EOF`,
    `echo '{"if":[{"path":"/a","target":"exists","op":"=","value":false}],"then":[{"op":"create","path":"/a","value":"x"}]}' | synodctl txn -o json`,
  );
}

/** Parses either format: JSON when the text starts with `{`, else the line format. */
export function parseTxn(text: string): TxnSpec {
  return text.trimStart().startsWith('{') ? parseJsonTxn(text) : parseLineTxn(text);
}

// -------------------------------------------------------------------------------------------------------
// The line format

/**
 * Sections separated by empty lines: compares, success operations, failure operations. Lines starting with
 * `#` are comments. Values are words or JSON strings ("with spaces").
 */
export function parseLineTxn(text: string): TxnSpec {
  const sections: string[][] = [[]];
  // Every empty line ends a section (a first empty line: no compares); comment lines count for nothing.
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#')) continue;
    if (line === '') sections.push([]);
    else sections[sections.length - 1]!.push(line);
  }
  const nonEmptyTail = trimTrailingEmpty(sections);
  if (nonEmptyTail.length > 3) throw txnError('more than three sections: compares, success, failure (separated by one empty line each)');
  const [compares = [], success = [], failure = []] = nonEmptyTail;
  return { compares: compares.map(parseCompareLine), success: success.map(parseOpLine), failure: failure.map(parseOpLine) };
}

function trimTrailingEmpty(sections: string[][]): string[][] {
  const out = [...sections];
  while (out.length > 0 && out[out.length - 1]!.length === 0) out.pop();
  return out;
}

const compareTargets = ['exists', 'version', 'modRevision', 'createRevision', 'value'] as const;
const compareOperators: readonly CompareOperator[] = ['=', '!=', '<', '>'];

/** `version(/a) = 3`, `value(/a) != "x"`, `exists(/a) = true`. */
export function parseCompareLine(line: string): Compare {
  const match = /^(\w+)\(([^)]+)\)\s*(=|!=|<|>)\s*(.+)$/.exec(line);
  if (match === null) throw txnError(`"${line}" is not a compare like version(/a) = 3`);
  const [, target, path, op, rawValue] = match as unknown as [string, string, string, CompareOperator, string];
  const value = unquote(rawValue.trim());
  return compareOf(target, path.trim(), op, value, line);
}

function compareOf(target: string, path: string, op: CompareOperator, value: unknown, where: string): Compare {
  if (!(compareTargets as readonly string[]).includes(target)) throw txnError(`unknown compare target "${target}" in "${where}" (use ${compareTargets.join(', ')})`);
  if (!compareOperators.includes(op)) throw txnError(`unknown operator "${String(op)}" in "${where}"`);
  if (target === 'exists') {
    if (op !== '=' && op !== '!=') throw txnError(`exists takes = or != in "${where}"`);
    if (value !== true && value !== false && value !== 'true' && value !== 'false') throw txnError(`exists compares with true or false in "${where}"`);
    return { path, target, op, value: value === true || value === 'true' };
  }
  if (target === 'value') {
    if (value instanceof Uint8Array) return { path, target, op, value };
    if (typeof value !== 'string') throw txnError(`value compares with a string in "${where}"`);
    return { path, target, op, value: encoder.encode(value) };
  }
  const number = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(number)) throw txnError(`${target} compares with a whole number in "${where}"`);
  return { path, target: target as 'version' | 'modRevision' | 'createRevision', op, value: number };
}

/** `set PATH VALUE [--expect-version N]`, `create PATH [VALUE] [flags]`, `delete PATH [flags]`, `get PATH`. */
export function parseOpLine(line: string): TxnOp {
  const words = splitWords(line);
  const [verb, path, ...rest] = words;
  if (verb === undefined || path === undefined) throw txnError(`"${line}" is not an operation like set /a "value"`);
  const { positional, flags } = splitFlags(rest, line);
  switch (verb) {
    case 'get':
      expectNone(positional, flags, [], line);
      return { op: 'get', path };
    case 'set':
    case 'put': {
      expectNone(positional.slice(1), flags, ['expect-version'], line);
      if (positional[0] === undefined) throw txnError(`set needs a value in "${line}"`);
      const expected = flags.get('expect-version');
      return { op: 'set', path, data: encoder.encode(positional[0]), ...(expected !== undefined ? { expectedVersion: parseInteger(String(expected), '--expect-version') } : {}) };
    }
    case 'create': {
      expectNone(positional.slice(1), flags, ['parents', 'sequential', 'container', 'ttl', 'lease'], line);
      return createOp(path, positional[0] ?? '', flags);
    }
    case 'delete':
    case 'rm': {
      expectNone(positional, flags, ['recursive', 'expect-version'], line);
      const expected = flags.get('expect-version');
      return { op: 'delete', path, ...(flags.has('recursive') ? { recursive: true } : {}), ...(expected !== undefined ? { expectedVersion: parseInteger(String(expected), '--expect-version') } : {}) };
    }
    default:
      throw txnError(`unknown operation "${verb}" in "${line}" (use get, set, create, delete)`);
  }
}

function createOp(path: string, value: string, flags: Map<string, string | true>): TxnOp {
  const ttl = flags.get('ttl');
  const lease = flags.get('lease');
  const mode = lease !== undefined ? 'ephemeral' : flags.has('container') ? 'container' : ttl !== undefined ? 'ttl' : 'persistent';
  return {
    op: 'create',
    path,
    data: encoder.encode(value),
    mode,
    ...(flags.has('parents') ? { parents: true } : {}),
    ...(flags.has('sequential') ? { sequential: true } : {}),
    ...(ttl !== undefined ? { ttlMs: parseDuration(String(ttl), '--ttl') } : {}),
    ...(lease !== undefined ? { leaseId: parseInteger(String(lease), '--lease', 1) } : {}),
  };
}

const flagsWithValue = new Set(['expect-version', 'ttl', 'lease']);

function splitFlags(words: readonly string[], line: string): { positional: string[]; flags: Map<string, string | true> } {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (!word.startsWith('--')) {
      positional.push(word);
      continue;
    }
    const name = word.slice(2);
    if (flagsWithValue.has(name)) {
      const value = words[++i];
      if (value === undefined) throw txnError(`--${name} needs a value in "${line}"`);
      flags.set(name, value);
    } else {
      flags.set(name, true);
    }
  }
  return { positional, flags };
}

function expectNone(extra: readonly string[], flags: Map<string, string | true>, allowed: readonly string[], line: string): void {
  if (extra.length > 0) throw txnError(`unexpected "${extra.join(' ')}" in "${line}"`);
  for (const name of flags.keys()) if (!allowed.includes(name)) throw txnError(`unknown flag --${name} in "${line}"`);
}

/** Words separated by spaces; a word may be a JSON string ("a \"quoted\" value"). */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === ' ' || line[i] === '\t') {
      i++;
      continue;
    }
    if (line[i] === '"') {
      let j = i + 1;
      while (j < line.length && line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      if (j >= line.length) throw txnError(`unterminated string in "${line}"`);
      words.push(JSON.parse(line.slice(i, j + 1)) as string);
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < line.length && line[j] !== ' ' && line[j] !== '\t') j++;
    words.push(line.slice(i, j));
    i = j;
  }
  return words;
}

/** A JSON string literal becomes its text; anything else stays as written. */
function unquote(text: string): string {
  if (!text.startsWith('"')) return text;
  try {
    return JSON.parse(text) as string;
  } catch {
    throw txnError(`bad string ${text}`);
  }
}

// -------------------------------------------------------------------------------------------------------
// The JSON format

type Json = Record<string, unknown>;

/**
 * `{ "if": [compare...], "then": [op...], "else": [op...] }` (or the wire names compares/success/failure).
 * Values are text in `value`, or base64 in `data`.
 */
export function parseJsonTxn(text: string): TxnSpec {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw txnError(`not valid JSON: ${(error as Error).message}`);
  }
  if (!isJson(doc)) throw txnError('the JSON must be an object with if, then and else');
  const list = (a: string, b: string): Json[] => {
    const value = doc[a] ?? doc[b] ?? [];
    if (!Array.isArray(value) || !value.every(isJson)) throw txnError(`"${a}" must be a list of objects`);
    return value;
  };
  return {
    compares: list('if', 'compares').map((c, i) => compareOf(String(c['target']), String(c['path']), c['op'] as CompareOperator, c['target'] === 'value' ? bytesOf(c, `if[${i}]`) : c['value'], `if[${i}]`)),
    success: list('then', 'success').map((o, i) => jsonOp(o, `then[${i}]`)),
    failure: list('else', 'failure').map((o, i) => jsonOp(o, `else[${i}]`)),
  };
}

function jsonOp(o: Json, where: string): TxnOp {
  const path = o['path'];
  if (typeof path !== 'string') throw txnError(`${where} needs a path`);
  switch (o['op']) {
    case 'get':
      return { op: 'get', path };
    case 'set':
      return { op: 'set', path, data: bytesOf(o, where), ...(typeof o['expectedVersion'] === 'number' ? { expectedVersion: o['expectedVersion'] } : {}) };
    case 'delete':
      return { op: 'delete', path, ...(o['recursive'] === true ? { recursive: true } : {}), ...(typeof o['expectedVersion'] === 'number' ? { expectedVersion: o['expectedVersion'] } : {}) };
    case 'create': {
      const mode = o['mode'] ?? (o['leaseId'] !== undefined ? 'ephemeral' : 'persistent');
      if (mode !== 'persistent' && mode !== 'ephemeral' && mode !== 'container' && mode !== 'ttl') throw txnError(`${where}: mode must be persistent, ephemeral, container or ttl`);
      return {
        op: 'create',
        path,
        data: o['value'] === undefined && o['data'] === undefined ? new Uint8Array(0) : bytesOf(o, where),
        mode,
        ...(o['parents'] === true ? { parents: true } : {}),
        ...(o['sequential'] === true ? { sequential: true } : {}),
        ...(typeof o['ttlMs'] === 'number' ? { ttlMs: o['ttlMs'] } : {}),
        ...(typeof o['leaseId'] === 'number' ? { leaseId: o['leaseId'] } : {}),
      };
    }
    default:
      throw txnError(`${where}: op must be get, set, create or delete`);
  }
}

/** The bytes of `value` (text, as UTF-8) or of `data` (base64). */
function bytesOf(o: Json, where: string): Uint8Array {
  if (typeof o['value'] === 'string') return encoder.encode(o['value']);
  if (typeof o['data'] === 'string') return new Uint8Array(Buffer.from(o['data'], 'base64'));
  throw txnError(`${where} needs a "value" (text) or "data" (base64)`);
}

function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function txnError(message: string): CliError {
  return new CliError('usage', `txn: ${message}`, 'see synodctl txn --help and docs/cli.md for the format');
}

// -------------------------------------------------------------------------------------------------------
// Results

type ResultJson =
  | { op: 'get'; path: string; exists: boolean; value?: string; encoding?: 'utf8' | 'base64'; stat?: NodeStat }
  | { op: 'set'; path: string; stat: NodeStat }
  | { op: 'create'; path: string; stat: NodeStat }
  | { op: 'delete'; path: string; deleted: number };

function resultJson(op: TxnOp, raw: unknown): ResultJson {
  const r = raw as { path?: string; stat?: NodeStat; deleted?: number; node?: { data: Uint8Array; stat: NodeStat } | null };
  switch (op.op) {
    case 'get':
      return r.node === null || r.node === undefined ? { op: 'get', path: op.path, exists: false } : { op: 'get', path: op.path, exists: true, ...valueJson(r.node.data), stat: statJson(r.node.stat) };
    case 'set':
      return { op: 'set', path: op.path, stat: statJson(r.stat!) };
    case 'create':
      return { op: 'create', path: r.path ?? op.path, stat: statJson(r.stat!) };
    case 'delete':
      return { op: 'delete', path: op.path, deleted: r.deleted ?? 0 };
  }
}

function resultLine(result: ResultJson): string {
  switch (result.op) {
    case 'get':
      return result.exists ? `${result.path} = ${result.encoding === 'utf8' ? JSON.stringify(result.value) : valueText(Buffer.from(result.value!, 'base64'))}` : `${result.path} does not exist`;
    case 'set':
      return `updated ${result.path} to version ${result.stat.version}`;
    case 'create':
      return `created ${result.path}`;
    case 'delete':
      return `deleted ${result.deleted} node${result.deleted === 1 ? '' : 's'} at ${result.path}`;
  }
}
