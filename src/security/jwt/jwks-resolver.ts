import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { rootCertificates } from 'node:tls';
import type { Logger } from '../../telemetry/log.js';
import { jwksError } from '../../config/semantics/request-authentication.js';
import { jwksSourceKey } from '../../model/push-context.js';
import type { JwksNeed } from './requestauthn.js';

// meshd's JWKS fetcher for RequestAuthentication jwtRules that name a jwksUri (or only an issuer), as istiod
// with PILOT_JWT_ENABLE_REMOTE_JWKS=false (its JwksResolver): meshd fetches, caches, refreshes and inlines the
// keys; Envoy never fetches them.
//
//   - A fetch never blocks a push: sync() only starts fetches. The snapshot holds what has been fetched; a
//     fetch that lands with different keys calls onChange (the daemon builds a new snapshot). Until the
//     first fetch succeeds, generators inline a key nobody can sign with (fake-jwks.ts): tokens are
//     rejected, never accepted unchecked. istiod instead waits for the fetch inside the push.
//   - Refresh every refreshIntervalMs (istiod PILOT_JWT_PUB_KEY_REFRESH_INTERVAL, 20 min); after a failure
//     every refreshIntervalOnFailureMs (1 min). A failed refresh keeps the last good keys (as istiod).
//   - jwksUri empty: OpenID discovery, `ISSUER/.well-known/openid-configuration` → its `jwks_uri`.
//   - A response must be 200 and a JWKS Envoy can load (config/semantics jwksError), at most maxBodyBytes.
//     Redirects are not followed. Link-local and cloud-metadata addresses (169.254.0.0/16, fe80::/10,
//     100.100.100.200, fd00:ec2::254) are refused at connect time, whatever the name resolves to
//     (istiod's SSRF guard); loopback and private ranges stay reachable.
//   - Bounded: at most maxEntries sources; sources no RequestAuthentication names any more are dropped.

export interface JwksResolverOptions {
  readonly log: Logger;
  /** a fetch landed with keys different from before (or a source was dropped): build a new snapshot */
  readonly onChange: () => void;
  readonly refreshIntervalMs?: number;
  readonly refreshIntervalOnFailureMs?: number;
  readonly maxEntries?: number;
  readonly maxBodyBytes?: number;
  /** extra PEM roots trusted for https JWKS servers, beside the system's (`--jwks-ca-file`) */
  readonly extraCaPem?: string;
  readonly metrics?: {
    readonly fetchSuccess: { inc(): void };
    readonly fetchFailure: { inc(): void };
  };
}

export const DEFAULT_JWKS_REFRESH_INTERVAL_MS = 20 * 60_000;
export const DEFAULT_JWKS_REFRESH_ON_FAILURE_MS = 60_000;
const DEFAULT_MAX_ENTRIES = 1024;
const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
const OPENID_DISCOVERY_SUFFIX = '/.well-known/openid-configuration';

/** Where a JWKS may not be fetched from: link-local and well-known cloud instance-metadata addresses. */
const BLOCKED = new net.BlockList();
BLOCKED.addSubnet('169.254.0.0', 16, 'ipv4');
BLOCKED.addSubnet('fe80::', 10, 'ipv6');
BLOCKED.addAddress('100.100.100.200', 'ipv4');
BLOCKED.addAddress('fd00:ec2::254', 'ipv6');

export function isBlockedJwksAddress(ip: string): boolean {
  const family = net.isIP(ip);
  if (family === 0) return false;
  if (family === 6 && ip.toLowerCase().startsWith('::ffff:')) return isBlockedJwksAddress(ip.slice(7));
  return BLOCKED.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/** dns.lookup that refuses blocked addresses (the connect-time guard: no name can point around it). */
const guardedLookup: net.LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    const list = (addresses as dns.LookupAddress[]).filter((a) => !isBlockedJwksAddress(a.address));
    if (list.length === 0) {
      return callback(Object.assign(new Error(`${hostname} resolves only to blocked (link-local or cloud metadata) addresses`), { code: 'EBLOCKED' }), '', 0);
    }
    if ((options as dns.LookupOptions).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
    callback(null, list[0]!.address, list[0]!.family);
  });
};

