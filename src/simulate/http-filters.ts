import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { metadataMatches, type DynamicMetadata } from './metadata-match.js';
import { headerMatches, headerValue, stringMatches, UnsupportedConfigError, type HeaderMap } from './route-match.js';
import type { Json } from './resources.js';
import { cidrContains } from './ip.js';

// What an Envoy sidecar's security HTTP filters decide for one request, before routing: jwt_authn
// (envoy.extensions.filters.http.jwt_authn.v3: token extraction, signature/issuer/audience/expiry checks
// with jose, the requirement tree, payload_in_metadata) then RBAC (envoy.extensions.filters.http.rbac.v3:
// ALLOW/DENY/LOG policies over principals and permissions). The subset of RBAC meshd generates is
// evaluated; anything else throws UnsupportedConfigError rather than guessing.

const JWT_FILTER = 'envoy.filters.http.jwt_authn';
const RBAC_FILTER = 'envoy.filters.http.rbac';

export interface HttpFilterRequest {
  readonly headers: HeaderMap;
  readonly query: ReadonlyMap<string, readonly string[]>;
  readonly path: string;
  readonly method: string;
  /** the peer's mTLS identity (spiffe://…), when the connection has one */
  readonly peerPrincipal?: string;
  /** seconds since the epoch at which tokens are checked (default: now) */
  readonly now?: number;
  /** the connection, for RBAC's destination_port / destination_ip / requested_server_name / source_ip */
  readonly connection?: ConnectionFacts;
}

/** What RBAC can read of the downstream connection (HTTP and network RBAC alike). */
export interface ConnectionFacts {
  readonly destinationPort?: number;
  readonly destinationIp?: string;
  /** the client's address; undefined when not known (a rule that needs it cannot be decided) */
  readonly sourceIp?: string;
  readonly sni?: string;
}

/** The destination port, or a refusal to guess when the caller did not say (never silently "no match"). */
function connectionPort(req: HttpFilterRequest, p: Json): number {
  const port = req.connection?.destinationPort;
  if (port === undefined) throw new UnsupportedConfigError(`RBAC permission ${JSON.stringify(p)}: the destination port is not known to this caller`);
  return port;
}

function cidrRangeMatches(range: Json, ip: string | undefined, what: string): boolean {
  if (ip === undefined) throw new UnsupportedConfigError(`RBAC ${what} ${JSON.stringify(range)}: the ${what === 'destination_ip' ? 'destination' : 'source'} address is not known`);
  // prefix_len is a UInt32Value (JSON: a number, protobufjs objects: { value }); unset is 0, as in Envoy
  const len = typeof range.prefix_len === 'object' && range.prefix_len !== null ? range.prefix_len.value : range.prefix_len;
  return cidrContains(String(range.address_prefix), Number(len ?? 0), ip);
}

export interface HttpFilterDecision {
  /** 200: the request reaches the router; 401: jwt_authn refused it; 403: RBAC denied it */
  readonly status: 200 | 401 | 403;
  /** why, when refused: Envoy's response detail */
  readonly detail?: string;
  /** dynamic metadata for routing (`envoy.filters.http.jwt_authn` → { payload }) */
  readonly metadata: DynamicMetadata;
  /** the filter that refused, e.g. `envoy.filters.http.rbac` */
  readonly refusedBy?: string;
  /** the RBAC policy that decided (matched), per filter in order */
  readonly rbacMatches: readonly (string | undefined)[];
}

type ProviderResult = { status: 'ok'; payload: JWTPayload } | { status: 'missing' } | { status: 'invalid'; reason: string };

