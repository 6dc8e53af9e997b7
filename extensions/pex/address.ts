/**
 * Which addresses a peer may hand us by PEX. BEP 11's security section: PEX data is
 * untrusted, and a swarm can be turned into a flood of connection attempts at a
 * victim. So an added peer is taken only if it could be a BitTorrent peer at all — a
 * unicast address and a port other than 0 — and, as libtorrent does, a local address
 * (loopback, private, link-local) only from a peer that is itself local to us: a
 * stranger on the internet has no business making us dial our own network.
 */
import { parseIpv4, parseIpv6 } from '../../format/compact-peers.js';
import type { PeerAddress } from '../../format/magnet.js';

/** 'invalid': never dialled (unspecified, multicast, broadcast, reserved); 'local': this host or network. */
export type AddressScope = 'invalid' | 'local' | 'global';

function v4Scope(b: Uint8Array): AddressScope {
  const [a, c] = [b[0], b[1]];
  if (a === 0 || a >= 224) return 'invalid'; // "this network", multicast 224/4, reserved 240/4 and broadcast
  if (a === 127 || a === 10) return 'local';
  if (a === 172 && c >= 16 && c <= 31) return 'local';
  if (a === 192 && c === 168) return 'local';
  if (a === 169 && c === 254) return 'local'; // link-local
  if (a === 100 && c >= 64 && c <= 127) return 'local'; // carrier-grade NAT (RFC 6598)
  return 'global';
}

function v6Scope(b: Uint8Array): AddressScope {
  const zeroUpTo = (n: number): boolean => b.subarray(0, n).every((x) => x === 0);
  if (zeroUpTo(10) && b[10] === 0xff && b[11] === 0xff) return v4Scope(b.subarray(12)); // IPv4-mapped
  if (zeroUpTo(15)) return b[15] === 1 ? 'local' : 'invalid'; // ::1, and :: (unspecified)
  if (b[0] === 0xff) return 'invalid'; // multicast
  if (b[0] === 0xfe && (b[1] & 0xc0) === 0x80) return 'local'; // link-local fe80::/10
  if ((b[0] & 0xfe) === 0xfc) return 'local'; // unique local fc00::/7
  return 'global';
}

/** The scope of an IP literal; anything that is not one (a DNS name, junk) is 'invalid'. */
export function addressScope(host: string): AddressScope {
  const v4 = parseIpv4(host);
  if (v4 !== null) return v4Scope(v4);
  const v6 = parseIpv6(host);
  return v6 !== null ? v6Scope(v6) : 'invalid';
}

/** Whether a peer whose own address has scope `source` may make us dial `p`. */
export function acceptableFrom(p: PeerAddress, source: AddressScope): boolean {
  if (!(p.port > 0 && p.port <= 0xffff)) return false;
  const scope = addressScope(p.host);
  return scope === 'global' || (scope === 'local' && source === 'local');
}

/**
 * Split a connection's address label into host and port: "1.2.3.4:6881",
 * "[::1]:6881" (what we dialled) or "::1:6881" (an accepted socket's remote end,
 * unbracketed). An IPv4-mapped IPv6 host ("::ffff:1.2.3.4", a dual-stack listener)
 * becomes the IPv4 address: that is how other peers reach it and how PEX lists it.
 */
export function splitAddress(label: string): PeerAddress | null {
  const i = label.lastIndexOf(':');
  if (i <= 0) return null;
  let host = label.slice(0, i);
  const portText = label.slice(i + 1);
  if (!/^\d{1,5}$/.test(portText)) return null;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(host);
  if (mapped !== null) host = mapped[1];
  return { host, port: Number(portText) };
}
