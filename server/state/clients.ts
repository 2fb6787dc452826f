// The idempotency table of the Raft dissertation's client sessions (§6.3): per client, the latest sequence
// number applied and its result, so a retried command is answered, not applied twice. Bounded: the least
// recently used client is forgotten first (Map order is recency order, and a snapshot keeps it).

import type { CommandOp, CommandResult } from './commands.ts';
import type { Revision } from './types.ts';

export interface ClientRecord {
  readonly sequence: number;
  /** The op of the recorded command: a reused sequence number with another op is a client bug. */
  readonly op: CommandOp;
  readonly revision: Revision;
  readonly result: CommandResult;
}

export class ClientTable {
  readonly records = new Map<string, ClientRecord>();

  constructor(private clientsMax: number) {}

  get size(): number {
    return this.records.size;
  }

  peek(clientId: string): ClientRecord | undefined {
    return this.records.get(clientId);
  }

  /** Marks a client as just used. */
  touch(clientId: string, record: ClientRecord): void {
    this.records.delete(clientId);
    this.records.set(clientId, record);
  }

  record(clientId: string, record: ClientRecord): void {
    this.records.delete(clientId);
    this.records.set(clientId, record);
    this.evict();
  }

  drop(clientId: string): void {
    this.records.delete(clientId);
  }

  setLimit(clientsMax: number): void {
    this.clientsMax = clientsMax;
    this.evict();
  }

  private evict(): void {
    while (this.records.size > this.clientsMax) {
      const oldest = this.records.keys().next();
      if (oldest.done === true) return;
      this.records.delete(oldest.value);
    }
  }
}
