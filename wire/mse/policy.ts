/**
 * Which MSE/PE methods a side offers or accepts, by policy (libtorrent's defaults):
 *   'require'  offer and accept RC4 only; a plain BitTorrent handshake is refused.
 *   'prefer'   inbound: a plain handshake or MSE. An MSE initiator offering both gets
 *              plaintext (only the handshake is obfuscated: no per-byte cipher cost,
 *              as libtorrent does without prefer_rc4). Outbound: see lib/net/client.ts.
 *   'off'      plain BitTorrent only; MSE is not spoken at all.
 */

export type EncryptionMode = 'require' | 'prefer' | 'off';
export const ENCRYPTION_MODES: readonly EncryptionMode[] = ['require', 'prefer', 'off'];

export type CryptoMethod = 'plaintext' | 'rc4';

/** crypto_provide / crypto_select bits. */
export const CRYPTO_PLAINTEXT = 0x01;
export const CRYPTO_RC4 = 0x02;

export function isEncryptionMode(v: unknown): v is EncryptionMode {
  return typeof v === 'string' && (ENCRYPTION_MODES as readonly string[]).includes(v);
}

/** The crypto_provide bits an MSE initiator sends (or a responder accepts) under `mode`. */
export function allowedMethods(mode: 'require' | 'prefer'): number {
  return mode === 'require' ? CRYPTO_RC4 : CRYPTO_RC4 | CRYPTO_PLAINTEXT;
}

/**
 * The responder's crypto_select: of what was offered and allowed, plaintext when
 * both remain, else the one left; 0 when nothing is common.
 */
export function selectMethod(provided: number, mode: 'require' | 'prefer'): number {
  const common = provided & allowedMethods(mode);
  if ((common & CRYPTO_PLAINTEXT) !== 0) return CRYPTO_PLAINTEXT;
  return common & CRYPTO_RC4;
}

export function methodOf(bit: number): CryptoMethod {
  return bit === CRYPTO_RC4 ? 'rc4' : 'plaintext';
}
