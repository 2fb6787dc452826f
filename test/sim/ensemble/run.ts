// `npm run sim:nodes`: runs seeds of the whole-node (ensemble) simulation over all cores, or replays one.
//
//   npm run sim:nodes -- --seeds 1000 --start 1        many seeds, totals at the end
//   npm run sim:nodes -- --seed 42 --trace             replay one seed, one trace line per event
//   npm run sim:nodes -- --seed 42 --trace-clients c3  ... with the frames of client c3
//
// Options that change a run (and that the replay command printed for a failure repeats): --size 3|5,
// --fault-ms, --liveness-ms, --bug NAME (runtime.X, raft.X or sdk.X), --checkers a,b, --faults kind=w,...
// A failure prints its checker, seed and replay command; its readable history goes to --reports DIR
// (default: a temp dir) as seed-N.txt.

import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnsembleViolation } from './checkers.ts';
import { checkerNames, faultKinds, type AllBugs, type CheckerName, type FaultKind } from './options.ts';
import { runEnsemblePool, type EnsembleRunOptions, type EnsembleTotals } from './pool.ts';
import { simulateEnsemble } from './simulation.ts';

interface Args {
  seed: number | null;
  seeds: number;
  start: number;
  workers: number | undefined;
  trace: boolean;
  traceClients: string[];
  reports: string;
  json: string | null;
  stopAtFailure: boolean;
  options: EnsembleRunOptions;
  /** The flags that change a run, for the replay command. */
  pinned: string[];
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { seed: null, seeds: 100, start: 1, workers: undefined, trace: false, traceClients: [], reports: join(tmpdir(), 'synod-sim-nodes'), json: null, stopAtFailure: false, options: {}, pinned: [] };
  let options: { -readonly [K in keyof EnsembleRunOptions]: EnsembleRunOptions[K] } = {};
  const bugs: { runtime: Record<string, unknown>; sdk: Record<string, unknown> } = { runtime: {}, sdk: {} };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--seed': args.seed = Number(value()); break;
      case '--seeds': args.seeds = Number(value()); break;
      case '--start': args.start = Number(value()); break;
      case '--workers': args.workers = Number(value()); break;
      case '--trace': args.trace = true; break;
      case '--trace-clients': args.traceClients = value().split(','); break;
      case '--reports': args.reports = value(); break;
      case '--json': args.json = value(); break;
      case '--stop-at-failure': args.stopAtFailure = true; break;
      case '--size': options = { ...options, clusterSize: Number(value()) === 5 ? 5 : 3 }; args.pinned.push(flag, String(options.clusterSize)); break;
      case '--fault-ms': options = { ...options, faultMs: Number(value()) }; args.pinned.push(flag, String(options.faultMs)); break;
      case '--liveness-ms': options = { ...options, livenessMs: Number(value()) }; args.pinned.push(flag, String(options.livenessMs)); break;
      case '--checkers': {
        const names = value().split(',');
        for (const name of names) if (!(checkerNames as readonly string[]).includes(name)) throw new Error(`unknown checker ${name}; known: ${checkerNames.join(', ')}`);
        options = { ...options, checkers: names as CheckerName[] };
        args.pinned.push(flag, names.join(','));
        break;
      }
      case '--faults': {
        const weights: Partial<Record<FaultKind, number>> = {};
        for (const part of value().split(',')) {
          const [kind, weight] = part.split('=');
          if (!(faultKinds as readonly string[]).includes(kind!)) throw new Error(`unknown fault ${kind}; known: ${faultKinds.join(', ')}`);
          weights[kind as FaultKind] = Number(weight ?? 1);
        }
        options = { ...options, faults: weights };
        args.pinned.push(flag, argv[i]!);
        break;
      }
      case '--bug': {
        const name = value();
        const [layer, bug] = name.split('.');
        if (layer === 'raft') bugs.runtime['raft'] = { ...(bugs.runtime['raft'] as object), [bug!]: true };
        else if (layer === 'runtime' || layer === 'sdk') bugs[layer][bug!] = true;
        else throw new Error(`--bug takes raft.NAME, runtime.NAME or sdk.NAME, not ${name}`);
        args.pinned.push(flag, name);
        break;
      }
      default:
        throw new Error(`unknown option ${flag}`);
    }
  }
  args.options = { ...options, bugs: bugs as AllBugs };
  return args;
}