interface Entry {
  need: JwksNeed;
  /** the last good JWKS */
  jwks?: string;
  lastError?: string;
  lastFetchAt?: number;
  timer?: NodeJS.Timeout;
  inFlight?: Promise<void>;
  /** dropped by sync(): a fetch in flight must not resurrect it */
  dropped?: boolean;
}

export interface JwksSourceStatus {
  readonly issuer: string;
  readonly jwksUri: string;
  readonly fetched: boolean;
  readonly lastError?: string;
  readonly lastFetchAt?: string;
}

export class JwksResolver {
  private readonly entries = new Map<string, Entry>();
  private current: ReadonlyMap<string, string> = new Map();
  private readonly log: Logger;
  private stopped = false;
  private readonly agent: https.Agent;

  constructor(private readonly opts: JwksResolverOptions) {
    this.log = opts.log.child({ scope: 'jwks' });
    this.agent = new https.Agent({
      keepAlive: false,
      lookup: guardedLookup,
      // an Agent's `ca` replaces Node's bundled roots, so both are given
      ...(opts.extraCaPem ? { ca: [...rootCertificates, opts.extraCaPem] } : {}),
    });
  }

  /** The fetched keys by jwksSourceKey(issuer, jwksUri): an immutable map, replaced on every change. */
  snapshot(): ReadonlyMap<string, string> {
    return this.current;
  }

  status(): JwksSourceStatus[] {
    return [...this.entries.values()].map((e) => ({
      issuer: e.need.issuer,
      jwksUri: e.need.jwksUri,
      fetched: e.jwks !== undefined,
      ...(e.lastError ? { lastError: e.lastError } : {}),
      ...(e.lastFetchAt ? { lastFetchAt: new Date(e.lastFetchAt).toISOString() } : {}),
    }));
  }

  /**
   * The sources the config needs now: new ones are fetched in the background, dropped ones forgotten.
   * Returns at once.
   */
  sync(needs: readonly JwksNeed[]): void {
    if (this.stopped) return;
    const max = this.opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    const wanted = new Map<string, JwksNeed>();
    for (const n of needs) {
      if (wanted.size >= max) {
        this.log.warn({ max, ignored: needs.length - max }, 'too many JWKS sources; the rest are not fetched (their tokens are rejected)');
        break;
      }
      wanted.set(jwksSourceKey(n.issuer, n.jwksUri), n);
    }
    let dropped = false;
    for (const [key, e] of this.entries) {
      if (wanted.has(key)) continue;
      if (e.timer) clearTimeout(e.timer);
      e.dropped = true;
      this.entries.delete(key);
      if (e.jwks !== undefined) dropped = true;
    }
    for (const [key, need] of wanted) {
      const e = this.entries.get(key);
      if (e) {
        e.need = need;
        continue;
      }
      const entry: Entry = { need };
      this.entries.set(key, entry);
      this.fetchNow(key, entry);
    }
    if (dropped) this.publish();
  }

  /** Re-fetches every source now (the refresh loop does this on its own schedule); resolves when all landed. */
  async refreshAll(): Promise<void> {
    await Promise.all([...this.entries].map(([key, e]) => this.fetchNow(key, e)));
  }

  /** Resolves when no fetch is in flight (tests and `meshd serve` start-up use it; pushes never wait). */
  async settled(): Promise<void> {
    for (;;) {
      const pending = [...this.entries.values()].map((e) => e.inFlight).filter((p): p is Promise<void> => p !== undefined);
      if (pending.length === 0) return;
      await Promise.all(pending);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const e of this.entries.values()) if (e.timer) clearTimeout(e.timer);
    this.agent.destroy();
  }

