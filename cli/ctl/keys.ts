// The tree: get, put, create, rm, ls, tree, stat.

import type { Command } from 'commander';
import { Option } from 'commander';
import type { Client, NodeData, NodeMode, NodeStat, Session } from '../../sdk/index.ts';
import { SynodError } from '../../sdk/index.ts';
import { action, type Context } from './context.ts';
import { CliError } from './errors.ts';
import { examples } from './help.ts';
import { getAtRevision } from './history.ts';
import { formatDuration, isoTime, nodeJson, quotedValue, statJson, statRows, usage, valueJson, valueText, type Rows } from './output.ts';
import { baseName, checkPath, joinPath, parseDuration, parseInteger, readValue } from './values.ts';

/** Nodes `tree` reads at most unless told otherwise (it holds them to draw the tree). */
export const treeNodesDefault = 10_000;
/** Nodes per page of a subtree read. */
const rangePageNodes = 1000;
/** Attempts of put's read-then-write before giving up to a concurrent writer. */
const putAttemptsMax = 5;

export function registerKeyCommands(program: Command): void {
  registerGet(program);
  registerPut(program);
  registerCreate(program);
  registerRm(program);
  registerLs(program);
  registerTree(program);
  registerStat(program);
}

function registerGet(program: Command): void {
  const command = program
    .command('get')
    .description("Print a node's value (with --stat, its stat too).")
    .argument('<path>', 'absolute path of the node')
    .option('--stat', 'print the stat after the value')
    .option('--revision <revision>', 'the value at a past revision (from the history the members keep)')
    .option('--raw', 'write the value byte for byte, without a newline')
    .action(action(async (ctx, path: string, flags: { stat?: boolean; revision?: string; raw?: boolean }) => {
      ctx.subject = checkPath(path);
      const client = await ctx.client();
      if (flags.revision !== undefined) return printPast(ctx, client, path, parseInteger(flags.revision, '--revision', 1), flags);
      const node = await client.get(path, ctx.read);
      if (flags.raw === true) return void ctx.out.raw(node.data);
      ctx.out.print({
        json: nodeJson(node),
        simple: () => (flags.stat === true ? [valueText(node.data), ...statLines(node.path, node.stat)] : [valueText(node.data)]),
        table: () => ({ head: ['PATH', 'VALUE', 'VERSION', 'MOD REVISION'], rows: [[node.path, valueText(node.data), String(node.stat.version), String(node.stat.modRevision)]] }),
      });
    }));
  examples(command, 'synodctl get /app/config', 'synodctl get /app/config --stat -o json', 'synodctl get /app/config --revision 41', 'synodctl get /certs/ca --raw > ca.pem');
}

async function printPast(ctx: Context, client: Client, path: string, revision: number, flags: { stat?: boolean; raw?: boolean }): Promise<void> {
  const past = await getAtRevision(client, path, revision, ctx.globals.timeoutMs, ctx.globals.serializable);
  if (flags.raw === true) return void ctx.out.raw(past.data);
  ctx.out.print({
    json: { path, revision, ...valueJson(past.data), stat: past.stat === null ? null : statJson(past.stat) },
    simple: () => {
      const lines = [valueText(past.data)];
      if (flags.stat === true) lines.push(...(past.stat === null ? ['(the stat at that revision is not known: the node was changed after it)'] : statLines(path, past.stat)));
      return lines;
    },
    table: () => ({ head: ['PATH', 'REVISION', 'VALUE'], rows: [[path, String(revision), valueText(past.data)]] }),
  });
}

function statLines(path: string, stat: NodeStat): string[] {
  const rows = statRows(path, stat).rows;
  const width = Math.max(...rows.map((row) => row[0]!.length));
  return rows.map((row) => `${row[0]!.padEnd(width)}  ${row[1]}`);
}

interface PutFlags {
  file?: string;
  lease?: string;
  ephemeral?: boolean;
  expectVersion?: string;
}

