#!/usr/bin/python3
"""Minimal libtorrent 2.0 seeder/leecher for loopback interop tests.
usage: lt_peer.py seed|leech TORRENT SAVE_DIR LISTEN_PORT [options]
  --connect 127.0.0.1:PORT   peer to dial (repeatable; dialled at start, then re-dialled every --redial s while no peer is connected)
  --dial-flags N             connect_peer pex flags (13=lt default: uTP first + MSE first; 0: TCP + plaintext first)
  --enc default|plaintext|plain-out|forced   (default = libtorrent default: in/out pe_enabled, pe_both)
  --tcp-only                 disable uTP (libtorrent default dials uTP first!)
  --peerlog FILE             write peer_log alerts (handshake/extension messages) to FILE
  --timeout S                give up after S seconds (exit 2)
  --seed-mode                seeder: skip hash check (torrent_flags.seed_mode)
  --exit-when-done           seeder: exit when a peer has downloaded everything (upload == total)
  --keep-seeding             leecher: print 'DONE' when complete and keep seeding until SIGTERM
  --up-limit B               this torrent's upload limit, bytes/s (per-torrent: libtorrent's session-wide
                             limits exempt loopback peers, its per-torrent limits do not)
  --start-file PATH          after READY, wait until PATH exists before dialling --connect peers
                             (benchmarks start a swarm's peers together)
Prints 'READY port=N' once listening + torrent loaded, progress lines, and a final 'RESULT {...}' json line.
Adapted from ../shared/interop/lt_peer.py: READY and RESULT also carry the process's CPU seconds
(user+system, all libtorrent threads) and peak RSS, so benchmarks can separate the start-up hash
check (before READY) from the transfer (READY -> RESULT). RESULT also carries total_redundant_bytes
(payload received twice) and total_failed_bytes (payload in pieces that failed the hash check), and
first_byte_at_ms / complete_at_ms (epoch ms) so a swarm benchmark can time several processes on one clock."""
import sys, time, json, os, signal, argparse, resource

def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
def peak_rss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # Linux: KiB
import libtorrent as lt

ap = argparse.ArgumentParser()
ap.add_argument('mode', choices=['seed', 'leech'])
ap.add_argument('torrent'); ap.add_argument('save'); ap.add_argument('port', type=int)
ap.add_argument('--connect', action='append', default=[])
ap.add_argument('--enc', default='default', choices=['default', 'plaintext', 'plain-out', 'forced'])
ap.add_argument('--tcp-only', action='store_true')
ap.add_argument('--dial-flags', type=int, default=13, help='pex_flags for connect_peer: 13 = libtorrent default (encryption|utp|holepunch) => uTP+MSE first; 0 => TCP plaintext first')
ap.add_argument('--redial', type=float, default=15, help='re-dial --connect peers if none connected for this many seconds')
ap.add_argument('--min-reconnect', type=int, default=1, help='seconds before libtorrent re-dials a peer that failed or reset (libtorrent default 60)')
ap.add_argument('--peerlog')
ap.add_argument('--timeout', type=float, default=600)
ap.add_argument('--seed-mode', action='store_true')
ap.add_argument('--exit-when-done', action='store_true')
ap.add_argument('--keep-seeding', action='store_true')
ap.add_argument('--up-limit', type=int, default=0, help='per-torrent upload limit in bytes/s (0: none)')
ap.add_argument('--start-file', help='wait until this file exists before dialling --connect peers')
ap.add_argument('--quiet', action='store_true')
ap.add_argument('--bind', default='127.0.0.1', help='local loopback address to listen on / dial from (e.g. 127.0.0.2)')
a = ap.parse_args()

mask = lt.alert_category.error | lt.alert_category.status | lt.alert_category.peer | lt.alert_category.connect
if a.peerlog: mask |= lt.alert_category.peer_log
settings = {
    'listen_interfaces': '%s:%d' % (a.bind, a.port),
    'outgoing_interfaces': a.bind,
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
    'enable_ip_notifier': False,
    'dht_bootstrap_nodes': '',
    'alert_mask': int(mask),
    # a client that is still starting up may reset our first connection (seen with qBittorrent):
    # retry within a second instead of libtorrent's 60 s x failcount back-off, and never give up
    'min_reconnect_time': a.min_reconnect, 'max_failcount': 1000,
}
if a.enc == 'plaintext':   # refuse MSE both ways
    settings.update(out_enc_policy=int(lt.enc_policy.disabled), in_enc_policy=int(lt.enc_policy.disabled))
elif a.enc == 'plain-out': # dial plaintext, accept both
    settings.update(out_enc_policy=int(lt.enc_policy.disabled), in_enc_policy=int(lt.enc_policy.enabled))
elif a.enc == 'forced':    # MSE only, RC4 only
    settings.update(out_enc_policy=int(lt.enc_policy.forced), in_enc_policy=int(lt.enc_policy.forced),
                    allowed_enc_level=int(lt.enc_level.rc4))
if a.tcp_only:
    settings.update(enable_outgoing_utp=False, enable_incoming_utp=False)

ses = lt.session(settings)          # settings at construction => DHT etc. never start
ti = lt.torrent_info(a.torrent)
atp = lt.add_torrent_params()
atp.ti = ti
atp.save_path = a.save
# default flags include paused|auto_managed: clear both or the torrent never starts
atp.flags = (atp.flags | lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd) & ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
if a.seed_mode: atp.flags |= lt.torrent_flags.seed_mode
h = ses.add_torrent(atp)
if a.up_limit > 0: h.set_upload_limit(a.up_limit)
plog = open(a.peerlog, 'w') if a.peerlog else None
total = ti.total_size()
stop = [False]
signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
signal.signal(signal.SIGINT, lambda *_: stop.__setitem__(0, True))

