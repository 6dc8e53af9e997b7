/**
 * payment/channel/program.ts without a chain: instruction data layouts, the strict state
 * decoder, and error-name mapping from every shape a transaction error reaches clients in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Keypair, PublicKey } from '@solana/web3.js';
import {
  CHANNEL_ERRORS, CHANNEL_STATE_LEN, ChannelDecodeError, channelAddress, channelErrorCode, channelErrorName, decodeChannel,
  DEFAULT_CHANNEL_PROGRAM_ID, encodeClaim, encodeExtend, encodeOpen, encodeReclaim, encodeTopUp,
} from '../../payment/channel/program.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../architecture/repo-root.js';

test('the committed program keypair is DEFAULT_CHANNEL_PROGRAM_ID', () => {
  const bytes = JSON.parse(readFileSync(path.join(repoRoot(), 'program', 'channel', 'program-keypair.json'), 'utf8')) as number[];
  assert.equal(bytes.length, 64);
  assert.ok(Keypair.fromSecretKey(Uint8Array.from(bytes)).publicKey.equals(DEFAULT_CHANNEL_PROGRAM_ID));
});

test('instruction data: tags, lengths and little-endian fields as the spec fixes them', () => {
  const vk = Keypair.generate().publicKey;
  const open = encodeOpen({ nonce: 1n, deposit: 2n, expiry: -3n, voucherKey: vk });
  assert.equal(open.length, 57);
  assert.equal(open[0], 0);
  assert.equal(open.readBigUInt64LE(1), 1n);
  assert.equal(open.readBigUInt64LE(9), 2n);
  assert.equal(open.readBigInt64LE(17), -3n);
  assert.deepEqual(open.subarray(25), Buffer.from(vk.toBytes()));
  assert.deepEqual([...encodeTopUp(258n)], [1, 2, 1, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...encodeExtend(1n)], [2, 1, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...encodeClaim(5n, true)], [3, 5, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual([...encodeReclaim()], [4]);
  assert.throws(() => encodeTopUp(-1n), RangeError);
  assert.throws(() => encodeTopUp(1n << 64n), RangeError);
  assert.throws(() => encodeExtend(1n << 63n), RangeError);
});

test('channel address: PDA of ["channel", buyer, seller, mint, nonce LE], distinct per nonce', () => {
  const [b, s, m] = [Keypair.generate().publicKey, Keypair.generate().publicKey, Keypair.generate().publicKey];
  const a = channelAddress(DEFAULT_CHANNEL_PROGRAM_ID, b, s, m, 1n);
  const nonce = Buffer.alloc(8);
  nonce.writeBigUInt64LE(1n);
  const [expect] = PublicKey.findProgramAddressSync([Buffer.from('channel'), b.toBuffer(), s.toBuffer(), m.toBuffer(), nonce], DEFAULT_CHANNEL_PROGRAM_ID);
  assert.ok(a.equals(expect));
  assert.ok(!a.equals(channelAddress(DEFAULT_CHANNEL_PROGRAM_ID, b, s, m, 2n)));
  assert.ok(!a.equals(channelAddress(DEFAULT_CHANNEL_PROGRAM_ID, s, b, m, 1n)));
});

function stateBytes(f: { deposit: bigint; claimed: bigint; expiry: bigint; nonce: bigint; keys: Uint8Array[] }): Uint8Array {
  const d = Buffer.alloc(CHANNEL_STATE_LEN);
  d[0] = 1;
  d[1] = 254;
  f.keys.forEach((k, i) => d.set(k, 8 + 32 * i));
  d.writeBigUInt64LE(f.deposit, 168);
  d.writeBigUInt64LE(f.claimed, 176);
  d.writeBigInt64LE(f.expiry, 184);
  d.writeBigUInt64LE(f.nonce, 192);
  return new Uint8Array(d);
}

test('decodeChannel reads every field at its offset; wrong length, version or padding is a typed error', () => {
  const addr = Keypair.generate().publicKey;
  fc.assert(fc.property(
    fc.bigUint64Array({ minLength: 3, maxLength: 3 }), fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
    fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { minLength: 5, maxLength: 5 }),
    ([deposit, claimed, nonce], expiry, keys) => {
      const st = decodeChannel(addr, DEFAULT_CHANNEL_PROGRAM_ID, stateBytes({ deposit, claimed, expiry, nonce, keys }));
      assert.deepEqual([st.buyer, st.seller, st.mint, st.vault, st.voucherKey].map((k) => [...k.toBytes()]), keys.map((k) => [...k]));
      assert.deepEqual([st.deposit, st.claimed, st.expiry, st.nonce], [deposit, claimed, expiry, nonce]);
      assert.ok(st.address.equals(addr) && st.programId.equals(DEFAULT_CHANNEL_PROGRAM_ID));
    }), { numRuns: 50 });
  const good = stateBytes({ deposit: 1n, claimed: 0n, expiry: 1n, nonce: 1n, keys: [] });
  const code = (data: Uint8Array): string => {
    try {
      decodeChannel(addr, DEFAULT_CHANNEL_PROGRAM_ID, data);
      return 'ok';
    } catch (e) {
      assert.ok(e instanceof ChannelDecodeError);
      return e.code;
    }
  };
  assert.equal(code(good), 'ok');
  assert.equal(code(good.subarray(0, 199)), 'bad_length');
  assert.equal(code(new Uint8Array(201)), 'bad_length');
  assert.equal(code(new Uint8Array(200)), 'bad_version'); // zeroed (a closed account's data)
  const padded = good.slice();
  padded[5] = 1;
  assert.equal(code(padded), 'bad_padding');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 260 }), (bytes) => { code(bytes); }), { numRuns: 200 });
});

test('error names: landed errors, preflight messages, token-program errors and other instructions are told apart', () => {
  assert.equal(Object.keys(CHANNEL_ERRORS).length, 23);
  assert.equal(channelErrorCode('WrongProgram'), 23);
  assert.equal(channelErrorName({ InstructionError: [1, { Custom: 13 }] }), 'ChannelExpired');
  assert.equal(channelErrorName({ InstructionError: [1, { Custom: 99 }] }), null);
  assert.equal(channelErrorName({ InstructionError: [1, 'InvalidAccountData'] }), null);
  assert.equal(channelErrorName('BlockhashNotFound'), null);
  assert.equal(channelErrorName(null), null);
  const pre = new Error('Simulation failed. \nMessage: Transaction simulation failed: Error processing Instruction 2: custom program error: 0x12. \nLogs: []');
  assert.equal(channelErrorName(pre), 'VoucherMismatch');
  assert.equal(channelErrorName(pre, { instructionIndex: 2 }), 'VoucherMismatch');
  // The Ed25519 precompile's own failure (index 1) is not the program's.
  assert.equal(channelErrorName({ InstructionError: [1, { Custom: 2 }] }, { instructionIndex: 2 }), null);
  // Token's InsufficientFunds (custom 1) raised inside our CPI: not InvalidInstructionData.
  const id = DEFAULT_CHANNEL_PROGRAM_ID.toBase58();
  const tokenLogs = [
    `Program ${id} invoke [1]`, 'Program TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA invoke [2]',
    'Program TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA failed: custom program error: 0x1',
    `Program ${id} failed: custom program error: 0x1`,
  ];
  assert.equal(channelErrorName({ InstructionError: [0, { Custom: 1 }] }, { logs: tokenLogs }), null);
  assert.equal(channelErrorName({ InstructionError: [0, { Custom: 1 }] }, { logs: tokenLogs.slice(3) }), 'InvalidInstructionData');
});
