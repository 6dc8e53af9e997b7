/**
 * Announce and scrape over whichever protocol a tracker URL names: the one object the
 * announcers of a client share (one UDP socket per family, bounded HTTP requests).
 */
import type { AnnounceRequest, AnnounceResponse, ScrapeEntry } from '../../discovery/announce.js';
import { TrackerError } from '../../discovery/errors.js';
import {
  buildAnnounceUrl, buildScrapeUrl, HTTP_DEFAULT_MAX_BYTES, parseAnnounceResponse, parseScrapeResponse, scrapeUrlOf,
} from '../../discovery/http-announce.js';
import { parseTrackerUrl } from '../../discovery/tracker-url.js';
import { httpGet } from './http-get.js';
import { UdpTransport } from './udp-transport.js';

export interface TrackerClientOptions {
  readonly now: () => number;
  readonly localAddress?: string;
  /** Deadline of one HTTP exchange. Default 15 s. */
  readonly httpTimeoutMs?: number;
  /** Largest HTTP answer read. Default 512 KiB. */
  readonly maxResponseBytes?: number;
  /** UDP retransmissions before the exchange fails (15 s, then 30 s, …). Default 2 (≈ 105 s in all). */
  readonly udpRetransmits?: number;
  readonly maxPeers?: number;
  readonly userAgent?: string;
}

export class TrackerClient {
  private readonly udp: UdpTransport;

  constructor(private readonly opts: TrackerClientOptions) {
    this.udp = new UdpTransport({
      now: opts.now, localAddress: opts.localAddress, maxRetransmits: opts.udpRetransmits ?? 2, maxPeers: opts.maxPeers,
    });
  }

  async announce(url: string, r: AnnounceRequest, timeoutMs?: number): Promise<AnnounceResponse> {
    const t = parseTrackerUrl(url);
    if (t.kind === 'udp') {
      const res = await this.udp.request(t.host, t.port, { kind: 'announce', request: r });
      if (res.kind !== 'announce') throw new TrackerError('WRONG_ACTION', 'scrape answer to an announce');
      return res.response;
    }
    const body = await httpGet(buildAnnounceUrl(url, r), this.httpOptions(timeoutMs));
    return parseAnnounceResponse(body, { maxBytes: this.opts.maxResponseBytes, maxPeers: this.opts.maxPeers });
  }

  /** Seeders / completed / leechers per info hash (BEP 48 over HTTP, BEP 15 over UDP). */
  async scrape(url: string, infoHashes: readonly Uint8Array[]): Promise<ScrapeEntry[]> {
    const t = parseTrackerUrl(url);
    if (t.kind === 'udp') {
      const res = await this.udp.request(t.host, t.port, { kind: 'scrape', infoHashes });
      if (res.kind !== 'scrape') throw new TrackerError('WRONG_ACTION', 'announce answer to a scrape');
      return [...res.entries];
    }
    const scrape = scrapeUrlOf(url);
    if (scrape === null) throw new TrackerError('BAD_URL', `${url} has no scrape URL (its last path segment is not "announce…")`);
    const m = parseScrapeResponse(await httpGet(buildScrapeUrl(scrape, infoHashes), this.httpOptions()), { maxBytes: this.opts.maxResponseBytes });
    return infoHashes.map((h) => m.get(Buffer.from(h).toString('hex')) ?? { complete: 0, downloaded: 0, incomplete: 0 });
  }

  close(): void { this.udp.close(); }

  private httpOptions(timeoutMs?: number): Parameters<typeof httpGet>[1] {
    return {
      timeoutMs: timeoutMs ?? this.opts.httpTimeoutMs ?? 15_000,
      maxBytes: this.opts.maxResponseBytes ?? HTTP_DEFAULT_MAX_BYTES,
      localAddress: this.opts.localAddress,
      userAgent: this.opts.userAgent,
    };
  }
}
