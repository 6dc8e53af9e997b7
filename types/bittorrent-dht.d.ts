// Minimal typings for bittorrent-dht@11 (the package ships none and there is no
// @types package). Only what lib/discovery/dht-node.ts uses; see the package's client.js.
declare module 'bittorrent-dht' {
  import { EventEmitter } from 'node:events';

  export interface DhtPeer { host: string; port: number }
  export interface DhtNodeInfo { id?: Buffer; host: string; port: number }

  /** What k-rpc-socket needs of its UDP socket (`opts.socket`): a subset of dgram.Socket. */
  export interface KrpcUdpSocket extends EventEmitter {
    send(buf: Uint8Array, offset: number, length: number, port: number, host: string, cb?: (err: Error | null) => void): void;
    bind(...args: unknown[]): void;
    close(): void;
    address(): { address: string; family: string; port: number };
  }

  export interface DhtConstructorOptions {
    nodeId?: Uint8Array | string;
    /** Bootstrap nodes ("host:port" or {host, port}); false: none. */
    bootstrap?: false | readonly (string | DhtPeer)[];
    host?: string | false;
    concurrency?: number;
    /** Peers stored for others (all torrents). */
    maxPeers?: number;
    /** Stored peers expire after this many ms (0: never). */
    maxAge?: number;
    maxTables?: number;
    maxValues?: number;
    timeBucketOutdated?: number;
    /** k-rpc-socket: the UDP socket to use. */
    socket?: KrpcUdpSocket;
    /** k-rpc-socket: query timeout, ms. */
    timeout?: number;
  }

  export default class DHT extends EventEmitter {
    constructor(opts?: DhtConstructorOptions);
    readonly nodeId: Buffer;
    readonly listening: boolean;
    readonly destroyed: boolean;
    readonly ready?: boolean;
    readonly nodes: { count(): number; toArray(): DhtNodeInfo[] };
    listen(port?: number, host?: string, cb?: () => void): void;
    address(): { address: string; family: string; port: number };
    addNode(node: DhtNodeInfo): void;
    /** get_peers walk; emits 'peer' (peer, infoHash, from). cb(err, nodes that answered). Returns an abort function. */
    lookup(infoHash: Uint8Array | string, cb?: (err: Error | null, n?: number) => void): () => void;
    /** A lookup (if none is cached), then announce_peer to the closest nodes with `port`. */
    announce(infoHash: Uint8Array | string, port: number, cb?: (err: Error | null, n?: number) => void): void;
    toJSON(): { nodes: { host: string; port: number }[] };
    destroy(cb?: () => void): void;
  }
}
