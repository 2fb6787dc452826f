// `synodctl watch`: one line (or JSON line) per change, until Ctrl-C; or a command run per change.

import type { Command } from 'commander';
import type { WatchEvent, WatchScope } from '../../sdk/index.ts';
import { SynodError } from '../../sdk/index.ts';
import { action, type Context } from './context.ts';
import { CliError } from './errors.ts';
import { envValue, runCommand } from './exec.ts';
import { examples } from './help.ts';
import { quotedValue, statJson, usage, valueJson } from './output.ts';
import { checkPath, parseInteger } from './values.ts';

interface WatchFlags {
  recursive?: boolean;
  children?: boolean;
  fromRevision?: string;
  prev?: boolean;
  count?: string;
}

export function registerWatchCommand(program: Command): void {
  const command = program
    .command('watch')
    .description('Print every change of a node (its children, or its subtree) until Ctrl-C; or run a command per change.')
    .argument('<path>', 'absolute path of the node')
    .argument('[command...]', 'after --: a command to run for each change, with the change in its environment')
    .option('-r, --recursive', 'the node and everything below it')
    .option('--children', 'the direct children of the node')
    .option('--from-revision <revision>', 'replay the changes from this revision on (inclusive)')
    .option('--prev', 'include the previous value on set events')
    .option('--count <n>', 'stop after this many changes')
    .action(action(async (ctx, path: string, commandArgv: string[], flags: WatchFlags) => {
      ctx.subject = checkPath(path);
      if (flags.recursive === true && flags.children === true) throw usage('give --recursive or --children, not both');
      const scope: WatchScope = flags.recursive === true ? 'subtree' : flags.children === true ? 'children' : 'node';
      const count = flags.count === undefined ? Number.POSITIVE_INFINITY : parseInteger(flags.count, '--count', 1);
      const client = await ctx.client();
      const signal = ctx.interruptSignal();
      const stream = client.watch(path, {
        scope,
        signal,
        ...(flags.fromRevision !== undefined ? { fromRevision: parseInteger(flags.fromRevision, '--from-revision', 1) } : {}),
        ...(flags.prev === true ? { prevData: true } : {}),
      });
      let seen = 0;
      try {
        for await (const item of stream) {
          if (item.type !== 'create' && item.type !== 'set' && item.type !== 'delete') continue;
          if (commandArgv.length > 0) await runForEvent(ctx, commandArgv, item);
          else ctx.out.item(eventJson(item), eventLine(item, flags.prev === true));
          if (++seen >= count) break;
        }
      } catch (error) {
        if (signal.aborted && error instanceof SynodError && error.code === 'aborted') return;
        if (error instanceof SynodError && error.code === 'compacted') {
          const oldest = error.details.compactRevision;
          throw new CliError('compacted', `${error.message}`, `start from revision ${oldest ?? 'a later one'} or later, or without --from-revision`, oldest !== undefined ? { compactRevision: oldest } : {}, { cause: error });
        }
        throw error;
      } finally {
        stream.finish(null);
      }
    }));
  examples(
    command,
    'synodctl watch /app/config',
    'synodctl watch /app --recursive --prev -o json',
    'synodctl watch /app --children --from-revision 100',
    'synodctl watch /app/config -- sh -c \'echo "$SYNOD_WATCH_EVENT_TYPE $SYNOD_WATCH_PATH = $SYNOD_WATCH_VALUE"\'',
  );
}

/** The JSON line of an event (docs/cli.md). */
export function eventJson(event: WatchEvent): Record<string, unknown> {
  return {
    type: event.type,
    path: event.path,
    revision: event.revision,
    ...valueJson(event.data),
    ...(event.prevData !== null ? { prevValue: valueJson(event.prevData).value } : {}),
    stat: statJson(event.stat),
  };
}

/** `17 set /app/config "blue"` (with --prev: `prev="green"`). */
export function eventLine(event: WatchEvent, prev: boolean): string {
  const base = `${event.revision} ${event.type} ${event.path}`;
  if (event.type === 'delete') return base;
  const value = `${base} ${quotedValue(event.data)}`;
  return prev && event.prevData !== null ? `${value} prev=${quotedValue(event.prevData)}` : value;
}

/** Runs the user's command for one event, the event in its environment (docs/cli.md). */
async function runForEvent(ctx: Context, argv: readonly string[], event: WatchEvent): Promise<void> {
  const env: Record<string, string> = {
    SYNOD_WATCH_EVENT_TYPE: event.type,
    SYNOD_WATCH_PATH: event.path,
    SYNOD_WATCH_REVISION: String(event.revision),
    SYNOD_WATCH_VERSION: String(event.stat.version),
  };
  const value = envValue(event.data);
  if (value !== null) {
    env['SYNOD_WATCH_VALUE'] = value.value;
    env['SYNOD_WATCH_VALUE_ENCODING'] = value.encoding;
  }
  const prev = event.prevData === null ? null : envValue(event.prevData);
  if (prev !== null) env['SYNOD_WATCH_PREV_VALUE'] = prev.value;
  const json = JSON.stringify(eventJson(event));
  if (json.length <= 100 * 1024) env['SYNOD_WATCH_EVENT'] = json;
  const status = await runCommand(argv, env);
  if (status !== 0) ctx.out.notice(`synodctl watch: ${argv[0]} exited with status ${status} for revision ${event.revision}`);
}
