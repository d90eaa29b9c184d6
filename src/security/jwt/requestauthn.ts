import type { JWTRule, RequestAuthentication } from '../../config/schemas/request-authentication.js';
import { parseDuration } from '../../config/schemas/common.js';
import type { PushContext } from '../../model/push-context.js';
import { ANY_TYPE, anyOf } from '../../envoy/type-urls.js';
import { PUBLIC_ONLY_JWKS } from './fake-jwks.js';
import { policyAttaches } from '../../model/policy-attachment.js';

// RequestAuthentication → envoy.filters.http.jwt_authn, as istiod builds it (pilot/pkg/security/authn
// policy_applier convertToEnvoyJwtConfig, with PILOT_JWT_ENABLE_REMOTE_JWKS=false: istiod fetches and inlines).
//
// Scope (istiod getConfigsForWorkload): the policies of the workload's namespace and of the root namespace
// that attach to it (model/policy-attachment.ts: by selector — none: every workload there, or of the mesh
// for the root namespace; targetRef(s) only to the Gateway API gateway they name).
// All their jwtRules are merged and sorted by issuer; rule i becomes provider `origins-i`.
//
// Requirements: a request without a token passes (RequestAuthentication alone never demands a token:
// an AuthorizationPolicy does that with requestPrincipals); a token that is present must be valid for a
// provider it is presented to, else Envoy answers 401. One provider: `origins-0 OR allow_missing`. Several:
// `origins-0 OR … OR origins-n OR AND(origins-i OR allow_missing …)`, so providers sharing a token location
// still work.
//
// The verified payload goes to dynamic metadata `envoy.filters.http.jwt_authn` → `payload` (payload_in_metadata),
// which is what AuthorizationPolicy requestPrincipals / request.auth.* (authz-model.ts) and VirtualService
// `@request.auth.claims` route matches (envoy/envoy-match.ts) read: current istiod needs no separate
// istio_authn filter for that. Scope-like claims (`scope`, `permission` and spaceDelimitedClaims) are split on
// spaces into lists (normalize_payload_in_metadata).
//
// Keys: inline `jwks`, else the JWKS meshd fetched (jwks-resolver.ts, a snapshot input); a JWKS that is not
// (yet) fetched inlines a public key whose private key does not exist (fake-jwks.ts), so its tokens are
// rejected rather than accepted, as istiod does.

type J = Record<string, unknown>;

export const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';
/** the dynamic-metadata key the verified payload goes under (istiod filters.EnvoyJwtFilterPayload) */
export const JWT_PAYLOAD_KEY = 'payload';
/** claims Envoy splits on spaces into lists for matching (istiod buildSpaceDelimitedClaims' defaults) */
const DEFAULT_SPACE_DELIMITED_CLAIMS = ['permission', 'scope'];
/** jwtRule.timeout default: how long one JWKS fetch may take */
export const DEFAULT_JWKS_FETCH_TIMEOUT_MS = 5000;

export interface ScopedJwtRule {
  readonly rule: JWTRule;
  /** namespace/name of the RequestAuthentication it comes from */
  readonly from: string;
}

/** The jwtRules that apply to a workload (sidecar or gateway), sorted by issuer (istiod newPolicyApplier). */
export function jwtRulesForWorkload(ctx: PushContext, namespace: string, labels: Readonly<Record<string, string>>): ScopedJwtRule[] {
  const root = ctx.mesh.rootNamespace;
  const policies = [...ctx.requestAuthenticationsIn(namespace), ...(namespace !== root ? ctx.requestAuthenticationsIn(root) : [])];
  const rules: ScopedJwtRule[] = [];
  for (const ra of policies) {
    const policyNamespace = ra.metadata.namespace ?? 'default';
    if (!policyAttaches(ra.spec, policyNamespace, { namespace, labels })) continue;
    const from = `${policyNamespace}/${ra.metadata.name}`;
    for (const rule of ra.spec.jwtRules ?? []) rules.push({ rule, from });
  }
  // a stable sort: rules of one issuer keep their policy order
  return rules.sort((a, b) => ((a.rule.issuer ?? '') < (b.rule.issuer ?? '') ? -1 : (a.rule.issuer ?? '') > (b.rule.issuer ?? '') ? 1 : 0));
}

/** jwksUri, or its snake_case spelling jwks_uri; '' when neither (OpenID discovery). */
export function jwksUriOf(rule: JWTRule): string {
  return rule.jwksUri ?? rule.jwks_uri ?? '';
}

/** The fetch timeout of a rule (jwtRule.timeout, default 5 s). */
export function jwksFetchTimeoutMs(rule: JWTRule): number {
  const ns = rule.timeout !== undefined ? parseDuration(rule.timeout) : undefined;
  return ns !== undefined && ns > 0 ? Math.max(1, Math.round(ns / 1e6)) : DEFAULT_JWKS_FETCH_TIMEOUT_MS;
}

function spaceDelimitedClaims(list: readonly string[] | undefined): string[] {
  if (list === undefined) return [...DEFAULT_SPACE_DELIMITED_CLAIMS];
  return [...new Set([...list, ...DEFAULT_SPACE_DELIMITED_CLAIMS])].sort();
}

