// What every synodctl command shares: the global options, the output, one client (connected on first use and
// closed at the end), an interrupt signal for long-running commands, and turning failures into exit statuses.

import type { Command } from 'commander';
import { connect, SynodError, type Client } from '../../sdk/index.ts';
import { CliError, exitStatuses, toCliError } from './errors.ts';
import { Output, outputModes, usage, type OutputMode } from './output.ts';
import { parseDuration } from './values.ts';

/** The local ensemble that `synod dev` starts. */
export const defaultEndpoints = ['127.0.0.1:4401', '127.0.0.1:4402', '127.0.0.1:4403'] as const;
export const defaultTimeout = '5s';

export interface GlobalOptions {
  readonly endpoints: readonly string[];
  /** Deadline of each request (including retries), and of connecting. */
  readonly timeoutMs: number;
  readonly output: OutputMode;
  /** Reads answer from the connected member's state, possibly stale. */
  readonly serializable: boolean;
}

/** The global options, from flags over SYNOD_ENDPOINTS over the defaults. */
export function globalOptions(command: Command, env: NodeJS.ProcessEnv = process.env): GlobalOptions {
  const raw = command.optsWithGlobals<{ endpoints?: string; timeout?: string; output?: string; serializable?: boolean }>();
  const list = raw.endpoints ?? env['SYNOD_ENDPOINTS'] ?? defaultEndpoints.join(',');
  const endpoints = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (endpoints.length === 0) throw usage('--endpoints names no endpoint', 'give host:port pairs separated by commas');
  const output = raw.output ?? 'simple';
  if (!(outputModes as readonly string[]).includes(output)) throw usage(`--output must be one of ${outputModes.join(', ')}`);
  return { endpoints, timeoutMs: parseDuration(raw.timeout ?? defaultTimeout, '--timeout'), output: output as OutputMode, serializable: raw.serializable === true };
}

/** One command's run: created per invocation by `action()`. */
export class Context {
  readonly out: Output;
  private clientPromise: Promise<Client> | null = null;
  private readonly interrupt = new AbortController();
  private readonly cleanups: Array<() => Promise<void> | void> = [];
  private listening = false;
  /** What the command is about (a path, a lock): named in error messages that do not name it. */
  subject: string | null = null;

  constructor(readonly globals: GlobalOptions) {
    this.out = new Output(globals.output);
  }

  /** The client, connected on first use; a failure to reach any member says which endpoints were tried. */
  client(): Promise<Client> {
    this.clientPromise ??= connect({ endpoints: this.globals.endpoints, requestTimeoutMs: this.globals.timeoutMs, connectTimeoutMs: Math.min(2_000, this.globals.timeoutMs) }).catch((error: unknown) => {
      throw unreachable(this.globals.endpoints, error);
    });
    return this.clientPromise;
  }

  /** Read options from the global flags. */
  get read(): { serializable?: true } {
    return this.globals.serializable ? { serializable: true } : {};
  }

  /**
   * Aborted on the first SIGINT (Ctrl-C) or SIGTERM, once a command asked for it: streaming commands end
   * cleanly then. A second signal exits at once.
   */
  interruptSignal(): AbortSignal {
    if (!this.listening) {
      this.listening = true;
      const onSignal = (signal: NodeJS.Signals): void => {
        if (this.interrupt.signal.aborted) process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
        this.interrupt.abort(new SynodError('aborted', `interrupted by ${signal}`));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      this.cleanups.push(() => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      });
    }
    return this.interrupt.signal;
  }

  /** Resolves when interrupted. */
  untilInterrupted(): Promise<void> {
    const signal = this.interruptSignal();
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }

  /** Closes the client (revoking its sessions: their ephemeral nodes and locks go at once). */
  async close(): Promise<void> {
    for (const cleanup of this.cleanups.splice(0)) await cleanup();
    if (this.clientPromise === null) return;
    const client = await this.clientPromise.catch(() => null);
    await client?.close();
  }
}

