/**
 * ut_pex on one connection: the BEP 10 hook. It reads what the peer's extended
 * handshake says about the peer (its listen port `p`, `e`, `upload_only`,
 * ut_holepunch) — needed to list this peer to others even when it does not speak
 * ut_pex itself, so the hook never declines — hands received messages to its
 * PexPeerState and what they teach to the plugin, and sends what the plugin asks.
 */
import { isInt } from '../../wire/bencode.js';
import type { ExtensionContext, ExtensionHook, PeerExtendedHandshake } from '../../wire/extension-hooks.js';
import { WireError } from '../../wire/errors.js';
import { formatPeerAddress, type PeerAddress } from '../../format/magnet.js';
import type { ExtensionConnectionInfo } from '../registry.js';
import { addressScope, splitAddress, type AddressScope } from './address.js';
import { PEX_FLAGS, UT_PEX, type PexPeer } from './codec.js';
import { PexPeerState, type PexLimits, type PexReceived } from './peer-state.js';

/** What a hook needs from its torrent's plugin. */
export interface PexHookHost {
  /** False once the torrent turned out private (a magnet's info dict said so): no PEX either way. */
  readonly enabled: boolean;
  /** A message from this hook's peer taught these addresses. */
  learned(hook: PexHook, peers: readonly PexPeer[]): void;
}

export class PexHook implements ExtensionHook {
  readonly name = UT_PEX;
  readonly state: PexPeerState;
  readonly role: 'initiator' | 'acceptor';
  /** The connection's label ("host:port"). */
  readonly peer: string;
  /** The peer's address as the connection sees it (null if the label is not host:port). */
  private readonly remote: PeerAddress | null;
  private readonly scope: AddressScope;
  private ctx: ExtensionContext | null = null;
  private listenPort: number | null = null;
  private flagBits = 0;
  private uploadOnly = false;
  /** The last message's outcome (tests, diagnostics). */
  lastReceived: PexReceived | null = null;

  constructor(info: ExtensionConnectionInfo, private readonly host: PexHookHost, limits: Partial<PexLimits> = {}) {
    this.role = info.role;
    this.peer = info.peer;
    this.remote = splitAddress(info.peer);
    this.scope = this.remote === null ? 'invalid' : addressScope(this.remote.host);
    this.state = new PexPeerState(limits);
  }

  attach(ctx: ExtensionContext): void { this.ctx = ctx; }

  onPeerHandshake(hs: PeerExtendedHandshake): boolean {
    this.listenPort = hs.p ?? this.listenPort;
    const e = hs.dict.get('e');
    this.flagBits = (isInt(e) && e === 1n ? PEX_FLAGS.ENCRYPTION : 0) | (hs.m.has('ut_holepunch') ? PEX_FLAGS.HOLEPUNCH : 0);
    this.uploadOnly = hs.uploadOnly;
    return true;
  }

  onMessage(payload: Uint8Array): void {
    const ctx = this.ctx;
    if (ctx === null || !this.host.enabled) return;
    const r = this.state.receive(payload, ctx.control.now(), this.scope);
    this.lastReceived = r;
    if (r.kind === 'hostile') ctx.control.close('EXTENSION_VIOLATION', r.error);
    else if (r.kind === 'peers' && r.added.length > 0) this.host.learned(this, r.added);
  }

  /** The peer said ut_pex in its extended handshake (and has not taken it back). */
  get speaksPex(): boolean { return this.ctx?.remoteId != null; }

  /**
   * Where other peers can reach this one: the address we dialled, or, for a peer that
   * dialled us, its IP and the listen port of its extended handshake — never the source
   * port of its connection, which nobody can dial. Null when unknown.
   */
  listenAddress(): PeerAddress | null {
    if (this.remote === null) return null;
    if (this.role === 'initiator') return this.remote;
    return this.listenPort === null ? null : { host: this.remote.host, port: this.listenPort };
  }

  /** listenAddress() as a key (formatPeerAddress), or null. */
  listenKey(): string | null {
    const a = this.listenAddress();
    return a === null ? null : formatPeerAddress(a);
  }

  /** BEP 11 flags for this peer in messages to others (`seed`: it holds every piece, as it told us). */
  flags(seed: boolean): number {
    return this.flagBits | (seed || this.uploadOnly ? PEX_FLAGS.SEED : 0) | (this.role === 'initiator' ? PEX_FLAGS.REACHABLE : 0);
  }

  /** Queue one message (dropped if the connection is no longer open) and have it written. */
  send(payload: Uint8Array): void {
    const ctx = this.ctx;
    if (ctx === null) return;
    try {
      ctx.send(payload);
    } catch (e) {
      if (e instanceof WireError && !e.remote) return; // closing, or the peer took ut_pex back
      throw e;
    }
    ctx.control.flush();
  }
}
