/**
 * The torrent-level half of the extension API, shaped like libtorrent's
 * `torrent_plugin` (include/libtorrent/extensions.hpp: new_connection, on_piece_pass,
 * on_piece_failed, tick): one plugin object per torrent makes each connection's hook
 * (`create`, the BEP 10 registry's factory) and hears what happens across the
 * torrent's peers — a peer came or went, a piece passed or failed its hash check
 * (with the peers that sent its blocks), time passed. With it a feature is one hook
 * per connection plus one plugin per torrent: no scans over peers, no timers of its
 * own, no wrapping of the torrent's options.
 *
 * Sans-IO like the hooks: a plugin acts on a peer through that peer's `control`
 * (queued commands the engine carries out).
 */
import type { ExtensionHook, HookCloseReason, PeerControl } from '../wire/extension-hooks.js';
import type { ExtensionConnectionInfo } from './registry.js';

/** One connection of the torrent, as a plugin sees it. */
export interface PluginPeer {
  /** Unique per connection in this process. */
  readonly id: number;
  /** "host:port" of the peer. */
  readonly address: string;
  readonly role: 'initiator' | 'acceptor';
  /** The peer has told us it holds every piece (have_all, a full bitfield, or haves). */
  readonly isSeed: boolean;
  /** Act on this connection (choke, reject, close, …). */
  readonly control: PeerControl;
  /** This connection's hook of extension `name` while it is active (not declined, not closed), else null. */
  hook(name: string): ExtensionHook | null;
}

export interface TorrentPlugin {
  /** The extension name in the BEP 10 `m` dictionary (unique per torrent). */
  readonly name: string;
  /** A hook for one new connection, or null to leave this extension out for it. */
  create?(info: ExtensionConnectionInfo): ExtensionHook | null;
  /** A peer completed the BitTorrent handshake (its hook, if any, is bound). */
  onPeerAdded?(peer: PluginPeer): void;
  /** A peer that was added is gone (its hook was told by `onClose` first). */
  onPeerRemoved?(peer: PluginPeer, reason: HookCloseReason): void;
  /** Piece `index` passed its hash check; `contributors` sent its blocks (still connected ones). */
  onPiecePassed?(index: number, contributors: readonly PluginPeer[]): void;
  /** Piece `index` failed its hash check; `contributors` sent its blocks (still connected ones). */
  onPieceFailed?(index: number, contributors: readonly PluginPeer[]): void;
  /** About once a second. */
  tick?(now: number): void;
  /** False keeps the peer choked whatever the choker decides (e.g. a paid-only seller and a peer without credit). */
  canUnchoke?(peer: PluginPeer): boolean;
  /**
   * True while the plugin has business on this connection (a payment being settled):
   * at completion the torrent keeps such a seed open until it is idle (or a timeout).
   * Tell the torrent it settled with the peer's `control.flush()`.
   */
  isBusy?(peer: PluginPeer): boolean;
  /** The torrent closed: release what the plugin holds for it. */
  onTorrentClosed?(): void;
}
