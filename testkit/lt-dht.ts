/**
 * libtorrent DHT nodes on loopback (test/interop/scripts/lt_dht_node.py, from
 * INTEROP.md "A loopback DHT of libtorrent nodes"): a plain node, a seeder that
 * announces its torrent, or a magnet fetch through the DHT alone. Each runs in the
 * test's InteropScope (killed with it) and prints JSON lines, read here.
 *
 * uTP is off (INTEROP.md rule 2: we speak TCP only; libtorrent would otherwise try uTP
 * first, on the UDP port our DHT node answers, and wait for that to time out).
 */
import { InteropError, SYSTEM_PYTHON, nextLoopbackAddress, scriptPath, type Endpoint, type InteropScope, type ManagedProcess } from './clients.js';

export interface LtDhtOptions {
  /** Loopback address; default a fresh nextLoopbackAddress(). */
  bind?: string;
  /** DHT nodes to bootstrap from. */
  bootstrap?: readonly Endpoint[];
  /** How --bootstrap is given: 'router' (dht_bootstrap_nodes) or 'both' (also add_dht_node). Default 'both'. */
  addNode?: 'router' | 'node' | 'both';
  seed?: { torrentPath: string; dir: string };
  magnet?: { uri: string; saveDir: string };
  /** A torrent re-announces / re-looks-up this often (s). Default 2. */
  announceIntervalS?: number;
  timeoutS?: number;
}

/** One JSON line of lt_dht_node.py. */
export interface LtDhtEvent {
  event: string;
  [k: string]: unknown;
}

export class LtDhtNode {
  constructor(readonly proc: ManagedProcess, readonly bind: string, readonly dhtPort: number, readonly btPort: number) {}

  /** The node's DHT endpoint (its UDP port). */
  get dht(): Endpoint { return { host: this.bind, port: this.dhtPort }; }
  /** Where it accepts BitTorrent connections. */
  get peer(): Endpoint { return { host: this.bind, port: this.btPort }; }

  /** The first JSON line with this `event`. */
  async waitEvent(event: string, timeoutMs: number): Promise<LtDhtEvent> {
    const line = await this.proc.waitForLine((l) => parse(l)?.event === event, timeoutMs, `${event} event`);
    return parse(line)!;
  }
}

function parse(line: string): LtDhtEvent | null {
  if (!line.startsWith('{')) return null;
  try {
    const v = JSON.parse(line) as unknown;
    return typeof v === 'object' && v !== null && typeof (v as LtDhtEvent).event === 'string' ? v as LtDhtEvent : null;
  } catch {
    return null;
  }
}

/** Start lt_dht_node.py; resolves once it printed `ready` (listening, DHT running). */
export async function startLtDhtNode(s: InteropScope, o: LtDhtOptions = {}): Promise<LtDhtNode> {
  const bind = o.bind ?? nextLoopbackAddress();
  const args = [scriptPath('lt_dht_node.py'), '--bind', bind, '--port', '0', '--add-node', o.addNode ?? 'both',
    '--announce-interval', String(o.announceIntervalS ?? 2), '--timeout', String(o.timeoutS ?? 120),
    '--set', 'enable_outgoing_utp=false', '--set', 'enable_incoming_utp=false'];
  for (const b of o.bootstrap ?? []) args.push('--bootstrap', `${b.host}:${b.port}`);
  if (o.seed !== undefined) args.push('--seed', o.seed.torrentPath, o.seed.dir);
  if (o.magnet !== undefined) args.push('--magnet', o.magnet.uri, '--save', o.magnet.saveDir);
  const role = o.seed !== undefined ? 'seed' : o.magnet !== undefined ? 'magnet' : 'node';
  const proc = s.spawn(`lt-dht-${role}@${bind}`, SYSTEM_PYTHON, args);
  const ready = parse(await proc.waitForLine((l) => parse(l)?.event === 'ready', 30_000, 'ready event'))!;
  const dhtPort = Number(ready.dht_port);
  const btPort = Number(ready.bt_port);
  if (!(dhtPort > 0 && btPort > 0)) throw new InteropError('BAD_OUTPUT', `lt_dht_node.py ready without ports: ${JSON.stringify(ready)}\n${proc.tail()}`);
  return new LtDhtNode(proc, bind, dhtPort, btPort);
}
