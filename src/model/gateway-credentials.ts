// Gateway credentials as istiod resolves them (pilot/pkg/model/credentials, pilot/pkg/xds/sds.go,
// pilot/pkg/credentials/kube): a server's `credentialName` becomes the SDS resource `kubernetes://NAME`,
// read from the Secret NAME in the *proxy's* namespace (a `kubernetes://NS/NAME` names another namespace,
// which only that namespace's gateways may read); `NAME-cacert` is the CA bundle of the Secret
// `NAME-cacert`, or else the `ca.crt`/`cacert` key of NAME itself.

import { extractCertInfo, extractRoot, isCertBundle, keyPairError, type CertInfo, type RootInfo } from '../config/credentials.js';
import type { ServerTLSSettings } from '../config/schemas/gateway.js';
import type { PushContext } from './push-context.js';

export const KUBERNETES_SECRET_PREFIX = 'kubernetes://';
export const BUILTIN_PREFIX = 'builtin://';
export const SDS_CA_SUFFIX = '-cacert';

/** istiod credentials.ToResourceName: a `credentialName` → the SDS resource name the listener asks for. */
export function credentialResourceName(credentialName: string): string {
  if (credentialName.startsWith(BUILTIN_PREFIX)) return 'default';
  if (credentialName.includes('://')) return credentialName;
  return `${KUBERNETES_SECRET_PREFIX}${credentialName}`;
}

export interface SecretReference {
  readonly namespace: string;
  readonly name: string;
  /** a `-cacert` resource: only the CA bundle is served */
  readonly caOnly: boolean;
}

/**
 * istiod ParseResourceName for `kubernetes://NAME` and `kubernetes://NS/NAME` (namespace defaults to the
 * proxy's); undefined for every other resource type (meshd serves Kubernetes Secrets only).
 */
export function parseSecretResource(resourceName: string, proxyNamespace: string): SecretReference | undefined {
  if (!resourceName.startsWith(KUBERNETES_SECRET_PREFIX)) return undefined;
  const parts = resourceName.slice(KUBERNETES_SECRET_PREFIX.length).split('/');
  const [namespace, name] = parts.length > 1 ? [parts[0]!, parts[1]!] : [proxyNamespace, parts[0]!];
  if (!namespace || !name) return undefined;
  return { namespace, name, caOnly: name.endsWith(SDS_CA_SUFFIX) };
}

export type Resolved<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** The key and certificate chain of a Secret (istiod GetCertInfo), checked as a pair. */
export function resolveCertificate(ctx: PushContext, namespace: string, name: string): Resolved<CertInfo> {
  const secret = ctx.secret(namespace, name);
  if (!secret) return { ok: false, error: `secret ${namespace}/${name} not found` };
  const info = extractCertInfo(secret.data);
  if ('error' in info) return { ok: false, error: `secret ${namespace}/${name}: ${info.error}` };
  const pair = keyPairError(info.cert, info.key);
  if (pair) return { ok: false, error: `secret ${namespace}/${name}: ${pair}` };
  return { ok: true, value: info };
}

/** The CA bundle of `NAME-cacert`: that Secret, else NAME's own CA keys (istiod GetCaCert). */
export function resolveCaBundle(ctx: PushContext, namespace: string, caName: string): Resolved<RootInfo> {
  const own = ctx.secret(namespace, caName);
  const stripped = caName.endsWith(SDS_CA_SUFFIX) ? caName.slice(0, -SDS_CA_SUFFIX.length) : caName;
  const secret = own ?? ctx.secret(namespace, stripped);
  if (!secret) return { ok: false, error: `secret ${namespace}/${stripped} not found` };
  const root = extractRoot(secret.data);
  if ('error' in root) return { ok: false, error: `secret ${namespace}/${secret.name}: ${root.error}` };
  if (!isCertBundle(root.cert)) return { ok: false, error: `secret ${namespace}/${secret.name}: CA bundle holds no parseable certificate` };
  return { ok: true, value: root };
}

/** The credential names of a server (credentialNames, else credentialName). */
export function serverCredentialNames(tls: ServerTLSSettings): string[] {
  return tls.credentialNames && tls.credentialNames.length > 0 ? [...tls.credentialNames] : tls.credentialName ? [tls.credentialName] : [];
}

/**
 * Why a TLS server's credentials cannot be served to a gateway in `proxyNamespace`, or undefined when they
 * can (or when meshd has no Secret source to check against: then the listener names them as istiod does
 * and the proxy waits for them). Checks every credential, and the CA bundle for MUTUAL/OPTIONAL_MUTUAL.
 */
export function serverCredentialProblem(ctx: PushContext, proxyNamespace: string, tls: ServerTLSSettings): string | undefined {
  if (!ctx.hasSecretSource) return undefined;
  const names = serverCredentialNames(tls);
  const refs: SecretReference[] = [];
  for (const c of names) {
    if (c.startsWith(BUILTIN_PREFIX)) continue;
    const ref = parseSecretResource(credentialResourceName(c), proxyNamespace);
    // other types (kubernetes-gateway:// of the Gateway API, configmap://) are not served by meshd yet: the
    // listener names them as istiod does, nothing to check here
    if (!ref) continue;
    if (ref.namespace !== proxyNamespace) return `credentialName ${JSON.stringify(c)}: a gateway may read Secrets of its own namespace (${proxyNamespace}) only`;
    const cert = resolveCertificate(ctx, ref.namespace, ref.name);
    if (!cert.ok) return `credentialName ${JSON.stringify(c)}: ${cert.error}`;
    refs.push(ref);
  }
  const mode = tls.mode ?? 'PASSTHROUGH';
  if ((mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') && names.length > 0 && !names[0]!.startsWith(BUILTIN_PREFIX)) {
    const caCredential = tls.caCertCredentialName ?? `${names[0]}${SDS_CA_SUFFIX}`;
    const ref = parseSecretResource(credentialResourceName(caCredential), proxyNamespace);
    if (!ref) return undefined;
    if (ref.namespace !== proxyNamespace) return `CA credential ${JSON.stringify(caCredential)}: a gateway may read Secrets of its own namespace (${proxyNamespace}) only`;
    const ca = resolveCaBundle(ctx, ref.namespace, ref.name);
    if (!ca.ok) return `CA credential ${JSON.stringify(caCredential)}: ${ca.error}`;
  }
  return undefined;
}
