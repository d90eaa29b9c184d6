import net from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { jsonToStruct } from '../envoy/protos.js';

// The Envoy v3 bootstrap for a stock Envoy (no istio-proxy, no pilot-agent) talking to meshd: the node
// identity istiod expects from istio-proxy, ADS to meshd, admin, Prometheus stats on 15090 and readiness
// on 15021 — the shape and names of Istio's own bootstrap (tools/packaging/common/envoy_bootstrap.json, see
// shared/istio-reference/testdata/bootstrap/default_golden.json) wherever stock Envoy can follow it.
// Built in protobufjs object form (like every meshd resource) so it can be round-tripped and PGV-checked;
// proto3-json.ts prints it as the canonical JSON Envoy reads.

export const XDS_CLUSTER = 'xds-grpc';
export const SDS_CLUSTER = 'sds-grpc';
export const PROMETHEUS_CLUSTER = 'prometheus_stats';
export { DEFAULT_SDS_SOCKET } from './defaults.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// Kubernetes label keys: optional DNS-subdomain prefix + name of ≤ 63 alphanumerics, '-', '_', '.'.
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

const port = z.number({ error: 'must be a port (1-65535)' }).int().min(1, 'must be a port (1-65535)').max(65535, 'must be a port (1-65535)');

/** host:port, with IPv6 hosts in brackets; the host is an IP or a DNS name. */
export const hostPortSchema = z.string().transform((text, ctx) => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d+)$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  const portNumber = Number(m?.[3]);
  if (!m || !host || !(portNumber >= 1 && portNumber <= 65535)) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} is not host:port (e.g. istiod.istio-system.svc:15010)` });
    return z.NEVER;
  }
  if (net.isIP(host) === 0 && !DNS_SUBDOMAIN.test(host.toLowerCase())) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(host)} is neither an IP address nor a DNS name` });
    return z.NEVER;
  }
  return { host, port: portNumber };
});

export const bootstrapInputSchema = z
  .object({
    /** istio-proxy's proxy type: `sidecar`, or `router` for a gateway (`istio-proxy proxy router`) */
    proxyType: z.enum(['sidecar', 'router'], { error: 'must be sidecar or router' }).default('sidecar'),
    podName: z.string().regex(DNS_SUBDOMAIN, 'must be a Kubernetes object name (lowercase DNS subdomain)'),
    namespace: z.string().regex(DNS_LABEL, 'must be a Kubernetes namespace name (lowercase DNS label)'),
    podIps: z.array(z.string().refine((ip) => net.isIP(ip) !== 0, { message: 'is not an IP address' })).min(1, 'at least one IP is required'),
    labels: z.record(
      z.string().regex(LABEL_KEY, 'label key is not a valid Kubernetes label key'),
      z.string().regex(LABEL_VALUE, 'label value is not a valid Kubernetes label value'),
    ),
    serviceAccount: z.string().regex(DNS_SUBDOMAIN, 'must be a Kubernetes service account name'),
    domain: z.string().regex(DNS_SUBDOMAIN, 'must be a DNS domain suffix (e.g. cluster.local)'),
    trustDomain: z.string().regex(DNS_SUBDOMAIN, 'must be a SPIFFE trust domain (e.g. cluster.local)'),
    clusterId: z.string().min(1, 'must not be empty'),
    istioVersion: z.string().regex(/^\d+\.\d+(\.\d+)?([-+.][0-9A-Za-z.-]+)?$/, 'must be an Istio version like 1.24.0'),
    interceptionMode: z.enum(['REDIRECT', 'TPROXY', 'NONE']),
    xdsMode: z.enum(['delta', 'sotw']),
    discovery: z.object({ host: z.string(), port }),
    /** Where cert-chain.pem, key.pem and root-cert.pem are (meshd agent / istio-agent layout): TLS to meshd. */
    certDir: z.string().min(1).optional(),
    /** The name meshd's TLS serving certificate carries (SNI and the SAN Envoy checks). */
    xdsServerName: z.string().regex(DNS_SUBDOMAIN, 'must be a DNS name'),
    sdsSocket: z.string().min(1, 'must be a socket path'),
    adminPort: port,
    statsPort: port,
    statusPort: port,
    locality: z.object({ region: z.string(), zone: z.string(), sub_zone: z.string() }).partial().optional(),
    /**
     * Export every Envoy stat instead of Istio's inclusion list. Istio keeps Envoy's own cluster/listener
     * stats out because istio.stats reports requests; a stock Envoy has no istio.stats, so its native
     * upstream/downstream stats are the only request metrics it has.
     */
    allStats: z.boolean().default(false),
  })
  .superRefine((v, ctx) => {
    // 15012 speaks only TLS: plaintext there would fail at the first byte, so say so now.
    if (v.discovery.port === 15012 && !v.certDir) {
      ctx.addIssue({ code: 'custom', path: ['certDir'], message: 'is required for the TLS port 15012 (cert-chain.pem, key.pem, root-cert.pem)' });
    }
    const ports = [['adminPort', v.adminPort], ['statsPort', v.statsPort], ['statusPort', v.statusPort]] as const;
    for (const [i, [name, p]] of ports.entries()) {
      if (ports.slice(0, i).some(([, q]) => q === p)) ctx.addIssue({ code: 'custom', path: [name], message: `port ${p} is already used by another listener` });
    }
  });

