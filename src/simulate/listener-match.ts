import { cidrContains, isAnyAddress, isLoopback, sameIp } from './ip.js';
import { anyType, wrapped, type Json, type SimRequest } from './resources.js';

// Listener and filter-chain selection as Envoy does it (config.listener.v3.FilterChainMatch docs and
// FilterChainManagerImpl): the connection lands on the listener iptables points at; a listener with
// `use_original_dst` hands it to the listener bound to the original destination (exact IP:port, else the
// wildcard address on that port), else keeps it. Filter chains are then pruned criterion by criterion:
// at each step only the chains that match that criterion most specifically go on, and Envoy never
// backtracks to a less specific branch when a later criterion fails. No chain left → default_filter_chain.

export const TLS_INSPECTOR = 'envoy.filters.listener.tls_inspector';
export const HTTP_INSPECTOR = 'envoy.filters.listener.http_inspector';

export interface ListenerChoice {
  readonly listener: Json;
  /** The listener the connection arrived on, when use_original_dst handed it over to `listener`. */
  readonly handedOffFrom?: string;
}

function socketAddress(l: Json): { address: string; port: number } | undefined {
  const sa = l.address?.socket_address;
  if (!sa) return undefined;
  return { address: String(sa.address ?? ''), port: Number(sa.port_value ?? 0) };
}

/** Exact IP:port first, then the wildcard address (0.0.0.0 / ::) on the port: Envoy's listener lookup. */
function listenerByAddress(listeners: readonly Json[], ip: string, port: number, exclude?: Json): Json | undefined {
  const onPort = listeners.filter((l) => l !== exclude && !l.api_listener && socketAddress(l)?.port === port);
  return onPort.find((l) => sameIp(socketAddress(l)!.address, ip)) ?? onPort.find((l) => isAnyAddress(socketAddress(l)!.address));
}

export function selectListener(listeners: readonly Json[], req: SimRequest): ListenerChoice | undefined {
  // The connection is accepted by a listener that really binds (bind_to_port defaults to true).
  const bound = listeners.filter((l) => wrapped<boolean>(l.bind_to_port) !== false);
  // entryPort 0: the client connects straight to a bound listener (no iptables capture).
  const entry = listenerByAddress(bound, req.destinationIp, req.entryPort > 0 ? req.entryPort : req.port);
  if (!entry) return undefined;
  if (wrapped<boolean>(entry.use_original_dst) === true) {
    const target = listenerByAddress(listeners, req.destinationIp, req.port, entry);
    if (target) return { listener: target, handedOffFrom: entry.name };
  }
  return { listener: entry };
}

/** What listener filters detected about the connection (ConnectionSocket properties). */
export interface ConnectionFacts {
  readonly destinationIp: string;
  readonly destinationPort: number;
  readonly sourceIp: string;
  readonly sourcePort: number;
  readonly transportProtocol: string;
  readonly serverName: string;
  readonly applicationProtocols: readonly string[];
}

/** listener.v3.ListenerFilterChainMatchPredicate (filter_disabled): does it match this connection? */
function predicateMatches(p: Json | undefined, port: number): boolean {
  if (!p) return false;
  if (p.any_match) return true;
  if (p.destination_port_range) {
    const r = p.destination_port_range;
    return port >= Number(r.start ?? 0) && port < Number(r.end ?? 0);
  }
  if (p.not_match) return !predicateMatches(p.not_match, port);
  if (p.or_match) return (p.or_match.rules ?? []).some((r: Json) => predicateMatches(r, port));
  if (p.and_match) return (p.and_match.rules ?? []).every((r: Json) => predicateMatches(r, port));
  return false;
}

function hasListenerFilter(l: Json, name: string, port: number): boolean {
  const typeSuffix = name === TLS_INSPECTOR ? 'tls_inspector.v3.TlsInspector' : 'http_inspector.v3.HttpInspector';
  return (l.listener_filters ?? []).some(
    (f: Json) => (f.name === name || anyType(f.typed_config).endsWith(typeSuffix)) && !predicateMatches(f.filter_disabled, port),
  );
}

/**
 * What Envoy knows when it picks a filter chain: the original destination, and whatever tls_inspector
 * (TLS → transport "tls", SNI, ALPN) or http_inspector (plaintext HTTP → ALPN http/1.1 or h2c) found.
 * Without a detector the transport protocol is "raw_buffer" and SNI/ALPN are empty.
 */
export function connectionFacts(listener: Json, req: SimRequest): ConnectionFacts {
  const base = {
    destinationIp: req.destinationIp, destinationPort: req.port, sourceIp: req.source.ip, sourcePort: req.source.port,
  };
  if (req.tls && hasListenerFilter(listener, TLS_INSPECTOR, req.port)) {
    return { ...base, transportProtocol: 'tls', serverName: (req.tls.sni ?? '').toLowerCase(), applicationProtocols: req.tls.alpn };
  }
  const http = !req.tls && req.protocol === 'http' && hasListenerFilter(listener, HTTP_INSPECTOR, req.port);
  return { ...base, transportProtocol: 'raw_buffer', serverName: '', applicationProtocols: http ? [req.httpVersion] : [] };
}