function registerPut(program: Command): void {
  const command = program
    .command('put')
    .description('Set a node\'s value, creating it (and missing parents) when it does not exist.')
    .argument('<path>', 'absolute path of the node')
    .argument('[value]', 'the value; - reads it from stdin')
    .option('--file <file>', 'read the value from a file')
    .option('--lease <id>', 'attach the node to this lease (it goes when the lease ends)')
    .option('--ephemeral', "own the node by this command's session: it exists until Ctrl-C")
    .option('--expect-version <version>', 'only if the node exists at this version (compare-and-set)')
    .action(action(async (ctx, path: string, argument: string | undefined, flags: PutFlags) => {
      ctx.subject = checkPath(path);
      if (argument === undefined && flags.file === undefined) throw usage('give a value, - for stdin, or --file FILE', 'put "" to store an empty value');
      if (flags.lease !== undefined && flags.ephemeral === true) throw usage('give --lease or --ephemeral, not both');
      const value = await readValue(argument, flags.file);
      const expected = flags.expectVersion === undefined ? undefined : parseInteger(flags.expectVersion, '--expect-version');
      const client = await ctx.client();
      if (flags.lease !== undefined || flags.ephemeral === true) {
        const session = flags.ephemeral === true ? await client.session() : null;
        const leaseId = session?.id ?? parseInteger(flags.lease!, '--lease', 1);
        const result = await putOwned(client, path, value, leaseId, expected);
        printPut(ctx, path, result.created, result.stat);
        if (session !== null) await holdEphemeral(ctx, session, path);
        return;
      }
      const result = expected !== undefined ? { created: false, stat: await client.set(path, value, { expectedVersion: expected }) } : await createOrSet(client, path, value);
      printPut(ctx, path, result.created, result.stat);
    }));
  examples(command, 'synodctl put /app/config "mode=blue"', 'echo -n hello | synodctl put /app/greeting -', 'synodctl put /app/config --file config.json --expect-version 3', 'synodctl put /services/api/host-1 10.0.0.7:80 --lease 42');
}

function printPut(ctx: Context, path: string, created: boolean, stat: NodeStat): void {
  ctx.out.print({
    json: { path, created, stat: statJson(stat) },
    simple: () => [created ? `created ${path} (revision ${stat.modRevision})` : `updated ${path} to version ${stat.version} (revision ${stat.modRevision})`],
  });
}

/** Sets the node, or creates it (with its parents) when it does not exist; retries a lost race. */
async function createOrSet(client: Client, path: string, value: Uint8Array): Promise<{ created: boolean; stat: NodeStat }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return { created: false, stat: await client.set(path, value) };
    } catch (error) {
      if (!(error instanceof SynodError && error.code === 'not_found')) throw error;
    }
    try {
      return { created: true, stat: (await client.create(path, value, { parents: true })).stat };
    } catch (error) {
      if (!(error instanceof SynodError && error.code === 'exists') || attempt >= putAttemptsMax) throw error;
    }
  }
}

/**
 * Puts a node owned by a lease: an existing node is replaced in one transaction (the owner of a node cannot
 * change otherwise), guarded by the version read just before.
 */
async function putOwned(client: Client, path: string, value: Uint8Array, leaseId: number, expected: number | undefined): Promise<{ created: boolean; stat: NodeStat }> {
  for (let attempt = 1; attempt <= putAttemptsMax; attempt++) {
    const stat = await client.exists(path);
    if (expected !== undefined && (stat === null || stat.version !== expected)) {
      throw new SynodError('bad_version', stat === null ? `${path} does not exist` : `${path} is at version ${stat.version}, not ${expected}`);
    }
    const create = { op: 'create' as const, path, data: value, mode: 'ephemeral' as const, leaseId, parents: true };
    const txn = stat === null
      ? client.txn().if({ path, target: 'exists', op: '=', value: false }).then(create)
      : client.txn().if({ path, target: 'version', op: '=', value: stat.version }, { path, target: 'createRevision', op: '=', value: stat.createRevision }).then({ op: 'delete', path }, create);
    const result = await txn.commit();
    if (result.succeeded) {
      const created = result.results[result.results.length - 1] as { stat: NodeStat };
      return { created: stat === null, stat: created.stat };
    }
    if (expected !== undefined) throw new SynodError('bad_version', `${path} changed while it was being replaced`);
  }
  throw new CliError('bad_version', `${path} kept changing; gave up after ${putAttemptsMax} attempts`);
}

