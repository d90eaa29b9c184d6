import crypto from 'node:crypto';
import type { Problem } from '../origin.js';
import type { JWTRule, RequestAuthentication } from '../schemas/request-authentication.js';
import { HEADER_NAME, Problems, at, checkTargetRef, checkWorkloadSelector } from './util.js';

// RequestAuthentication rules of istiod's validating webhook (ValidateRequestAuthentication, validateJwtRule
// and security.ParseJwksURI). Empty strings in lists, the header pattern, jwks-xor-jwksUri and the URL
// scheme are CRD rules and live in the schema.

/** JWK key types Envoy's jwt_authn accepts (RSA, EC, OKP/Ed25519, HMAC `oct`). */
const KEY_TYPES = new Set(['RSA', 'EC', 'OKP', 'oct']);

/**
 * Why `text` is not a usable JWKS (a JSON Web Key Set, or a single JWK as lestrrat-go/jwx also accepts),
 * or undefined. Every key is imported, so a key Envoy could not load is refused here, not at the proxy.
 */
export function jwksError(text: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return `jwks parse error: not JSON (${(err as Error).message})`;
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return 'jwks parse error: want a JSON object ({"keys": […]})';
  const keys = 'keys' in doc ? (doc as { keys: unknown }).keys : [doc];
  if (!Array.isArray(keys)) return 'jwks parse error: "keys" must be an array';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as { kty?: unknown; k?: unknown } | null;
    if (!key || typeof key !== 'object') return `jwks parse error: keys[${i}] is not an object`;
    if (typeof key.kty !== 'string' || !KEY_TYPES.has(key.kty)) return `jwks parse error: keys[${i}]: unsupported kty ${JSON.stringify(key.kty)} (RSA, EC, OKP or oct)`;
    try {
      if (key.kty === 'oct') {
        if (typeof key.k !== 'string' || key.k === '') throw new Error('missing "k"');
      } else {
        crypto.createPublicKey({ key: key as crypto.JsonWebKey, format: 'jwk' });
      }
    } catch (err) {
      return `jwks parse error: keys[${i}] (${key.kty}): ${(err as Error).message}`;
    }
  }
  return undefined;
}

/** security.ParseJwksURI: http or https with a host (the scheme rule itself is the CRD's). */
function jwksUriError(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `invalid jwks_uri ${JSON.stringify(uri)}: not a URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined; // the schema reported it
  if (url.hostname === '') return `invalid jwks_uri ${JSON.stringify(uri)}: no host`;
  return undefined;
}

function checkJwtRule(out: Problems, path: string, rule: JWTRule): void {
  if (!rule.issuer) out.add(at(path, 'issuer'), 'issuer must be set');
  for (const field of ['jwksUri', 'jwks_uri'] as const) {
    const uri = rule[field];
    if (uri === undefined) continue;
    const err = jwksUriError(uri);
    if (err) out.add(at(path, field), err);
  }
  if (rule.jwks !== undefined && rule.jwks !== '') {
    const err = jwksError(rule.jwks);
    if (err) out.add(at(path, 'jwks'), err);
  }
  (rule.outputClaimToHeaders ?? []).forEach((c, i) => {
    // istiod ValidateStrictHTTPHeaderName: a token, and not a pseudo-header
    if (!HEADER_NAME.test(c.header)) out.add(at(at(at(path, 'outputClaimToHeaders'), i), 'header'), `invalid header name ${JSON.stringify(c.header)}`);
  });
}

export function checkRequestAuthentication(ra: RequestAuthentication): Problem[] {
  const out = new Problems();
  const spec = ra.spec;
  if (spec.selector) checkWorkloadSelector(out, 'spec.selector', spec.selector.matchLabels);
  if (spec.targetRef) checkTargetRef(out, 'spec.targetRef', spec.targetRef);
  (spec.targetRefs ?? []).forEach((r, i) => checkTargetRef(out, at('spec.targetRefs', i), r));
  (spec.jwtRules ?? []).forEach((rule, i) => checkJwtRule(out, at('spec.jwtRules', i), rule));
  return out.list;
}
