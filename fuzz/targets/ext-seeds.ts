/**
 * Extended handshakes (BEP 10) as real clients send them, rebuilt from the plaintext
 * captures in /work/shared/INTEROP.md ("What real peers send"): key sets, `reqq`, `v`,
 * `yourip` as 4 raw bytes, `metadata_size`.
 */
import { encode } from '../../wire/bencode.js';

const ip = new Uint8Array([127, 0, 0, 1]);

export function realExtendedHandshakes(metadataSize = 4321): Uint8Array[] {
  return [
    // libtorrent 2.0.8 seeding, accepted connection (no `p`)
    encode({
      complete_ago: 1, m: { lt_donthave: 7, share_mode: 8, upload_only: 3, ut_holepunch: 4, ut_metadata: 2, ut_pex: 1 },
      metadata_size: metadataSize, reqq: 2000, upload_only: 1, v: 'libtorrent/2.0.8.0', yourip: ip,
    }),
    // libtorrent leecher that dialed (has `p`, no upload_only)
    encode({
      complete_ago: -1, m: { lt_donthave: 7, share_mode: 8, upload_only: 3, ut_holepunch: 4, ut_metadata: 2, ut_pex: 1 },
      metadata_size: metadataSize, p: 6881, reqq: 2000, v: 'libtorrent/2.0.8.0', yourip: ip,
    }),
    // qBittorrent 4.5.2 with PeX off
    encode({
      complete_ago: 1, m: { lt_donthave: 7, share_mode: 8, upload_only: 3, ut_holepunch: 4, ut_metadata: 2 },
      metadata_size: metadataSize, reqq: 2000, upload_only: 1, v: 'qBittorrent/4.5.2', yourip: ip,
    }),
    // Transmission 3.00
    encode({ e: 0, m: { ut_metadata: 3 }, metadata_size: metadataSize, p: 51413, reqq: 512, upload_only: 1, v: 'Transmission 3.00' }),
    // A later handshake disabling an extension (id 0), and a minimal one
    encode({ m: { ut_metadata: 0 } }),
    encode({ m: {} }),
  ];
}
