import type { AnyConnection } from '../xds/server.js';
import { SHORT_TYPE } from '../xds/resource-types.js';

// The /ui push timeline: snapshots as the daemon builds them, and what the proxies were sent and said
// back, summarised per look (one entry per kind and type, counting proxies, not one per proxy: a push to
// 1000 proxies is one line). Bounded: the last MAX_ENTRIES entries.

export const MAX_TIMELINE_ENTRIES = 200;
/** proxies named in one summarised entry (the rest are counted) */
const NAMED_PROXIES = 5;
const MAX_NACK_TEXT = 512;

export interface TimelineEntry {
  readonly seq: number;
  readonly at: string;
  readonly kind: 'snapshot' | 'push' | 'ack' | 'nack' | 'connect' | 'disconnect';
  /** snapshot: its version; push/ack: the version sent/acknowledged */
  readonly version?: string;
  /** xDS type (CDS, LDS…) */
  readonly type?: string;
  /** how many proxies this entry is about */
  readonly count?: number;
  /** the first few of them */
  readonly proxies?: readonly string[];
  readonly detail?: string;
}

interface WatchSeen {
  sent: string;
  acked: string;
  nacked: string;
}

export class Timeline {
  private readonly entries: TimelineEntry[] = [];
  private seq = 0;
  /** connection id → type → nonces last seen */
  private seen = new Map<string, { proxy: string; types: Map<string, WatchSeen> }>();

  get all(): readonly TimelineEntry[] {
    return this.entries;
  }

  add(entry: Omit<TimelineEntry, 'seq' | 'at'>, at = new Date()): TimelineEntry {
    const e = { seq: ++this.seq, at: at.toISOString(), ...entry };
    this.entries.push(e);
    if (this.entries.length > MAX_TIMELINE_ENTRIES) this.entries.splice(0, this.entries.length - MAX_TIMELINE_ENTRIES);
    return e;
  }

  /**
   * Compares the streams with what the last look saw and records what happened since: connections made
   * and closed, responses sent, ACKs and NACKs. Returns the new entries. The first look only remembers.
   */
  observe(connections: readonly AnyConnection[], first = false): TimelineEntry[] {
    const groups = new Map<string, { kind: TimelineEntry['kind']; type?: string; version?: string; detail?: string; proxies: string[] }>();
    const note = (kind: TimelineEntry['kind'], proxy: string, type?: string, version?: string, detail?: string) => {
      const key = `${kind}\0${type ?? ''}\0${version ?? ''}\0${detail ?? ''}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { kind, ...(type ? { type } : {}), ...(version ? { version } : {}), ...(detail ? { detail } : {}), proxies: [] }));
      g.proxies.push(proxy);
    };
    const next = new Map<string, { proxy: string; types: Map<string, WatchSeen> }>();
    for (const c of connections) {
      const before = this.seen.get(c.id);
      if (!before) note('connect', c.proxy.id);
      const types = new Map<string, WatchSeen>();
      for (const [url, w] of c.watches) {
        const type = SHORT_TYPE[url] ?? url;
        const now: WatchSeen = { sent: w.sentNonce, acked: w.ackedNonce, nacked: w.lastNack?.nonce ?? '' };
        types.set(type, now);
        const was = before?.types.get(type);
        if (now.sent && now.sent !== was?.sent) note('push', c.proxy.id, type, w.sentVersion);
        if (now.acked && now.acked !== was?.acked) note('ack', c.proxy.id, type, w.ackedVersion);
        if (now.nacked && now.nacked !== was?.nacked && w.lastNack) {
          const text = w.lastNack.message.length > MAX_NACK_TEXT ? `${w.lastNack.message.slice(0, MAX_NACK_TEXT)}…` : w.lastNack.message;
          note('nack', c.proxy.id, type, w.lastNack.version, text);
        }
      }
      next.set(c.id, { proxy: c.proxy.id, types });
    }
    for (const [id, s] of this.seen) if (!next.has(id)) note('disconnect', s.proxy);
    this.seen = next;
    if (first) return [];
    const at = new Date();
    return [...groups.values()].map((g) =>
      this.add({
        kind: g.kind,
        ...(g.type ? { type: g.type } : {}),
        ...(g.version ? { version: g.version } : {}),
        ...(g.detail ? { detail: g.detail } : {}),
        count: g.proxies.length,
        proxies: g.proxies.slice(0, NAMED_PROXIES),
      }, at),
    );
  }
}
