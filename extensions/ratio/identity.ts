/**
 * Identity binding of ratio credits on one connection, sans-IO (docs/PROTOCOL.md,
 * "Ratio credits"): each end sends a fresh key (`id_init`); an end that wants credit
 * then proves its wallet key by signing both keys and the info hash (`id_proof`).
 * What this end learns is the peer's bound identity (a base58 wallet) or nothing.
 *
 * It is symmetric: on one connection both ends may upload, so both may prove an
 * identity, whichever of them dialled and whether or not either sells.
 *
 * A peer gets nothing by breaking the rules, and an honest peer never loses its
 * connection here: a bad signature, a wallet that is ours, a proof before both keys
 * are known, a second `id_init` or a malformed message leave the connection without
 * an identity (no credit on it) and the extension silent — nothing else happens to
 * the BitTorrent connection. One proof is looked at per connection, so a peer cannot
 * make us check signatures in a loop.
 */
import bs58 from 'bs58';
import { creditIdMessage, verifyCreditId } from '../../payment/credit-identity.js';
import { generateEphemeral } from '../../payment/session.js';
import type { Signer } from '../seedpay/seller-session.js';
import { decodeCreditMessage, RatioError, type CreditMessage, type CreditStatement } from './messages.js';

export interface IdentityBindingOptions {
  /** The torrent's 20-byte info hash. */
  infoHash: Uint8Array;
  /** Our wallet, to prove to the peer (null: we claim no credit). */
  signer: Signer | null;
  /** Our fresh key for this connection (tests); default a fresh x25519 public key. */
  freshKey?: () => Uint8Array;
}

/**
 * What we know of the peer's identity:
 *  - pending: nothing decided yet (no proof seen);
 *  - bound: its proof verified: `identity` is its wallet;
 *  - refused: its one proof did not verify (or named our own wallet);
 *  - ended: it broke the extension's protocol (malformed or out-of-order message).
 */
export type PeerIdentityState = 'pending' | 'bound' | 'refused' | 'ended';

function freshX25519(): Uint8Array {
  // Only the public key's freshness is used: the secret is wiped at once.
  const k = generateEphemeral();
  k.secret.fill(0);
  return k.public;
}

export class IdentityBinding {
  private readonly infoHash: Uint8Array;
  private readonly signer: Signer | null;
  private readonly ownWallet: string | null;
  private readonly ourKey: Uint8Array;
  private peerKey: Uint8Array | null = null;
  private initSent = false;
  private proofSent = false;
  private out: CreditMessage[] = [];
  private peerState: PeerIdentityState = 'pending';
  private bound: string | null = null;
  private why: RatioError | string | null = null;

  constructor(opts: IdentityBindingOptions) {
    if (!(opts.infoHash instanceof Uint8Array) || opts.infoHash.length !== 20) throw new RangeError('infoHash must be 20 bytes');
    this.infoHash = opts.infoHash.slice();
    this.signer = opts.signer;
    this.ownWallet = opts.signer?.wallet ?? null;
    this.ourKey = (opts.freshKey ?? freshX25519)();
    if (this.ourKey.length !== 32) throw new RangeError('fresh key must be 32 bytes');
  }

  /** The peer's wallet (base58) once its proof verified, else null. */
  get identity(): string | null { return this.bound; }
  get state(): PeerIdentityState { return this.peerState; }
  /** Why the peer has no identity (refused or ended), for logs and tests. */
  get reason(): RatioError | string | null { return this.why; }
  /** Our fresh key on this connection. */
  get key(): Uint8Array { return this.ourKey; }

  /** The peer's extended handshake lists the extension: our fresh key goes out (once). */
  peerSupports(): void {
    if (this.initSent) return;
    this.initSent = true;
    this.out.push({ type: 'id_init', pk: this.ourKey });
    this.maybeProve();
  }

  /**
   * One payload from the peer. Never throws. A `credit_statement` is not this state
   * machine's business: it is returned for the caller (statements.ts), else null.
   */
  receive(payload: Uint8Array): CreditStatement | null {
    if (this.peerState === 'ended') return null;
    let m;
    try {
      m = decodeCreditMessage(payload);
    } catch (e) {
      this.end(e instanceof RatioError ? e : new RatioError('NOT_BENCODE', String(e)));
      return null;
    }
    if (m.type === 'credit_statement') return m;
    if (m.type === 'id_init') {
      if (this.peerKey !== null) { this.end(new RatioError('UNEXPECTED_MESSAGE', 'a second id_init')); return null; }
      this.peerKey = m.pk;
      this.maybeProve();
    } else if (m.type === 'id_proof') {
      // The proof signs our key, which the peer can only know from our id_init.
      if (this.peerKey === null || !this.initSent) { this.end(new RatioError('UNEXPECTED_MESSAGE', 'id_proof before both keys were exchanged')); return null; }
      if (this.peerState !== 'pending') return null; // one proof per connection
      this.check(m.wallet, m.sig);
    }
    return null;
  }

  /** Next message to send, or null. */
  pollTransmit(): CreditMessage | null { return this.out.shift() ?? null; }

  /** Whether our own proof went out (statements we carry may follow it). */
  get proved(): boolean { return this.proofSent; }

  /** Queue a message of the caller's (a statement) behind ours; dropped once the extension ended. */
  queue(m: CreditMessage): void {
    if (this.peerState !== 'ended') this.out.push(m);
  }

  private check(wallet: Uint8Array, sig: Uint8Array): void {
    const address = bs58.encode(wallet);
    if (address === this.ownWallet) { this.refuse('names our own wallet'); return; }
    const msg = creditIdMessage({ infoHash: this.infoHash, proverKey: this.peerKey!, verifierKey: this.ourKey });
    if (!verifyCreditId(wallet, msg, sig)) { this.refuse('signature does not verify'); return; }
    this.peerState = 'bound';
    this.bound = address;
  }

  private maybeProve(): void {
    if (this.proofSent || this.signer === null || this.peerKey === null || !this.initSent) return;
    this.proofSent = true;
    const msg = creditIdMessage({ infoHash: this.infoHash, proverKey: this.ourKey, verifierKey: this.peerKey });
    this.out.push({ type: 'id_proof', wallet: bs58.decode(this.signer.wallet), sig: this.signer.sign(msg) });
  }

  private refuse(why: string): void {
    this.peerState = 'refused';
    this.bound = null;
    this.why = why;
  }

  private end(e: RatioError): void {
    this.peerState = 'ended';
    this.bound = null;
    this.why = e;
    this.out = [];
  }
}
