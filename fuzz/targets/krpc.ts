/**
 * KRPC target: discovery/krpc.ts parseKrpc on any datagram gives a message or a
 * KrpcError; what it gives re-encodes (encodeKrpc) to bytes that parse back to the
 * same message, so the DHT library behind the guard only ever reads these shapes.
 * capOutgoing (the cap on our own answers) never throws and leaves at most its cap of values.
 */
import { KrpcError, capOutgoing, encodeKrpc, parseKrpc, type KrpcMessage } from '../../discovery/krpc.js';
import { decode, isDict, isList } from '../../wire/bencode.js';
import { type FuzzTarget, ascii, bytesEqual, check, expectTyped } from '../target.js';

const typed = (e: unknown): boolean => e instanceof KrpcError;

export const krpcTarget: FuzzTarget = {
  name: 'krpc',
  about: 'discovery/krpc.ts parseKrpc (the DHT input guard) and its re-encoding round trip, with and without local addresses',
  maxInputLength: 4096,
  run(input) {
    for (const allowLocalAddresses of [false, true]) {
      const m = expectTyped('parseKrpc', () => parseKrpc(input, { allowLocalAddresses }), typed);
      if (m === undefined) continue;
      const bytes = expectTyped('encodeKrpc', () => encodeKrpc(m), () => false)!;
      const back = expectTyped('parseKrpc(encodeKrpc(m))', () => parseKrpc(bytes, { allowLocalAddresses }), () => false)!;
      check(bytesEqual(encodeKrpc(back), bytes), 'a guarded message does not survive encode → parse');
      check(shapeOk(back), 'a guarded message has a field of the wrong size');
    }
    const out = expectTyped('capOutgoing', () => capOutgoing(input, 2), () => false)!;
    if (out !== input) {
      const top = expectTyped('decode(capOutgoing)', () => decode(out, { strict: false }), () => false)!;
      const r = isDict(top) ? top.get('r') : undefined;
      const v = isDict(r) ? r.get('values') : undefined;
      check(isList(v) && v.length === 2, 'a capped answer does not hold exactly the cap of values');
    }
  },
  seeds() {
    const id = 'abcdefghij0123456789';
    const node = `${id}\x7f\x00\x00\x01\x1a\xe1`;
    return [
      `d1:ad2:id20:${id}e1:q4:ping1:t2:aa1:y1:qe`,
      `d1:ad2:id20:${id}6:target20:${id}e1:q9:find_node1:t2:aa1:y1:qe`,
      `d1:ad2:id20:${id}9:info_hash20:${id}e1:q9:get_peers1:t2:aa1:y1:qe`,
      `d1:ad2:id20:${id}12:implied_porti1e9:info_hash20:${id}4:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe`,
      `d1:rd2:id20:${id}5:nodes26:${node}5:token4:abcd6:valuesl6:\x7f\x00\x00\x02\x1a\xe16:\x08\x08\x08\x08\x00\x50ee1:t2:aa1:y1:re`,
      'd1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee',
      `d1:ad2:id20:${id}9:info_hashi5ee1:q9:get_peers1:t2:aa1:y1:qe`,
    ].map(ascii);
  },
  dictionary: ['d', 'e', 'l', 'i1e', '1:y1:q', '1:y1:r', '1:y1:e', '1:t2:aa', '1:ad', '1:rd', '2:id20:', '5:nodes', '6:values', '5:token', '9:info_hash20:', '6:target20:', '4:porti', '12:implied_port', '4:ping', '9:find_node', '9:get_peers', '13:announce_peer'].map(ascii),
};

function shapeOk(m: KrpcMessage): boolean {
  if (m.y === 'e') return Number.isInteger(m.code);
  if (m.id.length !== 20) return false;
  if (m.y === 'r') return (m.nodes === undefined || m.nodes.length % 26 === 0) && (m.values ?? []).every((v) => v.length === 6);
  return (m.target ?? m.id).length === 20 && (m.infoHash ?? m.id).length === 20;
}
