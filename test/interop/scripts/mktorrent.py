#!/usr/bin/python3
# usage: mktorrent.py FILE OUT.torrent [piece_size_bytes|0=auto] [v1|hybrid] [tracker_url]
# Prints one line: TORRENT {"path":..., "info_hash_v1":hex|null, "info_hash_v2":hex|null,
#   "piece_length":N, "num_pieces":N, "total_size":N, "name":...}
# Adapted from ../shared/interop/mktorrent.py: a JSON line so the TypeScript harness
# parses it without guessing. v1 by default: Transmission 3.00 cannot parse hybrid torrents.
import sys, os, json, libtorrent as lt
path, out = sys.argv[1], sys.argv[2]
psize = int(sys.argv[3]) if len(sys.argv) > 3 else 0
mode = sys.argv[4] if len(sys.argv) > 4 else 'v1'
tracker = sys.argv[5] if len(sys.argv) > 5 else None
fs = lt.file_storage()
lt.add_files(fs, path)
flags = lt.create_torrent.v1_only if mode == 'v1' else 0
ct = lt.create_torrent(fs, psize, flags=flags)
if tracker: ct.add_tracker(tracker)
ct.set_creator('seedpay-interop-test')
ct.set_priv(False)
lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(path)))
data = lt.bencode(ct.generate())
with open(out, 'wb') as f: f.write(data)
ti = lt.torrent_info(out)
ih = ti.info_hashes()   # NB: ti.info_hash() returns the *truncated v2* hash for hybrid torrents
print('TORRENT ' + json.dumps({
    'path': os.path.abspath(out), 'name': ti.name(),
    'info_hash_v1': str(ih.v1) if ih.has_v1() else None,
    'info_hash_v2': str(ih.v2) if ih.has_v2() else None,
    'piece_length': ti.piece_length(), 'num_pieces': ti.num_pieces(), 'total_size': ti.total_size()}), flush=True)
