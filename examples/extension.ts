/**
 * An extension of your own, on the extension API (docs/EXTENSIONS.md): a torrent
 * plugin that counts the verified pieces each peer sent us and closes a peer whose
 * pieces failed their hash check twice, plus a per-connection hook that advertises
 * itself in the BEP 10 handshake and answers a ping message. Run:
 *   npx tsx examples/extension.ts <file.torrent> <dir> <host:port>
 * (from the package: import { … } from 'seedpay' instead of the relative paths).
 */
import { Client } from '../lib/net/client.js';
import type { TorrentPlugin } from '../extensions/plugin.js';
import type { ExtensionContext, ExtensionHook } from '../wire/extension-hooks.js';

/** The plugin, and what it counted (address → verified pieces). */
export function pieceAccounting(name = 'x_pingpong'): { plugin: TorrentPlugin; verified: Map<string, number> } {
  const verified = new Map<string, number>();
  const failed = new Map<string, number>();
  const plugin: TorrentPlugin = {
    name,
    // One hook per connection: sans-IO, it only sends through its context.
    create: (): ExtensionHook => {
      let ctx: ExtensionContext | null = null;
      return {
        name,
        attach: (c) => { ctx = c; },
        onMessage: (payload) => {
          // 'ping' → 'pong'; anything else breaks this extension's protocol.
          if (new TextDecoder().decode(payload) !== 'ping') ctx?.control.close('EXTENSION_VIOLATION', new Error('not a ping'));
          else ctx?.send(new TextEncoder().encode('pong'));
        },
      };
    },
    onPiecePassed: (_index, peers) => {
      for (const p of peers) verified.set(p.address, (verified.get(p.address) ?? 0) + 1);
    },
    onPieceFailed: (_index, peers) => {
      for (const p of peers) {
        const n = (failed.get(p.address) ?? 0) + 1;
        failed.set(p.address, n);
        if (n >= 2) p.control.close('BANNED');
      }
    },
  };
  return { plugin, verified };
}

if (process.argv[1]?.endsWith('extension.ts')) {
  const [torrentPath, dir, peer] = process.argv.slice(2);
  const { plugin, verified } = pieceAccounting();
  const client = new Client();
  const torrent = await client.add(torrentPath, { dir, peers: [peer], extensions: [plugin] });
  await new Promise<void>((done) => { if (torrent.isComplete) done(); else torrent.once('done', done); });
  console.log('verified pieces by peer:', Object.fromEntries(verified));
  await client.close();
}
