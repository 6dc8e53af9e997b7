/**
 * MSE/PE under hostile input: every way a peer can break the handshake gives the
 * specific MseError (sticky), at the bound the spec sets and not before; garbage of any
 * shape, in any chunking, gives MseErrors only. The tests play the other side by hand
 * (keys.ts) to reach fields an honest machine would never send.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MseInitiator, MseResponder, MseError } from '../../wire/mse/index.js';
import { DhKey } from '../../wire/mse/dh.js';
import { req1Hash, req2Hash, req3Hash, sessionCiphers, xor20 } from '../../wire/mse/keys.js';
import { INFO_HASH, drain, lookupOf, seededRandom } from './mse-pair.js';

const u32 = (v: number): number[] => [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const u16 = (v: number): number[] => [v >>> 8, v & 0xff];

function responder(mode: 'require' | 'prefer' = 'prefer'): MseResponder {
  return new MseResponder({ mode, now: 0, random: seededRandom(11), findInfoHash: lookupOf([INFO_HASH]), timeout: 1000 });
}

function initiator(mode: 'require' | 'prefer' = 'prefer'): MseInitiator {
  return new MseInitiator({ infoHash: INFO_HASH, mode, now: 0, random: seededRandom(12), timeout: 1000 });
}

function throwsCode(f: () => void, code: string): MseError {
  let caught: unknown = null;
  try { f(); } catch (e) { caught = e; }
  assert.ok(caught instanceof MseError, `expected MseError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  return caught;
}

/** A hand-played initiator: sends Ya, learns S from the responder's Yb, then whatever fields we choose. */
function handInitiator(b: MseResponder, skey = INFO_HASH): { step3: (plain: number[]) => Uint8Array } {
  const a = new DhKey(new Uint8Array(20).fill(3));
  b.receive(a.publicKey, 0);
  const s = a.sharedSecret(drain(b).subarray(0, 96))!;
  const enc = sessionCiphers('initiator', s, skey).encrypt;
  return {
    step3: (plain) => Buffer.concat([req1Hash(s), xor20(req2Hash(skey), req3Hash(s)), enc.process(Uint8Array.from(plain))]),
  };
}

/** A hand-played responder: answers the initiator's Ya, then sends ENCRYPT(fields) we choose. */
function handResponder(a: MseInitiator): { step4: (plain: number[]) => Uint8Array } {
  const b = new DhKey(new Uint8Array(20).fill(4));
  const s = b.sharedSecret(drain(a).subarray(0, 96))!;
  a.receive(b.publicKey, 0);
  const enc = sessionCiphers('responder', s, INFO_HASH).encrypt;
  return { step4: (plain) => enc.process(Uint8Array.from(plain)) };
}

test('responder: no HASH(req1) within 512 bytes of padding is BAD_REQ1_SYNC, not a byte earlier', () => {
  const b = responder();
  b.receive(new Uint8Array(96).fill(0x55), 0); // Ya (not a BT header)
  b.receive(new Uint8Array(531).fill(0x66), 0); // 531 bytes after Ya: the marker could still start at 512
  assert.equal(b.error, null);
  throwsCode(() => b.receive(new Uint8Array(1), 0), 'BAD_REQ1_SYNC');
  // Sticky: the same error again, and nothing left to send.
  assert.equal(throwsCode(() => b.receive(new Uint8Array(1), 0), 'BAD_REQ1_SYNC'), b.error);
  assert.equal(b.pollTransmit(), null);
});

test('initiator: no ENCRYPT(VC) within 512 bytes of PadB is BAD_VC_SYNC, not a byte earlier', () => {
  const a = initiator();
  const fake = new DhKey(new Uint8Array(20).fill(9));
  drain(a);
  a.receive(fake.publicKey, 0);
  a.receive(new Uint8Array(519).fill(0x77), 0);
  assert.equal(a.error, null);
  throwsCode(() => a.receive(new Uint8Array(1), 0), 'BAD_VC_SYNC');
});

