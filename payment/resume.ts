/**
 * Session resume (a SeedPay extension, docs/PROTOCOL.md §4): the statement a payer
 * signs to move what an earlier session of its own left (unspent credit, payments
 * still on their way) into the current one.
 *
 * Why the payer's wallet key: credit is bound to a session (SEEDPAY.md §3–§4), and a
 * session's hash is public (it is in every payment memo on chain), so knowing it
 * proves nothing. The payer's key is what moved the money; only it may say where the
 * credit goes. The signed bytes name the torrent, the earlier session and this one,
 * so a signature cannot be replayed into a third session or another torrent.
 *
 *   message = "seedpay-v1-resume" || info_hash(20) || prev_session_hash(32) || session_hash(32)
 *   sig     = ed25519(payer wallet key, message)
 */
import { signTranscript, verifyTranscript } from './session.js';

const RESUME_DOMAIN = 'seedpay-v1-resume';

const HEX64 = /^[0-9a-f]{64}$/;

function hashBytes(h: string, what: string): Uint8Array {
  if (!HEX64.test(h)) throw new RangeError(`${what} must be 64 lowercase hex characters`);
  return Buffer.from(h, 'hex');
}

/** The bytes the payer signs to resume `prev` in `current` (session hashes as 64 hex). */
export function resumeMessage(infoHash: Uint8Array, prev: string, current: string): Uint8Array {
  if (!(infoHash instanceof Uint8Array) || infoHash.length !== 20) throw new RangeError('infoHash must be 20 bytes');
  if (prev === current) throw new RangeError('a session cannot resume itself');
  const domain = new TextEncoder().encode(RESUME_DOMAIN);
  const out = new Uint8Array(domain.length + 20 + 64);
  out.set(domain, 0);
  out.set(infoHash, domain.length);
  out.set(hashBytes(prev, 'prev'), domain.length + 20);
  out.set(hashBytes(current, 'current'), domain.length + 52);
  return out;
}

/** Sign with the payer's 32-byte ed25519 seed (a Solana secret key's first half). */
export function signResume(payerSeed: Uint8Array, message: Uint8Array): Uint8Array {
  return signTranscript(payerSeed, message);
}

/** Verify against the payer's 32-byte public key. Never throws on a bad signature. */
export function verifyResume(payerPublic: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  return verifyTranscript(payerPublic, message, sig);
}
