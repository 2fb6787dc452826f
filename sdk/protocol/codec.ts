// CBOR framing for the wire. Options are explicit: no records (each frame decodes alone, no shared state
// between encoder and decoder), plain objects for maps, byte strings as Uint8Array.

import { Decoder, Encoder } from 'cbor-x';

const options = { useRecords: false, mapsAsObjects: true, tagUint8Array: false } as const;
const encoder = new Encoder(options);
const decoder = new Decoder(options);

export function encodeFrame(value: unknown): Uint8Array {
  return encoder.encode(value);
}

/** Decodes one frame; throws on malformed input (callers answer `bad_request`). */
export function decodeFrame(bytes: Uint8Array): unknown {
  return decoder.decode(bytes);
}
