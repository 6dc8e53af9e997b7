/**
 * A seeder that cannot finish anyone alone: a torrent plugin giving each named peer
 * (by IP) only its share of the pieces. The peer is held choked and told it may fetch
 * its pieces anyway (allowed_fast, BEP 6), so it never asks for the others and nothing
 * is rejected. Peers must then trade the rest among themselves — the swarm tests use it
 * to prove two leechers found and used each other (peer exchange).
 */
import type { TorrentPlugin } from '../extensions/plugin.js';

/**
 * `shares[i]` is the IP of the peer that gets pieces i, i + n, i + 2n, … (n = shares.length);
 * any other peer gets nothing.
 */
export function splitSeeder(pieceCount: number, shares: readonly string[]): TorrentPlugin {
  return {
    name: 'x_split_seeder',
    onPeerAdded(peer) {
      const share = shares.indexOf(peer.address.slice(0, peer.address.lastIndexOf(':')));
      peer.control.choke();
      for (let i = share; share >= 0 && i < pieceCount; i += shares.length) peer.control.allowFast(i);
      peer.control.flush();
    },
  };
}
