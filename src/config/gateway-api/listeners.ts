// A Gateway API Gateway's listeners → Istio Gateway servers (one Istio Gateway per listener, as istiod),
// with the listener status istiod reports: TLS certificate references resolved against Secrets/ConfigMaps
// and ReferenceGrants, hosts from allowedRoutes, supported route kinds.

import { selectorMatches } from '../labels.js';
import { extractCertInfo, extractRoot, isCertBundle, keyPairError } from '../credentials.js';
import { filterCipherSuites } from '../tls-ciphers.js';
import { buildConditions, joinErrors, type ConditionSpec, type ConfigError } from './conditions.js';
import { GATEWAY_API_GROUP, type Condition, type FrontendTLS, type GatewaySpec, type KubeObject, type Listener } from './objects.js';

type Json = Record<string, unknown>;

export interface RouteGroupKind {
  group: string;
  kind: string;
}

export interface ListenerWorld {
  secret(namespace: string, name: string): KubeObject | undefined;
  configMap(namespace: string, name: string): KubeObject | undefined;
  namespaces(): readonly KubeObject[];
  /** a ReferenceGrant lets `fromKind` objects in `fromNamespace` read `toKind` `name` in `toNamespace` */
  refAllowed(fromKind: string, fromNamespace: string, toKind: string, toNamespace: string, name: string): boolean;
}

export interface ListenerStatus {
  name: string;
  attachedRoutes: number;
  conditions: Condition[];
  supportedKinds: RouteGroupKind[];
}

const TERMINATE_MODE_KEY = 'gateway.istio.io/tls-terminate-mode';
const CIPHER_SUITES_KEY = 'gateway.istio.io/tls-cipher-suites';
const LISTENER_MODE_KEY = 'gateway.istio.io/listener-protocol';

function decodeData(obj: KubeObject): Record<string, string> {
  const out: Record<string, string> = {};
  const secret = obj.kind === 'Secret';
  for (const [k, v] of Object.entries(obj.data ?? {})) out[k] = secret ? Buffer.from(v, 'base64').toString('utf8') : v;
  return out;
}

export function supportedKinds(l: Listener): { kinds: RouteGroupKind[]; valid: boolean } {
  const route = (kind: string): RouteGroupKind => ({ group: GATEWAY_API_GROUP, kind });
  let supported: RouteGroupKind[] = [];
  switch (l.protocol) {
    case 'HTTP':
    case 'HTTPS':
      supported = [route('HTTPRoute'), route('GRPCRoute')];
      break;
    case 'TCP':
      supported = [route('TCPRoute')];
      break;
    case 'TLS':
      supported = [route('TLSRoute')];
      if ((l.tls?.mode ?? '') === 'Terminate') supported.push(route('TCPRoute'));
      break;
  }
  const allowed = l.allowedRoutes?.kinds;
  if (allowed && allowed.length > 0) {
    const kinds = supported.filter((s) => allowed.some((k) => k.kind === s.kind && (k.group ?? GATEWAY_API_GROUP) === s.group));
    return { kinds, valid: kinds.length === allowed.length };
  }
  return { kinds: supported, valid: true };
}

function protocolToIstio(p: string): string | { error: string } {
  if (p === 'HTTP' || p === 'HTTPS' || p === 'TLS' || p === 'TCP') return p;
  if (p === 'HBONE') return { error: `protocol "${p}" is only supported for waypoint proxies` };
  const up = p.toUpperCase();
  if (['HTTP', 'HTTPS', 'TLS', 'TCP', 'HBONE'].includes(up)) {
    return { error: `protocol "${p}" is unsupported. hint: "${up}" (uppercase) may be supported` };
  }
  return { error: `protocol "${p}" is unsupported` };
}

function allowedNamespaces(world: ListenerWorld, localNamespace: string, l: Listener): string[] {
  const from = l.allowedRoutes?.namespaces?.from;
  if (from === undefined || from === 'Same') return [localNamespace];
  if (from === 'All') return ['*'];
  const selector = l.allowedRoutes?.namespaces?.selector;
  if (!selector) return ['*'];
  return world
    .namespaces()
    .filter((ns) =>
      selectorMatches(selector, { ...ns.metadata.labels, 'kubernetes.io/metadata.name': ns.metadata.name }),
    )
    .map((ns) => ns.metadata.name)
    .sort();
}

