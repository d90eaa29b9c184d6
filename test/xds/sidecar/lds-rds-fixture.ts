import assert from 'node:assert/strict';
import { DEFAULT_MESH_CONFIG, type MeshConfig } from '../../../src/config/mesh-config.js';
import type { PushContext } from '../../../src/model/push-context.js';
import { parseProxy, type Proxy } from '../../../src/model/proxy.js';
import { buildSidecarListener, sidecarListenerNames } from '../../../src/xds/generators/sidecar/lds.js';
import { buildSidecarRouteConfiguration } from '../../../src/xds/generators/sidecar/rds.js';
import { checkEnvoyResource } from '../../support/envoy-check/pgv-check.js';
import { TYPE } from '../../../src/xds/resource-types.js';
import { snapshotOf, type Doc } from '../../support/snapshot.js';

// Small meshes for the sidecar LDS/RDS tests: Services/Pods/Istio config validated like any input, a
// sidecar node as istio-proxy announces itself, and generators whose every output must survive Envoy's
// protos without losing a field and satisfy their protoc-gen-validate rules.

export type { Doc };
export type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function service(
  name: string,
  ns: string,
  ports: { name: string; port: number; targetPort?: number | string; appProtocol?: string }[],
  clusterIP?: string,
  selector?: Record<string, string>,
): Doc {
  return {
    apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns },
    spec: { ...(clusterIP ? { clusterIP } : {}), selector: selector ?? { app: name }, ports },
  };
}

export function pod(name: string, ns: string, ip: string, labels: Record<string, string>): Doc {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels }, status: { podIP: ip, phase: 'Running' } };
}

export function vs(name: string, spec: Obj, ns = 'default'): Doc {
  return { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: ns }, spec };
}

export function dr(name: string, spec: Obj, ns = 'default'): Doc {
  return { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace: ns }, spec };
}

/** bookinfo-like: reviews (http 9080, 3 versions), ratings (http), a TCP db, a TLS egress-ish service, a port without protocol. */
export const BASE: Doc[] = [
  service('reviews', 'default', [{ name: 'http', port: 9080 }], '10.96.0.10'),
  service('ratings', 'default', [{ name: 'http', port: 9080 }], '10.96.0.11'),
  service('productpage', 'default', [{ name: 'http', port: 9080 }], '10.96.0.12'),
  service('mongodb', 'default', [{ name: 'tcp-mongo', port: 27017 }], '10.96.0.20'),
  service('secure', 'default', [{ name: 'tls', port: 443 }], '10.96.0.30'),
  service('legacy', 'default', [{ name: 'legacy', port: 7000 }], '10.96.0.40'),
  service('grpcsvc', 'other', [{ name: 'grpc', port: 5000 }], '10.96.1.5'),
  pod('productpage-v1', 'default', '10.1.0.5', { app: 'productpage', version: 'v1' }),
  pod('reviews-v1', 'default', '10.1.0.11', { app: 'reviews', version: 'v1' }),
  pod('reviews-v2', 'default', '10.1.0.12', { app: 'reviews', version: 'v2' }),
];

export function mesh(extra: Doc[] = [], base: Doc[] = BASE, meshConfig: MeshConfig = DEFAULT_MESH_CONFIG): PushContext {
  return snapshotOf([...base, ...extra], { label: 'sidecar lds/rds test', mesh: meshConfig });
}

export function sidecar(opts: { ns?: string; pod?: string; ip?: string; labels?: Record<string, string>; mode?: string } = {}): Proxy {
  const ns = opts.ns ?? 'default';
  const metadata: Obj = { NAMESPACE: ns, ISTIO_VERSION: '1.24.0', INTERCEPTION_MODE: opts.mode ?? 'REDIRECT' };
  metadata.LABELS = opts.labels ?? { app: 'productpage', version: 'v1' };
  return parseProxy({ id: `sidecar~${opts.ip ?? '10.1.0.5'}~${opts.pod ?? 'productpage-v1'}.${ns}~${ns}.svc.cluster.local`, metadata });
}

/** A listener, insisting it round-trips through Envoy's Listener proto and keeps its PGV rules. */
export function listener(ctx: PushContext, p: Proxy, name: string): Obj {
  const body = buildSidecarListener(ctx, p, name) as Obj | undefined;
  assert.ok(body, `listener ${name} must exist`);
  assert.deepEqual(checkEnvoyResource(TYPE.LDS, body), [], `${name} must round-trip and pass PGV`);
  return body;
}

export function listenerNames(ctx: PushContext, p: Proxy): string[] {
  return sidecarListenerNames(ctx, p);
}

/** A route configuration, insisting it round-trips through Envoy's RouteConfiguration proto and keeps its PGV rules. */
export function routeConfig(ctx: PushContext, p: Proxy, name: string): Obj {
  const body = buildSidecarRouteConfiguration(ctx, p, name) as Obj | undefined;
  assert.ok(body, `route configuration ${name} must exist`);
  assert.deepEqual(checkEnvoyResource(TYPE.RDS, body), [], `${name} must round-trip and pass PGV`);
  return body;
}

/** The virtual host named `name` in route configuration `rc`. */
export function vhost(rc: Obj, name: string): Obj {
  const vh = (rc.virtual_hosts as Obj[]).find((v) => v.name === name);
  assert.ok(vh, `virtual host ${name} in ${rc.name}: ${(rc.virtual_hosts as Obj[]).map((v) => v.name).join(', ')}`);
  return vh;
}

/** The routes of `FQDN:PORT` in route configuration `PORT`. */
export function routesFor(ctx: PushContext, p: Proxy, host: string, port = 9080): Obj[] {
  return vhost(routeConfig(ctx, p, String(port)), `${host}:${port}`).routes as Obj[];
}

/** The typed config of the filter named `name` in a filter list. */
export function filterConfig(filters: Obj[], name: string): Obj {
  const f = filters.find((x) => x.name === name);
  assert.ok(f, `filter ${name} among ${filters.map((x) => x.name).join(', ')}`);
  return f.typed_config as Obj;
}

export const REVIEWS = 'reviews.default.svc.cluster.local';
export const RATINGS = 'ratings.default.svc.cluster.local';
export const C = (host: string, port = 9080, subset = '') => `outbound|${port}|${subset}|${host}`;

/** virtualInbound's chains for one destination port. */
export function inboundChainsFor(virtualInbound: Obj, port: number): Obj[] {
  return (virtualInbound.filter_chains as Obj[]).filter((c) => c.filter_chain_match?.destination_port?.value === port);
}
