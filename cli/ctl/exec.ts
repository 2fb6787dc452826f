// Running a user's command (`lock NAME -- CMD`, `watch PATH -- CMD`): no shell, stdio inherited, extra
// variables in its environment, SIGINT and SIGTERM passed on, and its exit status as a shell reports it.

import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { CliError } from './errors.ts';

/** Largest value placed in one environment variable (Linux refuses a single string over 128 KiB). */
export const envValueBytesMax = 100 * 1024;

export interface Running {
  /** The exit status: the command's own, or 128 + the signal number when a signal ended it. */
  readonly exited: Promise<number>;
  /** Sends a signal to the command. */
  kill(signal: NodeJS.Signals): void;
}

/** Starts `argv` with `env` added to ours. A command that cannot start is a usage error naming it. */
export function startCommand(argv: readonly string[], env: Readonly<Record<string, string>>): Running {
  const [file, ...args] = argv;
  if (file === undefined) throw new CliError('usage', 'no command given after --');
  const child = spawn(file, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', (error) => {
      cleanup();
      reject(new CliError('usage', `cannot run ${file}: ${error.message}`, 'check the command after -- (it runs without a shell; use sh -c "..." for shell syntax)', {}, { cause: error }));
    });
    child.once('exit', (code, signal) => {
      cleanup();
      resolve(code ?? 128 + signalNumber(signal));
    });
  });
  const cleanup = (): void => {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  };
  return { exited, kill: (signal) => void child.kill(signal) };
}

/** Runs `argv` to its end; resolves with its exit status. */
export function runCommand(argv: readonly string[], env: Readonly<Record<string, string>>): Promise<number> {
  return startCommand(argv, env).exited;
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === null ? 0 : (constants.signals[signal] ?? 0);
}

/** Node data for an environment variable: text, or base64 when not UTF-8; null when too large to pass. */
export function envValue(data: Uint8Array): { value: string; encoding: 'utf8' | 'base64' } | null {
  if (data.length > envValueBytesMax) return null;
  const text = Buffer.from(data).toString('utf8');
  if (!text.includes('\0') && Buffer.byteLength(text) === data.length && !text.includes('\uFFFD')) return { value: text, encoding: 'utf8' };
  return { value: Buffer.from(data).toString('base64'), encoding: 'base64' };
}
