/**
 * Deploy the channel program through the upgradeable BPF loader, the way `solana program
 * deploy` does: a buffer account (InitializeBuffer), the .so written into it in chunks
 * (Write), then the program account and DeployWithMaxDataLen, which runs the cluster's
 * deployment-time ELF checks. The payer is the buffer's and the program's upgrade
 * authority. Works against the local ledger (tested) and any RPC endpoint; whether a
 * public cluster still accepts SBPFv0 programs is not verified here.
 */
import {
  Connection, Keypair, PublicKey, SystemProgram, SYSVAR_CLOCK_PUBKEY, SYSVAR_RENT_PUBKEY, TransactionInstruction,
} from '@solana/web3.js';
import { rpc, sendChannelTransaction, type SendOptions } from './send-tx.js';

export const BPF_UPGRADEABLE_LOADER = new PublicKey('BPFLoaderUpgradeab1e11111111111111111111111');
/** Bytes of the .so per Write transaction: fits a 1232-byte transaction with one signature. */
export const DEPLOY_CHUNK = 900;
const BUFFER_HEADER = 37; // UpgradeableLoaderState::Buffer: u32 tag + Option<Pubkey>
const PROGRAM_ACCOUNT_LEN = 36; // UpgradeableLoaderState::Program: u32 tag + programdata address
const MAX_PROGRAM_BYTES = 10 * 1024 * 1024;

export class DeployError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeployError';
  }
}

export interface DeployResult {
  programId: PublicKey;
  programData: PublicKey;
  /** Transactions sent (create buffer, writes, deploy). */
  transactions: number;
  bytes: number;
}

export interface DeployOptions extends Omit<SendOptions, 'programId'> {
  /** Room for later upgrades (default twice the program's size). */
  maxDataLen?: number;
  /** Writes in flight at once (default 4). */
  parallelWrites?: number;
  /** Progress lines for a CLI. */
  onProgress?: (line: string) => void;
}

const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const u64 = (n: number): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };

/** The programdata account of `programId` under the upgradeable loader. */
export function programDataAddress(programId: PublicKey): PublicKey {
  return PublicKey.findProgramAddressSync([programId.toBytes()], BPF_UPGRADEABLE_LOADER)[0];
}

/** Deploy `so` at `programKeypair`'s address, paid by (and upgradeable by) `payer`. */
export async function deployProgram(conn: Connection, payer: Keypair, programKeypair: Keypair, so: Uint8Array, opts: DeployOptions = {}): Promise<DeployResult> {
  if (so.length < 64 || so[0] !== 0x7f || so[1] !== 0x45 || so[2] !== 0x4c || so[3] !== 0x46) throw new DeployError('not an ELF shared object');
  if (so.length > MAX_PROGRAM_BYTES) throw new DeployError(`program is ${so.length} bytes (max ${MAX_PROGRAM_BYTES})`);
  const programId = programKeypair.publicKey;
  const existing = await rpc('getAccountInfo(program)', () => conn.getAccountInfo(programId, 'confirmed'));
  if (existing !== null) {
    throw new DeployError(`${programId.toBase58()} already exists (owner ${existing.owner.toBase58()}); upgrades are not supported by this command`);
  }
  const maxDataLen = opts.maxDataLen ?? so.length * 2;
  if (maxDataLen < so.length) throw new DeployError('maxDataLen is smaller than the program');
  const progress = opts.onProgress ?? ((): void => {});
  const send = (what: string, ixs: TransactionInstruction[], signers: Keypair[]): ReturnType<typeof sendChannelTransaction> =>
    sendChannelTransaction(conn, what, ixs, signers, opts);
  let transactions = 0;

  // 1. the buffer
  const buffer = Keypair.generate();
  const bufferLen = BUFFER_HEADER + so.length;
  const bufferRent = await rpc('getMinimumBalanceForRentExemption', () => conn.getMinimumBalanceForRentExemption(bufferLen));
  await send('create buffer', [
    SystemProgram.createAccount({ fromPubkey: payer.publicKey, newAccountPubkey: buffer.publicKey, lamports: bufferRent, space: bufferLen, programId: BPF_UPGRADEABLE_LOADER }),
    new TransactionInstruction({ programId: BPF_UPGRADEABLE_LOADER, data: u32(0), keys: [
      { pubkey: buffer.publicKey, isSigner: false, isWritable: true },
      { pubkey: payer.publicKey, isSigner: false, isWritable: false },
    ] }),
  ], [payer, buffer]);
  transactions++;
  progress(`buffer ${buffer.publicKey.toBase58()} (${bufferLen} bytes)`);

  // 2. the bytes, a few writes in flight at a time
  const offsets: number[] = [];
  for (let off = 0; off < so.length; off += DEPLOY_CHUNK) offsets.push(off);
  const parallel = Math.max(1, opts.parallelWrites ?? 4);
  for (let i = 0; i < offsets.length; i += parallel) {
    await Promise.all(offsets.slice(i, i + parallel).map((off) => {
      const chunk = so.subarray(off, off + DEPLOY_CHUNK);
      return send(`write @${off}`, [new TransactionInstruction({
        programId: BPF_UPGRADEABLE_LOADER,
        data: Buffer.concat([u32(1), u32(off), u64(chunk.length), chunk]),
        keys: [
          { pubkey: buffer.publicKey, isSigner: false, isWritable: true },
          { pubkey: payer.publicKey, isSigner: true, isWritable: false },
        ],
      })], [payer]);
    }));
    transactions += Math.min(parallel, offsets.length - i);
    progress(`written ${Math.min(so.length, (i + parallel) * DEPLOY_CHUNK)}/${so.length} bytes`);
  }

  // 3. the program account, and deploy (the loader checks the ELF here)
  const programData = programDataAddress(programId);
  const programRent = await rpc('getMinimumBalanceForRentExemption', () => conn.getMinimumBalanceForRentExemption(PROGRAM_ACCOUNT_LEN));
  await send('deploy', [
    SystemProgram.createAccount({ fromPubkey: payer.publicKey, newAccountPubkey: programId, lamports: programRent, space: PROGRAM_ACCOUNT_LEN, programId: BPF_UPGRADEABLE_LOADER }),
    new TransactionInstruction({ programId: BPF_UPGRADEABLE_LOADER, data: Buffer.concat([u32(2), u64(maxDataLen)]), keys: [
      { pubkey: payer.publicKey, isSigner: true, isWritable: true },
      { pubkey: programData, isSigner: false, isWritable: true },
      { pubkey: programId, isSigner: false, isWritable: true },
      { pubkey: buffer.publicKey, isSigner: false, isWritable: true },
      { pubkey: SYSVAR_RENT_PUBKEY, isSigner: false, isWritable: false },
      { pubkey: SYSVAR_CLOCK_PUBKEY, isSigner: false, isWritable: false },
      { pubkey: SystemProgram.programId, isSigner: false, isWritable: false },
      { pubkey: payer.publicKey, isSigner: true, isWritable: false },
    ] }),
  ], [payer, programKeypair]);
  transactions++;
  const deployed = await rpc('getAccountInfo(program)', () => conn.getAccountInfo(programId, 'confirmed'));
  if (deployed === null || !deployed.executable || !deployed.owner.equals(BPF_UPGRADEABLE_LOADER)) {
    throw new DeployError(`deploy transaction confirmed but ${programId.toBase58()} is not an executable program`);
  }
  progress(`deployed ${programId.toBase58()}`);
  return { programId, programData, transactions, bytes: so.length };
}
