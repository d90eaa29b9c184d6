import type { PushContext } from '../model/push-context.js';
import { outboundClusterName } from './cluster-name.js';

// Where a mesh-config extension provider's `service` and `port` lead (istiod model.LookupCluster): the
// outbound cluster every sidecar already has for that service, and its host name as the gRPC authority /
// HTTP Host. Shared by the ext_authz providers (security/ext-authz.ts) and the telemetry providers
// (access-log services, tracers).

export type ProviderCluster = { readonly hostname: string; readonly cluster: string } | { readonly error: string };

/** `ns/host` must be in that namespace; `host` alone must be a known service host name. */
export function lookupProviderCluster(ctx: PushContext, service: string, port: number): ProviderCluster {
  if (service === '') return { error: 'service must not be empty' };
  const slash = service.indexOf('/');
  const namespace = slash >= 0 ? service.slice(0, slash) : undefined;
  const hostname = slash >= 0 ? service.slice(slash + 1) : service;
  const svc = ctx.service(hostname);
  if (!svc || (namespace !== undefined && svc.namespace !== namespace)) {
    return { error: `service ${JSON.stringify(service)} is not in the mesh's service registry (write the full host name, optionally as <namespace>/<host>)` };
  }
  return { hostname: svc.hostname, cluster: outboundClusterName(svc.hostname, port) };
}
