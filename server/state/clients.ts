// The idempotency table of the Raft dissertation's client sessions (§6.3), for clients that pipeline many
// writes: per client, the result of every sequence number it may still retry, and a low-water mark. Each
// command carries `ack`, the client's lowest sequence that still awaits an answer; results below it are
// dropped, and a command numbered below the mark is refused (it was answered, or given up, so a copy that
// arrives now is a stray duplicate). A retried command is answered with its first result, never applied again,
// whatever other writes of the same client committed in between.
//
// Bounded twice: results per client (the oldest is dropped and the mark raised past it) and clients (the least
// recently used is forgotten first; Map order is recency order, and a snapshot keeps it).

import type { CommandOp, CommandResult } from './commands.ts';
import type { Revision } from './types.ts';

/** The first outcome of one command, returned again to a retry. */
export interface ClientResult {
  /** The op of the recorded command: a reused sequence number with another op is a client bug. */
  readonly op: CommandOp;
  readonly revision: Revision;
  readonly result: CommandResult;
}

export interface ClientRecord {
  /** Sequences below this are refused with stale_sequence. */
  low: number;
  /** Results by sequence, in increasing order of sequence, all at or above `low`. */
  results: Map<number, ClientResult>;
  /** The highest sequence recorded (0: none), so an append in order needs no scan. */
  highest: number;
}

export class ClientTable {
  readonly records = new Map<string, ClientRecord>();

  constructor(
    private clientsMax: number,
    private resultsPerClientMax: number,
  ) {}

  get size(): number {
    return this.records.size;
  }

  peek(clientId: string): ClientRecord | undefined {
    return this.records.get(clientId);
  }

  /** The client's record, created when new, marked as just used; results below `ack` are dropped. */
  use(clientId: string, ack: number): ClientRecord {
    let record = this.records.get(clientId);
    if (record === undefined) record = { low: 0, results: new Map(), highest: 0 };
    else this.records.delete(clientId);
    this.records.set(clientId, record);
    if (ack > record.low) raiseLow(record, ack);
    this.evict();
    return record;
  }

  /**
   * Records the first result of `sequence` (at or above the client's mark, not recorded yet). The record goes
   * back into the table if the command itself dropped it (a client revoking its own session keeps the answer).
   */
  record(clientId: string, record: ClientRecord, sequence: number, result: ClientResult): void {
    if (this.records.get(clientId) !== record) {
      this.records.set(clientId, record);
      this.evict();
    }
    record.results.set(sequence, result);
    if (sequence < record.highest) record.results = new Map([...record.results].sort((a, b) => a[0] - b[0])); // rare: reordered
    else record.highest = sequence;
    if (record.results.size > this.resultsPerClientMax) {
      const oldest = record.results.keys().next().value as number;
      raiseLow(record, oldest + 1);
    }
  }

  drop(clientId: string): void {
    this.records.delete(clientId);
  }

  setLimits(clientsMax: number, resultsPerClientMax: number): void {
    this.clientsMax = clientsMax;
    this.resultsPerClientMax = resultsPerClientMax;
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

function raiseLow(record: ClientRecord, low: number): void {
  record.low = low;
  for (const sequence of record.results.keys()) {
    if (sequence >= low) break;
    record.results.delete(sequence);
  }
}