export type BootstrapInput = z.infer<typeof bootstrapInputSchema>;

/** The node id istio-proxy sends and meshd's parseProxy reads: `sidecar~IP~POD.NS~NS.svc.DOMAIN` (or `router~…`). */
export function sidecarNodeId(input: Pick<BootstrapInput, 'podIps' | 'podName' | 'namespace' | 'domain'> & { proxyType?: 'sidecar' | 'router' }): string {
  return `${input.proxyType ?? 'sidecar'}~${input.podIps[0]}~${input.podName}.${input.namespace}~${input.namespace}.svc.${input.domain}`;
}

/** Istio's workload name for a pod: canonical-name label, then app, then the pod name without its hash. */
function workloadName(input: BootstrapInput): string {
  return input.labels['service.istio.io/canonical-name'] ?? input.labels.app ?? input.podName.replace(/(-[a-z0-9]{5,10})?-[a-z0-9]{5}$/, '');
}

function socketAddress(host: string, portValue: number): object {
  return { socket_address: { protocol: 'TCP', address: host, port_value: portValue } };
}

const HTTP2_PROTOCOL_OPTIONS = {
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
    '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
    explicit_http_config: { http2_protocol_options: {} },
  },
};

function staticCluster(name: string, connectTimeout: object, address: object, extra: Record<string, unknown> = {}): object {
  return {
    name,
    // The `;` ends the name for Istio's `cluster_name` stats tag regex `^cluster(\.(.+);)`.
    alt_stat_name: `${name};`,
    type: 'STATIC',
    connect_timeout: connectTimeout,
    lb_policy: 'ROUND_ROBIN',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address } }] }] },
    ...extra,
  };
}

function xdsCluster(input: BootstrapInput): object {
  const { host, port: p } = input.discovery;
  const byName = net.isIP(host) === 0;
  const extra: Record<string, unknown> = {
    circuit_breakers: {
      thresholds: ['DEFAULT', 'HIGH'].map((priority) => ({ priority, max_connections: { value: 100000 }, max_pending_requests: { value: 100000 }, max_requests: { value: 100000 } })),
    },
    upstream_connection_options: { tcp_keepalive: { keepalive_time: { value: 300 } } },
    typed_extension_protocol_options: HTTP2_PROTOCOL_OPTIONS,
  };
  if (input.certDir) {
    const file = (name: string) => ({ filename: path.join(input.certDir!, name) });
    extra.transport_socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        sni: input.xdsServerName,
        common_tls_context: {
          alpn_protocols: ['h2'],
          tls_certificates: [{ certificate_chain: file('cert-chain.pem'), private_key: file('key.pem') }],
          validation_context: {
            trusted_ca: file('root-cert.pem'),
            match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: input.xdsServerName } }],
          },
        },
      },
    };
  }
  // istio-proxy reaches istiod through pilot-agent's local socket (STATIC pipe); stock Envoy dials meshd
  // itself, resolving a DNS name as Envoy does for any upstream.
  const cluster = staticCluster(XDS_CLUSTER, { seconds: 1 }, socketAddress(host, p), extra) as Record<string, unknown>;
  if (byName) {
    cluster.type = 'STRICT_DNS';
    cluster.respect_dns_ttl = true;
  }
  return cluster;
}

function httpListener(name: string, portValue: number, statPrefix: string, routes: object[]): object {
  return {
    name,
    address: socketAddress('0.0.0.0', portValue),
    // As Istio: scrapes and probes must work when the proxy is at its connection limit or overloaded.
    ignore_global_conn_limit: true,
    bypass_overload_manager: true,
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          codec_type: 'AUTO',
          stat_prefix: statPrefix,
          route_config: { virtual_hosts: [{ name: 'backend', domains: ['*'], routes }] },
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
        },
      }],
    }],
  };
}

/** Istio's stats tags that Istio's and Envoy's Grafana dashboards group by (from Istio's bootstrap). */
const STATS_TAGS: readonly { tag_name: string; regex: string }[] = [
  { tag_name: 'cluster_name', regex: '^cluster(\\.(.+);)' },
  { tag_name: 'http_conn_manager_prefix', regex: '^http\\.(((?:[_.[:digit:]\\w]*|[_\\[\\]aAbBcCdDeEfF[:digit:]\\w\\:]*));\\.)' },
  { tag_name: 'thread_name', regex: '^server(\\.(.+))\\.watchdog' },
  { tag_name: 'tcp_prefix', regex: '^tcp\\.((.*?)\\.)\\w+?$' },
  { tag_name: 'response_code', regex: '_rq(_(\\d{3}))$' },
  { tag_name: 'response_code_class', regex: '_rq(_(\\dxx))$' },
  { tag_name: 'http_conn_manager_listener_prefix', regex: '^listener(?=\\.).*?\\.http\\.(((?:[_.[:digit:]]*|[_\\[\\]aAbBcCdDeEfF[:digit:]]*))\\.)' },
  { tag_name: 'listener_address', regex: '^listener\\.(((?:[_.[:digit:]]*|[_\\[\\]aAbBcCdDeEfF[:digit:]]*))\\.)' },
  { tag_name: 'authz_enforce_result', regex: 'rbac(\\.(allowed|denied))' },
];

