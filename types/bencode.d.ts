// Minimal typings for bencode@4 (the package ships none). Only what we call.
declare module 'bencode' {
  export function encode(data: unknown, buffer?: Uint8Array, offset?: number): Uint8Array;
  export function decode(data: Uint8Array | string, start?: number, end?: number, encoding?: string): unknown;
  export function byteLength(data: unknown): number;
  const bencode: {
    encode: typeof encode;
    decode: typeof decode;
    byteLength: typeof byteLength;
    encodingLength: typeof byteLength;
  };
  export default bencode;
}
