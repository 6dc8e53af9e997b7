/**
 * The Diffie-Hellman exchange of MSE/PE: the 768-bit MODP prime P given by the
 * specification, generator G = 2, public keys and the shared secret S as 96-byte
 * big-endian integers (leading zeros kept: S is hashed as exactly 96 bytes).
 */

/** P, from the MSE/PE specification (the 768-bit Oakley group 1 prime). */
export const DH_PRIME = BigInt(
  '0xFFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563',
);
export const DH_GENERATOR = 2n;
/** Bytes of a public key (Ya, Yb) and of S. */
export const DH_KEY_LENGTH = 96;

export function bytesToBigInt(b: Uint8Array): bigint {
  let hex = '';
  for (let i = 0; i < b.length; i++) hex += (b[i] < 16 ? '0' : '') + b[i].toString(16);
  return hex.length === 0 ? 0n : BigInt(`0x${hex}`);
}

/** `n` as exactly `length` big-endian bytes (n must fit). */
export function bigIntToBytes(n: bigint, length = DH_KEY_LENGTH): Uint8Array {
  const out = new Uint8Array(length);
  let v = n;
  for (let i = length - 1; i >= 0 && v > 0n; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** base^exp mod m, square-and-multiply. */
export function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let result = 1n;
  let b = base % m;
  let e = exp;
  while (e > 0n) {
    if ((e & 1n) === 1n) result = (result * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return result;
}

export class DhKey {
  private readonly x: bigint;
  /** Our public key Y = G^X mod P, 96 bytes. */
  readonly publicKey: Uint8Array;

  /**
   * `privateKey`: random bytes (the spec recommends 160 bits; 2 ≤ X is all that is
   * required, and an X of 0 or 1 would publish G^X = 1 or 2: refused).
   */
  constructor(privateKey: Uint8Array) {
    const x = bytesToBigInt(privateKey);
    if (x < 2n) throw new RangeError('DH private key must be at least 2');
    this.x = x;
    this.publicKey = bigIntToBytes(modPow(DH_GENERATOR, x, DH_PRIME));
  }

  /**
   * S = Y_peer^X mod P as 96 bytes, or null for a degenerate peer key (0, 1, P-1 or
   * ≥ P: S would be guessable, 1 or P-1, so such a key is an attack or garbage).
   */
  sharedSecret(peerPublicKey: Uint8Array): Uint8Array | null {
    if (peerPublicKey.length !== DH_KEY_LENGTH) return null;
    const y = bytesToBigInt(peerPublicKey);
    if (y < 2n || y >= DH_PRIME - 1n) return null;
    return bigIntToBytes(modPow(y, this.x, DH_PRIME));
  }
}
