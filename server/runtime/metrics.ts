// Prometheus metrics of one member (prom-client does the exposition format). Each member has its own
// registry so several members can share a process (tests, embedding).

import { Counter, Gauge, Registry } from 'prom-client';
import type { Role } from '../raft/types.ts';

const roles: readonly Role[] = ['follower', 'preCandidate', 'candidate', 'leader'];

export class Metrics {
  readonly registry = new Registry();
  private readonly appliedTotal = new Counter({ name: 'synod_applied_commands_total', help: 'Commands applied, by op and outcome', labelNames: ['op', 'outcome'], registers: [this.registry] });
  private readonly requestsTotal = new Counter({ name: 'synod_client_requests_total', help: 'Client requests, by op', labelNames: ['op'], registers: [this.registry] });
  private readonly errorsTotal = new Counter({ name: 'synod_client_errors_total', help: 'Client requests answered with an error, by code', labelNames: ['code'], registers: [this.registry] });
  private readonly roleGauge = new Gauge({ name: 'synod_role', help: 'Raft role of this member (1 for the current role)', labelNames: ['role'], registers: [this.registry] });
  readonly connections = new Gauge({ name: 'synod_client_connections', help: 'Open client connections', registers: [this.registry] });
  readonly revision = new Gauge({ name: 'synod_revision', help: 'Revision of the applied state', registers: [this.registry] });
  readonly term = new Gauge({ name: 'synod_raft_term', help: 'Current Raft term', registers: [this.registry] });
  readonly commit = new Gauge({ name: 'synod_raft_commit_index', help: 'Raft commit index', registers: [this.registry] });
  readonly appliedIndex = new Gauge({ name: 'synod_raft_applied_index', help: 'Raft applied index', registers: [this.registry] });
  /** Read when scraped: the whole process's figures (members sharing a process report the same). */
  private readonly memory = new Gauge({
    name: 'synod_process_memory_bytes',
    help: 'Memory of the process running this member, by kind (process.memoryUsage(): rss, heapTotal, heapUsed, external, arrayBuffers)',
    labelNames: ['kind'],
    registers: [this.registry],
    collect() {
      for (const [kind, bytes] of Object.entries(process.memoryUsage())) this.set({ kind }, bytes);
    },
  });

  applied(op: string, ok: boolean): void {
    this.appliedTotal.inc({ op, outcome: ok ? 'ok' : 'error' });
  }

  request(op: string): void {
    this.requestsTotal.inc({ op });
  }

  error(code: string): void {
    this.errorsTotal.inc({ code });
  }

  role(role: Role): void {
    for (const r of roles) this.roleGauge.set({ role: r }, r === role ? 1 : 0);
  }
}
