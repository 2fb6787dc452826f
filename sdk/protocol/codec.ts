// CBOR framing for the wire. Options are explicit: no records (each frame decodes alone, no shared state
// between encoder and decoder), plain objects for maps, byte strings as Uint8Array.

import { Decoder, Encoder } from 'cbor-x';

const options = { useRecords: false, mapsAsObjects: true, tagUint8Array: false } as const;
const encoder = new Encoder(options);
const decoder = new Decoder(options);

/** Encoded values above this size get a buffer of their own (see encodeOwned). */
const largeBytes = 1024 * 1024;

/**
 * Encodes with `encoder`, keeping large values from spoiling later small ones. cbor-x encodes into one buffer
 * shared by every Encoder in the process, grown to fit the largest value so far, allocates each next buffer
 * that size, and returns views into it: after one snapshot of tens of MB, every small value encoded later (a
 * log entry kept in memory for many seconds) would pin a buffer of tens of MB. A large value is copied into a
 * buffer of its own size, and the shared buffer starts afresh.
 */
export function encodeOwned(encoder: Encoder, value: unknown): Uint8Array {
  const bytes = encoder.encode(value);
  if (bytes.length <= largeBytes) return bytes;
  const own = new Uint8Array(bytes);
  (encoder as Encoder & { useBuffer(buffer: Uint8Array): void }).useBuffer(new Uint8Array(8192)); // cbor-x's types leave it out
  return own;
}

export function encodeFrame(value: unknown): Uint8Array {
  return encodeOwned(encoder, value);
}

/** Decodes one frame; throws on malformed input (callers answer `bad_request`). */
export function decodeFrame(bytes: Uint8Array): unknown {
  return decoder.decode(bytes);
}
