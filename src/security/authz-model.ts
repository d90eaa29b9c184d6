import { isIP } from 'node:net';
import type { Rule } from '../config/schemas/authorization-policy.js';
import type { J } from '../envoy/json.js';

// One AuthorizationPolicy rule → one Envoy RBAC Policy (permissions × principals), the way istiod's
// pilot/pkg/security/authz/model does it, checked against Istio's own builder goldens
// (test/security/authz-builder.test.ts). Output is proto-JSON with snake_case field names (what
// protobufjs encodes with keepCase).
//
//   from.source.*        → principals (one and_ids per `from`, conditions in Istio's order)
//   to.operation.*       → permissions (one and_rules per `to`)
//   when[key]            → added to every principal (source/request keys) or permission (destination keys)
//   values / notValues   → or_ids/or_rules, and not_id/not_rule of an or
//
// A condition a filter cannot express (an HTTP-only key on a TCP port) fails the rule for ALLOW (the rule
// is dropped: stricter) and is dropped for DENY/AUDIT (the rule matches more: stricter), as istiod does.

export type RbacAction = 'ALLOW' | 'DENY' | 'LOG';

export class HttpOnlyError extends Error {}

/** Go's regexp.QuoteMeta. */
export function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

const regex = (r: string): J => ({ safe_regex: { regex: r } });

/** istiod matcher.StringMatcherWithPrefix: `*` any, `x*` prefix, `*x` suffix, else exact. */
export function stringMatcher(v: string, prefix = '', ignoreCase = false): J {
  const ic = ignoreCase ? { ignore_case: true } : {};
  if (v === '*') return regex('.+');
  if (v.startsWith('*')) {
    if (prefix === '') return { suffix: v.slice(1), ...ic };
    return regex(`${quoteMeta(prefix)}.*${quoteMeta(v.slice(1))}`);
  }
  if (v.endsWith('*')) return { prefix: prefix + v.slice(0, -1), ...ic };
  return { exact: prefix + v, ...ic };
}

function cidr(v: string): J {
  const [addr, len] = v.split('/');
  const family = isIP(addr ?? '');
  if (!family) throw new Error(`invalid IP address ${JSON.stringify(v)}`);
  const max = family === 4 ? 32 : 128;
  const prefixLen = len === undefined ? max : Number(len);
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > max) throw new Error(`invalid CIDR ${JSON.stringify(v)}`);
  // prefix_len is a UInt32Value: protobufjs wants the wrapper object
  return { address_prefix: addr, prefix_len: { value: prefixLen } };
}

function headerMatcher(name: string, v: string, ignoreCase = false): J {
  if (v === '*') return { header: { name, present_match: true } };
  return { header: { name, string_match: stringMatcher(v, '', ignoreCase) } };
}

/**
 * istiod matcher.InlineHeaderMatcher: the value must be one element of the header's comma-separated list
 * (Envoy joins repeated headers with commas), so exact/prefix/suffix become a regex over the list.
 */
function inlineHeaderMatcher(name: string, v: string): J {
  if (v === '*') return { name, present_match: true };
  let element: string;
  if (v.startsWith('*')) element = `.*${quoteMeta(v.slice(1))}`;
  else if (v.endsWith('*')) element = `${quoteMeta(v.slice(0, -1))}.*`;
  else element = quoteMeta(v);
  return { name, safe_regex_match: { regex: `^${element}$|^${element},.*|.*,${element},.*|.*,${element}$` } };
}

function pathMatcher(v: string): J {
  // Istio path templates: {*} one segment, {**} any number of segments → uri_template
  if (v.includes('{*}') || v.includes('{**}')) {
    return {
      uri_template: {
        name: 'uri-template',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig', path_template: v.replace(/\{\*\*\}/g, '**').replace(/\{\*\}/g, '*') },
      },
    };
  }
  return { url_path: { path: stringMatcher(v) } };
}

