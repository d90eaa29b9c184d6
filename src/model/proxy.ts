import { z } from 'zod';
import type { Locality } from './types.js';

// What meshd knows about a connected proxy, from its xDS node (id + metadata), as istio-proxy and
// Istio's grpc-agent fill them in: id `TYPE~IP~POD.NS~NS.svc.DOMAIN`, metadata NAMESPACE, LABELS, …

export type ProxyType = 'sidecar' | 'router';
export type GeneratorName = 'grpc' | 'sidecar' | 'router';
/** How traffic reaches the sidecar: iptables REDIRECT, TPROXY, or NONE (the application dials it). */
export type InterceptionMode = 'REDIRECT' | 'TPROXY' | 'NONE';

export interface Proxy {
  readonly id: string;
  readonly type: ProxyType;
  readonly ips: readonly string[];
  readonly podName: string;
  readonly namespace: string;
  readonly dnsDomain: string;
  readonly generator: GeneratorName;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount: string;
  readonly istioVersion: string;
  readonly clusterId: string;
  /** metadata INTERCEPTION_MODE as istiod reads it (GetInterceptionMode): anything else means REDIRECT */
  readonly interceptionMode: InterceptionMode;
  readonly locality: Locality;
  /** e.g. `grpc-node-js` / `1.14.1`, `gRPC Python` / `1.51.1`: lets generators work around a client's bugs */
  readonly userAgent: { readonly name: string; readonly version: string };
  /**
   * Whether the proxy is istio-proxy (Envoy plus Istio's extensions such as istio.stats) rather than stock
   * Envoy, which rejects a listener naming an extension it lacks. From the extensions Envoy reports in its
   * node (any `istio.*` one means istio-proxy), else node metadata ISTIO_PROXY_EXTENSIONS=false (written by
   * `meshd bootstrap`); istio-proxy is assumed otherwise, as every istiod-configured sidecar is one.
   */
  readonly istioExtensions: boolean;
  readonly metadata: Readonly<Record<string, unknown>>;
  /** node.cluster (pilot-agent: `canonical-service.namespace`): the service name of the proxy's spans */
  readonly serviceCluster?: string;
}

/** The xDS Node as JSON (Struct metadata already converted to plain values). */
export const nodeSchema = z.looseObject({
  id: z.string().min(1, 'node.id is required'),
  cluster: z.string().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  locality: z.looseObject({ region: z.string().optional(), zone: z.string().optional(), sub_zone: z.string().optional() }).nullish(),
  user_agent_name: z.string().optional(),
  user_agent_version: z.string().optional(),
  extensions: z.array(z.looseObject({ name: z.string().optional() })).optional(),
});
export type XdsNode = z.infer<typeof nodeSchema>;

export class ProxyIdError extends Error {}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function labelsOf(v: unknown): Record<string, string> {
  if (!v || typeof v !== 'object') return {};
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

// Case-sensitive like istiod: `none` is not NONE. Normalising here also keeps sidecar class keys from
// splitting one mode into several spellings.
function interceptionModeOf(v: unknown): InterceptionMode {
  return v === 'TPROXY' || v === 'NONE' ? v : 'REDIRECT';
}

function hasIstioExtensions(node: XdsNode, md: Record<string, unknown>): boolean {
  const reported = (node.extensions ?? []).map((e) => e.name ?? '').filter(Boolean);
  if (reported.length > 0) return reported.some((n) => n.startsWith('istio.'));
  return str(md.ISTIO_PROXY_EXTENSIONS).toLowerCase() !== 'false';
}

export function parseProxy(node: XdsNode): Proxy {
  const parts = node.id.split('~');
  if (parts.length !== 4) {
    throw new ProxyIdError(`node.id ${JSON.stringify(node.id)}: want TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.DOMAIN`);
  }
  const [type, ip, podId, domain] = parts as [string, string, string, string];
  if (type !== 'sidecar' && type !== 'router') {
    throw new ProxyIdError(`node.id ${JSON.stringify(node.id)}: proxy type ${JSON.stringify(type)} is not sidecar or router`);
  }
  const md = node.metadata ?? {};
  const dot = podId.indexOf('.');
  const podName = dot >= 0 ? podId.slice(0, dot) : podId;
  const idNamespace = dot >= 0 ? podId.slice(dot + 1) : '';
  const namespace = str(md.NAMESPACE) || idNamespace || domain.split('.')[0] || 'default';
  const instanceIps = str(md.INSTANCE_IPS).split(',').map((s) => s.trim()).filter(Boolean);
  const ips = instanceIps.length > 0 ? instanceIps : ip ? [ip] : [];
  const generator: GeneratorName = str(md.GENERATOR) === 'grpc' ? 'grpc' : type === 'router' ? 'router' : 'sidecar';
  const dnsDomain = domain.includes('.svc.') ? domain.slice(domain.indexOf('.svc.') + 5) : 'cluster.local';
  return Object.freeze({
    id: node.id,
    type,
    ips,
    podName,
    namespace,
    dnsDomain,
    generator,
    labels: labelsOf(md.LABELS),
    serviceAccount: str(md.SERVICE_ACCOUNT),
    istioVersion: str(md.ISTIO_VERSION),
    clusterId: str(md.CLUSTER_ID) || 'Kubernetes',
    interceptionMode: interceptionModeOf(md.INTERCEPTION_MODE),
    locality: {
      region: node.locality?.region ?? '',
      zone: node.locality?.zone ?? '',
      subzone: node.locality?.sub_zone ?? '',
    },
    userAgent: { name: node.user_agent_name ?? '', version: node.user_agent_version ?? '' },
    istioExtensions: hasIstioExtensions(node, md),
    metadata: md,
    serviceCluster: node.cluster ?? '',
  });
}
