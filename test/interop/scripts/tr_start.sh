#!/bin/bash
# usage: tr_start.sh CONFIG_DIR PEER_PORT RPC_PORT DOWNLOAD_DIR [ENCRYPTION 0=tolerated|1=preferred(default)|2=required] [UTP true|false] [PEER_BIND 127.0.0.1]
# writes CONFIG_DIR/settings.json (loopback only; DHT, LPD, PEX, uTP, port forwarding off; RPC on
# 127.0.0.1 without auth) then execs transmission-daemon in the foreground, so the process that ran
# this script IS the daemon (its caller owns the PID and the process group; nothing is left behind).
# Adapted from ../shared/interop/tr_start.sh, which backgrounded the daemon and printed its PID.
set -eu
C=$1; PP=$2; RP=$3; DL=$4; ENC=${5:-1}; UTP=${6:-false}; BIND=${7:-127.0.0.1}
mkdir -p "$C" "$DL"
cat > "$C/settings.json" <<JSON
{
  "bind-address-ipv4": "$BIND",
  "bind-address-ipv6": "::1",
  "peer-port": $PP,
  "peer-port-random-on-start": false,
  "port-forwarding-enabled": false,
  "dht-enabled": false,
  "lpd-enabled": false,
  "pex-enabled": false,
  "utp-enabled": $UTP,
  "blocklist-enabled": false,
  "encryption": $ENC,
  "rpc-enabled": true,
  "rpc-bind-address": "127.0.0.1",
  "rpc-port": $RP,
  "rpc-authentication-required": false,
  "rpc-whitelist-enabled": true,
  "rpc-whitelist": "127.0.0.1",
  "rpc-host-whitelist-enabled": false,
  "download-dir": "$DL",
  "incomplete-dir-enabled": false,
  "rename-partial-files": false,
  "start-added-torrents": true,
  "download-queue-enabled": false,
  "seed-queue-enabled": false,
  "queue-stalled-enabled": false,
  "ratio-limit-enabled": false,
  "idle-seeding-limit-enabled": false,
  "speed-limit-down-enabled": false,
  "speed-limit-up-enabled": false,
  "alt-speed-enabled": false,
  "scrape-paused-torrents-enabled": false,
  "message-level": 2
}
JSON
exec transmission-daemon -f -g "$C" -e "$C/daemon.log"