const JWT_FILTER = 'envoy.filters.http.jwt_authn';
function jwtMetadata(path: string[], value: J): J {
  return { metadata: { filter: JWT_FILTER, path: ['payload', ...path].map((key) => ({ key })), value } };
}

/** istiod requestPrincipal: ISS/SUB, each side may be a wildcard. */
function requestPrincipal(v: string): J {
  const strMatch = (s: string) => ({ string_match: s === '*' ? regex('.+') : stringMatcher(s) });
  let iss: J;
  let sub: J;
  if (v === '*') {
    iss = strMatch('*');
    sub = strMatch('*');
  } else if (v.startsWith('*')) {
    iss = strMatch('*');
    sub = strMatch(v);
  } else if (v.endsWith('*') && !v.endsWith('/*')) {
    iss = strMatch(v);
    sub = strMatch('*');
  } else {
    const i = v.lastIndexOf('/');
    const issuer = i >= 0 ? v.slice(0, i) : v;
    const subject = i >= 0 ? v.slice(i + 1) : '';
    iss = strMatch(issuer);
    sub = subject === '*' ? strMatch('*') : { string_match: { exact: subject } };
  }
  return { and_ids: { ids: [jwtMetadata(['iss'], iss), jwtMetadata(['sub'], sub)] } };
}

/** audiences/presenter/claims: one metadata matcher over all values (the claim may be a list or a string). */
function claimMatcher(path: string[], values: readonly string[]): J {
  // an OrMatcher needs at least two matchers (Envoy's PGV rule): one value is its string_match alone
  const ors = values.length === 1 ? { string_match: stringMatcher(values[0]!) } : { or_match: { value_matchers: values.map((v) => ({ string_match: stringMatcher(v) })) } };
  return jwtMetadata(path, { or_match: { value_matchers: [{ list_match: { one_of: ors } }, ors] } });
}

function claimPath(key: string): string[] {
  // request.auth.claims[a][b] → [a, b]
  return [...key.slice('request.auth.claims'.length).matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]!);
}

function namespaceRegex(v: string): string {
  return `.*/ns/${quoteMeta(v).replace(/\\\*/g, '.*')}/.*`;
}

function trustDomainMatcher(v: string): J {
  if (v.includes('*')) return { authenticated: { principal_name: regex(`spiffe://${quoteMeta(v).replace(/\\\*/g, '[^/]*')}/.*`) } };
  return { authenticated: { principal_name: { prefix: `spiffe://${v}/` } } };
}

interface Generator {
  /** aggregate all values into one matcher (metadata value matchers) */
  readonly aggregate?: boolean;
  permission?(key: string, value: string, forTCP: boolean): J | undefined;
  principal?(key: string, value: string, forTCP: boolean): J | undefined;
  aggregatePrincipal?(key: string, values: readonly string[], forTCP: boolean): J | undefined;
  aggregatePermission?(key: string, values: readonly string[], forTCP: boolean): J | undefined;
}

const httpOnly = (key: string, forTCP: boolean) => {
  if (forTCP) throw new HttpOnlyError(`"${key}" is HTTP only`);
};

