/**
 * injected-reject (money attack): a man in the middle on the TCP path between our
 * buyer and our seller — a proxy on loopback that parses the peer wire both ways —
 * waits for the buyer's first `payment_proof` and at once inserts into the seller →
 * buyer stream a forged `payment_rejected` (`insufficient_amount`, a final reason) for
 * it: a SeedPay extended message with the buyer's own seedpay id, at a message
 * boundary, so it is well-formed on the wire and arrives before the seller's real
 * answer (which needs an RPC lookup).
 *
 * Without message authentication the buyer takes the rejection as final and stops
 * paying an honest seller: the download stalls. With it (terms key `mac`,
 * docs/PROTOCOL.md §3; PaidSeller offers it by default) the forged message fails its
 * MAC, is dropped, and the buyer goes on: the download completes and every payment is
 * credited.
 *
 * `lost_base_units`: what the buyer paid beyond what the seller credited and beyond
 * the price of the data it received (paid − min(credited, charge(received))).
 */
import net from 'node:net';
import { Client } from '../lib/net/client.js';
import { chargeFor } from '../payment/amount.js';
import { decode, isDict, isInt } from '../wire/bencode.js';
import { decodeMessage, encodeMessage } from '../extensions/seedpay/messages.js';
import { funded, leechDir, makeContent, openBuyer, sleep, startSeller, USDC, whenComplete, type Env } from './paid-helpers.js';

import type { AttackResult, MoneyAttack } from './attack-result.js';

const MiB = 1024 * 1024;
/** 1000 base units per MiB, as in testkit/money-attacks.ts. */
const PRICE = 1_000n;
const HANDSHAKE_BYTES = 68;
const EXTENDED = 20;

/** The seedpay id a peer announced in its extended handshake payload (`m.seedpay`), or null. */
function seedpayId(payload: Uint8Array): number | null {
  try {
    const d = decode(payload);
    if (!isDict(d)) return null;
    const m = d.get('m');
    if (m === undefined || !isDict(m)) return null;
    const id = m.get('seedpay');
    return id !== undefined && isInt(id) && id > 0n && id < 256n ? Number(id) : null;
  } catch {
    return null;
  }
}

/** Splits one direction of the peer wire into the handshake and whole length-prefixed messages. */
class WireSplitter {
  private buf = Buffer.alloc(0);
  private handshakeDone = false;
  /** Feed bytes; returns the whole units (handshake or messages, each with its prefix) now complete. */
  push(chunk: Buffer): Buffer[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      if (!this.handshakeDone) {
        if (this.buf.length < HANDSHAKE_BYTES) return out;
        out.push(this.buf.subarray(0, HANDSHAKE_BYTES));
        this.buf = this.buf.subarray(HANDSHAKE_BYTES);
        this.handshakeDone = true;
        continue;
      }
      if (this.buf.length < 4) return out;
      const n = this.buf.readUInt32BE(0);
      if (this.buf.length < 4 + n) return out;
      out.push(this.buf.subarray(0, 4 + n));
      this.buf = this.buf.subarray(4 + n);
    }
  }
}

/** An extended message: [len][20][ext id][payload]. */
function extendedMessage(id: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(6 + payload.length);
  b.writeUInt32BE(2 + payload.length, 0);
  b[4] = EXTENDED;
  b[5] = id;
  b.set(payload, 6);
  return b;
}

interface Mitm {
  port: number;
  /** Forged rejections inserted. */
  injected: string[];
  close(): Promise<void>;
}

