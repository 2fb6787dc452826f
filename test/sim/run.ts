// The simulator's command line.
//   npm run sim -- --seeds 100000 --start 1        many seeds over all cores, totals at the end
//   npm run sim -- --seed 1234 --trace             replay one seed, one trace line per event
// Options that change a run (--mix, --size, --bug, --checkers, --fault-ms, --liveness-ms) must be repeated
// when replaying; the replay command printed for a failure includes them.

import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import type { PlantedBugs } from '../../server/raft/index.ts';
import { simulate } from './cluster.ts';
import { type CheckerName, isCheckerName, SimulationViolation } from './errors.ts';
import { type HarnessBugs, isFaultMixName, type RaftTuning } from './options.ts';
import { runPool, type RunOptions } from './pool.ts';
import { formatTotals, replayCommand } from './report.ts';
import { PrintingTrace, TraceHasher } from './trace.ts';

const coreBugs = ['voteWithoutLogCheck', 'commitOldTermByCounting', 'readWithoutQuorum'] as const;
const harnessBugs = ['sendBeforePersist', 'skipVotePersist', 'staleHardStateWrite', 'neverRedial'] as const;
type BugName = (typeof coreBugs)[number] | (typeof harnessBugs)[number];
const raftSettings = ['electionTicks', 'heartbeatTicks', 'preVote', 'checkQuorum', 'appendBytesMax', 'inflightMax', 'snapshotChunkBytes', 'snapshotChunksInflightMax'];

const usage = `usage: npm run sim -- [--seeds N] [--start S] [--workers K] | --seed X [--trace]
  common: [--mix mixed|chaos|partitions|crashes|lossy|membership|calm|figure8|votes|staleReads]
          [--size 3|5] [--bug ${[...coreBugs, ...harnessBugs].join('|')}]
          [--checkers a,b,...] [--raft name=value]... [--fault-ms MS] [--liveness-ms MS] [--stop-at-failure] [--json FILE]`;

function fail(message: string): never {
  console.error(`${message}\n${usage}`);
  process.exit(2);
}

function parse(): { options: RunOptions; flags: string[]; seed: number | null; trace: boolean; seeds: number; start: number; workers: number; stopAtFailure: boolean; json: string | null } {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      start: { type: 'string' },
      seed: { type: 'string' },
      trace: { type: 'boolean' },
      workers: { type: 'string' },
      mix: { type: 'string' },
      size: { type: 'string' },
      bug: { type: 'string', multiple: true },
      checkers: { type: 'string' },
      raft: { type: 'string', multiple: true },
      'fault-ms': { type: 'string' },
      'liveness-ms': { type: 'string' },
      'stop-at-failure': { type: 'boolean' },
      json: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help === true) {
    console.log(usage);
    process.exit(0);
  }
  const integer = (text: string | undefined, name: string, fallback: number): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 0) fail(`--${name} wants a non-negative integer, not ${text}`);
    return n;
  };
  const flags: string[] = [];
  let options: RunOptions = {};
  if (values.mix !== undefined) {
    if (!isFaultMixName(values.mix)) fail(`unknown mix ${values.mix}`);
    options = { ...options, mix: values.mix };
    flags.push(`--mix ${values.mix}`);
  }
  if (values.size !== undefined) {
    if (values.size !== '3' && values.size !== '5') fail('--size is 3 or 5');
    options = { ...options, clusterSize: values.size === '3' ? 3 : 5 };
    flags.push(`--size ${values.size}`);
  }
  const bugs: Record<string, boolean> = {};
  const harness: Record<string, boolean> = {};
  for (const bug of values.bug ?? []) {
    if ((coreBugs as readonly string[]).includes(bug)) bugs[bug] = true;
    else if ((harnessBugs as readonly string[]).includes(bug)) harness[bug] = true;
    else fail(`unknown bug ${bug}`);
    flags.push(`--bug ${bug as BugName}`);
  }
  if (Object.keys(bugs).length > 0) options = { ...options, bugs: bugs as PlantedBugs };
  if (Object.keys(harness).length > 0) options = { ...options, harnessBugs: harness as HarnessBugs };
  if (values.checkers !== undefined) {
    const names = values.checkers.split(',').filter((name) => name !== '');
    for (const name of names) if (!isCheckerName(name)) fail(`unknown checker ${name}`);
    options = { ...options, checkers: names as CheckerName[] };
    flags.push(`--checkers ${names.join(',')}`);
  }
  const raft: Record<string, number | boolean> = {};
  for (const setting of values.raft ?? []) {
    const [name, text] = setting.split('=');
    if (name === undefined || text === undefined || !raftSettings.includes(name)) fail(`--raft wants one of ${raftSettings.join(', ')} as name=value`);
    raft[name] = text === 'true' ? true : text === 'false' ? false : integer(text, 'raft', 0);
    flags.push(`--raft ${setting}`);
  }
  if (Object.keys(raft).length > 0) options = { ...options, raft: raft as Partial<RaftTuning> };
  if (values['fault-ms'] !== undefined) {
    options = { ...options, faultMs: integer(values['fault-ms'], 'fault-ms', 0) };
    flags.push(`--fault-ms ${values['fault-ms']}`);
  }
  if (values['liveness-ms'] !== undefined) {
    options = { ...options, livenessMs: integer(values['liveness-ms'], 'liveness-ms', 0) };
    flags.push(`--liveness-ms ${values['liveness-ms']}`);
  }
  return {
    options,
    flags,
    seed: values.seed === undefined ? null : integer(values.seed, 'seed', 0),
    trace: values.trace === true,
    seeds: integer(values.seeds, 'seeds', 1000),
    start: integer(values.start, 'start', 1),
    workers: integer(values.workers, 'workers', availableParallelism()),
    stopAtFailure: values['stop-at-failure'] === true,
    json: values.json ?? null,
  };
}

