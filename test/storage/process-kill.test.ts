// Goal: a real process appending to the log on the real disk and killed with SIGKILL at random moments, again
// and again, never loses an acknowledged record: after each kill, recovery yields every acknowledged record
// intact (plus possibly a prefix of the one in flight), and the dead process's lock does not block a restart.

import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../server/raft/random.ts';
import type { HardState, LogIndex, Term } from '../../server/raft/types.ts';
import { StorageError } from '../../server/storage/errors.ts';
import type { DurableLog } from '../../server/storage/log.ts';
import { openLog } from '../../server/storage/log.ts';
import { realDisk } from '../../server/storage/real-disk.ts';
import { appenderEntry, appenderOptions, appenderSnapshot } from './fixtures/appender-shared.ts';
import { LogModel, differenceFromModel, tempDir, waitFor } from './helpers.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const fixture = path.join(here, 'fixtures/appender.ts');
const kills = 25;
const waitMs = 15_000;

/** A running appender and what it has said so far. */
class Appender {
  readonly lines: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly stdoutClosed: Promise<void>;
  private readonly listeners = new Set<() => void>();
  private partial = '';
  private readonly child: ChildProcess;

  constructor(dir: string, seed: number) {
    this.child = spawn(process.execPath, ['--import', 'tsx', fixture, dir, String(seed)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.stdoutClosed = new Promise((resolve) => this.child.stdout!.once('close', () => resolve()));
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      this.lines.push(...parts);
      for (const listener of [...this.listeners]) listener();
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => this.stderr.push(chunk));
    this.child.once('exit', () => {
      for (const listener of [...this.listeners]) listener();
    });
  }

  get acks(): number {
    return this.lines.filter((l) => l === 'ack').length;
  }

  /** Resolves when `predicate` holds (checked on every line), or rejects after a bounded wait. */
  until(predicate: () => boolean, what: string): Promise<void> {
    const subscribe = (check: () => void): (() => void) => {
      this.listeners.add(check);
      return () => this.listeners.delete(check);
    };
    let dead = false;
    void this.exited.then(() => (dead = true));
    return waitFor(subscribe, () => {
      if (dead && !predicate()) throw new Error(`the appender exited early: ${this.stderr.join('')}`);
      return predicate();
    }, waitMs, what);
  }

  /** SIGKILL, then wait (bounded) until it is gone and everything it wrote to stdout has been read. */
  async kill(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill('SIGKILL');
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the appender did not die')), waitMs).unref());
    const exit = await Promise.race([this.exited, timeout]);
    await Promise.race([this.stdoutClosed, timeout]);
    return exit;
  }
}

type Record =
  | { readonly kind: 'entry'; readonly index: number; readonly term: number }
  | { readonly kind: 'hard'; readonly hardState: HardState };

/** The records an operation announced with "begin ..." writes, in order. */
function recordsOf(line: string): Record[] {
  const [, kind, a, b, c, d] = line.split(' ');
  if (kind === 'snap') return [];
  if (kind !== 'save') throw new Error(`unexpected line: ${line}`);
  const from = Number(a);
  const count = Number(b);
  const term = Number(c);
  const records: Record[] = [];
  for (let k = 0; k < count; k++) records.push({ kind: 'entry', index: from + k, term });
  records.push({ kind: 'hard', hardState: { term: term as Term, vote: null, commit: Number(d) as LogIndex } });
  return records;
}

function apply(model: LogModel, records: readonly Record[]): LogModel {
  const m = model.clone();
  for (const r of records) {
    if (r.kind === 'entry') m.append(appenderEntry(r.index, r.term));
    else m.setHardState(r.hardState);
  }
  return m;
}

function matchPrefix(log: DurableLog, durable: LogModel, inFlight: readonly Record[], round: number): LogModel {
  const differences: string[] = [];
  for (let m = inFlight.length; m >= 0; m--) {
    const candidate = apply(durable, inFlight.slice(0, m));
    const difference = differenceFromModel(log.storage, candidate);
    if (difference === null) return candidate;
    differences.push(difference);
  }
  throw new Error(`after kill ${round}: the recovered log is not the acknowledged one (${differences.join('; ')})`);
}

describe('kill -9', () => {
  const { dir, cleanup } = tempDir('kill');
  afterAll(cleanup);

  it(`loses no acknowledged record over ${kills} kills at random moments`, async () => {
    const random = seededRandom(4242);
    let model = new LogModel();
    let totalAcks = 0;
    let tornTails = 0;
    let partial = 0;
    for (let round = 1; round <= kills; round++) {
      const appender = new Appender(dir, round);
      await appender.until(() => appender.lines.some((l) => l.startsWith('open ')), 'the appender to open the log');
      const opened = appender.lines.find((l) => l.startsWith('open '))!.split(' ').map(Number);
      expect(opened[2], 'the child recovered a different last index').toBe(model.lastIndex);
      if (round === 1) {
        // While it runs, nobody else may open the directory.
        await expect(openLog({ dir, disk: realDisk, ...appenderOptions })).rejects.toSatisfy(
          (e: unknown) => e instanceof StorageError && e.code === 'locked',
        );
      }
      // Mostly after some acknowledged writes; sometimes right after recovery, while it is still settling.
      const target = random.int(5) === 0 ? 0 : 1 + random.int(80);
      await appender.until(() => appender.acks >= target, `${target} acknowledgements`);
      const exit = await appender.kill();
      expect(exit.signal, `the appender died on its own: ${appender.stderr.join('')}`).toBe('SIGKILL');

      let inFlight: Record[] = [];
      for (const line of appender.lines) {
        if (line.startsWith('begin ')) {
          model = apply(model, inFlight);
          inFlight = recordsOf(line);
        } else if (line === 'ack') {
          model = apply(model, inFlight);
          inFlight = [];
          totalAcks++;
        }
      }
      const log = await openLog({ dir, disk: realDisk, ...appenderOptions });
      try {
        const before = model.lastIndex;
        model = matchPrefix(log, model, inFlight, round);
        if (inFlight.length > 0 && model.lastIndex !== before) partial++;
        if (log.recovery.tornTail !== null) tornTails++;
        const snapshot = log.storage.snapshot();
        if (snapshot.metadata.index > 0) {
          const expected = appenderSnapshot(snapshot.metadata.index, snapshot.metadata.term);
          expect(Buffer.compare(snapshot.data, expected.data)).toBe(0);
        }
      } finally {
        await log.close();
      }
    }
    expect(totalAcks).toBeGreaterThan(kills * 10);
    if (process.env['SYNOD_TEST_VERBOSE']) console.info(`kill -9: ${totalAcks} acknowledged operations, ${tornTails} torn tails, ${partial} in-flight operations found on disk`);
  });
});
