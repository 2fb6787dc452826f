import { Scheduler } from './scheduler.ts';
import { simulateEnsemble } from './simulation.ts';
const counts = new Map<string, number>();
const orig = Scheduler.prototype.at;
Scheduler.prototype.at = function (delay, run, owner = null) {
  const stack = new Error().stack!.split('\n')[2]!.trim().replace(/\(.*\/(.*?):\d+\)/, '$1');
  const key = `${owner?.name.replace(/#\d+/, '') ?? 'sim'} ${stack.split(' ').slice(0, 3).join(' ')}`;
  counts.set(key, (counts.get(key) ?? 0) + 1);
  return orig.call(this, delay, run, owner);
};
const t0 = performance.now();
const r = await simulateEnsemble({ seed: Number(process.argv[2] ?? 7) });
console.log(r.steps, 'events', (performance.now() - t0).toFixed(0), 'ms');
for (const [k, v] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(v, k);