/** Istio's default stats inclusion list: the proxy exports what the dashboards read and no more. */
const STATS_INCLUSION: readonly object[] = [
  { prefix: 'reporter=' }, { prefix: 'cluster_manager' }, { prefix: 'listener_manager' }, { prefix: 'server' },
  { prefix: 'cluster.xds-grpc' }, { prefix: 'wasm' }, { suffix: 'rbac.allowed' }, { suffix: 'rbac.denied' },
  { suffix: 'shadow_allowed' }, { suffix: 'shadow_denied' }, { safe_regex: { regex: 'vhost\\..*\\.route\\..*' } },
  { prefix: 'component' }, { prefix: 'istio' },
];

/** The bootstrap (protobufjs object form of envoy.config.bootstrap.v3.Bootstrap). */
export function buildEnvoyBootstrap(input: BootstrapInput): Record<string, unknown> {
  const discoveryAddress = `${net.isIPv6(input.discovery.host) ? `[${input.discovery.host}]` : input.discovery.host}:${input.discovery.port}`;
  const metadata: Record<string, unknown> = {
    NAME: input.podName,
    NAMESPACE: input.namespace,
    LABELS: input.labels,
    INSTANCE_IPS: input.podIps.join(','),
    SERVICE_ACCOUNT: input.serviceAccount,
    ISTIO_VERSION: input.istioVersion,
    INTERCEPTION_MODE: input.interceptionMode,
    CLUSTER_ID: input.clusterId,
    MESH_ID: input.trustDomain,
    WORKLOAD_NAME: workloadName(input),
    ENVOY_PROMETHEUS_PORT: input.statsPort,
    ENVOY_STATUS_PORT: input.statusPort,
    // stock Envoy lacks istio-proxy's extensions (istio.stats): meshd leaves them out of its listeners
    ISTIO_PROXY_EXTENSIONS: 'false',
    PROXY_CONFIG: { discoveryAddress, proxyAdminPort: input.adminPort, statusPort: input.statusPort },
  };
  if (input.certDir) metadata.PILOT_SAN = [input.xdsServerName];
  const adsConfigSource = { ads: {}, initial_fetch_timeout: { seconds: 0 }, resource_api_version: 'V3' };
  return {
    node: {
      id: sidecarNodeId(input),
      cluster: `${workloadName(input)}.${input.namespace}`,
      locality: input.locality ?? {},
      metadata: jsonToStruct(metadata),
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: input.adminPort } } },
    dynamic_resources: {
      lds_config: adsConfigSource,
      cds_config: adsConfigSource,
      ads_config: {
        api_type: input.xdsMode === 'delta' ? 'DELTA_GRPC' : 'GRPC',
        set_node_on_first_message_only: true,
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER } }],
      },
    },
    static_resources: {
      listeners: [
        httpListener(`0.0.0.0_${input.statsPort}`, input.statsPort, 'stats', [{ match: { prefix: '/stats/prometheus' }, route: { cluster: PROMETHEUS_CLUSTER } }]),
        // istio-proxy answers /healthz/ready from pilot-agent (cluster `agent`); with no agent, Envoy's admin
        // /ready answers instead: LIVE once the first CDS/LDS arrived (initial_fetch_timeout 0 waits for them).
        httpListener(`0.0.0.0_${input.statusPort}`, input.statusPort, 'agent', [{ match: { path: '/healthz/ready' }, route: { cluster: PROMETHEUS_CLUSTER, prefix_rewrite: '/ready' } }]),
      ],
      clusters: [
        staticCluster(PROMETHEUS_CLUSTER, { nanos: 250_000_000 }, socketAddress('127.0.0.1', input.adminPort)),
        staticCluster(SDS_CLUSTER, { seconds: 1 }, { pipe: { path: input.sdsSocket } }, { typed_extension_protocol_options: HTTP2_PROTOCOL_OPTIONS }),
        xdsCluster(input),
      ],
    },
    stats_config: {
      use_all_default_tags: { value: false },
      stats_tags: STATS_TAGS,
      ...(input.allStats ? {} : { stats_matcher: { inclusion_list: { patterns: STATS_INCLUSION } } }),
    },
    layered_runtime: {
      layers: [
        // meshd turns VirtualService regexes into RE2 safe_regex; Istio raises Envoy's program-size limit too.
        { name: 'global config', static_layer: jsonToStruct({ 're2.max_program_size.error_level': '32768' }) },
        { name: 'admin', admin_layer: {} },
      ],
    },
  };
}