function hostnameMatch(world: ListenerWorld, localNamespace: string, l: Listener): string[] {
  const hostname = l.hostname ?? '*';
  const hosts = allowedNamespaces(world, localNamespace, l)
    .filter((ns) => ns !== '')
    .map((ns) => `${ns}/${hostname}`);
  // No namespace may bind: `~` keeps the server (status, SNI) while matching no routing rule.
  return hosts.length > 0 ? hosts : [`~/${hostname}`];
}

function refString(r: { group?: string; kind?: string; name: string; namespace?: string }): string {
  return `${r.group ?? ''}/${r.kind ?? ''}/${r.name}.${r.namespace ?? ''}`;
}

function buildSecretReference(
  world: ListenerWorld,
  ref: { group?: string; kind?: string; name: string; namespace?: string },
  gwNamespace: string,
): { name: string } | { error: ConfigError } {
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Secret';
  if (group !== '' || kind !== 'Secret') {
    return { error: { reason: 'InvalidCertificateRef', message: `invalid certificate reference ${refString(ref)}, only secret is allowed` } };
  }
  const ns = ref.namespace ?? gwNamespace;
  const secret = world.secret(ns, ref.name);
  if (!secret) {
    return {
      error: { reason: 'InvalidCertificateRef', message: `invalid certificate reference ${refString(ref)}, secret ${ns}/${ref.name} not found` },
    };
  }
  const info = extractCertInfo(decodeData(secret));
  if ('error' in info) {
    return { error: { reason: 'InvalidCertificateRef', message: `invalid certificate reference ${refString(ref)}, ${info.error}` } };
  }
  const bad = keyPairError(info.cert, info.key);
  if (bad) {
    return {
      error: { reason: 'InvalidCertificateRef', message: `invalid certificate reference ${refString(ref)}, the certificate is malformed: ${bad}` },
    };
  }
  return { name: `kubernetes-gateway://${ns}/${ref.name}` };
}

function caReference(
  world: ListenerWorld,
  ref: { group: string; kind: string; name: string; namespace?: string },
  gwNamespace: string,
): { name: string } | { error: ConfigError } {
  const ns = ref.namespace ?? gwNamespace;
  const str = `${ref.group}/${ref.kind}/${ref.name}.${ref.namespace ?? ''}`;
  let data: Record<string, string>;
  let type: string;
  if (ref.group === '' && ref.kind === 'ConfigMap') {
    const cm = world.configMap(ns, ref.name);
    if (!cm) return { error: { reason: 'InvalidCACertificateRef', message: `invalid CA certificate reference ${str}, configmap ${ns}/${ref.name} not found` } };
    data = decodeData(cm);
    type = 'configmap';
  } else if (ref.group === '' && ref.kind === 'Secret') {
    const s = world.secret(ns, ref.name);
    if (!s) return { error: { reason: 'InvalidCACertificateRef', message: `invalid CA certificate reference ${str}, secret ${ns}/${ref.name} not found` } };
    data = decodeData(s);
    type = 'kubernetes-gateway';
  } else {
    return {
      error: { reason: 'InvalidCACertificateKind', message: `invalid CA certificate reference ${str}, only secret and configmap are allowed` },
    };
  }
  const root = extractRoot(data);
  if ('error' in root) return { error: { reason: 'InvalidCACertificateRef', message: `invalid CA certificate reference ${str}, ${root.error}` } };
  if (!isCertBundle(root.cert)) {
    return { error: { reason: 'InvalidCACertificateRef', message: `invalid CA certificate reference ${str}, the bundle is malformed` } };
  }
  return { name: `${type}://${ns}/${ref.name}-cacert` };
}

function frontendTLS(port: number, spec: GatewaySpec): FrontendTLS | undefined {
  const f = spec.tls?.frontend;
  if (!f) return undefined;
  return f.perPort?.find((p) => p.port === port)?.tls ?? f.default;
}

function isAutoPassthrough(gwLabels: Readonly<Record<string, string>>, l: Listener): boolean {
  if (!l.tls) return false;
  if (l.tls.options?.[LISTENER_MODE_KEY] === 'auto-passthrough') return true;
  if (!('topology.istio.io/network' in gwLabels)) return false;
  return String(l.port) === (gwLabels['networking.istio.io/gatewayPort'] ?? '15443');
}