function cookie(headers: HeaderMap, name: string): string | undefined {
  for (const part of (headerValue(headers, 'cookie') ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/** The token a provider reads (Envoy's JwtLocation extraction); default `Authorization: Bearer` and `access_token`. */
function extractToken(p: Json, req: HttpFilterRequest): string | undefined {
  const fromHeaders: Json[] = p.from_headers ?? [];
  const fromParams: string[] = p.from_params ?? [];
  const fromCookies: string[] = p.from_cookies ?? [];
  const headers = fromHeaders.length + fromParams.length + fromCookies.length === 0 ? [{ name: 'Authorization', value_prefix: 'Bearer ' }] : fromHeaders;
  const params = fromHeaders.length + fromParams.length + fromCookies.length === 0 ? ['access_token'] : fromParams;
  for (const h of headers) {
    const v = headerValue(req.headers, String(h.name));
    if (v === undefined) continue;
    const prefix = String(h.value_prefix ?? '');
    if (!v.startsWith(prefix)) continue;
    return v.slice(prefix.length).trim();
  }
  for (const name of params) {
    const v = req.query.get(name)?.[0];
    if (v !== undefined) return v;
  }
  for (const name of fromCookies) {
    const v = cookie(req.headers, name);
    if (v !== undefined) return v;
  }
  return undefined;
}

async function verify(p: Json, token: string, now: number): Promise<ProviderResult> {
  const jwksText = p.local_jwks?.inline_string;
  if (typeof jwksText !== 'string') throw new UnsupportedConfigError('JwtProvider without local_jwks.inline_string (remote_jwks) is not simulated');
  try {
    const jwks = createLocalJWKSet(JSON.parse(jwksText));
    const audiences: string[] = p.audiences ?? [];
    const { payload } = await jwtVerify(token, jwks, {
      ...(p.issuer ? { issuer: String(p.issuer) } : {}),
      ...(audiences.length > 0 ? { audience: audiences } : {}),
      currentDate: new Date(now * 1000),
      clockTolerance: 60, // Envoy's default clock_skew_seconds
    });
    return { status: 'ok', payload };
  } catch (err) {
    return { status: 'invalid', reason: (err as Error).message };
  }
}

type Eval = { ok: true } | { ok: false; missing: boolean; reason: string };

function providersOf(req: Json): string[] {
  if (req.provider_name !== undefined) return [String(req.provider_name)];
  const list: Json[] = req.requires_any?.requirements ?? req.requires_all?.requirements ?? [];
  return list.flatMap(providersOf);
}

/** Envoy's verifier tree: provider_name, allow_missing (among its requires_any siblings), requires_any/all. */
function evaluate(req: Json, results: ReadonlyMap<string, ProviderResult>, siblings: readonly string[]): Eval {
  if (req.provider_name !== undefined) {
    const r = results.get(String(req.provider_name));
    if (!r || r.status === 'missing') return { ok: false, missing: true, reason: 'Jwt is missing' };
    if (r.status === 'invalid') return { ok: false, missing: false, reason: `Jwt verification fails: ${r.reason}` };
    return { ok: true };
  }
  if (req.allow_missing !== undefined) {
    const bad = siblings.map((s) => results.get(s)).find((r) => r && r.status === 'invalid');
    if (bad && bad.status === 'invalid') return { ok: false, missing: false, reason: `Jwt verification fails: ${bad.reason}` };
    return { ok: true };
  }
  if (req.requires_any !== undefined) {
    const children: Json[] = req.requires_any.requirements ?? [];
    const names = children.flatMap(providersOf);
    let firstInvalid: Eval | undefined;
    for (const c of children) {
      const e = evaluate(c, results, names);
      if (e.ok) return e;
      if (!e.missing && !firstInvalid) firstInvalid = e;
    }
    return firstInvalid ?? { ok: false, missing: true, reason: 'Jwt is missing' };
  }
  if (req.requires_all !== undefined) {
    for (const c of (req.requires_all.requirements ?? []) as Json[]) {
      const e = evaluate(c, results, siblings);
      if (!e.ok) return e;
    }
    return { ok: true };
  }
  throw new UnsupportedConfigError(`JwtRequirement ${JSON.stringify(req)}: not supported by the simulator`);
}

async function jwtAuthn(config: Json, req: HttpFilterRequest, metadata: Map<string, unknown>): Promise<{ refused?: string }> {
  if (config.bypass_cors_preflight === true && req.method === 'OPTIONS' && headerValue(req.headers, 'origin') !== undefined && headerValue(req.headers, 'access-control-request-method') !== undefined) return {};
  const rule = ((config.rules ?? []) as Json[]).find((r) => r.match?.prefix !== undefined && req.path.startsWith(String(r.match.prefix)));
  if (!rule) return {};
  if (!rule.requires) return {};
  const now = req.now ?? Math.floor(Date.now() / 1000);
  const results = new Map<string, ProviderResult>();
  for (const [name, p] of Object.entries((config.providers ?? {}) as Record<string, Json>)) {
    const token = extractToken(p, req);
    results.set(name, token === undefined ? { status: 'missing' } : await verify(p, token, now));
  }
  const e = evaluate(rule.requires, results, []);
  if (!e.ok) return { refused: e.reason };
  for (const [name, r] of results) {
    const key = config.providers[name].payload_in_metadata;
    if (r.status === 'ok' && key) metadata.set(JWT_FILTER, { ...((metadata.get(JWT_FILTER) as object) ?? {}), [key]: r.payload });
  }
  return {};
}

function principalMatches(id: Json, req: HttpFilterRequest, metadata: DynamicMetadata): boolean {
  if (id.any === true) return true;
  if (id.and_ids) return (id.and_ids.ids as Json[]).every((x) => principalMatches(x, req, metadata));
  if (id.or_ids) return (id.or_ids.ids as Json[]).some((x) => principalMatches(x, req, metadata));
  if (id.not_id) return !principalMatches(id.not_id, req, metadata);
  if (id.metadata) return metadataMatches(id.metadata, metadata);
  if (id.header) return headerMatches(id.header, req.headers);
  if (id.authenticated) {
    if (req.peerPrincipal === undefined) return false;
    return id.authenticated.principal_name === undefined || stringMatches(id.authenticated.principal_name, req.peerPrincipal);
  }
  // without a proxy in front, the direct peer, the original client and the source are one address
  for (const key of ['direct_remote_ip', 'remote_ip', 'source_ip']) if (id[key]) return cidrRangeMatches(id[key], req.connection?.sourceIp, key);
  throw new UnsupportedConfigError(`RBAC principal ${JSON.stringify(id)}: not supported by the simulator`);
}

function permissionMatches(p: Json, req: HttpFilterRequest, metadata: DynamicMetadata): boolean {
  if (p.any === true) return true;
  if (p.and_rules) return (p.and_rules.rules as Json[]).every((x) => permissionMatches(x, req, metadata));
  if (p.or_rules) return (p.or_rules.rules as Json[]).some((x) => permissionMatches(x, req, metadata));
  if (p.not_rule) return !permissionMatches(p.not_rule, req, metadata);
  if (p.header) return headerMatches(p.header, req.headers);
  if (p.url_path) return stringMatches(p.url_path.path, req.path.split('?')[0]!);
  if (p.metadata) return metadataMatches(p.metadata, metadata);
  if (p.destination_port !== undefined) return p.destination_port === connectionPort(req, p);
  if (p.destination_port_range) {
    const port = connectionPort(req, p);
    return port >= Number(p.destination_port_range.start) && port < Number(p.destination_port_range.end);
  }
  if (p.destination_ip) return cidrRangeMatches(p.destination_ip, req.connection?.destinationIp, 'destination_ip');
  if (p.requested_server_name) {
    if (!req.connection) throw new UnsupportedConfigError(`RBAC permission ${JSON.stringify(p)}: the connection is not known to this caller`);
    return stringMatches(p.requested_server_name, req.connection.sni ?? '');
  }
  throw new UnsupportedConfigError(`RBAC permission ${JSON.stringify(p)}: not supported by the simulator`);
}

/** One RBAC filter: whether it lets the request through, and the policy that matched. */
function rbac(config: Json, req: HttpFilterRequest, metadata: DynamicMetadata): { allowed: boolean; matched?: string } {
  const rules = config.rules;
  if (!rules) return { allowed: true };
  const action = String(rules.action ?? 'ALLOW');
  let matched: string | undefined;
  for (const [name, policy] of Object.entries((rules.policies ?? {}) as Record<string, Json>).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const perm = ((policy.permissions ?? []) as Json[]).some((p) => permissionMatches(p, req, metadata));
    const prin = ((policy.principals ?? []) as Json[]).some((p) => principalMatches(p, req, metadata));
    if (perm && prin) {
      matched = name;
      break;
    }
  }
  if (action === 'ALLOW') return { allowed: matched !== undefined, ...(matched ? { matched } : {}) };
  if (action === 'DENY') return { allowed: matched === undefined, ...(matched ? { matched } : {}) };
  return { allowed: true, ...(matched ? { matched } : {}) }; // LOG
}

/**
 * Runs the HCM's HTTP filters up to the router: jwt_authn and RBAC decide, everything else passes the
 * request on unchanged (fault, cors, stats…). ext_authz cannot be simulated and throws.
 */
export async function simulateHttpFilters(httpFilters: readonly Json[], req: HttpFilterRequest): Promise<HttpFilterDecision> {
  const metadata = new Map<string, unknown>();
  const rbacMatches: (string | undefined)[] = [];
  for (const f of httpFilters) {
    const cfg = f.typed_config ?? {};
    if (f.name === JWT_FILTER) {
      const r = await jwtAuthn(cfg, req, metadata);
      if (r.refused) return { status: 401, detail: r.refused, metadata, refusedBy: JWT_FILTER, rbacMatches };
    } else if (f.name === RBAC_FILTER) {
      const r = rbac(cfg, req, metadata);
      rbacMatches.push(r.matched);
      if (!r.allowed) return { status: 403, detail: 'RBAC: access denied', metadata, refusedBy: RBAC_FILTER, rbacMatches };
    } else if (String(f.name).includes('ext_authz')) {
      throw new UnsupportedConfigError('ext_authz asks an external service: not simulated');
    }
  }
  return { status: 200, metadata, rbacMatches };
}

const NETWORK_RBAC_FILTER = 'envoy.filters.network.rbac';

/** The network filters' RBAC decision for one TCP connection (envoy.extensions.filters.network.rbac.v3). */
export function simulateNetworkRbac(networkFilters: readonly Json[], connection: ConnectionFacts & { readonly peerPrincipal?: string }): { allowed: boolean; rbacMatches: readonly (string | undefined)[] } {
  const req: HttpFilterRequest = {
    headers: new Map(), query: new Map(), path: '', method: '',
    ...(connection.peerPrincipal ? { peerPrincipal: connection.peerPrincipal } : {}),
    connection,
  };
  const rbacMatches: (string | undefined)[] = [];
  for (const f of networkFilters) {
    if (f.name !== NETWORK_RBAC_FILTER) continue;
    const r = rbac(f.typed_config ?? {}, req, new Map());
    rbacMatches.push(r.matched);
    if (!r.allowed) return { allowed: false, rbacMatches };
  }
  return { allowed: true, rbacMatches };
}