/** The man in the middle: listen on loopback, relay to `target`, forge a final rejection for the first proof of each connection. */
async function startMitm(targetPort: number): Promise<Mitm> {
  const injected: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect(targetPort, '127.0.0.1');
    sockets.add(down); sockets.add(up);
    const fromBuyer = new WireSplitter();
    const fromSeller = new WireSplitter();
    let buyerSeedpayId: number | null = null; // the id seller → buyer SeedPay messages carry
    let sellerSeedpayId: number | null = null; // the id buyer → seller SeedPay messages carry
    let done = false;
    const unitOf = (u: Buffer): { ext: number; payload: Buffer } | null =>
      u.length >= 6 && u[4] === EXTENDED ? { ext: u[5], payload: u.subarray(6) } : null;
    down.on('data', (chunk: Buffer) => {
      up.write(chunk); // the buyer's bytes pass unchanged; a copy is parsed
      for (const u of fromBuyer.push(chunk)) {
        const e = unitOf(u);
        if (e === null) continue;
        if (e.ext === 0) { buyerSeedpayId ??= seedpayId(e.payload); continue; }
        if (done || sellerSeedpayId === null || e.ext !== sellerSeedpayId || buyerSeedpayId === null) continue;
        let m;
        try { m = decodeMessage(e.payload); } catch { continue; }
        if (m.type !== 'payment_proof') continue;
        done = true;
        // The forgery: a well-formed final rejection of this very proof, from "the seller".
        down.write(extendedMessage(buyerSeedpayId, encodeMessage({ type: 'payment_rejected', tx: m.tx, reason: 'insufficient_amount' })));
        injected.push(m.tx);
      }
    });
    up.on('data', (chunk: Buffer) => {
      // The seller's bytes are relayed whole message by whole message, so a forgery lands between two.
      for (const u of fromSeller.push(chunk)) {
        const e = unitOf(u);
        if (e !== null && e.ext === 0) sellerSeedpayId ??= seedpayId(e.payload);
        down.write(u);
      }
    });
    const end = (): void => { down.destroy(); up.destroy(); sockets.delete(down); sockets.delete(up); };
    down.on('close', end); up.on('close', end);
    down.on('error', end); up.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port, injected,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

/**
 * Run the attack; `mac: false` turns message authentication off in the seller (the
 * terms do not offer it), which shows what the attack did before.
 */
export async function runInjectedReject(env: Env, o: { mac?: boolean } = {}): Promise<AttackResult> {
  const content = await makeContent(env, 24 * MiB);
  const s = await startSeller(env, content, funded(env, 0n), { price: PRICE, ...(o.mac === false ? { mac: false } : {}) });
  const mitm = await startMitm(s.port);
  const client = new Client();
  const buyer = await openBuyer(env, funded(env, 1n * USDC), { maxPricePerMiB: PRICE });
  try {
    const finals: string[] = [];
    const stops: string[] = [];
    buyer.on('rejected', (_p, tx, reason, final) => { if (final) finals.push(`${tx.slice(0, 8)}…:${reason}`); });
    buyer.on('stopped', (_p, reason) => stops.push(reason));
    const t = await buyer.add(client, content.meta, { dir: await leechDir(env), peers: [`127.0.0.1:${mitm.port}`] });
    const done = await whenComplete(t, 30_000).then(() => true, () => false);
    await sleep(300); // the last confirmation
    const paid = buyer.spent;
    const credited = s.seller.totals().payments.reduce((a, p) => a + p.credited, 0n);
    const received = BigInt(t.stats().downloaded);
    const worth = chargeFor(received, PRICE);
    const backed = credited < worth ? credited : worth;
    const lost = paid > backed ? paid - backed : 0n;
    return {
      attack: 'injected-reject', victim: 'buyer', lost_base_units: Number(lost), bound_base_units: 0, unpaid_bytes: 0,
      outcome: `message authentication ${o.mac === false ? 'off' : 'on'}; ${mitm.injected.length} forged payment_rejected injected; `
        + `${done ? 'download complete' : `download stalled at ${received} of ${content.meta.totalLength} B`}; `
        + `paid ${paid} in ${buyer.payments().length} payment(s), credited ${credited}`
        + `${finals.length > 0 ? `; final rejections seen ${finals.join(', ')}` : ''}${stops.length > 0 ? `; buyer stopped (${stops.join(', ')})` : ''}`,
    };
  } finally {
    await client.close();
    await buyer.close();
    await mitm.close();
    await s.client.close();
    await s.seller.close();
  }
}

export const injectedReject: MoneyAttack = { name: 'injected-reject', victim: 'buyer', run: (env) => runInjectedReject(env) };
