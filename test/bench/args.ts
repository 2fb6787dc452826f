// Command-line flags of `npm run bench`.

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemNames, type SystemName } from './driver.ts';

export interface BenchArgs {
  readonly quick: boolean;
  readonly systems: readonly SystemName[];
  /** Workload ids to run, in the order of the catalogue; null for all. */
  readonly workloads: readonly string[] | null;
  readonly out: string;
  readonly help: boolean;
}

export const usage = `usage: npm run bench -- [--quick] [--only synod,etcd,zookeeper] [--workloads a,b] [--out FILE.json]

  --quick          short runs (a couple of minutes in all); without it, the full run (about half an hour)
  --only LIST      systems to run (default: all three); Synod's ratios need synod among them
  --workloads LIST workload ids (default: all); see the list below
  --out FILE       where the JSON goes (default: <tmp>/synod-bench.json)`;

function list(value: string | undefined, flag: string): string[] {
  if (value === undefined || value.startsWith('--')) throw new Error(`${flag} needs a comma-separated list\n${usage}`);
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

export function parseArgs(argv: readonly string[], workloadIds: readonly string[]): BenchArgs {
  let quick = false;
  let help = false;
  let systems: SystemName[] = [...systemNames];
  let workloads: string[] | null = null;
  let out = join(tmpdir(), 'synod-bench.json');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') quick = true;
    else if (arg === '--help' || arg === '-h') help = true;
    else if (arg === '--only') {
      const names = list(argv[++i], '--only');
      const unknown = names.filter((n) => !(systemNames as readonly string[]).includes(n));
      if (unknown.length > 0) throw new Error(`unknown system ${unknown.join(', ')}; known: ${systemNames.join(', ')}`);
      systems = systemNames.filter((s) => names.includes(s)); // table order, whatever the flag's order
    } else if (arg === '--workloads') {
      const ids = list(argv[++i], '--workloads');
      const unknown = ids.filter((id) => !workloadIds.includes(id));
      if (unknown.length > 0) throw new Error(`unknown workload ${unknown.join(', ')}; known: ${workloadIds.join(', ')}`);
      workloads = workloadIds.filter((id) => ids.includes(id));
    } else if (arg === '--out') {
      const file = argv[++i];
      if (file === undefined) throw new Error(`--out needs a file name\n${usage}`);
      out = file;
    } else throw new Error(`unknown argument ${arg}\n${usage}`);
  }
  return { quick, systems, workloads, out, help };
}