type Chain = Json;
type Step = (chains: readonly Chain[], c: ConnectionFacts) => Chain[];

const m = (chain: Chain): Json => chain.filter_chain_match ?? {};

/** Keeps the chains whose key equals the most specific key present; `key` undefined = no requirement. */
function byExactThenAny<K>(chains: readonly Chain[], keysOf: (fc: Json) => K[] | undefined, wanted: readonly K[]): Chain[] {
  for (const w of wanted) {
    const hit = chains.filter((ch) => keysOf(m(ch))?.includes(w));
    if (hit.length > 0) return hit;
  }
  return chains.filter((ch) => (keysOf(m(ch)) ?? []).length === 0);
}

/** Longest matching CIDR wins; a chain without ranges counts as 0.0.0.0/0 and ::/0. */
function byLongestPrefix(chains: readonly Chain[], ranges: (fc: Json) => Json[] | undefined, ip: string): Chain[] {
  const scored = chains.map((ch) => {
    const rs = ranges(m(ch)) ?? [];
    if (rs.length === 0) return { ch, len: 0 };
    let best = -1;
    for (const r of rs) {
      const len = Number(wrapped<number>(r.prefix_len) ?? 0);
      if (cidrContains(String(r.address_prefix ?? ''), len, ip)) best = Math.max(best, len);
    }
    return { ch, len: best };
  });
  const top = Math.max(-1, ...scored.map((s) => s.len));
  return top < 0 ? [] : scored.filter((s) => s.len === top).map((s) => s.ch);
}

/** `www.example.com` → itself, `*.example.com`, `*.com`, then chains without server_names. */
function serverNameCandidates(name: string): string[] {
  if (!name) return [];
  const out = [name];
  for (let pos = name.indexOf('.', 1); pos >= 0; pos = name.indexOf('.', pos + 1)) out.push(`*${name.slice(pos)}`);
  return out;
}

function sourceTypeStep(chains: readonly Chain[], c: ConnectionFacts): Chain[] {
  const typeOf = (ch: Chain) => String(m(ch).source_type ?? 'ANY');
  const local = isLoopback(c.sourceIp) || sameIp(c.sourceIp, c.destinationIp);
  const specific = chains.filter((ch) => typeOf(ch) === (local ? 'SAME_IP_OR_LOOPBACK' : 'EXTERNAL'));
  return specific.length > 0 ? specific : chains.filter((ch) => typeOf(ch) === 'ANY');
}

/** The pruning order of FilterChainMatch, most significant first. */
export const FILTER_CHAIN_STEPS: readonly (readonly [string, Step])[] = [
  ['destination_port', (chains, c) => byExactThenAny(chains, (fc) => {
    const p = wrapped<number>(fc.destination_port);
    return p === undefined ? undefined : [Number(p)];
  }, [c.destinationPort])],
  ['prefix_ranges', (chains, c) => byLongestPrefix(chains, (fc) => fc.prefix_ranges, c.destinationIp)],
  ['server_names', (chains, c) => byExactThenAny(chains, (fc) => (fc.server_names as string[] | undefined)?.map((s) => s.toLowerCase()), serverNameCandidates(c.serverName))],
  ['transport_protocol', (chains, c) => byExactThenAny(chains, (fc) => (fc.transport_protocol ? [fc.transport_protocol as string] : undefined), [c.transportProtocol])],
  ['application_protocols', (chains, c) => byExactThenAny(chains, (fc) => fc.application_protocols, c.applicationProtocols)],
  ['direct_source_prefix_ranges', (chains, c) => byLongestPrefix(chains, (fc) => fc.direct_source_prefix_ranges, c.sourceIp)],
  ['source_type', sourceTypeStep],
  ['source_prefix_ranges', (chains, c) => byLongestPrefix(chains, (fc) => fc.source_prefix_ranges, c.sourceIp)],
  ['source_ports', (chains, c) => byExactThenAny(chains, (fc) => (fc.source_ports as number[] | undefined)?.map(Number), [c.sourcePort])],
];

export interface FilterChainChoice {
  readonly chain: Json;
  readonly isDefault: boolean;
}

export function selectFilterChain(listener: Json, c: ConnectionFacts): FilterChainChoice | undefined {
  let chains: Chain[] = [...(listener.filter_chains ?? [])];
  for (const [, step] of FILTER_CHAIN_STEPS) {
    if (chains.length === 0) break;
    chains = step(chains, c);
  }
  // Envoy rejects listeners whose chains have identical matches, so at most one is left.
  if (chains.length > 0) return { chain: chains[0]!, isDefault: false };
  if (listener.default_filter_chain) return { chain: listener.default_filter_chain, isDefault: true };
  return undefined;
}
