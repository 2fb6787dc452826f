// The replicated application of the simulation: it counts client proposals and keeps a digest of every entry it
// applied, so replicas can be compared cheaply and a snapshot proves which prefix of the log it stands for.

import type { Entry } from '../../server/raft/index.ts';

/** A replica's applied state. `ids` are the client proposals in the order applied (the bulk of a snapshot). */
export interface AppState {
  applied: number;
  count: number;
  digest: number;
  ids: number[];
}

export const emptyAppState = (): AppState => ({ applied: 0, count: 0, digest: 0, ids: [] });

/** A client proposal's bytes: its id, then `padBytes` of filler derived from it (to vary entry sizes). */
export function proposalData(id: number, padBytes: number): Uint8Array {
  const data = new Uint8Array(4 + padBytes);
  new DataView(data.buffer).setUint32(0, id);
  for (let i = 0; i < padBytes; i++) data[4 + i] = (id + i) & 0xff;
  return data;
}

export function proposalId(data: Uint8Array): number {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
}

/**
 * A number standing for an entry's content: 0 for a leader's no-op, the proposal id + 1 for client data,
 * a negative hash for a membership change.
 */
export function contentCode(entry: Entry): number {
  if (entry.kind === 'normal') return entry.data.byteLength === 0 ? 0 : proposalId(entry.data) + 1;
  return -1 - (hashString(`${entry.change.type}:${entry.change.node}`) & 0x3fffffff);
}

export function describeContent(code: number): string {
  if (code === 0) return 'no-op';
  if (code > 0) return `proposal ${code - 1}`;
  return `config#${-code}`;
}

/** The digest after applying one more entry (index, term, content) to a state whose digest is `digest`. */
export function mixDigest(digest: number, index: number, term: number, content: number): number {
  let h = digest ^ 0x9e3779b9;
  h = Math.imul(h ^ index, 0x85ebca6b);
  h = Math.imul(h ^ term, 0xc2b2ae35);
  h = Math.imul(h ^ (content | 0), 0x27d4eb2f);
  return (h ^ (h >>> 15)) >>> 0;
}

export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Snapshot bytes: applied index, count, digest, then every applied proposal id (u32 each). */
export function encodeState(state: AppState): Uint8Array {
  const bytes = new Uint8Array(12 + 4 * state.ids.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, state.applied);
  view.setUint32(4, state.count);
  view.setUint32(8, state.digest);
  for (let i = 0; i < state.ids.length; i++) view.setUint32(12 + 4 * i, state.ids[i]!);
  return bytes;
}

export function decodeState(bytes: Uint8Array): AppState {
  if (bytes.byteLength < 12 || (bytes.byteLength - 12) % 4 !== 0) {
    throw new Error(`snapshot data of ${bytes.byteLength} bytes is not an encoded state`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(4);
  const ids: number[] = [];
  for (let offset = 12; offset < bytes.byteLength; offset += 4) ids.push(view.getUint32(offset));
  if (ids.length !== count) throw new Error(`snapshot says ${count} proposals but holds ${ids.length}`);
  return { applied: view.getUint32(0), count, digest: view.getUint32(8), ids };
}
