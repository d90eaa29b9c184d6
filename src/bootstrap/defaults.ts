// Defaults of `meshd bootstrap` that its flags show in --help: kept apart from the bootstrap builder so
// that defining the command line does not load zod and Envoy's protos.

/** The version of Istio's data-plane contract meshd's sidecar output follows. */
export const DEFAULT_ISTIO_VERSION = '1.24.0';

/** pilot-agent's default SDS socket; istio-proxy's `sds-grpc` points there (SPIRE's agent can serve it too). */
export const DEFAULT_SDS_SOCKET = './var/run/secrets/workload-spiffe-uds/socket';
