// The readable trace of a run (one line per event) and its hash, which pins a seed's behaviour exactly.

import type { Message } from '../../server/raft/index.ts';

/** Where trace lines go. */
export interface TraceSink {
  line(text: string): void;
}

/** A 64-bit FNV-1a over every line (as two 32-bit halves), so identical runs give identical hashes. */
export class TraceHasher implements TraceSink {
  private high = 0xcbf29ce4;
  private low = 0x84222325;
  lines = 0;

  line(text: string): void {
    this.lines++;
    let high = this.high;
    let low = this.low;
    for (let i = 0; i <= text.length; i++) {
      const c = i < text.length ? text.charCodeAt(i) : 10;
      low ^= c;
      // Multiply (high, low) by the FNV prime 2^40 + 0x1b3, keeping 64 bits.
      const lowTimes = low * 0x1b3;
      const carry = Math.floor(lowTimes / 0x100000000);
      high = (Math.imul(high, 0x1b3) + Math.imul(low, 0x100) + carry) >>> 0;
      low = lowTimes >>> 0;
    }
    this.high = high;
    this.low = low;
  }

  digest(): string {
    return this.high.toString(16).padStart(8, '0') + this.low.toString(16).padStart(8, '0');
  }
}

/** Prints lines (and hashes them too). */
export class PrintingTrace extends TraceHasher {
  constructor(private readonly write: (text: string) => void) {
    super();
  }

  override line(text: string): void {
    super.line(text);
    this.write(text);
  }
}

/** A message in a few words: type, term and what matters of it. */
export function formatMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'append': {
      const last = m.entries[m.entries.length - 1];
      const span = last === undefined ? 'none' : `${m.entries[0]!.index}..${last.index}`;
      return `${head} prev=${m.index}/${m.logTerm} entries=${span} commit=${m.commit}`;
    }
    case 'appendResponse':
      return `${head} index=${m.index}${m.reject ? ` REJECT hint=${m.hintIndex}/${m.hintTerm}` : ''}`;
    case 'vote':
    case 'preVote':
      return `${head} last=${m.lastIndex}/${m.lastTerm}${m.transfer ? ' transfer' : ''}`;
    case 'voteResponse':
    case 'preVoteResponse':
      return `${head} ${m.reject ? 'rejected' : 'granted'}`;
    case 'heartbeat':
      return `${head} commit=${m.commit} ctx=${m.context}`;
    case 'heartbeatResponse':
      return `${head} ctx=${m.context}`;
    case 'snapshot':
      return `${head} snap=${m.metadata.index}/${m.metadata.term} bytes=${m.offset}+${m.chunk.byteLength}/${m.totalBytes}`;
    case 'snapshotResponse':
      return `${head} snap=${m.index} offset=${m.offset}`;
    case 'timeoutNow':
      return head;
    case 'propose':
      return `${head} entries=${m.entries.length}`;
    case 'readIndex':
      return `${head} ctx=${m.context}`;
    case 'readIndexResponse':
      return `${head} ctx=${m.context} index=${m.index}`;
    case 'transferLeader':
      return `${head} target=${m.target}`;
  }
}
