/** Every fuzz target, in the order the runner visits them. */
import type { FuzzTarget } from '../target.js';
import { framerTarget } from './framer.js';
import { connectionTarget } from './connection.js';
import { handshakeTarget } from './handshake.js';
import { extHandshakeTarget } from './ext-handshake.js';
import { bencodeTarget } from './bencode.js';
import { utMetadataTarget } from './ut-metadata.js';
import { seedpayTarget } from './seedpay.js';
import { seedpayChannelTarget } from './seedpay-channel.js';
import { metainfoTarget } from './metainfo.js';
import { magnetTarget } from './magnet.js';
import { mseTarget } from './mse.js';
import { mseInitiatorTarget } from './mse-initiator.js';
import { trackerHttpTarget } from './tracker-http.js';
import { trackerUdpTarget } from './tracker-udp.js';
import { pexTarget } from './pex.js';
import { krpcTarget } from './krpc.js';
import { channelStateTarget } from './channel-state.js';

export const TARGETS: readonly FuzzTarget[] = [
  framerTarget, connectionTarget, handshakeTarget, extHandshakeTarget, bencodeTarget,
  utMetadataTarget, seedpayTarget, seedpayChannelTarget, metainfoTarget, magnetTarget, mseTarget,
  mseInitiatorTarget, trackerHttpTarget, trackerUdpTarget, pexTarget, krpcTarget, channelStateTarget,
];

export function targetByName(name: string): FuzzTarget | undefined {
  return TARGETS.find((t) => t.name === name);
}
