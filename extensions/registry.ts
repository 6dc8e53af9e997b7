/**
 * The BEP 10 extension registry: the one place where extensions (ut_metadata,
 * seedpay, …) plug into connections.
 *
 * A torrent session builds one `ExtensionRegistry` with a list of factories. For
 * every new connection, `forConnection(info)` asks each factory for a hook (a factory
 * may return null: not for this peer) and returns a `ConnectionExtensions`: the hooks
 * to hand to `PeerConnection` (`extensions` option or `accept({ extensions })`) plus
 * the name↔id maps of that connection, both ways:
 *  - ours:   name → the local id we advertise in `m` (the connection numbers hooks
 *            1, 2, … in list order; the id it really assigned is read back in attach);
 *  - peer's: name → the id from the peer's `m` (updated by every extended handshake,
 *            BEP 10 allows more than one; id 0 removes a name).
 *
 * Each hook is wrapped so the registry can observe the peer's handshake and whether
 * the hook declined itself for the connection; optional hook methods stay absent in
 * the wrapper, so the piece path (`canSendPiece`, `onPieceSent`) costs nothing for
 * hooks that do not implement it.
 *
 * Handshake keys: the connection writes `m`, `reqq`, and `v` / `p` / `yourip` from its
 * options; hooks add per-torrent keys (ut_metadata: `metadata_size`). Keys owned by
 * the connection are stripped from what a hook adds, so there is one source for each.
 *
 * The session must call `close(reason)` when the connection ends (any reason): hooks
 * that hold shared per-torrent state (the metadata fetcher) forget the peer then, and
 * `tick(now)` about once a second.
 */

import type { Encodable } from '../wire/bencode.js';
import type { ExtensionContext, ExtensionHook, HookCloseReason, PeerExtendedHandshake } from '../wire/extension-hooks.js';
import { WireError, invalidArgument } from '../wire/errors.js';

/**
 * A peer broke an extension's protocol. A WireError with code 'EXTENSION_ERROR', so a
 * hook can throw it from `onMessage` and the connection ends with exactly this object
 * (PeerConnection passes WireErrors through). `extension` names the extension and
 * `reason` is its own stable code (wire/errors.ts keeps the wire's union closed;
 * extensions carry their reasons here instead).
 */
export class ExtensionProtocolError<R extends string = string> extends WireError {
  readonly extension: string;
  readonly reason: R;

  constructor(extension: string, reason: R, message: string, remote = true) {
    super('EXTENSION_ERROR', `${extension} ${reason}: ${message}`, remote);
    this.name = 'ExtensionProtocolError';
    this.extension = extension;
    this.reason = reason;
  }
}

/** What a factory knows about the connection it makes a hook for. */
export interface ExtensionConnectionInfo {
  readonly infoHash: Uint8Array;
  /** A label for the peer (e.g. "127.0.0.1:6881"), used in events and bans. */
  readonly peer: string;
  readonly role: 'initiator' | 'acceptor';
  /**
   * Ask the I/O adapter to write what this connection has queued. Hooks call it when
   * they queue output outside this connection's own event handling (a timer, another
   * connection's message, a payment confirmation); inside it, the adapter flushes anyway.
   */
  readonly flush?: () => void;
}

/** @deprecated an ExtensionHook: it learns of the end of its connection by `onClose`. */
export type ClosableExtensionHook = ExtensionHook;

export interface ExtensionFactory {
  /** The name in `m` (unique in a registry). */
  readonly name: string;
  /** A hook for one connection, or null to leave this extension out for it. */
  create(info: ExtensionConnectionInfo): ClosableExtensionHook | null;
}

/** Top-level handshake keys the connection writes itself (never taken from a hook). */
export const CONNECTION_HANDSHAKE_KEYS: ReadonlySet<string> = new Set(['m', 'reqq', 'v', 'p', 'yourip']);

/** Message ids are one byte and 0 is the handshake. */
const MAX_EXTENSIONS = 254;

export class ExtensionRegistry {
  private readonly factories: ExtensionFactory[] = [];

  constructor(factories: readonly ExtensionFactory[] = []) {
    for (const f of factories) this.add(f);
  }

  /** Add a factory (before connections are made; later ones are used by later connections). */
  add(f: ExtensionFactory): this {
    const name = f.name;
    if (typeof name !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(name)) throw invalidArgument(`bad extension name ${JSON.stringify(name)}`);
    if (this.factories.some((x) => x.name === name)) throw invalidArgument(`duplicate extension '${name}'`);
    if (this.factories.length >= MAX_EXTENSIONS) throw invalidArgument('too many extensions (ids are one byte)');
    this.factories.push(f);
    return this;
  }

  get names(): readonly string[] { return this.factories.map((f) => f.name); }

  /** The hooks (and id maps) for one new connection. */
  forConnection(info: ExtensionConnectionInfo): ConnectionExtensions {
    const hooks: ClosableExtensionHook[] = [];
    for (const f of this.factories) {
      const h = f.create(info);
      if (h === null) continue;
      if (h.name !== f.name) throw invalidArgument(`factory '${f.name}' made a hook named '${h.name}'`);
      hooks.push(h);
    }
    return new ConnectionExtensions(hooks);
  }
}

