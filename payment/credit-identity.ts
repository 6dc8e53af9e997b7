/**
 * Ratio credits: the statement a peer signs with its wallet key to bind that key to
 * one connection it uploads on (docs/PROTOCOL.md, "Ratio credits").
 *
 *   message = "seedpay-v1-credit-id" || info_hash(20) || prover_pk(32) || verifier_pk(32)
 *   sig     = ed25519(prover wallet key, message)
 *
 * `prover_pk` and `verifier_pk` are the fresh per-connection keys the two ends sent
 * in their `id_init` messages, the prover's first. Why each part:
 *  - the domain tag differs from the seller's session transcript ("seedpay-v1-session")
 *    and from session resume ("seedpay-v1-resume") within their first 12 bytes, so no
 *    signature made for one of them is valid for another: a seller's session signature
 *    cannot be presented as a credit identity, nor the reverse;
 *  - the verifier's fresh key makes the statement good for this connection only: a
 *    proof copied from another connection (to this node or any other) names another key;
 *  - the prover's key comes first, so a proof cannot be reflected back at its signer
 *    (who would check it with the two keys the other way round);
 *  - the info hash names the torrent, as the session transcript does.
 */
import { signTranscript, verifyTranscript } from './session.js';

const CREDIT_ID_DOMAIN = new TextEncoder().encode('seedpay-v1-credit-id');

function need(b: Uint8Array, len: number, what: string): void {
  if (!(b instanceof Uint8Array) || b.length !== len) throw new RangeError(`${what} must be ${len} bytes`);
}

/** The bytes a prover signs on one connection. */
export function creditIdMessage(args: { infoHash: Uint8Array; proverKey: Uint8Array; verifierKey: Uint8Array }): Uint8Array {
  need(args.infoHash, 20, 'infoHash');
  need(args.proverKey, 32, 'proverKey');
  need(args.verifierKey, 32, 'verifierKey');
  const d = CREDIT_ID_DOMAIN.length;
  const out = new Uint8Array(d + 20 + 32 + 32);
  out.set(CREDIT_ID_DOMAIN, 0);
  out.set(args.infoHash, d);
  out.set(args.proverKey, d + 20);
  out.set(args.verifierKey, d + 52);
  return out;
}

/** Sign with the wallet's 32-byte ed25519 seed. */
export function signCreditId(walletSeed: Uint8Array, message: Uint8Array): Uint8Array {
  return signTranscript(walletSeed, message);
}

/** Whether `sig` is the wallet's signature of `message`. Never throws on hostile input. */
export function verifyCreditId(walletPublic: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  return verifyTranscript(walletPublic, message, sig);
}
