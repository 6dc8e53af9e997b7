/**
 * Terms in the BEP 10 extended handshake (SEEDPAY.md §2) and peer classification.
 *
 * A seller puts `seedpay` in `m` AND a `seedpay` dictionary (its terms) at the top
 * level of its extended handshake; a buyer-only peer puts `seedpay` in `m` only.
 * Everyone else is a free peer (ordinary BitTorrent).
 */
import type { Encodable } from '../../wire/bencode.js';
import type { PeerExtendedHandshake } from '../../wire/extension-hooks.js';
import { parseTerms, termsToWire, TermsError, type Terms } from '../../payment/terms.js';
import { EXTENSION_NAME } from './messages.js';

export type PeerClass =
  /** No `seedpay` in `m`: an ordinary peer. */
  | { readonly kind: 'free' }
  /** `seedpay` in `m`, no terms: buys, does not sell. */
  | { readonly kind: 'buyer-only' }
  /** `seedpay` in `m` with valid terms. `termsBencoded` is what the seller signs over (§3). */
  | { readonly kind: 'seller'; readonly terms: Terms; readonly termsBencoded: Uint8Array }
  /** `seedpay` in `m` with terms we cannot use: treated as not selling (never paid). */
  | { readonly kind: 'bad-terms'; readonly error: TermsError };

/** Classify a peer from its extended handshake. Never throws on hostile input. */
export function classifyPeer(hs: PeerExtendedHandshake): PeerClass {
  if (!hs.m.has(EXTENSION_NAME)) return { kind: 'free' };
  const value = hs.dict.get(EXTENSION_NAME);
  if (value === undefined) return { kind: 'buyer-only' };
  try {
    const { terms, bencoded } = parseTerms(value);
    return { kind: 'seller', terms, termsBencoded: bencoded };
  } catch (e) {
    if (e instanceof TermsError) return { kind: 'bad-terms', error: e };
    return { kind: 'bad-terms', error: new TermsError('NOT_A_DICT', `terms: ${e instanceof Error ? e.message : String(e)}`) };
  }
}

/** Add a seller's terms to our extended handshake dictionary (`m` is filled by the connection). */
export function addTermsToHandshake(dict: Map<string, Encodable>, terms: Terms): void {
  dict.set(EXTENSION_NAME, termsToWire(terms));
}
