/**
 * Peer exchange for one torrent of a Client: extensions/pex's plugin over the torrent's
 * dial queue. The plugin decides (sans-IO) what to tell and what to take; this adapter
 * only answers its questions from the torrent and the client.
 */
import type { PeerAddress } from '../../format/magnet.js';
import { PexPlugin, type PexPeer } from '../../extensions/pex/index.js';
import type { Torrent } from '../engine/torrent.js';

/**
 * The plugin for the torrent `torrent()` returns (null until it is built: the plugin is
 * one of its constructor's options, and asks nothing of it before its first connection).
 */
export function peerExchangeFor(
  torrent: () => Torrent | null,
  isSelf: (p: PeerAddress) => boolean,
  onLearn: (t: Torrent, peer: PexPeer, from: string) => void,
): PexPlugin {
  return new PexPlugin({
    addPeer: (p) => torrent()?.addPeer(p),
    knowsPeer: (p) => torrent()?.knowsPeer(p) ?? true,
    isSelf,
    isComplete: () => torrent()?.isComplete ?? false,
    isPrivate: () => torrent()?.metainfo?.private ?? false,
  }, {
    onLearn: (p, from) => { const t = torrent(); if (t !== null) onLearn(t, p, from); },
  });
}