const G: Record<string, Generator> = {
  destIp: { permission: (_k, v) => ({ destination_ip: cidr(v) }) },
  destPort: {
    permission: (_k, v) => {
      if (!/^\d+$/.test(v) || Number(v) > 65535) throw new Error(`invalid port ${JSON.stringify(v)}`);
      return { destination_port: Number(v) };
    },
  },
  connSni: { permission: (_k, v) => ({ requested_server_name: stringMatcher(v) }) },
  envoyFilter: {
    aggregate: true,
    aggregatePermission: (k, values) => {
      // experimental.envoy.filters.a.b[c] → filter envoy.filters.a.b, path [c]
      const m = /^experimental\.(envoy\.filters\.[^[]+)((?:\[[^\]]*\])+)$/.exec(k);
      if (!m) throw new Error(`invalid envoy filter attribute ${k}`);
      const path = [...m[2]!.matchAll(/\[([^\]]*)\]/g)].map((x) => ({ key: x[1]! }));
      const value = values.length === 1 ? { string_match: stringMatcher(values[0]!) } : { or_match: { value_matchers: values.map((v) => ({ string_match: stringMatcher(v) })) } };
      return { metadata: { filter: m[1], path, value } };
    },
  },
  srcIp: { principal: (_k, v) => ({ direct_remote_ip: cidr(v) }) },
  remoteIp: { principal: (_k, v) => ({ remote_ip: cidr(v) }) },
  srcNamespace: { principal: (_k, v) => ({ authenticated: { principal_name: regex(namespaceRegex(v)) } }) },
  srcPrincipal: {
    principal: (_k, v) => ({ authenticated: { principal_name: v === '*' ? regex('.+') : stringMatcher(v, 'spiffe://') } }),
  },
  srcTrustDomain: { principal: (_k, v) => trustDomainMatcher(v) },
  requestPrincipal: {
    principal: (k, v, tcp) => {
      httpOnly(k, tcp);
      return requestPrincipal(v);
    },
  },
  requestClaims: {
    aggregate: true,
    aggregatePrincipal: (k, values, tcp) => {
      httpOnly(k, tcp);
      const path =
        k === 'request.auth.audiences' ? ['aud'] : k === 'request.auth.presenter' ? ['azp'] : claimPath(k);
      if (path.length === 0) throw new Error(`invalid claim attribute ${k}`);
      return claimMatcher(path, values);
    },
  },
  requestHeader: {
    principal: (k, v, tcp) => {
      httpOnly(k, tcp);
      const m = /^request\.headers\[([^\]]+)\]$/.exec(k);
      if (!m) throw new Error(`invalid header attribute ${k}`);
      return headerMatcher(m[1]!, v);
    },
  },
  requestInlineHeader: {
    principal: (k, v, tcp) => {
      httpOnly(k, tcp);
      const m = /^request\.experimental\.inline\.headers\[([^\]]+)\]$/.exec(k);
      if (!m) throw new Error(`invalid header attribute ${k}`);
      return { header: inlineHeaderMatcher(m[1]!, v) };
    },
  },
  host: {
    permission: (k, v, tcp) => {
      httpOnly('hosts', tcp);
      return headerMatcher(':authority', v, true);
    },
  },
  method: {
    permission: (_k, v, tcp) => {
      httpOnly('methods', tcp);
      return headerMatcher(':method', v);
    },
  },
  path: {
    permission: (_k, v, tcp) => {
      httpOnly('paths', tcp);
      return pathMatcher(v);
    },
  },
};

/**
 * `serviceAccounts` / `source.serviceAccount`: `sa` (the policy's namespace) or `ns/sa`, matched anywhere a
 * SPIFFE id can carry them (istiod serviceAccountRegex: other path segments may sit between and after).
 */
function serviceAccountGenerator(policyNamespace: string): Generator {
  return {
    principal: (_k, v) => {
      const [ns, name] = v.includes('/') ? v.split('/', 2) : [policyNamespace, v];
      return { authenticated: { principal_name: regex(`spiffe://.+/ns/${quoteMeta(ns!)}/(.+/|)sa/${quoteMeta(name!)}(/.+)?`) } };
    },
  };
}

interface RuleEntry {
  readonly key: string;
  readonly values: readonly string[];
  readonly notValues: readonly string[];
  readonly g: Generator;
}