function replay(seed: number, options: RunOptions, flags: readonly string[], trace: boolean): void {
  const sink = trace ? new PrintingTrace((line) => process.stdout.write(`${line}\n`)) : new TraceHasher();
  try {
    const result = simulate({ ...options, seed, trace: sink });
    console.log(`seed ${seed}: ok (${result.mix}, ${result.clusterSize} members, ${result.steps} steps, ${result.simulatedMs} ms simulated, converged ${result.convergedMs} ms after the heal)`);
    console.log(`trace hash ${sink.digest()} over ${sink.lines} lines`);
  } catch (error) {
    if (!(error instanceof SimulationViolation)) throw error;
    console.log(`seed ${seed}: VIOLATION ${error.message}`);
    console.log(`trace hash ${sink.digest()} over ${sink.lines} lines`);
    if (!trace) console.log(`replay: ${replayCommand(seed, flags)}`);
    process.exitCode = 1;
  }
}

async function main(): Promise<void> {
  const args = parse();
  if (args.seed !== null) {
    replay(args.seed, args.options, args.flags, args.trace);
    return;
  }
  const started = performance.now();
  let lastReport = started;
  console.log(`running seeds ${args.start}..${args.start + args.seeds - 1} on ${args.workers} workers${args.flags.length > 0 ? ` (${args.flags.join(' ')})` : ''}`);
  const totals = await runPool({
    start: args.start,
    count: args.seeds,
    options: args.options,
    workers: args.workers,
    stopAtFailure: args.stopAtFailure,
    onProgress: (so) => {
      const now = performance.now();
      if (now - lastReport < 5000) return;
      lastReport = now;
      console.log(`  ${so.seeds}/${args.seeds} seeds, ${(so.seeds / ((now - started) / 1000)).toFixed(0)} seeds/s, ${so.failures.length} failures`);
    },
  });
  const elapsedMs = performance.now() - started;
  console.log(formatTotals(totals, elapsedMs));
  if (args.json !== null) writeFileSync(args.json, JSON.stringify({ elapsedMs, flags: args.flags, ...totals }, null, 1));
  const byChecker = new Map<string, number>();
  for (const failure of totals.failures) byChecker.set(failure.checker, (byChecker.get(failure.checker) ?? 0) + 1);
  if (totals.failures.length > 0) {
    console.log(`failures by checker: ${[...byChecker].map(([checker, n]) => `${checker} ${n}`).join(', ')}`);
    for (const failure of totals.failures.slice(0, 50)) {
      console.log(`\nFAIL seed ${failure.seed}: ${failure.message}\n  replay: ${replayCommand(failure.seed, args.flags)}`);
    }
    if (totals.failures.length > 50) console.log(`\n... and ${totals.failures.length - 50} more`);
    process.exitCode = 1;
  }
}

await main();