test('responder: unknown info hash, bad VC, no common method, over-long PadC', () => {
  const vc = [0, 0, 0, 0, 0, 0, 0, 0];
  {
    const b = responder();
    const h = handInitiator(b, new Uint8Array(20).fill(0xee));
    throwsCode(() => b.receive(h.step3([...vc, ...u32(3), ...u16(0), ...u16(0)]), 0), 'UNKNOWN_INFO_HASH');
  }
  {
    const b = responder();
    const h = handInitiator(b);
    throwsCode(() => b.receive(h.step3([1, 0, 0, 0, 0, 0, 0, 0, ...u32(3), ...u16(0), ...u16(0)]), 0), 'BAD_VC');
  }
  for (const [mode, provide] of [['require', 1], ['prefer', 0], ['prefer', 4], ['require', 0xfffffffc]] as const) {
    const b = responder(mode);
    const h = handInitiator(b);
    throwsCode(() => b.receive(h.step3([...vc, ...u32(provide), ...u16(0), ...u16(0)]), 0), 'NO_COMMON_METHOD');
  }
  {
    const b = responder();
    const h = handInitiator(b);
    throwsCode(() => b.receive(h.step3([...vc, ...u32(2), ...u16(513)]), 0), 'BAD_PAD_LENGTH');
  }
  {
    // 512 is allowed; unknown extra bits in crypto_provide are ignored.
    const b = responder('require');
    const h = handInitiator(b);
    b.receive(h.step3([...vc, ...u32(0xf6), ...u16(512), ...new Array<number>(512).fill(0), ...u16(0)]), 0);
    assert.equal(b.result?.method, 'rc4');
  }
});

test('initiator: crypto_select must be exactly one method we offered; PadD at most 512', () => {
  const vc = [0, 0, 0, 0, 0, 0, 0, 0];
  for (const [mode, sel] of [['prefer', 0], ['prefer', 3], ['prefer', 4], ['require', 1], ['prefer', 0x80000002]] as const) {
    const a = initiator(mode);
    const h = handResponder(a);
    throwsCode(() => a.receive(h.step4([...vc, ...u32(sel), ...u16(0)]), 0), 'BAD_CRYPTO_SELECT');
  }
  const a = initiator();
  throwsCode(() => a.receive(handResponder(a).step4([...vc, ...u32(2), ...u16(513)]), 0), 'BAD_PAD_LENGTH');
  const ok = initiator();
  ok.receive(handResponder(ok).step4([...vc, ...u32(1), ...u16(3), 9, 9, 9]), 0);
  assert.equal(ok.result?.method, 'plaintext');
});

test('degenerate public keys are BAD_PUBLIC_KEY', () => {
  const b = responder();
  throwsCode(() => b.receive(new Uint8Array(96).fill(0).map((_, i) => (i === 95 ? 1 : 0)), 0), 'BAD_PUBLIC_KEY');
  const a = initiator();
  throwsCode(() => a.receive(new Uint8Array(96).fill(0xff), 0), 'BAD_PUBLIC_KEY'); // ≥ P
});

test('deadline: nextTimeout, handleTimeout and late input give TIMEOUT; an early end is TRUNCATED', () => {
  const b = responder();
  assert.equal(b.nextTimeout(), 1000);
  b.handleTimeout(999);
  assert.equal(b.error, null);
  throwsCode(() => b.handleTimeout(1000), 'TIMEOUT');
  assert.equal(b.nextTimeout(), null);
  const a = initiator();
  throwsCode(() => a.receive(new Uint8Array(10), 1000), 'TIMEOUT');
  const c = responder();
  c.receive(new Uint8Array(50).fill(1), 0);
  throwsCode(() => c.receiveEnd(), 'TRUNCATED');
  // After a finished handshake more input is a local misuse, not a peer error.
  const d = responder();
  d.receive(new Uint8Array([19, ...Buffer.from('BitTorrent protocol')]), 0);
  const e = throwsCode(() => d.receive(new Uint8Array(1), 0), 'INVALID_ARGUMENT');
  assert.equal(e.remote, false);
  d.receiveEnd(); // fine once done
});

test('any bytes in any chunking: only MseErrors, output bounded', () => {
  fc.assert(fc.property(
    fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 1, max: 300 }), fc.boolean(), fc.constantFrom<'require' | 'prefer'>('require', 'prefer'),
    (bytes, cut, asInitiator, mode) => {
      const m = asInitiator ? initiator(mode) : responder(mode);
      let sent = drain(m).length;
      for (let o = 0; o < bytes.length && m.result === null; o += cut) {
        try {
          m.receive(bytes.subarray(o, o + cut), 0);
        } catch (e) {
          assert.ok(e instanceof MseError, `not an MseError: ${String(e)}`);
          break;
        }
        sent += drain(m).length;
      }
      assert.ok(sent <= 96 + 512 + 20 + 20 + 16 + 512 + 512, `sent ${sent}`);
    },
  ), { numRuns: 300 });
});
