import { parseSecretResource } from '../model/gateway-credentials.js';

// Who may read which credential Secret over SDS (istiod pilot/pkg/xds/sds.go filterAuthorizedResources):
//   - only a stream with a verified identity (the TLS xDS port, 15012, authenticated like a CSR); on the
//     plaintext port nothing is served;
//   - only `kubernetes://` Secrets of the identity's own namespace;
//   - a `-cacert` resource (a CA bundle, public) with that alone; a certificate and key only when the
//     identity's service account may `list secrets` in its namespace — in Kubernetes mode istiod asks the
//     API server with a SubjectAccessReview and caches the answer (allowed 5 min, denied 1 min).
// A name that is not allowed is left out of what the stream receives (never an error for the whole stream),
// logged and counted.

/** The authenticated caller of a stream (from the TLS port's stream guard). */
export interface VerifiedIdentity {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** spiffe://TRUST_DOMAIN/ns/NS/sa/SA */
  readonly identity: string;
}

export interface AccessDecision {
  readonly allowed: boolean;
  /** why not, when not (the API server's reason) */
  readonly reason?: string;
}

/** Whether a service account may read the Secrets of its namespace. */
export interface SecretReadAuthorizer {
  /** the answer for `identity` when known and fresh, else undefined (then `check`) */
  cached(identity: VerifiedIdentity): AccessDecision | undefined;
  /** asks (the API server); never rejects: a failure is a denial with its reason, cached briefly */
  check(identity: VerifiedIdentity): Promise<AccessDecision>;
}

/** Config-dir mode: no API server to ask; a verified identity may read its own namespace's Secrets. */
export const SAME_NAMESPACE_ONLY: SecretReadAuthorizer = {
  cached: () => ({ allowed: true }),
  check: async () => ({ allowed: true }),
};

export type SdsFilter =
  | { readonly state: 'ready'; readonly allowed: readonly string[]; readonly denied: readonly string[]; readonly reason?: string }
  /** the authorizer must be asked first */
  | { readonly state: 'ask' };

/**
 * The SDS resource names `identity` may receive, of those it asked for (undefined identity: none).
 * Cross-namespace names and other resource types are denied without asking; a certificate needs the
 * authorizer's answer (`ask` when it has none cached).
 */
export function filterSecretNames(names: readonly string[], identity: VerifiedIdentity | undefined, authorizer: SecretReadAuthorizer): SdsFilter {
  if (!identity) return { state: 'ready', allowed: [], denied: [...names], reason: 'not connected over the TLS xDS port with a verified identity' };
  const allowed: string[] = [];
  const denied: string[] = [];
  let decision: AccessDecision | undefined;
  let reason: string | undefined;
  for (const name of names) {
    const ref = parseSecretResource(name, identity.namespace);
    if (!ref || ref.namespace !== identity.namespace) {
      denied.push(name);
      reason ??= ref ? `a gateway in ${identity.namespace} may read Secrets of its own namespace only` : 'meshd serves kubernetes:// Secrets only';
      continue;
    }
    if (ref.caOnly) {
      allowed.push(name);
      continue;
    }
    decision ??= authorizer.cached(identity);
    if (!decision) return { state: 'ask' };
    if (decision.allowed) allowed.push(name);
    else {
      denied.push(name);
      reason = decision.reason ?? `${identity.serviceAccount}/${identity.namespace} is not authorized to read secrets`;
    }
  }
  return { state: 'ready', allowed, denied, ...(reason ? { reason } : {}) };
}