export interface JwtFilterResult {
  /** the jwt_authn HTTP filter, or undefined when no jwtRule applies */
  readonly filter?: J;
  /** rules whose keys could not be used as written (the caller warns) */
  readonly warnings: string[];
}

/** One JwtProvider (envoy.extensions.filters.http.jwt_authn.v3.JwtProvider) for `rule`. */
function provider(ctx: PushContext, scoped: ScopedJwtRule, clearRouteCache: boolean, warnings: string[]): J {
  const rule = scoped.rule;
  const issuer = rule.issuer ?? '';
  let jwks = rule.jwks;
  if (jwks === undefined || jwks === '') {
    jwks = ctx.jwks(issuer, jwksUriOf(rule));
    if (jwks === undefined) {
      warnings.push(`RequestAuthentication ${scoped.from}: no JWKS for issuer ${JSON.stringify(issuer)} (${jwksUriOf(rule) ? `jwksUri ${jwksUriOf(rule)}` : 'OpenID discovery'}) has been fetched yet or the fetch failed; its tokens are rejected until it is`);
      jwks = PUBLIC_ONLY_JWKS;
    }
  }
  const p: J = { issuer };
  if ((rule.audiences ?? []).length > 0) p.audiences = [...rule.audiences!];
  p.local_jwks = { inline_string: jwks };
  if (rule.forwardOriginalToken) p.forward = true;
  if ((rule.fromHeaders ?? []).length > 0) p.from_headers = rule.fromHeaders!.map((h) => ({ name: h.name, ...(h.prefix ? { value_prefix: h.prefix } : {}) }));
  if ((rule.fromParams ?? []).length > 0) p.from_params = [...rule.fromParams!];
  if ((rule.fromCookies ?? []).length > 0) p.from_cookies = [...rule.fromCookies!];
  if (rule.outputPayloadToHeader) p.forward_payload_header = rule.outputPayloadToHeader;
  p.payload_in_metadata = JWT_PAYLOAD_KEY;
  if ((rule.outputClaimToHeaders ?? []).length > 0) p.claim_to_headers = rule.outputClaimToHeaders!.map((c) => ({ header_name: c.header, claim_name: c.claim }));
  if (clearRouteCache) p.clear_route_cache = true;
  p.normalize_payload_in_metadata = { space_delimited_claims: spaceDelimitedClaims(rule.spaceDelimitedClaims) };
  return p;
}

const providerRequirement = (name: string): J => ({ provider_name: name });
const ALLOW_MISSING: J = { allow_missing: {} };

/**
 * envoy.filters.http.jwt_authn for `rules` (already in istiod's order). `clearRouteCache`: gateways (their
 * routes may match on claims, so the route is re-picked after the payload is known); sidecars: false.
 */
export function buildJwtAuthnFilter(ctx: PushContext, rules: readonly ScopedJwtRule[], clearRouteCache = false): JwtFilterResult {
  const warnings: string[] = [];
  if (rules.length === 0) return { warnings };
  const providers: J = {};
  const innerAnd: J[] = [];
  const outerOr: J[] = [];
  rules.forEach((scoped, i) => {
    const name = `origins-${i}`;
    providers[name] = provider(ctx, scoped, clearRouteCache, warnings);
    innerAnd.push({ requires_any: { requirements: [providerRequirement(name), ALLOW_MISSING] } });
    outerOr.push(providerRequirement(name));
  });
  const requires = innerAnd.length === 1 ? innerAnd[0]! : { requires_any: { requirements: [...outerOr, { requires_all: { requirements: innerAnd } }] } };
  const config: J = {
    providers,
    rules: [{ match: { prefix: '/' }, requires }],
    bypass_cors_preflight: true,
  };
  return { filter: { name: JWT_AUTHN_FILTER, typed_config: anyOf(ANY_TYPE.JWT_AUTHN, config) }, warnings };
}

/** Everything a jwtRule needs fetched: rules without inline `jwks` (the JWKS resolver's work list). */
export interface JwksNeed {
  readonly issuer: string;
  readonly jwksUri: string;
  readonly timeoutMs: number;
}

/** The JWKS sources the RequestAuthentications of the mesh need fetched (deduplicated). */
export function jwksNeeds(policies: readonly RequestAuthentication[]): JwksNeed[] {
  const out = new Map<string, JwksNeed>();
  for (const ra of policies) {
    for (const rule of ra.spec.jwtRules ?? []) {
      if (rule.jwks !== undefined && rule.jwks !== '') continue;
      const issuer = rule.issuer ?? '';
      const jwksUri = jwksUriOf(rule);
      if (!jwksUri && !issuer) continue;
      const key = `${issuer}\u0000${jwksUri}`;
      const timeoutMs = jwksFetchTimeoutMs(rule);
      const prev = out.get(key);
      // several rules may name one source: the most patient timeout wins
      if (!prev || prev.timeoutMs < timeoutMs) out.set(key, { issuer, jwksUri, timeoutMs });
    }
  }
  return [...out.values()];
}
