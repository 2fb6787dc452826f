// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of WAL frames and snapshot files.
// Slicing-by-8: eight 256-entry tables let the loop consume eight bytes per step (see docs/storage.md for the
// measured speed and why this is hand-written rather than a dependency).

const polynomial = 0x82f63b78;

/** tables[k * 256 + b]: the CRC of byte b followed by k zero bytes. */
const tables = buildTables();

function buildTables(): Uint32Array {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ polynomial : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c >>> 0;
    }
  }
  return t;
}

/**
 * The CRC-32C of `data`. Pass a previous result as `seed` to continue it: `crc32c(b, crc32c(a))` equals the
 * CRC of `a` followed by `b`.
 */
export function crc32c(data: Uint8Array, seed = 0): number {
  return crc32cRange(data, 0, data.length, seed);
}

/** The CRC-32C of `data[start, end)`, continuing `seed`; avoids a subarray on hot paths. */
export function crc32cRange(data: Uint8Array, start: number, end: number, seed = 0): number {
  const t = tables;
  let crc = ~seed;
  let i = start;
  const end8 = end - ((end - start) & 7);
  while (i < end8) {
    const lo = crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    crc =
      t[1792 + (lo & 0xff)]! ^
      t[1536 + ((lo >>> 8) & 0xff)]! ^
      t[1280 + ((lo >>> 16) & 0xff)]! ^
      t[1024 + (lo >>> 24)]! ^
      t[768 + data[i + 4]!]! ^
      t[512 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^
      t[data[i + 7]!]!;
    i += 8;
  }
  while (i < end) crc = t[(crc ^ data[i++]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
