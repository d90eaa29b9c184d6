import { z } from 'zod';
import type { Logger } from '../telemetry/log.js';
import { CA_FILES, createSelfSignedRoot, type CaPems } from './authority.js';
import type { KubeRequester } from './root-publisher.js';
import type { KeyType } from './x509.js';

// Kubernetes mode: the CA's key material in Secrets of the CA's namespace (istio-system), as istiod keeps it.
//
//   cacerts           an operator's plugged CA (Istio's "plug in CA certificates"): used as is when present
//   istio-ca-secret   istiod's self-signed root: read on start; when absent, a new root is created and
//                     written there (type istio.io/ca-root), so every replica and every restart signs with
//                     the same root and certificates issued before a restart stay valid
//
// Two replicas starting together may both find no istio-ca-secret: the create of the slower one fails
// with 409 AlreadyExists, and it re-reads and adopts the winner's root instead of its own.
// Both Secrets use Istio's cacerts keys (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem); a
// Secret written by istiod (root-cert.pem/cert-chain.pem empty) loads too. Key material never reaches a
// log line or an error message.

export const PLUGGED_CA_SECRET = 'cacerts';
export const SELF_SIGNED_CA_SECRET = 'istio-ca-secret';
/** Secret type istiod gives istio-ca-secret. */
export const CA_SECRET_TYPE = 'istio.io/ca-root';

const secretSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string(), resourceVersion: z.string().optional() }),
  type: z.string().optional(),
  data: z.record(z.string(), z.string()).nullish(),
});

export interface CaSecretOptions {
  readonly http: KubeRequester;
  /** the CA's namespace (istiod's POD_NAMESPACE, istio-system) */
  readonly namespace: string;
  readonly trustDomain: string;
  /** key type of a root created here */
  readonly keyType?: KeyType;
  /** lifetime of a root created here (10 years) */
  readonly rootTtlMs?: number;
  readonly log: Logger;
}

export interface CaSecretMaterial {
  readonly pems: CaPems;
  /** which Secret: cacerts (plugged) or istio-ca-secret (self-signed) */
  readonly name: string;
  readonly resourceVersion: string;
  /** true when this call created istio-ca-secret */
  readonly created: boolean;
}

const secretPath = (ns: string, name?: string) => `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets${name ? `/${encodeURIComponent(name)}` : ''}`;
const statusOf = (err: unknown) => (err as { statusCode?: number }).statusCode;

function describeSecret(ns: string, name: string): string {
  return `Secret ${ns}/${name}`;
}

/** The Secret's CA material, or undefined when it does not exist. */
export async function readCaSecret(http: KubeRequester, namespace: string, name: string): Promise<CaSecretMaterial | undefined> {
  let raw: unknown;
  try {
    raw = await http.request('GET', secretPath(namespace, name), { timeoutMs: 10_000 });
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw new Error(`${describeSecret(namespace, name)}: ${(err as Error).message}`);
  }
  const parsed = secretSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`${describeSecret(namespace, name)}: not a Secret (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`);
  const data = parsed.data.data ?? {};
  const field = (key: string) => Buffer.from(data[key] ?? '', 'base64').toString('utf8');
  return {
    pems: { cert: field(CA_FILES.cert), key: field(CA_FILES.key), chain: field(CA_FILES.chain), root: field(CA_FILES.root) },
    name,
    resourceVersion: parsed.data.metadata.resourceVersion ?? '',
    created: false,
  };
}

function secretBody(namespace: string, pems: CaPems): unknown {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: SELF_SIGNED_CA_SECRET, namespace, labels: { 'app.kubernetes.io/managed-by': 'meshd' } },
    type: CA_SECRET_TYPE,
    data: { [CA_FILES.cert]: b64(pems.cert), [CA_FILES.key]: b64(pems.key), [CA_FILES.chain]: b64(pems.chain), [CA_FILES.root]: b64(pems.root) },
  };
}

/**
 * Writes new material into an existing CA Secret (a self-signed root rotation), guarded by the
 * resourceVersion read just before: a concurrent writer (another replica's rotator) wins and this throws.
 */
export async function writeCaSecret(http: KubeRequester, namespace: string, name: string, pems: CaPems): Promise<void> {
  const raw = await http.request<{ metadata?: { resourceVersion?: string; [k: string]: unknown }; [k: string]: unknown }>('GET', secretPath(namespace, name), { timeoutMs: 10_000 });
  const b64 = (v: string) => Buffer.from(v, 'utf8').toString('base64');
  const data = { ...((raw as { data?: Record<string, string> }).data ?? {}), [CA_FILES.cert]: b64(pems.cert), [CA_FILES.key]: b64(pems.key), [CA_FILES.chain]: b64(pems.chain), [CA_FILES.root]: b64(pems.root) };
  try {
    await http.request('PUT', secretPath(namespace, name), { body: { ...raw, apiVersion: 'v1', kind: 'Secret', data }, timeoutMs: 10_000 });
  } catch (err) {
    throw new Error(`${describeSecret(namespace, name)}: update: ${(err as Error).message}`);
  }
}

/**
 * The CA material for Kubernetes mode: the plugged `cacerts` Secret if there is one, else
 * istio-ca-secret, created with a new self-signed root when absent (adopting a concurrent replica's).
 */
export async function loadCaSecret(opts: CaSecretOptions): Promise<CaSecretMaterial> {
  const { http, namespace, log } = opts;
  const plugged = await readCaSecret(http, namespace, PLUGGED_CA_SECRET);
  if (plugged && (plugged.pems.cert || plugged.pems.key)) return plugged;

  const existing = await readCaSecret(http, namespace, SELF_SIGNED_CA_SECRET);
  if (existing) return existing;

  const pems = createSelfSignedRoot({ trustDomain: opts.trustDomain, keyType: opts.keyType, rootTtlMs: opts.rootTtlMs });
  try {
    const created = await http.request<unknown>('POST', secretPath(namespace), { body: secretBody(namespace, pems), timeoutMs: 10_000 });
    const rv = secretSchema.safeParse(created);
    log.info({ secret: describeSecret(namespace, SELF_SIGNED_CA_SECRET), keyType: opts.keyType ?? 'rsa', trustDomain: opts.trustDomain }, 'created self-signed root CA');
    return { pems, name: SELF_SIGNED_CA_SECRET, resourceVersion: rv.success ? (rv.data.metadata.resourceVersion ?? '') : '', created: true };
  } catch (err) {
    if (statusOf(err) !== 409) throw new Error(`${describeSecret(namespace, SELF_SIGNED_CA_SECRET)}: create: ${(err as Error).message}`);
  }
  // another replica created it between our read and our create: its root is the mesh's root
  const theirs = await readCaSecret(http, namespace, SELF_SIGNED_CA_SECRET);
  if (!theirs) throw new Error(`${describeSecret(namespace, SELF_SIGNED_CA_SECRET)}: create conflicted (409) but the Secret cannot be read back`);
  log.info({ secret: describeSecret(namespace, SELF_SIGNED_CA_SECRET) }, 'another replica created the root CA first; using theirs');
  return theirs;
}
