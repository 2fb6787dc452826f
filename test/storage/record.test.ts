// Goal: every WAL record kind survives framing and decoding unchanged, the frame layout is the documented
// one, and malformed or damaged frames are told apart from the zero-filled end of a segment.

import { Encoder } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import type { LogIndex, Term } from '../../server/raft/types.ts';
import { crc32c } from '../../server/storage/crc32c.ts';
import type { WalRecord } from '../../server/storage/record.ts';
import { FrameBuffer, MalformedRecord, cborOptions, decodeRecord, encodeRecord, scanFrames } from '../../server/storage/record.ts';
import { config, hard, normal } from './helpers.ts';

const records: WalRecord[] = [
  { kind: 'segmentHeader', formatVersion: 1, sequence: 7, firstIndex: 1000 as LogIndex, prevTerm: 3 as Term, confState: null },
  { kind: 'segmentHeader', formatVersion: 1, sequence: 1, firstIndex: 1 as LogIndex, prevTerm: 0 as Term, confState: { voters: ['a' as never], learners: ['b' as never] } },
  normal(1000, 3, 0),
  normal(2 ** 40, 2 ** 33, 300),
  normal(70_000, 65_536, 70_000),
  config(5, 2, 'node-5'),
  { kind: 'config', index: 6 as LogIndex, term: 2 as Term, change: { type: 'removeNode', node: 'x' as never } },
  { kind: 'hardState', hardState: hard(9, 1001, 'n2') },
  { kind: 'hardState', hardState: hard(0, 0) },
  { kind: 'snapshot', index: 900 as LogIndex, term: 3 as Term, reset: true },
  { kind: 'snapshot', index: 950 as LogIndex, term: 3 as Term, reset: false },
];

const fail = (offset: number, reason: string): never => {
  throw new Error(`corrupt at ${offset}: ${reason}`);
};

describe('WAL records', () => {
  it('round-trip through a frame buffer and a scan, each record alone', () => {
    const frames = new FrameBuffer(1 << 20);
    for (const r of records) expect(frames.add(r)).toBe(true);
    const segment = new Uint8Array(frames.length + 100);
    segment.set(frames.bytes());
    const scan = scanFrames(segment, false, fail);
    expect(scan.torn).toBeNull();
    expect(scan.endOffset).toBe(frames.length);
    const decoded = scan.frames.map((offset, k) => decodeRecord(segment.subarray(offset + 8, scan.frames[k + 1] ?? scan.endOffset)));
    expect(decoded).toEqual(records);
    // Data come back as plain Uint8Arrays, as the core writes them.
    const entry = decoded[3]!;
    expect(entry.kind === 'normal' && entry.data.constructor).toBe(Uint8Array);
  });

  it('lays a frame out as [u32 LE length][u32 LE CRC-32C of length and payload][payload]', () => {
    const frames = new FrameBuffer(1 << 20);
    const hardState = records.find((r) => r.kind === 'hardState')!;
    frames.add(hardState);
    const bytes = frames.bytes();
    const payload = encodeRecord(hardState).slice();
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    expect(view.getUint32(0, true)).toBe(payload.length);
    expect(view.getUint32(4, true)).toBe(crc32c(payload, crc32c(bytes.subarray(0, 4))));
    expect([...bytes.subarray(8)]).toEqual([...payload]);
    // The payload is a plain CBOR array: [3, term, vote, commit] for a hard state.
    expect(new Encoder(cborOptions).decode(payload)).toEqual([3, 9, 'n2', 1001]);
  });

  it('refuses a record over the size limit', () => {
    const frames = new FrameBuffer(100);
    expect(frames.add(normal(1, 1, 200))).toBe(false);
    expect(frames.add(config(1, 1, 'x'.repeat(200)))).toBe(false);
    expect(frames.length).toBe(0);
  });

  it('encodes normal entries by hand to exactly the bytes cbor-x writes, and decodes both ways alike', () => {
    const cbor = new Encoder(cborOptions);
    const numbers = [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3, 2 ** 53 - 1];
    const sizes = [0, 1, 23, 24, 255, 256, 65535, 65536];
    for (const index of numbers) {
      for (const term of [0, 24, 2 ** 33]) {
        for (const size of index === 0 ? sizes : [index % 300]) {
          const e = normal(index, term, size);
          const frames = new FrameBuffer(1 << 20);
          frames.add(e);
          const handmade = frames.bytes().subarray(8);
          const generic = cbor.encode([1, e.index, e.term, e.kind === 'normal' ? e.data : null]);
          expect(Buffer.compare(handmade, generic), `index ${index} term ${term} size ${size}`).toBe(0);
          expect(decodeRecord(generic.slice())).toEqual(e);
        }
      }
    }
  });

  it('refuses payloads that are not records', () => {
    const cbor = new Encoder(cborOptions);
    for (const value of [{ a: 1 }, [99, 1, 2], [1, -1, 1, new Uint8Array(0)], [1, 1, 1, 'text'], [3, 1, 7, 1], [4, 1, 1, 'yes'], [0, 'other', 1, 1, 1, 0, null], [2, 1, 1, 9, 'n']]) {
      expect(() => decodeRecord(cbor.encode(value))).toThrow(MalformedRecord);
    }
  });

  it('tells a zero-filled end from a torn tail and from corruption', () => {
    const frames = new FrameBuffer(1 << 20);
    for (const r of records) frames.add(r);
    const good = frames.bytes().slice();
    const lastFrame = scanFrames(good, false, fail).frames.at(-1)!;

    const torn = new Uint8Array(good.length + 64);
    torn.set(good.subarray(0, good.length - 3));
    const tornScan = scanFrames(torn, true, fail);
    expect(tornScan.torn?.offset).toBe(lastFrame);
    expect(tornScan.frames).toHaveLength(records.length - 1);
    expect(() => scanFrames(torn, false, fail)).toThrow(/corrupt at/);

    const flipped = new Uint8Array(good.length + 64);
    flipped.set(good);
    flipped[20]! ^= 1; // inside the first frame, with good frames after it
    expect(() => scanFrames(flipped, true, fail)).toThrow(/corrupt at 0: a CRC mismatch, with a valid record after it/);

    const stray = new Uint8Array(good.length + 64);
    stray.set(good);
    stray[good.length + 30] = 1; // a zero length followed by data
    expect(scanFrames(stray, true, fail).torn?.offset).toBe(good.length);
    expect(() => scanFrames(stray, false, fail)).toThrow(/zero length with data after it/);
  });
});
