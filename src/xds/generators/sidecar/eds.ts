import { isIP } from 'node:net';
import type { ClientTLSSettings } from '../../../config/schemas/destination-rule.js';
import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import type { MeshService, ServiceEndpoint, Workload } from '../../../model/types.js';
import { effectiveMtls } from '../../../security/authn.js';
import { parseDnsSrvSubsetKey, parseSubsetKey } from '../../../envoy/cluster-name.js';
import { effectiveLocalityLbSetting } from '../../../envoy/cluster-policy.js';
import {
  applyLocalityLoadBalancing,
  localityKey,
  localityLbEndpoints,
  withTopologyLabels,
  type LocalityGroup,
} from '../../../envoy/locality-lb.js';
import { effectiveTrafficPolicy, findSubset } from '../../../envoy/traffic-policy.js';
import { labelsMatch } from '../../../config/labels.js';
import { TLS_MODE_SHORTNAME, TRANSPORT_SOCKET_MATCH_KEY } from '../../../envoy/upstream-tls.js';
import { jsonToStruct } from '../../../envoy/protos.js';
import { servicePortInScope } from './scope.js';
import type { J } from '../../../envoy/json.js';

// EDS for Envoy sidecars (istiod EndpointBuilder): ClusterLoadAssignment for `outbound|PORT|SUBSET|FQDN`.
//
// Health (istiod defaults: PILOT_SEND_UNHEALTHY_ENDPOINTS off): ready endpoints are sent HEALTHY; not-ready
// ones are left out; serving-but-terminating ones are left out too, except for services labelled
// `istio.io/persistent-session(-header)` which get them as DRAINING (sessions stick to them, new ones don't).
// Endpoints are grouped by locality (always written, `{}` when unknown) with weight 1 each and the group
// weight their sum; a subset keeps the endpoints whose pod labels carry all the subset's labels. Metadata as
// istiod: `envoy.transport_socket_match: {tlsMode: istio}` when the pod has a sidecar and neither its
// PeerAuthentication (for the endpoint port) nor the DestinationRule's tls turns mTLS off (omitted
// otherwise: the cluster's `tlsMode-disabled` match catches it), and `istio: {workload:
// "NAME;NAMESPACE;CANONICAL-NAME;CANONICAL-REVISION;CLUSTER"}`. localityLbSetting (DestinationRule or the
// mesh default) reweights or prioritises groups relative to the proxy (src/envoy/locality-lb.ts).
// Unknown services, ports and subsets get an empty assignment, as istiod answers.

const PERSISTENT_SESSION_LABELS = ['istio.io/persistent-session', 'istio.io/persistent-session-header'];
const CANONICAL_NAME = 'service.istio.io/canonical-name';
const CANONICAL_REVISION = 'service.istio.io/canonical-revision';
/** istiod's default cluster ID: meshd serves one Kubernetes cluster */
export const DEFAULT_CLUSTER_ID = 'Kubernetes';