type MutableHook = { -readonly [K in keyof ExtensionHook]: ExtensionHook[K] };

interface Entry {
  readonly inner: ClosableExtensionHook;
  localId: number;
  state: 'active' | 'declined' | 'closed';
}

/** One connection's extensions: the hooks to bind and the name↔id maps both ways. */
export class ConnectionExtensions {
  /** Pass these to PeerConnection (in this order: it numbers them 1, 2, …). */
  readonly hooks: readonly ExtensionHook[];
  private readonly entries = new Map<string, Entry>();
  private readonly byLocalId = new Map<number, string>();
  private readonly remote = new Map<string, number>();
  private lastHandshake: PeerExtendedHandshake | null = null;

  constructor(inner: readonly ClosableExtensionHook[]) {
    this.hooks = inner.map((h, i) => {
      const entry: Entry = { inner: h, localId: i + 1, state: 'active' };
      this.entries.set(h.name, entry);
      this.byLocalId.set(i + 1, h.name);
      return this.wrap(entry);
    });
  }

  /** Names of the hooks made for this connection, in local id order. */
  get names(): string[] { return [...this.entries.keys()]; }
  /** Our id for `name` (what the peer must use to reach it), or null. */
  localId(name: string): number | null { return this.entries.get(name)?.localId ?? null; }
  /** The extension we advertised as `id`, or null. */
  localName(id: number): string | null { return this.byLocalId.get(id) ?? null; }
  /** The peer's id for `name` (what we send with), or null if it has none. */
  remoteId(name: string): number | null { return this.remote.get(name) ?? null; }
  /** The name the peer advertised as `id`, or null. */
  remoteName(id: number): string | null {
    for (const [n, i] of this.remote) if (i === id) return n;
    return null;
  }
  /** The peer's advertised extensions: name → its id. */
  get remoteIds(): ReadonlyMap<string, number> { return this.remote; }
  /** The peer's last extended handshake seen by the hooks. */
  get peerHandshake(): PeerExtendedHandshake | null { return this.lastHandshake; }
  /** The hook object a factory made for `name` (to reach its own API), or null. */
  hook(name: string): ClosableExtensionHook | null { return this.entries.get(name)?.inner ?? null; }
  /** True while the hook is bound and has not declined. */
  isActive(name: string): boolean { return this.entries.get(name)?.state === 'active'; }
  /** Hooks that declined themselves for this connection. */
  declined(): string[] {
    return [...this.entries.values()].filter((e) => e.state === 'declined').map((e) => e.inner.name);
  }

  /** The connection is gone: every hook still active is told (once). */
  close(reason: HookCloseReason = { code: 'CLOSED', error: null }): void {
    for (const e of this.entries.values()) {
      if (e.state === 'closed') continue;
      const wasActive = e.state === 'active';
      e.state = 'closed';
      if (wasActive) closeHook(e.inner, reason);
    }
  }

  /** Time passes: every active hook's `tick`. */
  tick(now: number): void {
    for (const e of this.entries.values()) if (e.state === 'active') e.inner.tick?.(now);
  }

  /**
   * Record the peer's extended handshake (idempotent per handshake object). The hooks'
   * wrappers do this; a session calls it from the 'extended_handshake' event only if it
   * wants the peer map while no hook is active (none made, or all declined).
   */
  observeHandshake(hs: PeerExtendedHandshake): void {
    if (hs === this.lastHandshake) return;
    this.lastHandshake = hs;
    for (const name of hs.disabled) this.remote.delete(name);
    for (const [name, id] of hs.m) this.remote.set(name, id);
  }

  private wrap(e: Entry): ExtensionHook {
    const h = e.inner;
    const w: MutableHook = {
      name: h.name,
      attach: (ctx: ExtensionContext) => {
        e.localId = ctx.localId;
        this.byLocalId.set(ctx.localId, h.name);
        h.attach?.(ctx);
      },
      onPeerHandshake: (hs: PeerExtendedHandshake) => {
        this.observeHandshake(hs);
        if (e.state !== 'active') return false;
        const keep = h.onPeerHandshake ? h.onPeerHandshake(hs) : true;
        if (!keep) {
          e.state = 'declined';
          closeHook(h, { code: 'DECLINED', error: null });
        }
        return keep;
      },
    };
    if (h.addHandshakeKeys) {
      w.addHandshakeKeys = (dict: Map<string, Encodable>) => {
        const mine = new Map<string, Encodable>();
        h.addHandshakeKeys!(mine);
        for (const [k, v] of mine) if (!CONNECTION_HANDSHAKE_KEYS.has(k)) dict.set(k, v);
      };
    }
    if (h.onMessage) w.onMessage = h.onMessage.bind(h);
    if (h.canSendPiece) w.canSendPiece = h.canSendPiece.bind(h);
    if (h.onPieceSent) w.onPieceSent = h.onPieceSent.bind(h);
    if (h.onPieceReceived) w.onPieceReceived = h.onPieceReceived.bind(h);
    if (h.onRequestRejected) w.onRequestRejected = h.onRequestRejected.bind(h);
    return w;
  }
}

function closeHook(h: ExtensionHook, reason: HookCloseReason): void {
  h.onClose?.(reason);
}
