// `npm run jepsen`: a fault run against real member processes (see jepsen.ts).
//
//   npm run jepsen -- --minutes 10 [--size 3|5] [--seed N] [--reports DIR]
//
// Prints the faults injected as they happen, then operations checked and anomalies; each anomaly's readable
// history goes to DIR. Exits 1 on any anomaly.

import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runJepsen } from './jepsen.ts';

function parse(argv: readonly string[]): { minutes: number; size: 3 | 5; seed: number; reports: string } {
  const out = { minutes: 1, size: 3 as 3 | 5, seed: Date.now() % 1_000_000, reports: join(tmpdir(), 'synod-jepsen') };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[++i];
    switch (argv[i - 1]) {
      case '--minutes': out.minutes = Number(value); break;
      case '--size': out.size = Number(value) === 5 ? 5 : 3; break;
      case '--seed': out.seed = Number(value); break;
      case '--reports': out.reports = value ?? out.reports; break;
      default: throw new Error(`unknown option ${argv[i - 1]}; usage: --minutes N --size 3|5 --seed N --reports DIR`);
    }
  }
  return out;
}

const args = parse(process.argv.slice(2));
console.log(`jepsen: ${args.size} members, ${args.minutes} min of faults, seed ${args.seed}`);
const started = performance.now();
const result = await runJepsen({ durationMs: args.minutes * 60_000, size: args.size, seed: args.seed, log: (line) => console.log(`  ${line}`) });
const seconds = ((performance.now() - started) / 1000).toFixed(0);
console.log(`done in ${seconds} s`);
console.log(`operations     ${result.operations} key-value operations checked for linearizability, ${result.sequentialCreates} sequential creates`);
console.log(`history        ${result.revisions} revisions checked against ${result.watchEvents} watch events delivered`);
console.log(`locks          ${result.lockGrants} grants; fenced store refused ${result.staleWritesRejected} stale writes; an unfenced store would have taken ${result.unfencedStaleWrites}`);
console.log(`sessions       ${result.sessionsExpired} expired`);
console.log(`faults         ${Object.entries(result.faults).map(([k, n]) => `${k} ${n}`).join(', ')}`);
console.log(`anomalies      ${result.anomalies.length}`);
if (result.anomalies.length > 0) {
  mkdirSync(args.reports, { recursive: true });
  result.anomalies.forEach((anomaly, i) => {
    const file = join(args.reports, `anomaly-${i + 1}.txt`);
    writeFileSync(file, `${anomaly.message}\n\n${anomaly.report}\n`);
    console.log(`  ${anomaly.checker}: ${anomaly.message}\n    history: ${file}`);
  });
  process.exitCode = 1;
}