function buildTLS(
  world: ListenerWorld,
  gw: KubeObject,
  spec: GatewaySpec,
  l: Listener,
): { tls?: Json; error?: ConfigError } {
  const tls = l.tls;
  if (!tls) return {};
  const namespace = gw.metadata.namespace ?? '';
  const out: Json = {};
  const mode = tls.mode ?? 'Terminate';
  if (mode === 'Terminate') {
    out.mode = 'SIMPLE';
    const terminate = tls.options?.[TERMINATE_MODE_KEY];
    if (terminate === 'MUTUAL') out.mode = 'MUTUAL';
    else if (terminate === 'OPTIONAL_MUTUAL') out.mode = 'OPTIONAL_MUTUAL';
    else if (terminate === 'ISTIO_SIMPLE') return { tls: { mode: 'SIMPLE', credentialName: 'builtin://' } };
    else if (terminate === 'ISTIO_MUTUAL') return { tls: { mode: 'ISTIO_MUTUAL' } };
    const refs = tls.certificateRefs ?? [];
    if (refs.length > 2) return { tls: out, error: { reason: 'InvalidTLS', message: 'TLS mode can only support up to 2 server certificates' } };
    const names: string[] = [];
    let combined: ConfigError | undefined;
    for (const ref of refs) {
      const credNs = ref.namespace ?? namespace;
      // Authorise a cross-namespace reference before looking at it, so status never reveals whether it exists.
      if (credNs !== namespace && !world.refAllowed('Gateway', namespace, 'Secret', credNs, ref.name)) {
        combined = joinErrors(combined, {
          reason: 'RefNotPermitted',
          message: `certificateRef ${ref.name}/${credNs} not accessible to a Gateway in namespace "${namespace}" (missing a ReferenceGrant?)`,
        });
        continue;
      }
      const cred = buildSecretReference(world, ref, namespace);
      if ('error' in cred) {
        combined = joinErrors(combined, cred.error);
        continue;
      }
      names.push(cred.name);
    }
    if (names.length === 0) return { tls: out, error: combined };
    if (names.length === 1) out.credentialName = names[0];
    else out.credentialNames = names;
    const validation = frontendTLS(l.port, spec)?.validation;
    const caRefs = validation?.caCertificateRefs ?? [];
    if (caRefs.length > 0) {
      if (caRefs.length > 1) return { tls: out, error: { reason: 'InvalidCACertificateRef', message: 'only one caCertificateRef is supported' } };
      const caRef = caRefs[0]!;
      const caNs = caRef.namespace ?? namespace;
      const caKind = caRef.group === '' && caRef.kind === 'Secret' ? 'Secret' : 'ConfigMap';
      if (caNs !== namespace && !world.refAllowed('Gateway', namespace, caKind, caNs, caRef.name)) {
        return {
          tls: out,
          error: {
            reason: 'RefNotPermitted',
            message: `caCertificateRef ${caNs}/${caRef.name} not accessible to a Gateway in namespace "${namespace}" (missing a ReferenceGrant?)`,
          },
        };
      }
      const ca = caReference(world, caRef, namespace);
      if ('error' in ca) return { tls: out, error: ca.error };
      out.mode = 'MUTUAL';
      out.insecureSkipVerify = false;
      if (validation?.mode === 'AllowInsecureFallback') {
        out.mode = 'OPTIONAL_MUTUAL';
        out.insecureSkipVerify = true;
      }
      out.caCertCredentialName = ca.name;
      if (terminate === 'MUTUAL') {
        out.mode = 'MUTUAL';
        out.insecureSkipVerify = false;
      } else if (terminate === 'OPTIONAL_MUTUAL') {
        out.mode = 'OPTIONAL_MUTUAL';
        out.insecureSkipVerify = false;
      }
    }
  } else if (mode === 'Passthrough') {
    // PASSTHROUGH is the enum's zero value: istiod's output omits it.
    if (isAutoPassthrough(gw.metadata.labels ?? {}, l)) out.mode = 'AUTO_PASSTHROUGH';
  }
  const ciphers = tls.options?.[CIPHER_SUITES_KEY];
  if (ciphers) {
    const kept = filterCipherSuites(ciphers.split(',').map((s) => s.trim()));
    if (kept.length > 0) out.cipherSuites = kept;
  }
  return { tls: out };
}

export interface BuiltListener {
  server?: Json;
  status: ListenerStatus;
  programmed: boolean;
}