/** Keeps this process (and the session owning `path`) alive until Ctrl-C; fails if the session expires. */
async function holdEphemeral(ctx: Context, session: Session, path: string): Promise<void> {
  ctx.out.notice(`holding ${path} (ephemeral, session ${session.id}) until Ctrl-C`);
  const interrupted = ctx.untilInterrupted();
  const expired = new Promise<void>((resolve) => session.signal.addEventListener('abort', () => resolve(), { once: true }));
  await Promise.race([interrupted, expired]);
  if (!ctx.interruptSignal().aborted) throw new CliError('session_expired', `session ${session.id} expired: ${path} is gone`);
}

interface CreateFlags {
  file?: string;
  parents?: boolean;
  sequential?: boolean;
  ephemeral?: boolean;
  container?: boolean;
  ttl?: string;
  lease?: string;
}

function registerCreate(program: Command): void {
  const command = program
    .command('create')
    .description('Create a node; fails with exists when it is there already.')
    .argument('<path>', 'absolute path (with --sequential, the prefix of the name)')
    .argument('[value]', 'the value (default empty); - reads it from stdin')
    .option('--file <file>', 'read the value from a file')
    .option('-p, --parents', 'create missing parents (as mkdir -p)')
    .option('-s, --sequential', 'append a 10-digit counter to the name (printed)')
    .option('-e, --ephemeral', "own the node by this command's session: it exists until Ctrl-C")
    .option('--container', 'a container: removed when its last child goes')
    .option('--ttl <duration>', 'a TTL node: removed after this long without a change and without children')
    .option('--lease <id>', 'an ephemeral node owned by this lease')
    .action(action(async (ctx, path: string, argument: string | undefined, flags: CreateFlags) => {
      ctx.subject = checkPath(path);
      const kinds = [flags.ephemeral === true, flags.container === true, flags.ttl !== undefined, flags.lease !== undefined].filter(Boolean).length;
      if (kinds > 1) throw usage('give at most one of --ephemeral, --container, --ttl and --lease');
      const value = await readValue(argument, flags.file);
      const client = await ctx.client();
      const mode: NodeMode = flags.ephemeral === true || flags.lease !== undefined ? 'ephemeral' : flags.container === true ? 'container' : flags.ttl !== undefined ? 'ttl' : 'persistent';
      const session = flags.ephemeral === true ? await client.session() : null;
      const created = await client.create(path, value, {
        mode,
        ...(flags.parents === true ? { parents: true } : {}),
        ...(flags.sequential === true ? { sequential: true } : {}),
        ...(flags.ttl !== undefined ? { ttlMs: parseDuration(flags.ttl, '--ttl') } : {}),
        ...(flags.lease !== undefined ? { leaseId: parseInteger(flags.lease, '--lease', 1) } : {}),
        ...(session !== null ? { session } : {}),
      });
      ctx.out.print({ json: { path: created.path, stat: statJson(created.stat) }, simple: () => [created.path] });
      if (session !== null) await holdEphemeral(ctx, session, created.path);
    }));
  examples(
    command,
    'synodctl create /app/config "mode=blue"',
    'synodctl create /jobs/job- "payload" --sequential          # prints /jobs/job-0000000000',
    'synodctl create /app/a/b/c --parents',
    'synodctl create /members/me "10.0.0.7" --ephemeral        # held until Ctrl-C',
    'synodctl create /tmp/scratch --ttl 10m',
  );
}

