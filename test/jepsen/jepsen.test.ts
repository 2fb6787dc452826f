// A short fault run against real member processes (kill -9, SIGSTOP, partitions through the peer proxies,
// rolling restarts, member replacement, client deaths) whose histories every checker accepts.

import { describe, expect, it } from 'vitest';
import { runJepsen } from './jepsen.ts';

describe('jepsen-style run on real processes', () => {
  it('keeps every guarantee through 20 s of faults on 3 members', async () => {
    const lines: string[] = [];
    const result = await runJepsen({ durationMs: 20_000, size: 3, seed: 1, log: (line) => lines.push(line) });
    console.log(`jepsen: ${result.operations} operations, ${result.watchEvents} watch events, ${result.lockGrants} lock grants, ${result.sessionsExpired} sessions expired; faults ${JSON.stringify(result.faults)}\n${lines.join('\n')}`);
    expect(result.anomalies.map((a) => `${a.message}\n${a.report.slice(0, 3000)}`)).toEqual([]);
    expect(Object.values(result.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(5);
    expect(result.operations).toBeGreaterThan(1000);
    expect(result.lockGrants).toBeGreaterThan(50);
  }, 240_000);
});