/** `when` keys → generator and whether it lands on the principal or the permission side. */
function whenGenerator(key: string, namespace: string): { side: 'principal' | 'permission'; g: Generator } {
  switch (key) {
    case 'destination.ip':
      return { side: 'permission', g: G.destIp! };
    case 'destination.port':
      return { side: 'permission', g: G.destPort! };
    case 'connection.sni':
      return { side: 'permission', g: G.connSni! };
    case 'source.ip':
      return { side: 'principal', g: G.srcIp! };
    case 'remote.ip':
      return { side: 'principal', g: G.remoteIp! };
    case 'source.namespace':
      return { side: 'principal', g: G.srcNamespace! };
    case 'source.principal':
      return { side: 'principal', g: G.srcPrincipal! };
    case 'source.serviceAccount':
      return { side: 'principal', g: serviceAccountGenerator(namespace) };
    case 'source.trustDomain':
      return { side: 'principal', g: G.srcTrustDomain! };
    case 'request.auth.principal':
      return { side: 'principal', g: G.requestPrincipal! };
    case 'request.auth.audiences':
    case 'request.auth.presenter':
      return { side: 'principal', g: G.requestClaims! };
  }
  if (key.startsWith('experimental.envoy.filters.')) return { side: 'permission', g: G.envoyFilter! };
  if (key.startsWith('request.experimental.inline.headers')) return { side: 'principal', g: G.requestInlineHeader! };
  if (key.startsWith('request.headers')) return { side: 'principal', g: G.requestHeader! };
  if (key.startsWith('request.auth.claims')) return { side: 'principal', g: G.requestClaims! };
  throw new Error(`unknown attribute ${key}`);
}

export interface TrustDomainBundle {
  /** the mesh trust domain first, then its aliases */
  readonly trustDomains: readonly string[];
}

function wildcardMatch(a: string, pattern: string): boolean {
  if (a === pattern || pattern === '*') return true;
  if (pattern.endsWith('*') && a.startsWith(pattern.slice(0, -1))) return true;
  if (pattern.startsWith('*') && a.endsWith(pattern.slice(1))) return true;
  return false;
}

/** istiod trustdomain.Bundle.ReplaceTrustDomainAliases. */
export function replaceTrustDomainAliases(bundle: TrustDomainBundle, principals: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of principals) {
    const parts = p.split('/');
    if (parts.length !== 5 || parts[0] === '*') {
      out.push(p);
      continue;
    }
    const td = parts[0]!;
    if (bundle.trustDomains.some((t) => wildcardMatch(t, td)) || td === 'cluster.local') {
      const seen: string[] = [];
      for (const t of bundle.trustDomains) {
        const np = wildcardMatch(t, td) && td.includes('*') ? p : [t, ...parts.slice(1)].join('/');
        if (!seen.includes(np)) seen.push(np);
      }
      out.push(...seen);
    } else {
      out.push(p);
    }
  }
  return out;
}

export interface ModelOptions {
  /** the policy's namespace: `serviceAccounts: [sa]` without a namespace means this one */
  readonly namespace: string;
  readonly trustDomainBundle?: TrustDomainBundle;
}

/** permissions/principals lists for one rule (istiod authzmodel.New). */
export class RuleModel {
  private readonly permissions: RuleEntry[][] = [];
  private readonly principals: RuleEntry[][] = [];