export function buildSidecarLoadAssignment(ctx: PushContext, proxy: Proxy, name: string): object | undefined {
  // `outbound_.PORT_.SUBSET_.FQDN`: an AUTO_PASSTHROUGH gateway's SNI-DNAT cluster. The gateway cannot see
  // whether the passed-through TLS is Istio mTLS, so (istiod EndpointsWithMTLSFilter) only endpoints that
  // would be reached over mTLS are sent: nothing reaches a plaintext workload through it.
  const sniDnat = parseDnsSrvSubsetKey(name);
  const key = sniDnat ?? parseSubsetKey(name);
  if (!key || key.direction !== 'outbound') return undefined;
  const empty = { cluster_name: name, endpoints: [] };
  const service = ctx.service(key.hostname);
  if (!service || !servicePortInScope(ctx, proxy, service, key.port) || !service.ports.some((p) => p.port === key.port)) return empty;
  const proxyLabels = ctx.proxyLabels(proxy);
  const dr = ctx.destinationRuleFor(proxy.namespace, key.hostname, proxyLabels)?.config;
  let endpoints = ctx.endpoints(key.hostname, key.port);
  if (key.subset) {
    const subset = findSubset(dr, key.subset);
    if (!subset) return empty;
    endpoints = endpoints.filter((ep) => labelsMatch(subset.labels, ep.workload?.labels ?? {}, 'selects-all'));
  }
  const policy = dr ? effectiveTrafficPolicy(dr, key.subset, key.port) : undefined;
  const drDisablesMtls = mtlsDisabledByTls(policy?.tls);
  const draining = PERSISTENT_SESSION_LABELS.some((l) => service.labels[l]);

  const resolvedByDns = service.serviceEntry?.resolution === 'DNS' || service.serviceEntry?.resolution === 'DNS_ROUND_ROBIN';
  const groups = new Map<string, LocalityGroup>();
  const seen = new Set<string>();
  for (const ep of endpoints) {
    const health = healthOf(ep, draining);
    // a DNS-resolved ServiceEntry (STRICT_DNS/LOGICAL_DNS cluster) carries names Envoy resolves itself
    if (!health || (isIP(ep.address) === 0 && !resolvedByDns)) continue;
    const addrKey = `${ep.address}|${ep.port}`;
    if (seen.has(addrKey)) continue;
    seen.add(addrKey);
    const istioMtls = ep.workload?.tlsMode === 'istio' && !drDisablesMtls && effectiveMtls(ctx, ep.workload.namespace, ep.workload.labels, ep.port).mode !== 'DISABLE';
    if (sniDnat && !istioMtls) continue;
    const body: J = {
      endpoint: { address: { socket_address: { address: ep.address, port_value: ep.port } } },
      health_status: health,
      metadata: { filter_metadata: endpointMetadata(service, ep.workload, istioMtls) },
      load_balancing_weight: { value: 1 },
    };
    const k = localityKey(ep.locality);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { locality: ep.locality, entries: [], weight: 0, priority: 0 }));
    g.entries.push({ body, labels: withTopologyLabels(ep.workload?.labels ?? {}, ep.locality), weight: 1 });
    g.weight += 1;
  }
  const ordered = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g);
  const balanced = applyLocalityLoadBalancing(
    ordered,
    proxy.locality,
    withTopologyLabels(proxyLabels, proxy.locality),
    effectiveLocalityLbSetting(policy?.loadBalancer),
    policy?.outlierDetection !== undefined,
  );
  return { cluster_name: name, endpoints: localityLbEndpoints(balanced) };
}

/** istiod: a DestinationRule tls mode other than ISTIO_MUTUAL means no mTLS to any endpoint. */
function mtlsDisabledByTls(tls: ClientTLSSettings | undefined): boolean {
  return !!tls?.mode && tls.mode !== 'ISTIO_MUTUAL';
}

function healthOf(ep: ServiceEndpoint, drainingAllowed: boolean): 'HEALTHY' | 'DRAINING' | undefined {
  if (ep.ready) return 'HEALTHY';
  if (ep.terminating && ep.serving && drainingAllowed) return 'DRAINING';
  return undefined;
}

/**
 * The workload (controller) name istiod reports: a Deployment's pods carry pod-template-hash in their name
 * (`NAME-HASH-xxxxx`), a StatefulSet's are `NAME-ORDINAL`; anything else is named by the pod.
 */
export function workloadName(w: Workload): string {
  const hash = w.labels['pod-template-hash'];
  if (hash) {
    const at = w.name.lastIndexOf(`-${hash}-`);
    if (at > 0) return w.name.slice(0, at);
  }
  if (w.labels['statefulset.kubernetes.io/pod-name'] === w.name) {
    const m = /^(.*)-\d+$/.exec(w.name);
    if (m) return m[1]!;
  }
  return w.name;
}

function endpointMetadata(service: MeshService, w: Workload | undefined, istioMtls: boolean): J {
  const out: J = {};
  if (istioMtls) out[TRANSPORT_SOCKET_MATCH_KEY] = jsonToStruct({ [TLS_MODE_SHORTNAME]: 'istio' });
  const workload = [
    w ? workloadName(w) : '',
    w?.namespace ?? service.namespace,
    w?.labels[CANONICAL_NAME] ?? '',
    w?.labels[CANONICAL_REVISION] ?? '',
    DEFAULT_CLUSTER_ID,
  ].join(';');
  out.istio = jsonToStruct({ workload });
  return out;
}
