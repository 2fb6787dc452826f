// Shared helpers of the storage tests: entry builders, temporary directories, and a reference model of the
// log (Raft truncation semantics written the obvious way) that recovered storage is compared against.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { MemoryStorage } from '../../server/raft/storage.ts';
import type { ConfState, Entry, HardState, LogIndex, NodeId, Snapshot, Term } from '../../server/raft/types.ts';

export const emptyConf: ConfState = { voters: [], learners: [] };

/** Deterministic bytes for entry (index, term), so content can be checked without keeping it. */
export function entryData(index: number, term: number, bytes: number): Uint8Array {
  const data = new Uint8Array(bytes);
  let x = (index * 2654435761 + term * 40503) >>> 0;
  for (let i = 0; i < bytes; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return data;
}

export function normal(index: number, term: number, bytes = 32): Entry {
  return { kind: 'normal', index: index as LogIndex, term: term as Term, data: entryData(index, term, bytes) };
}

export function config(index: number, term: number, node: string): Entry {
  return { kind: 'config', index: index as LogIndex, term: term as Term, change: { type: 'addVoter', node: node as NodeId } };
}

export function hard(term: number, commit: number, vote: string | null = null): HardState {
  return { term: term as Term, vote: vote as NodeId | null, commit: commit as LogIndex };
}

export function snapshotAt(index: number, term: number, bytes = 64, confState: ConfState = emptyConf): Snapshot {
  return { metadata: { index: index as LogIndex, term: term as Term, confState }, data: entryData(index, -term, bytes) };
}

/** A fresh directory under the OS temp dir, removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `synod-${prefix}-`));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The log as Raft sees it: every entry from index 1 (or from an installed snapshot), and the hard state. */
export class LogModel {
  /** The entry before `entries[0]`: (0, 0), or an installed snapshot. */
  baseIndex = 0;
  baseTerm = 0;
  entries: Entry[] = [];
  hardState: HardState = hard(0, 0);

  clone(): LogModel {
    const m = new LogModel();
    m.baseIndex = this.baseIndex;
    m.baseTerm = this.baseTerm;
    m.entries = [...this.entries];
    m.hardState = this.hardState;
    return m;
  }

  get lastIndex(): number {
    return this.baseIndex + this.entries.length;
  }

  termAt(index: number): number | null {
    if (index === this.baseIndex) return this.baseTerm;
    return this.entries[index - this.baseIndex - 1]?.term ?? null;
  }

  entryAt(index: number): Entry | undefined {
    return this.entries[index - this.baseIndex - 1];
  }

  /** One record's effect, as the WAL writes them. */
  install(index: number, term: number): void {
    this.baseIndex = index;
    this.baseTerm = term;
    this.entries = [];
  }

  append(entry: Entry): void {
    const k = entry.index - this.baseIndex - 1;
    if (k < 0) throw new Error(`model: entry ${entry.index} before the base ${this.baseIndex}`);
    if (k > this.entries.length) throw new Error(`model: hole before ${entry.index}`);
    this.entries.length = k;
    this.entries.push(entry);
  }

  setHardState(h: HardState): void {
    this.hardState = h;
  }
}

/**
 * Asserts that recovered storage is exactly the model: the same last index and hard state, every entry it
 * holds equal to the model's (a snapshot may have compacted a prefix away), and the term before its first.
 * Returns a description of the first difference, or null.
 */
export function differenceFromModel(storage: MemoryStorage, model: LogModel): string | null {
  if (storage.lastIndex() !== model.lastIndex) return `last index ${storage.lastIndex()} != ${model.lastIndex}`;
  const h = storage.hardState();
  const mh = model.hardState;
  // Recovery raises a commit below the snapshot to the snapshot's index (a snapshot is committed state).
  const expectedCommit = Math.max(mh.commit, storage.snapshot().metadata.index);
  if (h.term !== mh.term || h.vote !== mh.vote || h.commit !== expectedCommit) {
    return `hard state ${JSON.stringify(h)} != ${JSON.stringify({ ...mh, commit: expectedCommit })}`;
  }
  const first = storage.firstIndex();
  if (first - 1 < model.baseIndex) return `first index ${first} is before the model's base ${model.baseIndex}`;
  if (storage.term((first - 1) as LogIndex) !== model.termAt(first - 1)) {
    return `term at ${first - 1}: ${storage.term((first - 1) as LogIndex)} != ${model.termAt(first - 1)}`;
  }
  if (storage.lastIndex() >= first) {
    const got = storage.entries(first, (storage.lastIndex() + 1) as LogIndex, Number.MAX_SAFE_INTEGER);
    for (const e of got) {
      const want = model.entryAt(e.index);
      if (want === undefined || !sameEntry(e, want)) return `entry ${e.index} differs`;
    }
  }
  return null;
}

export function sameEntry(a: Entry, b: Entry): boolean {
  if (a.index !== b.index || a.term !== b.term || a.kind !== b.kind) return false;
  if (a.kind === 'normal' && b.kind === 'normal') return Buffer.compare(a.data, b.data) === 0;
  if (a.kind === 'config' && b.kind === 'config') return a.change.type === b.change.type && a.change.node === b.change.node;
  return false;
}

/**
 * Resolves when `predicate` holds, checked now and on every notification `subscribe` delivers; rejects when
 * the predicate throws or after `timeoutMs` (a bound, never a sleep).
 */
export function waitFor(subscribe: (check: () => void) => () => void, predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let unsubscribe = (): void => undefined;
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const check = (): void => {
      let holds: boolean;
      try {
        holds = predicate();
      } catch (error) {
        holds = false;
        clearTimeout(timer);
        unsubscribe();
        reject(error);
        return;
      }
      if (!holds) return;
      clearTimeout(timer);
      unsubscribe();
      resolve();
    };
    unsubscribe = subscribe(check);
    check();
  });
}
