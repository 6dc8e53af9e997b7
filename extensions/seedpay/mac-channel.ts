/**
 * One side of an authenticated SeedPay session (docs/PROTOCOL.md §3): our key and
 * message counter for what we send, the peer's key and counter for what we receive,
 * and the count of messages dropped for a bad tag. The buyer and the seller each hold
 * one, with the two directions' keys swapped.
 */
import { verifyMac, type MacKeys } from '../../payment/seedpay-mac.js';
import { macBody, messageMacValid, sealMessage, type DecodedMessage, type SeedPayMessage } from './messages.js';

export class MacChannel {
  private sent = 0n;
  private received = 0n;
  private bad = 0;

  private constructor(private readonly sendKey: Uint8Array, private readonly recvKey: Uint8Array) {}

  static seller(keys: MacKeys): MacChannel { return new MacChannel(keys.sellerToBuyer, keys.buyerToSeller); }
  static buyer(keys: MacKeys): MacChannel { return new MacChannel(keys.buyerToSeller, keys.sellerToBuyer); }

  /** Messages dropped so far because their tag failed. */
  get rejected(): number { return this.bad; }

  /** `m` tagged as our next message (ecdh_init goes out as it is: it precedes the keys). */
  seal(m: SeedPayMessage): SeedPayMessage {
    return m.type === 'ecdh_init' ? m : sealMessage(m, this.sendKey, this.sent++);
  }

  /**
   * Whether a received payload carries the tag of the peer's next message; checked
   * before anything else, malformed bytes included (they may be injected). A failure
   * is counted, never acted on.
   */
  acceptPayload(payload: Uint8Array): boolean {
    const parts = macBody(payload);
    return this.count(parts !== null && verifyMac(this.recvKey, this.received, parts.body, parts.tag));
  }

  /** The same for a decoded message (typed input). */
  acceptMessage(m: DecodedMessage): boolean {
    return this.count(messageMacValid(m, this.recvKey, this.received));
  }

  private count(ok: boolean): boolean {
    if (ok) this.received++;
    else this.bad++;
    return ok;
  }
}
