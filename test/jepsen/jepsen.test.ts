// A short fault run against real member processes (kill -9, SIGSTOP, partitions through the peer proxies,
// rolling restarts, member replacement, client deaths) whose histories every checker accepts.

import { describe, expect, it } from 'vitest';
import { runJepsen } from './jepsen.ts';

describe('jepsen-style run on real processes', () => {
  it('keeps every guarantee through 20 s of faults on 3 members', async () => {
    const lines: string[] = [];
    const result = await runJepsen({ durationMs: 20_000, size: 3, seed: 1, faultKindsMin: 4, log: (line) => lines.push(line) });
    console.log(`jepsen: ${result.operations} operations, ${result.watchEvents} watch events, ${result.lockGrants} lock grants, ${result.sessionsExpired} sessions expired; faults ${JSON.stringify(result.faults)}\n${lines.join('\n')}`);
    expect(result.anomalies.map((a) => `${a.message}\n${a.report.slice(0, 3000)}`)).toEqual([]);
    // Faults of several kinds were injected and healed (each kind comes once per round, in a seeded order).
    expect(Object.keys(result.faults).length).toBeGreaterThanOrEqual(4);
    expect(result.operations).toBeGreaterThan(1000);
    expect(result.lockGrants).toBeGreaterThan(50);
  }, 240_000);
});
