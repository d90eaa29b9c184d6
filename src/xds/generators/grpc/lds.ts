import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import { outboundClusterName } from '../../../envoy/cluster-name.js';
import { adsConfigSource, ANY_TYPE, anyOf, faultFilter, routerFilter } from '../../../envoy/type-urls.js';
import { parseServerListenerName, resolveClientName, type HostPort } from './names.js';
import { grpcInboundSecurity } from '../../../security/grpc.js';

// LDS for proxyless gRPC (Istio grpcgen lds.go).
//
// Client listeners — the name is the dial target `host:port` (`xds:///helloworld.default.svc.cluster.local:5000`
// asks for `helloworld.default.svc.cluster.local:5000`; short forms `helloworld:5000`, `helloworld.default:5000`,
// `helloworld.default.svc:5000` resolve too). The response carries exactly the requested name, an
// `api_listener` with an HttpConnectionManager that fetches routes over ADS, and the filters gRPC
// implements: fault, then router (router must be last). Every spelling of a service shares one route
// configuration named like istiod does, `outbound|PORT||FQDN`.
//
// Server listeners — `xds.istio.io/grpc/lds/inbound/IP:PORT`, requested by an XdsServer: the address to
// serve, one filter chain whose HCM carries an inline route configuration with a single
// `non_forwarding_action` route (gRFC A36). `listener_filters` and `use_original_dst` must stay unset
// (gRPC NACKs them). istiod only answers for ports that back a Service of the workload; meshd answers
// every IP:PORT so a server whose port has no Service (yet) still serves — plaintext now. The transport
// socket (mTLS) and the RBAC filters come from PeerAuthentication / AuthorizationPolicy; see
// `inboundSecurity`.

export function buildListener(ctx: PushContext, proxy: Proxy, name: string): object | undefined {
  const server = parseServerListenerName(name);
  if (server) return buildServerListener(ctx, proxy, name, server);
  return buildClientListener(ctx, proxy, name);
}

function buildClientListener(ctx: PushContext, proxy: Proxy, name: string): object | undefined {
  const target = resolveClientName(name, ctx, proxy);
  if (!target) return undefined;
  const { service, port } = target;
  return {
    name,
    address: { socket_address: { address: service.clusterIP ?? '0.0.0.0', port_value: port } },
    api_listener: {
      api_listener: anyOf(ANY_TYPE.HTTP_CONNECTION_MANAGER, {
        stat_prefix: outboundClusterName(service.hostname, port),
        rds: { config_source: adsConfigSource(), route_config_name: outboundClusterName(service.hostname, port) },
        http_filters: [faultFilter(), routerFilter()],
      }),
    },
  };
}

/** What an inbound filter chain needs from the security policies of the workload on `port`. */
export interface InboundSecurity {
  /** `plaintext` or `mtls`: the filter chain's name suffix, as istiod names them */
  readonly mode: 'plaintext' | 'mtls';
  /** the chain's `transport_socket` (DownstreamTlsContext with certificate provider instances) for mTLS */
  readonly transportSocket?: Record<string, unknown>;
  /** RBAC HTTP filters (DENY then ALLOW) that go before the router */
  readonly httpFilters: readonly Record<string, unknown>[];
}

/**
 * The security of a server port: PeerAuthentication (STRICT, or PERMISSIVE on a tlsMode=istio workload →
 * mtls chain; otherwise plaintext since gRPC cannot sniff TLS) and AuthorizationPolicy (→
 * `envoy.filters.http.rbac` filters). Depends on the proxy's namespace, labels and workload tlsMode,
 * which the generator's class key carries.
 */
export function inboundSecurity(ctx: PushContext, proxy: Proxy, port: number): InboundSecurity {
  // PeerAuthentication → DownstreamTlsContext, AuthorizationPolicy → RBAC: src/security/grpc.ts
  return grpcInboundSecurity(ctx, proxy, port);
}

function buildServerListener(ctx: PushContext, proxy: Proxy, name: string, at: HostPort): object {
  const security = inboundSecurity(ctx, proxy, at.port);
  const chain: Record<string, unknown> = {
    name: `inbound-${security.mode}`,
    filters: [
      {
        name: `inbound-hcm${security.mode}`,
        typed_config: anyOf(ANY_TYPE.HTTP_CONNECTION_MANAGER, {
          stat_prefix: `inbound_${at.port}`,
          route_config: {
            name: 'inbound',
            virtual_hosts: [
              {
                name: `inbound|http|${at.port}`,
                domains: ['*'],
                routes: [{ match: { prefix: '/' }, non_forwarding_action: {} }],
              },
            ],
          },
          http_filters: [...security.httpFilters, routerFilter()],
        }),
      },
    ],
  };
  if (security.transportSocket) chain.transport_socket = security.transportSocket;
  return {
    name,
    address: { socket_address: { address: at.host, port_value: at.port } },
    filter_chains: [chain],
  };
}

/** Every client listener name a wildcard LDS subscription means: `FQDN:PORT` for each service port. */
export function allClientListenerNames(ctx: PushContext): string[] {
  const out: string[] = [];
  for (const svc of ctx.services) for (const p of svc.ports) out.push(`${svc.hostname}:${p.port}`);
  return out;
}