/** One listener → its Istio server (absent for HTTPS/TLS without a tls section) and its status entry. */
export function buildListener(
  world: ListenerWorld,
  gw: KubeObject,
  spec: GatewaySpec,
  l: Listener,
  now: string,
): BuiltListener {
  const conds: Record<string, ConditionSpec> = {
    Accepted: { reason: 'Accepted', message: 'No errors found' },
    Programmed: { reason: 'Programmed', message: 'No errors found' },
    Conflicted: { reason: 'NoConflicts', message: 'No errors found', status: 'False' },
    ResolvedRefs: { reason: 'ResolvedRefs', message: 'No errors found' },
  };
  let ok = true;
  const { tls, error } = buildTLS(world, gw, spec, l);
  if (error) {
    conds.ResolvedRefs!.error = error;
    conds.Programmed!.error = { reason: 'Invalid', message: 'Bad TLS configuration' };
    if (error.reason === 'InvalidCACertificateRef' || error.reason === 'InvalidCACertificateKind' || error.reason === 'RefNotPermitted') {
      conds.Accepted!.error = { reason: 'NoValidCACertificate', message: error.message };
    }
    ok = false;
  }
  const hosts = hostnameMatch(world, gw.metadata.namespace ?? '', l);
  const protocol = protocolToIstio(l.protocol);
  if (typeof protocol !== 'string') {
    conds.Accepted!.error = { reason: 'UnsupportedProtocol', message: protocol.error };
    ok = false;
  }
  let server: Json | undefined = {
    port: { name: 'default', number: l.port, protocol: typeof protocol === 'string' ? protocol : '' },
    hosts,
  };
  if (tls) server.tls = tls;
  if (!tls && (l.protocol === 'HTTPS' || l.protocol === 'TLS')) server = undefined;
  const { kinds, valid } = supportedKinds(l);
  if (!valid) conds.ResolvedRefs = { reason: 'InvalidRouteKinds', status: 'False', message: 'Invalid route kinds' };
  return {
    server,
    programmed: ok,
    status: { name: l.name, attachedRoutes: 0, supportedKinds: kinds, conditions: buildConditions(conds, gw.metadata.generation, now) },
  };
}

export function conflictedListenerStatus(gw: KubeObject, l: Listener, reason: string, now: string): ListenerStatus {
  const msg = 'Listener has a conflict with another listener attached to the same Gateway';
  const conds: Record<string, ConditionSpec> = {
    Accepted: { error: { reason, message: msg } },
    Programmed: { error: { reason, message: msg } },
    Conflicted: { reason, message: msg, status: 'True' },
  };
  const { kinds, valid } = supportedKinds(l);
  if (!valid) conds.ResolvedRefs = { reason: 'InvalidRouteKinds', status: 'False', message: 'Invalid route kinds' };
  return { name: l.name, attachedRoutes: 0, supportedKinds: kinds, conditions: buildConditions(conds, gw.metadata.generation, now) };
}

const isTCPUDP = (p: string) => p === 'TCP' || p === 'UDP';
const isHTTPLike = (p: string) => p === 'HTTP' || p === 'HTTPS' || p === 'TLS';
const listenerHostname = (l: Listener) => (l.hostname ? l.hostname : '*');

function distinct(a: Listener, b: Listener): boolean {
  if (a.port !== b.port) return true;
  if ((isTCPUDP(a.protocol) && isHTTPLike(b.protocol)) || (isHTTPLike(a.protocol) && isTCPUDP(b.protocol))) return false;
  if (isTCPUDP(a.protocol) && isTCPUDP(b.protocol)) return false;
  if (isHTTPLike(a.protocol) && isHTTPLike(b.protocol)) return listenerHostname(a) !== listenerHostname(b);
  return a.protocol !== b.protocol;
}

/** Listeners that clash with an earlier one on the same Gateway → the conflict reason (istiod's ordering rule). */
export function listenerConflicts(listeners: readonly Listener[]): Map<string, string> {
  const out = new Map<string, string>();
  const accepted: Listener[] = [];
  for (const l of listeners) {
    const prior = accepted.find((p) => !distinct(l, p));
    if (prior) {
      const reason = (isTCPUDP(l.protocol) && isTCPUDP(prior.protocol)) || l.protocol !== prior.protocol ? 'ProtocolConflict' : 'HostnameConflict';
      out.set(l.name, reason);
      continue;
    }
    accepted.push(l);
  }
  return out;
}
