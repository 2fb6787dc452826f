// The wire codec's handling of cbor-x's shared encode buffer.

import { Encoder } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, encodeOwned } from '../../sdk/protocol/codec.ts';

describe('codec', () => {
  it('gives a large frame a buffer of its own, and small frames after it do not pin a large buffer', () => {
    const large = encodeFrame({ data: new Uint8Array(4 * 1024 * 1024).fill(7) });
    expect(large.byteLength).toBeGreaterThan(4 * 1024 * 1024);
    expect(large.buffer.byteLength).toBe(large.byteLength);
    // Any encoder in the process: cbor-x shares one buffer among them all.
    const small = encodeOwned(new Encoder({ useRecords: false }), { op: 'create', path: '/a' });
    expect(small.buffer.byteLength).toBeLessThan(64 * 1024);
    const { data } = decodeFrame(large) as { data: Uint8Array };
    expect(Buffer.compare(data, new Uint8Array(4 * 1024 * 1024).fill(7))).toBe(0); // toEqual walks 4M elements slowly
  });
});
