// Benchmark of the durable log on the real disk: appends/s and syncs/s for 256-byte entries in batches of 1,
// 16 and 256 (each batch one save: one write, one fdatasync), beside the raw write+fdatasync rate of the same
// disk, and the time to recover a log of 1,000,000 entries (100,000 with --quick).
//
//   node --import tsx test/bench/storage.ts [--quick] [--dir DIR] [--out FILE.json]
//
// The raw rate and the three batch sizes are measured in interleaved rounds (raw, 1, 16, 256, raw, 1, ...)
// and each reported as the median of its rounds, so a neighbour's burst of I/O or CPU on a shared machine
// skews them alike rather than one of them. Prints a table and writes the figures as JSON (default:
// <tmp>/synod-bench-storage.json).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Entry, LogIndex, Term } from '../../server/raft/types.ts';
import type { DurableLog } from '../../server/storage/log.ts';
import { openLog } from '../../server/storage/log.ts';
import { realDisk } from '../../server/storage/real-disk.ts';

interface Args {
  readonly quick: boolean;
  readonly dir: string;
  readonly out: string;
}

function parseArgs(argv: readonly string[]): Args {
  let quick = false;
  let dir = os.tmpdir();
  let out = path.join(os.tmpdir(), 'synod-bench-storage.json');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') quick = true;
    else if (a === '--dir') dir = argv[++i] ?? dir;
    else if (a === '--out') out = argv[++i] ?? out;
    else throw new Error(`unknown argument ${a}; usage: storage.ts [--quick] [--dir DIR] [--out FILE]`);
  }
  return { quick, dir, out };
}

const entryBytes = 256;
const payload = new Uint8Array(entryBytes).fill(0x5a);

/** Entry objects are made per save, as the Raft core makes them; the 256 data bytes are shared. */
function makeEntries(from: number, count: number): Entry[] {
  const out: Entry[] = new Array(count);
  for (let k = 0; k < count; k++) out[k] = { kind: 'normal', index: (from + k) as LogIndex, term: 1 as Term, data: payload };
  return out;
}

/** One timed run of a workload: how many operations in how many seconds. */
interface Sample {
  readonly operations: number;
  readonly seconds: number;
}

async function timed(seconds: number, step: () => Promise<void>): Promise<Sample> {
  let operations = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    await step();
    operations++;
  }
  return { operations, seconds: (performance.now() - start) / 1000 };
}

/** The same disk's write+fdatasync rate, through the same callback APIs the real disk uses. */
class RawFile {
  private position = 0;
  private readonly record = Buffer.alloc(entryBytes + 8, 7);
  private constructor(
    private readonly file: string,
    private readonly fd: number,
  ) {}

  static create(dir: string): RawFile {
    const file = path.join(dir, 'raw.dat');
    const fd = fs.openSync(file, 'w+');
    const zero = Buffer.alloc(1 << 20);
    for (let i = 0; i < 64; i++) fs.writeSync(fd, zero, 0, zero.length, i << 20);
    fs.fdatasyncSync(fd);
    return new RawFile(file, fd);
  }

  async step(): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      fs.write(this.fd, this.record, 0, this.record.length, this.position, (e) => (e ? reject(e) : resolve())),
    );
    await new Promise<void>((resolve, reject) => fs.fdatasync(this.fd, (e) => (e ? reject(e) : resolve())));
    this.position = (this.position + this.record.length) % (64 << 20);
  }

  close(): void {
    fs.closeSync(this.fd);
    fs.rmSync(this.file, { force: true });
  }
}

/** A log receiving saves of `batch` entries each. */
class Appender {
  private next = 1;
  private constructor(
    readonly batch: number,
    private readonly log: DurableLog,
  ) {}

  static async open(root: string, batch: number): Promise<Appender> {
    const log = await openLog({ dir: fs.mkdtempSync(path.join(root, `append-${batch}-`)), disk: realDisk });
    return new Appender(batch, log);
  }

  async step(): Promise<void> {
    const hardState = { term: 1 as Term, vote: null, commit: (this.next - 1) as LogIndex };
    await this.log.save({ entries: makeEntries(this.next, this.batch), hardState, snapshot: null });
    this.next += this.batch;
    // Keep memory flat over a long run; compaction is in-memory only.
    if (this.next > 100_000) this.log.storage.compact((this.next - 1) as LogIndex);
  }

  stats(): ReturnType<DurableLog['stats']> {
    return this.log.stats();
  }

