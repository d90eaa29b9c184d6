import type { Logger } from '../../telemetry/log.js';
import type { AccessDecision, SecretReadAuthorizer, VerifiedIdentity } from '../../xds/secret-access.js';
import type { KubeHttp } from './client.js';

// istiod's CredentialsController.Authorize (pilot/pkg/credentials/kube/secrets.go): before a gateway gets a
// private key over SDS, the API server is asked whether its service account may `list secrets` in its own
// namespace (a SubjectAccessReview for user system:serviceaccount:NS:SA). Answers are cached as istiod
// caches them — allowed for 5 minutes, denied (or failed) for 1 — and the cache is bounded.

export interface SubjectAccessOptions {
  readonly http: KubeHttp;
  readonly log: Logger;
  readonly allowedTtlMs?: number;
  readonly deniedTtlMs?: number;
  /** cached answers kept at most (oldest dropped first) */
  readonly maxEntries?: number;
  readonly timeoutMs?: number;
}

interface Entry {
  readonly decision: AccessDecision;
  readonly expires: number;
}

export const SUBJECT_ACCESS_REVIEW_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

export class SubjectAccessReviewAuthorizer implements SecretReadAuthorizer {
  private readonly cache = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<AccessDecision>>();
  private readonly allowedTtlMs: number;
  private readonly deniedTtlMs: number;
  private readonly maxEntries: number;

  constructor(private readonly opts: SubjectAccessOptions) {
    this.allowedTtlMs = opts.allowedTtlMs ?? 5 * 60_000;
    this.deniedTtlMs = opts.deniedTtlMs ?? 60_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
  }

  get size(): number {
    return this.cache.size;
  }

  cached(identity: VerifiedIdentity): AccessDecision | undefined {
    const user = userOf(identity);
    const e = this.cache.get(user);
    if (!e) return undefined;
    if (e.expires <= Date.now()) {
      this.cache.delete(user);
      return undefined;
    }
    return e.decision;
  }

  check(identity: VerifiedIdentity): Promise<AccessDecision> {
    const user = userOf(identity);
    let p = this.inFlight.get(user);
    if (!p) {
      p = this.review(identity, user).then((decision) => {
        this.inFlight.delete(user);
        this.remember(user, decision);
        return decision;
      });
      this.inFlight.set(user, p);
    }
    return p;
  }

  private async review(identity: VerifiedIdentity, user: string): Promise<AccessDecision> {
    const body = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { resourceAttributes: { namespace: identity.namespace, verb: 'list', resource: 'secrets' }, user },
    };
    try {
      const res = await this.opts.http.request<{ status?: { allowed?: boolean; reason?: string } }>('POST', SUBJECT_ACCESS_REVIEW_PATH, { body, timeoutMs: this.opts.timeoutMs ?? 10_000 });
      if (res?.status?.allowed === true) return { allowed: true };
      return { allowed: false, reason: `${identity.serviceAccount}/${identity.namespace} is not authorized to read secrets: ${res?.status?.reason ?? ''}` };
    } catch (err) {
      this.opts.log.warn({ user, err: (err as Error).message }, 'SubjectAccessReview failed; treating the service account as not allowed to read secrets');
      return { allowed: false, reason: `SubjectAccessReview for ${user} failed: ${(err as Error).message}` };
    }
  }

  private remember(user: string, decision: AccessDecision): void {
    const now = Date.now();
    this.cache.delete(user);
    if (this.cache.size >= this.maxEntries) {
      for (const [k, e] of this.cache) if (e.expires <= now) this.cache.delete(k);
      while (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    }
    this.cache.set(user, { decision, expires: now + (decision.allowed ? this.allowedTtlMs : this.deniedTtlMs) });
  }
}

/** `system:serviceaccount:NS:SA`, the user a SubjectAccessReview asks about. */
function userOf(identity: VerifiedIdentity): string {
  return `system:serviceaccount:${identity.namespace}:${identity.serviceAccount}`;
}
