// Goal: the hand-written CRC-32C matches the standard check values and composes across chunks.

import { describe, expect, it } from 'vitest';
import { crc32c, crc32cRange } from '../../server/storage/crc32c.ts';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Bit-at-a-time reference, the definition written out. */
function slowCrc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  it('gives the standard check values', () => {
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    // RFC 3720 (iSCSI) appendix B.4 vectors.
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('agrees with the bitwise definition at every length and alignment', () => {
    const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 0xff);
    for (let start = 0; start < 9; start++) {
      for (let end = start; end <= data.length; end += 13) {
        expect(crc32cRange(data, start, end)).toBe(slowCrc32c(data.subarray(start, end)));
      }
    }
  });

  it('continues from a seed as if over the concatenation', () => {
    const a = ascii('hello, ');
    const b = ascii('world and more bytes than eight');
    const ab = new Uint8Array([...a, ...b]);
    expect(crc32c(b, crc32c(a))).toBe(crc32c(ab));
    expect(crc32cRange(ab, a.length, ab.length, crc32cRange(ab, 0, a.length))).toBe(crc32c(ab));
  });
});