  close(): Promise<void> {
    return this.log.close();
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Rate {
  readonly perSecond: number;
  readonly rounds: readonly number[];
}

function rate(samples: readonly Sample[]): Rate {
  const rounds = samples.map((s) => s.operations / s.seconds);
  return { perSecond: median(rounds), rounds };
}

interface RecoveryResult {
  readonly entries: number;
  readonly walBytes: number;
  readonly segments: number;
  readonly buildSeconds: number;
  readonly recoverySeconds: number;
  readonly entriesPerSecond: number;
  readonly rssMegabytes: number;
}

async function recoveryTime(root: string, entries: number): Promise<RecoveryResult> {
  const dir = fs.mkdtempSync(path.join(root, 'recovery-'));
  const buildStart = performance.now();
  const log = await openLog({ dir, disk: realDisk });
  const batch = 1024;
  for (let next = 1; next <= entries; next += batch) {
    const count = Math.min(batch, entries - next + 1);
    const hardState = { term: 1 as Term, vote: null, commit: (next - 1) as LogIndex };
    await log.save({ entries: makeEntries(next, count), hardState, snapshot: null, mustSync: false });
    log.storage.compact((next - 1 + count) as LogIndex); // keep the writer's memory flat while building
  }
  await log.save({ entries: [], hardState: { term: 1 as Term, vote: null, commit: entries as LogIndex }, snapshot: null });
  const walBytes = log.stats().bytesWritten;
  await log.close();
  const buildSeconds = (performance.now() - buildStart) / 1000;
  const start = performance.now();
  const recovered = await openLog({ dir, disk: realDisk });
  const recoverySeconds = (performance.now() - start) / 1000;
  if (recovered.storage.lastIndex() !== entries) throw new Error(`recovered ${recovered.storage.lastIndex()} of ${entries} entries`);
  const rssMegabytes = process.memoryUsage().rss / 1e6;
  const segments = recovered.recovery.segments;
  await recovered.close();
  return { entries, walBytes, segments, buildSeconds, recoverySeconds, entriesPerSecond: entries / recoverySeconds, rssMegabytes };
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rounds = args.quick ? 3 : 7;
  const seconds = args.quick ? 0.5 : 1.5;
  const root = fs.mkdtempSync(path.join(args.dir, 'synod-bench-storage-'));
  try {
    const raw = RawFile.create(root);
    const appenders = [await Appender.open(root, 1), await Appender.open(root, 16), await Appender.open(root, 256)];
    // Warm-up: JIT, page cache, the first writes of each segment.
    for (const a of appenders) await timed(0.2, () => a.step());
    const rawSamples: Sample[] = [];
    const appendSamples: Sample[][] = appenders.map(() => []);
    for (let round = 0; round < rounds; round++) {
      rawSamples.push(await timed(seconds, () => raw.step()));
      for (let i = 0; i < appenders.length; i++) appendSamples[i]!.push(await timed(seconds, () => appenders[i]!.step()));
    }
    raw.close();
    const syncsPerSave = appenders.map((a) => a.stats().syncs / a.stats().saves);
    for (const a of appenders) await a.close();
    const recovery = await recoveryTime(root, args.quick ? 100_000 : 1_000_000);

    const rawRate = rate(rawSamples);
    const appends = appenders.map((a, i) => {
      const saves = rate(appendSamples[i]!);
      return {
        batch: a.batch,
        appendsPerSecond: saves.perSecond * a.batch,
        syncsPerSecond: saves.perSecond,
        megabytesPerSecond: (saves.perSecond * a.batch * entryBytes) / 1e6,
        meanSaveUs: 1e6 / saves.perSecond,
        fdatasyncsPerSave: syncsPerSave[i]!,
        rounds: saves.rounds,
      };
    });
    const result = {
      date: new Date().toISOString(),
      quick: args.quick,
      node: process.version,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cpus: os.cpus().length,
      loadAverage: os.loadavg(),
      dir: args.dir,
      entryBytes,
      rounds,
      secondsPerRound: seconds,
      rawWriteFdatasync: { perSecond: rawRate.perSecond, meanUs: 1e6 / rawRate.perSecond, rounds: rawRate.rounds },
      appends,
      recovery,
    };

    const rows: string[][] = [['measure (median of rounds)', 'appends/s', 'syncs/s', 'MB/s', 'µs per save']];
    rows.push(['raw write + fdatasync', '-', fmt(rawRate.perSecond), '-', fmt(1e6 / rawRate.perSecond)]);
    for (const a of appends) {
      rows.push([`save, batch of ${a.batch}`, fmt(a.appendsPerSecond), fmt(a.syncsPerSecond), fmt(a.megabytesPerSecond, 1), fmt(a.meanSaveUs)]);
    }
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    const line = (r: string[]): string => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
    const load = result.loadAverage.map((l) => l.toFixed(2)).join(' ');
    console.log(`storage benchmark, ${result.date}, node ${result.node}, ${result.cpu} x${result.cpus}, load ${load}, dir ${args.dir}${args.quick ? ' (quick)' : ''}`);
    console.log(line(rows[0]!));
    for (const r of rows.slice(1)) console.log(line(r));
    console.log(
      `recovery of ${fmt(recovery.entries)} entries (${fmt(recovery.walBytes / 1e6, 1)} MB of WAL in ${recovery.segments} segments): ` +
        `${fmt(recovery.recoverySeconds, 2)} s (${fmt(recovery.entriesPerSecond)} entries/s, rss ${fmt(recovery.rssMegabytes)} MB); ` +
        `writing it took ${fmt(recovery.buildSeconds, 1)} s`,
    );
    fs.writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`written to ${args.out}`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