function registerRm(program: Command): void {
  const command = program
    .command('rm')
    .alias('del')
    .description('Delete a node (with --recursive, its whole subtree).')
    .argument('<path>', 'absolute path of the node')
    .option('-r, --recursive', 'delete the node and everything below it')
    .option('--expect-version <version>', 'only if the node is at this version')
    .action(action(async (ctx, path: string, flags: { recursive?: boolean; expectVersion?: string }) => {
      ctx.subject = checkPath(path);
      const client = await ctx.client();
      const deleted = await client.delete(path, {
        ...(flags.recursive === true ? { recursive: true } : {}),
        ...(flags.expectVersion !== undefined ? { expectedVersion: parseInteger(flags.expectVersion, '--expect-version') } : {}),
      });
      ctx.out.print({ json: { path, deleted }, simple: () => [`deleted ${deleted} node${deleted === 1 ? '' : 's'}`] });
    }));
  examples(command, 'synodctl rm /app/old', 'synodctl rm /app --recursive', 'synodctl rm /app/config --expect-version 4');
}

function registerLs(program: Command): void {
  const command = program
    .command('ls')
    .description('List the children of a node (with -l, their stats).')
    .argument('[path]', 'absolute path of the node', '/')
    .option('-l, --long', 'with mode, version, children, size and modification time')
    .action(action(async (ctx, path: string, flags: { long?: boolean }) => {
      ctx.subject = checkPath(path);
      const client = await ctx.client();
      if (flags.long !== true) {
        const names = await client.children(path, ctx.read);
        ctx.out.print({
          json: { path, children: names.map((name) => ({ name, path: joinPath(path, name) })) },
          simple: () => names,
          table: () => ({ head: ['NAME'], rows: names.map((name) => [name]) }),
        });
        return;
      }
      const children = await client.childrenWithStats(path, ctx.read);
      const rows: Rows = {
        head: ['MODE', 'VERSION', 'CHILDREN', 'SIZE', 'MODIFIED', 'NAME'],
        rows: children.map(({ name, stat }) => [modeOf(stat), String(stat.version), String(stat.numChildren), String(stat.dataLength), isoTime(stat.mtimeMs), name]),
      };
      ctx.out.print({
        json: { path, children: children.map(({ name, stat }) => ({ name, path: joinPath(path, name), stat: statJson(stat) })) },
        simple: () => rows,
      });
    }));
  examples(command, 'synodctl ls /', 'synodctl ls -l /app', 'synodctl ls /app -o json');
}

/** A short mode column: persistent, ephemeral, container, ttl(10s), with +seq for sequential nodes. */
function modeOf(stat: NodeStat): string {
  const base = stat.mode === 'ttl' ? `ttl(${formatDuration(stat.ttlMs)})` : stat.mode;
  return stat.sequential ? `${base}+seq` : base;
}

interface TreeFlags {
  depth?: string;
  values?: boolean;
  maxNodes?: string;
}

/** A node of the drawn tree. */
interface TreeNode {
  readonly node: NodeData;
  readonly children: TreeNode[];
}

function registerTree(program: Command): void {
  const command = program
    .command('tree')
    .description('Draw the subtree of a node.')
    .argument('[path]', 'absolute path of the top node', '/')
    .option('-d, --depth <n>', 'levels below the top node to draw')
    .option('-v, --values', 'show each value')
    .addOption(new Option('--max-nodes <n>', 'read at most this many nodes').default(String(treeNodesDefault)))
    .action(action(async (ctx, path: string, flags: TreeFlags) => {
      ctx.subject = checkPath(path);
      const depth = flags.depth === undefined ? Number.POSITIVE_INFINITY : parseInteger(flags.depth, '--depth');
      const limit = parseInteger(flags.maxNodes ?? String(treeNodesDefault), '--max-nodes', 1);
      const client = await ctx.client();
      const { root, truncated, revision } = await readTree(client, path, depth, limit, ctx.read);
      ctx.out.print({
        json: { revision, truncated, tree: treeJson(root) },
        simple: () => {
          const lines = [label(root, flags.values === true, true), ...drawChildren(root, '', flags.values === true)];
          if (truncated) lines.push(`… stopped after ${limit} nodes (raise --max-nodes)`);
          return lines;
        },
      });
    }));
  examples(command, 'synodctl tree /app', 'synodctl tree / --depth 2 --values', 'synodctl tree /app -o json');
}