  private fetchNow(key: string, e: Entry): Promise<void> {
    if (e.inFlight) return e.inFlight;
    if (e.timer) clearTimeout(e.timer);
    e.timer = undefined;
    e.inFlight = this.fetchJwks(e.need)
      .then(
        (body) => {
          this.opts.metrics?.fetchSuccess.inc();
          e.lastError = undefined;
          e.lastFetchAt = Date.now();
          if (e.dropped || this.stopped) return;
          const changed = body !== e.jwks;
          e.jwks = body;
          if (changed) {
            this.log.info({ issuer: e.need.issuer, jwksUri: e.need.jwksUri || undefined }, 'JWKS fetched');
            this.publish();
          }
          this.schedule(key, e, this.opts.refreshIntervalMs ?? DEFAULT_JWKS_REFRESH_INTERVAL_MS);
        },
        (err: Error) => {
          this.opts.metrics?.fetchFailure.inc();
          e.lastError = err.message;
          e.lastFetchAt = Date.now();
          if (e.dropped || this.stopped) return;
          this.log.warn(
            { issuer: e.need.issuer, jwksUri: e.need.jwksUri || undefined, err: err.message, keepsLastGood: e.jwks !== undefined },
            e.jwks !== undefined ? 'JWKS refresh failed; keeping the last fetched keys' : 'JWKS fetch failed; tokens of this issuer are rejected until a fetch succeeds',
          );
          this.schedule(key, e, this.opts.refreshIntervalOnFailureMs ?? DEFAULT_JWKS_REFRESH_ON_FAILURE_MS);
        },
      )
      .finally(() => {
        e.inFlight = undefined;
      });
    return e.inFlight;
  }

  private schedule(key: string, e: Entry, ms: number): void {
    e.timer = setTimeout(() => void this.fetchNow(key, e), ms);
    e.timer.unref();
  }

  private publish(): void {
    const next = new Map<string, string>();
    for (const [key, e] of this.entries) if (e.jwks !== undefined) next.set(key, e.jwks);
    this.current = next;
    this.opts.onChange();
  }

  private async fetchJwks(need: JwksNeed): Promise<string> {
    let uri = need.jwksUri;
    if (!uri) {
      const discovery = need.issuer.replace(/\/+$/, '') + OPENID_DISCOVERY_SUFFIX;
      const body = await this.get(discovery, need.timeoutMs);
      let doc: unknown;
      try {
        doc = JSON.parse(body);
      } catch {
        throw new Error(`${discovery}: OpenID configuration is not JSON`);
      }
      const found = (doc as { jwks_uri?: unknown } | null)?.jwks_uri;
      if (typeof found !== 'string' || !/^https?:\/\//.test(found)) throw new Error(`${discovery}: no http(s) jwks_uri in the OpenID configuration`);
      uri = found;
    }
    const body = await this.get(uri, need.timeoutMs);
    const err = jwksError(body);
    if (err) throw new Error(`${uri}: ${err}`);
    return body;
  }

  private get(uri: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      let url: URL;
      try {
        url = new URL(uri);
      } catch {
        return reject(new Error(`${uri}: not a URL`));
      }
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (isBlockedJwksAddress(host)) return reject(new Error(`${uri}: ${host} is a blocked (link-local or cloud metadata) address`));
      const max = this.opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
      const options = { timeout: timeoutMs, headers: { accept: 'application/json' } };
      const onResponse = (res: http.IncomingMessage) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`${uri}: HTTP ${res.statusCode}${res.statusCode && res.statusCode >= 300 && res.statusCode < 400 ? ' (redirects are not followed)' : ''}`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > max) {
            res.destroy(new Error(`${uri}: response larger than ${max} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', (e) => reject(new Error(`${uri}: ${e.message}`)));
      };
      const req = url.protocol === 'https:'
        ? https.get(url, { ...options, agent: this.agent }, onResponse)
        : url.protocol === 'http:'
          ? http.get(url, { ...options, lookup: guardedLookup, agent: false }, onResponse)
          : undefined;
      if (!req) return reject(new Error(`${uri}: scheme must be http or https`));
      req.on('timeout', () => req.destroy(new Error(`${uri}: no answer within ${timeoutMs} ms`)));
      req.on('error', (e) => reject(e.message.startsWith(uri) ? e : new Error(`${uri}: ${e.message}`)));
    });
  }
}
