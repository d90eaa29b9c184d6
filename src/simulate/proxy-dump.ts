import { anyToProtoJson } from '../envoy/proto-json.js';
import type { ConfigStore } from '../config/store.js';
import type { PushContext } from '../model/push-context.js';
import { parseProxy, type Proxy } from '../model/proxy.js';
import { encodeResource } from '../xds/cache.js';
import { TYPE, type TypeUrl } from '../xds/resource-types.js';
import { generateSidecarResources } from './sidecar-resources.js';
import type { Json } from './resources.js';
import type { Generator } from '../xds/generators/generator.js';

// Offline stand-ins for a running meshd's answers: the sidecar of a Pod in the config, and the Envoy
// ConfigDump meshd would serve it (generated as the daemon generates, encoded and printed as canonical
// proto3 JSON like /debug/config_dump), so `meshd explain` and `meshd diff` read the same shapes from a
// config directory as from a live meshd.

/** The sidecar of Pod `POD.NAMESPACE` (or `POD`, namespace default) as istio-proxy would announce it, or undefined. */
export function sidecarOfPod(store: ConfigStore, podId: string, domainSuffix = 'cluster.local'): Proxy | undefined {
  const dot = podId.indexOf('.');
  const name = dot >= 0 ? podId.slice(0, dot) : podId;
  const namespace = dot >= 0 ? podId.slice(dot + 1) : 'default';
  const pod = store.list('Pod').find((p) => p.object.metadata.name === name && p.object.metadata.namespace === namespace)?.object;
  if (!pod) return undefined;
  const ips = [pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((p) => p.ip)].filter((ip): ip is string => !!ip);
  const ip = ips[0] ?? '127.0.0.1';
  return parseProxy({
    id: `sidecar~${ip}~${name}.${namespace}~${namespace}.svc.${domainSuffix}`,
    metadata: {
      NAMESPACE: namespace,
      LABELS: pod.metadata.labels ?? {},
      SERVICE_ACCOUNT: pod.spec?.serviceAccountName ?? 'default',
      INSTANCE_IPS: [...new Set(ips)].join(','),
    },
  });
}

const ADMIN = 'type.googleapis.com/envoy.admin.v3.';

/**
 * What meshd would send `proxy` in snapshot `ctx`, as /debug/config_dump shows it (EDS included); a
 * gateway (router) proxy passes the router generator.
 */
export function generatedConfigDump(ctx: PushContext, proxy: Proxy, generator?: Generator): { configs: Json[] } {
  const { resources } = generateSidecarResources(ctx, proxy, generator);
  const json = (type: TypeUrl, name: string, body: Json) => anyToProtoJson(encodeResource(type, name, body).any);
  const sorted = <T>(items: Iterable<[string, T]>) => [...items].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    configs: [
      { '@type': `${ADMIN}BootstrapConfigDump` },
      { '@type': `${ADMIN}ClustersConfigDump`, version_info: ctx.version, dynamic_active_clusters: sorted(resources.clusters).map(([n, c]) => ({ version_info: ctx.version, cluster: json(TYPE.CDS, n, c) })) },
      { '@type': `${ADMIN}EndpointsConfigDump`, dynamic_endpoint_configs: sorted(resources.endpoints).map(([n, e]) => ({ version_info: ctx.version, endpoint_config: json(TYPE.EDS, n, e) })) },
      {
        '@type': `${ADMIN}ListenersConfigDump`, version_info: ctx.version,
        dynamic_listeners: [...resources.listeners].sort((a, b) => String(a.name).localeCompare(String(b.name)))
          .map((l) => ({ name: l.name, active_state: { version_info: ctx.version, listener: json(TYPE.LDS, String(l.name), l) } })),
      },
      { '@type': `${ADMIN}ScopedRoutesConfigDump` },
      { '@type': `${ADMIN}RoutesConfigDump`, dynamic_route_configs: sorted(resources.routes).map(([n, r]) => ({ version_info: ctx.version, route_config: json(TYPE.RDS, n, r) })) },
      { '@type': `${ADMIN}SecretsConfigDump` },
    ],
  };
}