  constructor(rule: Rule, opts: ModelOptions) {
    const basePermission: RuleEntry[] = [];
    const basePrincipal: RuleEntry[] = [];
    for (const w of rule.when ?? []) {
      const { side, g } = whenGenerator(w.key, opts.namespace);
      const entry = { key: w.key, values: w.values ?? [], notValues: w.notValues ?? [], g };
      if (entry.values.length === 0 && entry.notValues.length === 0) continue;
      (side === 'permission' ? basePermission : basePrincipal).push(entry);
    }
    const front = (list: RuleEntry[], key: string, g: Generator, values?: readonly string[], notValues?: readonly string[]) => {
      if ((values?.length ?? 0) === 0 && (notValues?.length ?? 0) === 0) return;
      list.unshift({ key, values: values ?? [], notValues: notValues ?? [], g });
    };
    const saGen = serviceAccountGenerator(opts.namespace);
    for (const from of rule.from ?? []) {
      const merged = [...basePrincipal];
      const s = from.source;
      if (s) {
        front(merged, 'source.ip', G.srcIp!, s.ipBlocks, s.notIpBlocks);
        front(merged, 'remote.ip', G.remoteIp!, s.remoteIpBlocks, s.notRemoteIpBlocks);
        front(merged, 'source.namespace', G.srcNamespace!, s.namespaces, s.notNamespaces);
        front(merged, 'request.auth.principal', G.requestPrincipal!, s.requestPrincipals, s.notRequestPrincipals);
        front(merged, 'source.trustDomain', G.srcTrustDomain!, s.trustDomains, s.notTrustDomains);
        front(merged, 'source.serviceAccount', saGen, s.serviceAccounts, s.notServiceAccounts);
        front(merged, 'source.principal', G.srcPrincipal!, s.principals, s.notPrincipals);
      }
      this.principals.push(merged);
    }
    if ((rule.from ?? []).length === 0) this.principals.push(basePrincipal);
    for (const to of rule.to ?? []) {
      const merged = [...basePermission];
      const o = to.operation;
      if (o) {
        front(merged, 'destination.port', G.destPort!, o.ports, o.notPorts);
        front(merged, 'path', G.path!, o.paths, o.notPaths);
        front(merged, ':method', G.method!, o.methods, o.notMethods);
        front(merged, ':authority', G.host!, o.hosts, o.notHosts);
      }
      this.permissions.push(merged);
    }
    if ((rule.to ?? []).length === 0) this.permissions.push(basePermission);

    const bundle = opts.trustDomainBundle;
    if (bundle && bundle.trustDomains.length > 1) {
      for (const list of this.principals) {
        for (let i = 0; i < list.length; i++) {
          const e = list[i]!;
          if (e.key !== 'source.principal') continue;
          list[i] = { ...e, values: replaceTrustDomainAliases(bundle, e.values), notValues: replaceTrustDomainAliases(bundle, e.notValues) };
        }
      }
    }
  }

  /** The RBAC Policy; throws when an ALLOW rule cannot be expressed (the caller skips the rule). */
  generate(forTCP: boolean, action: RbacAction): J {
    const permissions = this.permissions.map((list) => {
      const and = list.flatMap((e) => this.side(e, 'permission', forTCP, action));
      return { and_rules: { rules: and.length > 0 ? and : [{ any: true }] } };
    });
    const principals = this.principals.map((list) => {
      const and = list.flatMap((e) => this.side(e, 'principal', forTCP, action));
      return { and_ids: { ids: and.length > 0 ? and : [{ any: true }] } };
    });
    return { permissions, principals };
  }

  private side(e: RuleEntry, side: 'permission' | 'principal', forTCP: boolean, action: RbacAction): J[] {
    const orKey = side === 'permission' ? 'or_rules' : 'or_ids';
    const listKey = side === 'permission' ? 'rules' : 'ids';
    const notKey = side === 'permission' ? 'not_rule' : 'not_id';
    const tryGen = (f: () => J | undefined): J | undefined => {
      try {
        return f();
      } catch (err) {
        if (action === 'ALLOW') throw err;
        return undefined; // DENY/AUDIT: drop the condition, the rule matches more
      }
    };
    const out: J[] = [];
    if (e.g.aggregate) {
      const agg = side === 'permission' ? e.g.aggregatePermission : e.g.aggregatePrincipal;
      if (e.values.length > 0) {
        const m = tryGen(() => agg!(e.key, e.values, forTCP));
        if (m) out.push(m);
      }
      if (e.notValues.length > 0) {
        const m = tryGen(() => agg!(e.key, e.notValues, forTCP));
        if (m) out.push({ [notKey]: m });
      }
      return out;
    }
    const gen = side === 'permission' ? e.g.permission : e.g.principal;
    const each = (vals: readonly string[]) => vals.map((v) => tryGen(() => gen!(e.key, v, forTCP))).filter((m): m is J => m !== undefined);
    const yes = each(e.values);
    if (yes.length > 0) out.push({ [orKey]: { [listKey]: yes } });
    const no = each(e.notValues);
    if (no.length > 0) out.push({ [notKey]: { [orKey]: { [listKey]: no } } });
    return out;
  }
}
