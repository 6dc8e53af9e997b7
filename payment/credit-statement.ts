/**
 * Ratio credits one hop away (docs/PROTOCOL.md §10, "Beyond one node"): the statement a
 * node signs with its wallet key saying that a peer identity delivered so many verified
 * bytes to it, in all. The peer carries it to other nodes; a node that names the signer
 * as trusted credits it at a discount.
 *
 *   message = "seedpay-v1-credit-stmt" || identity(32) || total(u64 big-endian) || time(u64 big-endian, unix ms)
 *   sig     = ed25519(issuer wallet key, message)
 *
 * Why each part:
 *  - the domain tag differs from the credit identity proof ("seedpay-v1-credit-id"), the
 *    session transcript ("seedpay-v1-session") and resume ("seedpay-v1-resume"), so no
 *    signature made for one of them is valid as another;
 *  - `identity` names the uploader: a statement cannot be presented by anyone else (the
 *    presenter must have bound that identity on its connection);
 *  - `total` is cumulative (everything the identity delivered to the issuer), so a
 *    verifier credits only the increase over what it redeemed before: a statement
 *    presented twice, or an older one, brings nothing;
 *  - `time` lets a holder keep the latest of several statements and a verifier refuse
 *    ones from the future.
 */
import { signTranscript, verifyTranscript } from './session.js';
import { U64_MAX } from './amount.js';

const DOMAIN = new TextEncoder().encode('seedpay-v1-credit-stmt');

/** The bytes an issuer signs. */
export function creditStatementMessage(args: { identity: Uint8Array; total: bigint; time: number }): Uint8Array {
  if (!(args.identity instanceof Uint8Array) || args.identity.length !== 32) throw new RangeError('identity must be 32 bytes');
  if (typeof args.total !== 'bigint' || args.total < 0n || args.total > U64_MAX) throw new RangeError('total must be a u64 bigint');
  if (!Number.isSafeInteger(args.time) || args.time < 0) throw new RangeError('time must be a non-negative safe integer');
  const d = DOMAIN.length;
  const out = new Uint8Array(d + 32 + 16);
  out.set(DOMAIN, 0);
  out.set(args.identity, d);
  const v = new DataView(out.buffer);
  v.setBigUint64(d + 32, args.total);
  v.setBigUint64(d + 40, BigInt(args.time));
  return out;
}

/** Sign with the issuer wallet's 32-byte ed25519 seed. */
export function signCreditStatement(walletSeed: Uint8Array, message: Uint8Array): Uint8Array {
  return signTranscript(walletSeed, message);
}

/** Whether `sig` is the issuer's signature of `message`. Never throws on hostile input. */
export function verifyCreditStatement(issuerPublic: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  return verifyTranscript(issuerPublic, message, sig);
}
