/**
 * Magnet target: parseMagnet on the input read as latin1 gives a Magnet or a MagnetError;
 * a parsed magnet rebuilt with buildMagnet parses back to the same hash, name, trackers
 * and peers.
 */
import { MagnetError, buildMagnet, parseMagnet, type Magnet } from '../../format/magnet.js';
import { type FuzzTarget, ascii, bytesEqual, check, expectTyped } from '../target.js';

function sameMagnet(a: Magnet, b: Magnet): boolean {
  return bytesEqual(a.infoHash, b.infoHash) && a.name === b.name
    && a.trackers.join('\n') === b.trackers.join('\n')
    && a.peers.map((p) => `${p.host}|${p.port}`).join() === b.peers.map((p) => `${p.host}|${p.port}`).join();
}

export const magnetTarget: FuzzTarget = {
  name: 'magnet',
  about: 'format/magnet.ts parseMagnet (input as latin1) and buildMagnet round trip',
  maxInputLength: 8 * 1024,
  run(input) {
    const uri = Buffer.from(input).toString('latin1');
    const m = expectTyped('parseMagnet', () => parseMagnet(uri), (e) => e instanceof MagnetError);
    if (m === undefined) return;
    check(m.infoHash.length === 20 && m.infoHashHex === m.infoHash.toString('hex'), 'info hash');
    const built = expectTyped('buildMagnet(parsed)', () => buildMagnet(m), () => false)!;
    const back = expectTyped('parseMagnet(buildMagnet(parsed))', () => parseMagnet(built), () => false)!;
    check(sameMagnet(m, back), `magnet does not survive build → parse: ${built.slice(0, 200)}`);
  },
  seeds() {
    return [
      'magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=Some+Name&tr=udp%3A%2F%2Ftracker.example%3A80&x.pe=127.0.0.1:6881',
      'magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK&tr.1=http://a/announce&tr.2=http://b/announce',
      'magnet:?xt=urn:btmh:1220caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a302e',
      'magnet:?dn=x&xt.1=urn:ed2k:abc&xt.2=urn:btih:0123456789abcdef0123456789abcdef01234567&x.pe=[::1]:51413',
      'MAGNET:?xt=urn:btih:0123456789ABCDEF0123456789ABCDEF01234567&dn=%E2%9C%93',
    ].map(ascii);
  },
  dictionary: ['magnet:?', 'xt=urn:btih:', '&', '=', 'dn=', 'tr=', 'x.pe=', '%', '%zz', '+', '[::1]:', ':65536', '0123456789abcdef0123456789abcdef01234567', 'urn:btmh:'].map(ascii),
};