/** Reads the subtree page by page, keeping nodes down to `depth` levels, at most `limit` of them. */
async function readTree(client: Client, path: string, depth: number, limit: number, read: { serializable?: true }): Promise<{ root: TreeNode; truncated: boolean; revision: number }> {
  const byPath = new Map<string, TreeNode>();
  const topDepth = path === '/' ? 0 : path.split('/').length - 1;
  let root: TreeNode | null = null;
  let after: string | undefined;
  let revision = 0;
  let kept = 0;
  for (;;) {
    const page = await client.range(path, { limit: rangePageNodes, ...(after !== undefined ? { after } : {}), ...read });
    revision = page.revision;
    for (const node of page.nodes) {
      const level = (node.path === '/' ? 0 : node.path.split('/').length - 1) - topDepth;
      if (level > depth) continue;
      if (kept >= limit) return { root: root!, truncated: true, revision };
      const entry: TreeNode = { node, children: [] };
      byPath.set(node.path, entry);
      kept++;
      if (node.path === path) root = entry;
      else byPath.get(node.path.slice(0, Math.max(1, node.path.lastIndexOf('/'))))?.children.push(entry);
    }
    if (!page.more || page.nodes.length === 0) break;
    after = page.nodes[page.nodes.length - 1]!.path;
  }
  if (root === null) throw new SynodError('not_found', `${path} does not exist`);
  return { root, truncated: false, revision };
}

function label(entry: TreeNode, values: boolean, top = false): string {
  const stat = entry.node.stat;
  const name = top ? entry.node.path : baseName(entry.node.path);
  const mode = modeOf(stat);
  const marks = mode === 'persistent' ? '' : ` [${mode}]`;
  return values && stat.dataLength > 0 ? `${name}${marks} = ${quotedValue(entry.node.data, 60)}` : `${name}${marks}`;
}

function drawChildren(entry: TreeNode, prefix: string, values: boolean): string[] {
  const lines: string[] = [];
  entry.children.forEach((child, i) => {
    const last = i === entry.children.length - 1;
    lines.push(`${prefix}${last ? '└── ' : '├── '}${label(child, values)}`);
    lines.push(...drawChildren(child, `${prefix}${last ? '    ' : '│   '}`, values));
  });
  return lines;
}

interface TreeJson {
  readonly name: string;
  readonly path: string;
  readonly value: string;
  readonly encoding: 'utf8' | 'base64';
  readonly stat: NodeStat;
  readonly children: TreeJson[];
}

function treeJson(entry: TreeNode): TreeJson {
  return { name: baseName(entry.node.path), path: entry.node.path, ...valueJson(entry.node.data), stat: statJson(entry.node.stat), children: entry.children.map(treeJson) };
}

function registerStat(program: Command): void {
  const command = program
    .command('stat')
    .description("Print a node's stat: versions, revisions, owner, children, size, times.")
    .argument('<path>', 'absolute path of the node')
    .action(action(async (ctx, path: string) => {
      ctx.subject = checkPath(path);
      const client = await ctx.client();
      const stat = await client.exists(path, ctx.read);
      if (stat === null) throw new SynodError('not_found', `${path} does not exist`);
      ctx.out.print({ json: { path, stat: statJson(stat) }, simple: () => statLines(path, stat), table: () => statRows(path, stat) });
    }));
  examples(command, 'synodctl stat /app/config', 'synodctl stat /app/config -o json');
}