def drain():
    for al in ses.pop_alerts():
        if isinstance(al, lt.peer_log_alert) and plog:
            plog.write('%.3f %s\n' % (time.time(), al.message())); continue
        if plog: plog.write('%.3f [%s] %s\n' % (time.time(), type(al).__name__, al.message()))
        if isinstance(al, (lt.listen_failed_alert, lt.torrent_error_alert, lt.file_error_alert,
                           lt.peer_disconnected_alert, lt.peer_error_alert, lt.peer_connect_alert)):
            # connection events too: the harness keeps them to explain a transfer that never starts
            print('ALERT %.3f %s %s' % (time.time() - t0, type(al).__name__, al.message()), flush=True)

def parse(hp):
    host, port = hp.rsplit(':', 1); return (host, int(port))

t0 = time.time()
# wait for check to finish
while True:
    drain(); st = h.status()
    if st.state not in (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data): break
    if stop[0] or time.time() - t0 > a.timeout: print('ABORT during check', flush=True); sys.exit(3)
    time.sleep(0.05)
cpu_ready = cpu_s()
print('READY port=%d pid=%d state=%s progress=%.3f cpu_s=%.3f' % (ses.listen_port(), os.getpid(), st.state, st.progress, cpu_ready), flush=True)
if a.mode == 'seed' and not st.is_seeding:
    print('WARN seeder is not complete (progress %.3f) - wrong save path?' % st.progress, flush=True)

if a.start_file:
    while not os.path.exists(a.start_file) and not stop[0]:
        drain(); time.sleep(0.005)
t_connect = time.time(); last_dial = 0; first_byte = None; t_peer = None; peer_snap = []; t_complete = None
max_rate = 0; last_print = 0; result = None; done_said = False
while not stop[0]:
    drain(); st = h.status(); now = time.time()
    # dial every --connect peer once at start, whoever dialled us already; then again only while alone
    if a.connect and (last_dial == 0 or (st.num_peers == 0 and now - last_dial > a.redial)):
        for hp in a.connect: h.connect_peer(parse(hp), 0, a.dial_flags)
        last_dial = now
    if first_byte is None and st.total_payload_download > 0: first_byte = now
    if t_peer is None and st.num_peers > 0: t_peer = now
    if not peer_snap:   # every poll until taken: a small download can start and end within one 50 ms poll
        for p in h.get_peer_info():
            if p.client:   # handshake done
                fl = int(p.flags)
                peer_snap.append({'ip': '%s:%d' % p.ip, 'client': p.client if isinstance(p.client, str) else p.client.decode('utf-8', 'replace'), 'utp': bool(fl & 0x20000),   # peer_info flag bits (lt 2.0)
                                  'rc4': bool(fl & 0x80000), 'mse_plaintext': bool(fl & 0x100000), 'outgoing': bool(fl & 0x20),
                                  'flags': hex(fl)})
    max_rate = max(max_rate, st.download_payload_rate if a.mode == 'leech' else st.upload_payload_rate)
    if not a.quiet and now - last_print >= 1:
        last_print = now
        print('t=%.1fs %s progress=%.1f%% peers=%d down=%.1f MB/s up=%.1f MB/s dl=%d ul=%d' % (now - t_connect, st.state,
              st.progress * 100, st.num_peers, st.download_payload_rate / 1e6, st.upload_payload_rate / 1e6,
              st.total_payload_download, st.total_payload_upload), flush=True)
    if a.mode == 'leech' and st.is_seeding:
        if t_complete is None: t_complete = now
        if not a.keep_seeding: t_done = now; break
        if not done_said:
            print('DONE t=%.3f first_byte_at_ms=%d complete_at_ms=%d' % (now - t_connect, int((first_byte or now) * 1000), int(now * 1000)), flush=True)
            done_said = True
    if a.mode == 'seed' and a.exit_when_done and st.total_payload_upload >= total: t_done = now; break
    if now - t0 > a.timeout: print('TIMEOUT', flush=True); t_done = now; break
    time.sleep(0.05 if peer_snap else 0.005)   # fast until the peer snapshot is taken
else:
    t_done = time.time()
st = h.status()
peers = peer_snap
wall = t_done - t_connect
res = {'mode': a.mode, 'complete': bool(st.is_seeding), 'total_bytes': total,
       'wall_s': round(wall, 3),
       'peer_to_done_s': round(t_done - t_peer, 3) if t_peer else None,
       'first_byte_to_done_s': round(t_done - first_byte, 3) if first_byte else None,
       'avg_MBps_wall': round(st.total_payload_download / wall / 1e6, 1) if wall > 0 else None,
       'avg_MBps_first_byte': round(st.total_payload_download / (t_done - first_byte) / 1e6, 1) if first_byte and t_done > first_byte else None,
       'lt_max_reported_MBps': round(max_rate / 1e6, 1),
       'payload_down': st.total_payload_download, 'payload_up': st.total_payload_upload,
       'total_redundant_bytes': st.total_redundant_bytes, 'total_failed_bytes': st.total_failed_bytes,
       'first_byte_at_ms': int(first_byte * 1000) if first_byte else None,
       'complete_at_ms': int(t_complete * 1000) if t_complete else None,
       'peers': peers,
       'cpu_s': round(cpu_s(), 3), 'cpu_transfer_s': round(cpu_s() - cpu_ready, 3),
       'peak_rss_kib': peak_rss_kib()}
print('RESULT ' + json.dumps(res), flush=True)
drain()
if plog: plog.close()
h.flush_cache() if hasattr(h, 'flush_cache') else None
ses.pause(); del h; del ses   # orderly teardown so all data is on disk
sys.exit(0 if (a.mode == 'seed' or st.is_seeding) else 2)
