// Type URLs and well-known names of the Envoy extensions meshd puts inside `Any`s and filter lists.
// One place to spell them (DESIGN rule 4); every type listed here is loaded by src/xds/protos.ts.

const PREFIX = 'type.googleapis.com/';

export const ANY_TYPE = {
  HTTP_CONNECTION_MANAGER: `${PREFIX}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
  ROUTER: `${PREFIX}envoy.extensions.filters.http.router.v3.Router`,
  HTTP_FAULT: `${PREFIX}envoy.extensions.filters.http.fault.v3.HTTPFault`,
  HTTP_RBAC: `${PREFIX}envoy.extensions.filters.http.rbac.v3.RBAC`,
  UPSTREAM_TLS_CONTEXT: `${PREFIX}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
  DOWNSTREAM_TLS_CONTEXT: `${PREFIX}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
} as const;

/** Filter names as Envoy and gRPC know them (typed_per_filter_config keys must equal the HCM filter's name). */
export const FILTER_NAME = {
  ROUTER: 'envoy.filters.http.router',
  FAULT: 'envoy.filters.http.fault',
  RBAC: 'envoy.filters.http.rbac',
} as const;

/** gRPC matches transport sockets by this exact name (grpc xds securityConfigFromCluster). */
export const TLS_TRANSPORT_SOCKET_NAME = 'envoy.transport_sockets.tls';

/** `{'@type': url, ...fields}`: the proto-JSON form of a nested Any that protobufjs encodes. */
export function anyOf(typeUrl: string, fields: object = {}): Record<string, unknown> {
  return { '@type': typeUrl, ...fields };
}

/** `{ads: {}, resource_api_version: 'V3'}`: fetch over the ADS stream the proxy already has. */
export function adsConfigSource(): Record<string, unknown> {
  return { ads: {}, resource_api_version: 'V3' };
}

export function routerFilter(): Record<string, unknown> {
  return { name: FILTER_NAME.ROUTER, typed_config: anyOf(ANY_TYPE.ROUTER) };
}

/** The fault filter with an empty config: routes turn it on through typed_per_filter_config. */
export function faultFilter(): Record<string, unknown> {
  return { name: FILTER_NAME.FAULT, typed_config: anyOf(ANY_TYPE.HTTP_FAULT) };
}
