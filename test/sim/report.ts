// Formatting of run totals and of the command that replays a failing seed.

import { faultKinds } from './options.ts';
import type { Totals } from './pool.ts';

export function replayCommand(seed: number, flags: readonly string[]): string {
  return ['npm run sim --', `--seed ${seed}`, ...flags, '--trace'].join(' ');
}

export function formatTotals(totals: Totals, elapsedMs: number): string {
  const rate = totals.seeds / (elapsedMs / 1000);
  const lines = [
    `seeds          ${totals.seeds} in ${(elapsedMs / 1000).toFixed(1)} s (${rate.toFixed(1)} seeds/s)`,
    `mixes          ${Object.entries(totals.mixes).sort().map(([mix, n]) => `${mix} ${n}`).join(', ')}`,
    `events         ${totals.steps}`,
    `simulated      ${(totals.simulatedMs / 1000).toFixed(0)} s`,
    `ticks          ${totals.ticks}`,
    `messages       ${totals.messagesSent} sent, ${totals.messagesDelivered} delivered, ${totals.messagesDropped} dropped`,
    `committed      ${totals.entriesCommitted} entries`,
    `proposals      ${totals.proposals} made, ${totals.proposalsAcked} acknowledged`,
    `reads          ${totals.readsServed} served`,
    `leader terms   ${totals.leaderTerms}`,
    `snapshots      ${totals.compactions} taken, ${totals.snapshotsInstalled} installed from a leader`,
    `restarts       ${totals.restarts}`,
    `faults         ${faultKinds.filter((kind) => totals.faults[kind] > 0).map((kind) => `${kind} ${totals.faults[kind]}`).join(', ')}`,
    `anomalies      ${totals.failures.length}`,
  ];
  return lines.join('\n');
}