/** The error for an ensemble none of whose members answered. */
export function unreachable(endpoints: readonly string[], cause: unknown): CliError {
  if (cause instanceof SynodError && (cause.code === 'unavailable' || cause.code === 'timeout')) {
    return new CliError('unavailable', `no member answered at ${endpoints.join(', ')}`, 'check that the members run and that --endpoints (or SYNOD_ENDPOINTS) names them', { endpoints }, { cause });
  }
  return toCliError(cause);
}

/**
 * Wraps a command's action: builds its context from the global options, runs it, reports a failure on
 * stderr, closes the client and sets the exit status (see errors.ts). The action may return an exit status
 * of its own (a child command's).
 */
export function action<A extends unknown[]>(run: (context: Context, ...args: A) => Promise<number | void>): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    let context: Context | null = null;
    let status = 0;
    try {
      context = new Context(globalOptions(command));
      const result = await run(context, ...(args.slice(0, -1) as A));
      status = typeof result === 'number' ? result : 0;
    } catch (error) {
      const failure = withSubject(toCliError(error), context?.subject ?? null);
      const diagnosed = context === null ? failure : await diagnose(context.globals, failure);
      (context?.out ?? new Output(outputModeOf(command))).error(diagnosed);
      status = exitStatuses[diagnosed.code];
    }
    await context?.close().catch(() => {});
    process.exitCode = status;
  };
}

/** Prefixes the message with the subject (`/app/config: the node does not exist`) unless it names it. */
function withSubject(error: CliError, subject: string | null): CliError {
  if (subject === null || error.message.includes(subject) || error.code === 'usage') return error;
  return new CliError(error.code, `${subject}: ${error.message}`, error.hint, error.details, { cause: error.cause });
}

function outputModeOf(command: Command): OutputMode {
  const mode = command.optsWithGlobals<{ output?: string }>().output;
  return mode === 'json' || mode === 'table' ? mode : 'simple';
}

/**
 * A timeout says little: ask the members over HTTP what they know, and report `no_leader` when those that
 * answer know no leader, or `unavailable` when none answers. A `no_leader` answer gets the same diagnosis: when
 * no leader is elected, a request's deadline may catch it waiting for the next retry (a timeout) or just after
 * one more `no_leader` answer, and the report must not depend on which.
 */
export async function diagnose(globals: Pick<GlobalOptions, 'endpoints' | 'timeoutMs'>, error: CliError): Promise<CliError> {
  if (error.code !== 'timeout' && error.code !== 'unavailable' && error.code !== 'no_leader') return error;
  // Only failures of requests to the cluster: a command's own verdict (endpoint status) stands.
  if (!(error.cause instanceof SynodError) && error.details['endpoints'] === undefined) return error;
  const endpoints = globals.endpoints;
  const statuses = await Promise.all(endpoints.map((endpoint) => fetchJson(`http://${endpoint}/status`, 1000)));
  const answered = statuses.filter((s): s is { member: string; leader: string | null } => s !== null && typeof s === 'object' && 'member' in s);
  if (answered.length === 0) return new CliError('unavailable', `no member answered at ${endpoints.join(', ')}`, 'check that the members run and that --endpoints (or SYNOD_ENDPOINTS) names them', { endpoints }, { cause: error });
  if (answered.every((s) => s.leader === null)) {
    const names = answered.map((s) => s.member).join(', ');
    return new CliError('no_leader', `${error.message}; the members that answered (${names}) know no leader`, 'a majority of the members must run for the cluster to elect a leader: start the missing members', { endpoints, answered: answered.map((s) => s.member) }, { cause: error });
  }
  if (error.details['endpoints'] !== undefined) {
    // Connecting failed, yet members answer over HTTP and know a leader: they were too slow for --timeout.
    return new CliError('timeout', `no answer within ${globals.timeoutMs} ms from ${endpoints.join(', ')}, though the members run`, 'raise --timeout', { endpoints }, { cause: error });
  }
  return error;
}

/** GET a JSON document, or null on any failure (bounded by `timeoutMs`). */
export async function fetchJson(url: string, timeoutMs: number): Promise<unknown> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return await response.json();
  } catch {
    return null;
  }
}