const replayCommand = (seed: number, pinned: readonly string[]): string => `npm run sim:nodes -- --seed ${seed}${pinned.length > 0 ? ` ${pinned.join(' ')}` : ''} --trace`;

function formatTotals(t: EnsembleTotals, elapsedMs: number): string {
  const faults = Object.entries(t.faults).filter(([, n]) => n > 0).map(([kind, n]) => `${kind} ${n}`).join(', ');
  return [
    `seeds          ${t.seeds} in ${(elapsedMs / 1000).toFixed(1)} s (${((t.seeds * 1000) / elapsedMs).toFixed(2)} seeds/s)`,
    `simulated      ${(t.simulatedMs / 1000).toFixed(0)} s, ${t.steps} events`,
    `operations     ${t.operations} key-value operations checked for linearizability, ${t.sequentialCreates} sequential creates`,
    `watches        ${t.watchEvents} events delivered and checked`,
    `locks          ${t.lockGrants} grants; fenced store refused ${t.staleWritesRejected} stale writes; an unfenced store would have taken ${t.unfencedStaleWrites}`,
    `sessions       ${t.sessionsExpired} expired (each checked against its last answered heartbeat)`,
    `log            ${t.applied} applies compared across members, ${t.leaderTerms} terms with a leader, ${t.restarts} restarts`,
    `faults         ${faults}`,
    `anomalies      ${t.failures.length}`,
  ].join('\n');
}

async function replay(args: Args, seed: number): Promise<void> {
  try {
    const result = await simulateEnsemble({
      ...args.options,
      seed,
      ...(args.trace ? { trace: (line: string) => console.log(line) } : {}),
      ...(args.traceClients.length > 0 ? { traceClients: args.traceClients } : {}),
    });
    console.log(`seed ${seed}: ok (${result.clusterSize} members, ${result.steps} events, ${result.operations} operations, ${(result.simulatedMs / 1000).toFixed(1)} s simulated)`);
    console.log(`trace hash ${result.traceHash}`);
  } catch (error) {
    if (!(error instanceof EnsembleViolation)) throw error;
    console.log(`seed ${seed}: VIOLATION ${error.message}`);
    if (error.report !== '') console.log(error.report);
    process.exitCode = 1;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.seed !== null) return replay(args, args.seed);
  const started = performance.now();
  console.log(`running seeds ${args.start}..${args.start + args.seeds - 1}`);
  let shown = 0;
  let failuresShown = 0;
  const totals = await runEnsemblePool({
    start: args.start,
    count: args.seeds,
    options: args.options,
    ...(args.workers !== undefined ? { workers: args.workers } : {}),
    stopAtFailure: args.stopAtFailure,
    onProgress: (t) => {
      // Failures at once (a long run may be stopped before its end), in full at the end.
      for (; failuresShown < t.failures.length; failuresShown++) {
        const failure = t.failures[failuresShown]!;
        console.log(`  FAIL seed ${failure.seed}: ${failure.message.split('\n')[0]}`);
      }
      if (t.seeds - shown >= Math.max(10, Math.floor(args.seeds / 20))) {
        shown = t.seeds;
        console.log(`  ${t.seeds}/${args.seeds} seeds, ${t.failures.length} failures`);
      }
    },
  });
  const elapsedMs = performance.now() - started;
  console.log(formatTotals(totals, elapsedMs));
  if (totals.failures.length > 0) mkdirSync(args.reports, { recursive: true });
  for (const failure of totals.failures) {
    const file = join(args.reports, `seed-${failure.seed}.txt`);
    writeFileSync(file, `${failure.message}\n\n${failure.report}\n`);
    console.log(`\nFAIL seed ${failure.seed}: ${failure.message}\n  replay: ${replayCommand(failure.seed, args.pinned)}\n  history: ${file}`);
  }
  if (args.json !== null) writeFileSync(args.json, JSON.stringify({ totals, elapsedMs }, null, 2));
  if (totals.failures.length > 0) process.exitCode = 1;
}

await main();
