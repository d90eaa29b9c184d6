import assert from 'node:assert/strict';
import type { ConfigStore } from '../../../src/config/store.js';
import type { Kind } from '../../../src/config/kinds.js';
import type { PushContext } from '../../../src/model/push-context.js';
import { parseProxy, type Proxy } from '../../../src/model/proxy.js';
import { roundTripLosses } from '../../support/envoy-check/proto-check.js';
import { pgvViolations } from '../../support/envoy-check/pgv-check.js';
import { sidecarGenerator } from '../../../src/xds/generators/sidecar/index.js';
import { TYPE } from '../../../src/xds/resource-types.js';
import { structToJson } from '../../../src/envoy/protos.js';
import { snapshotOf, storeOf as storeOfDocs } from '../../support/snapshot.js';

// Shared mesh builders for the sidecar CDS/EDS tests: a store from plain Kubernetes/Istio objects, the
// proxy of a pod, and generate-and-check helpers that insist every body survives Envoy's protos and
// passes the PGV rules they carry.

export type Obj = Record<string, unknown> & { kind: Kind; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } };
// Tests read generated bodies loosely (the shapes are Envoy's, checked by roundTripLosses).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Body = any;

export function storeOf(objs: Obj[]): ConfigStore {
  return storeOfDocs(objs, { label: 'sidecar cds/eds test' });
}

export function ctxOf(objs: Obj[], version = 'v1'): PushContext {
  return snapshotOf(objs, { label: 'sidecar cds/eds test', version });
}

export const svc = (name: string, ports: unknown[], opts: { ns?: string; selector?: Record<string, string>; labels?: Record<string, string>; annotations?: Record<string, string> } = {}): Obj => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: opts.ns ?? 'default', ...(opts.labels ? { labels: opts.labels } : {}), ...(opts.annotations ? { annotations: opts.annotations } : {}) },
  spec: { selector: opts.selector ?? { app: name }, ports },
});

export const pod = (name: string, ip: string, labels: Record<string, string>, opts: { ns?: string; sa?: string; containerPorts?: { name: string; containerPort: number }[] } = {}): Obj => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: opts.ns ?? 'default', labels },
  spec: { serviceAccountName: opts.sa ?? labels.app ?? 'default', containers: [{ name: 'app', ports: opts.containerPorts ?? [] }] },
  status: { podIP: ip, phase: 'Running' },
});

export const dr = (name: string, spec: Record<string, unknown>, ns = 'default'): Obj => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: { name, namespace: ns },
  spec: { host: name, ...spec },
});

export const pa = (name: string, ns: string, spec: Record<string, unknown>): Obj => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'PeerAuthentication',
  metadata: { name, namespace: ns },
  spec,
});

export const SIDECAR = { 'security.istio.io/tlsMode': 'istio' };

export function proxyOf(podName: string, ip: string, labels: Record<string, string>, opts: { ns?: string; md?: Record<string, unknown>; locality?: Record<string, string> } = {}): Proxy {
  const ns = opts.ns ?? 'default';
  return parseProxy({
    id: `sidecar~${ip}~${podName}.${ns}~${ns}.svc.cluster.local`,
    metadata: { NAMESPACE: ns, LABELS: labels, INSTANCE_IPS: ip, ...(opts.md ?? {}) },
    locality: opts.locality ?? {},
  });
}

/** A client proxy in `default` that has nothing to do with the services under test. */
export const CLIENT = proxyOf('client-1', '10.9.9.9', { app: 'client' });

export const CLUSTER_TYPE = 'envoy.config.cluster.v3.Cluster';
export const CLA_TYPE = 'envoy.config.endpoint.v3.ClusterLoadAssignment';

export function cluster(ctx: PushContext, name: string, proxy: Proxy = CLIENT): Body {
  const body = sidecarGenerator.generate(TYPE.CDS, ctx, proxy, name);
  if (body) {
    assert.deepEqual(roundTripLosses(CLUSTER_TYPE, body), [], `${name} loses fields`);
    assert.deepEqual(pgvViolations(CLUSTER_TYPE, body), [], `${name} breaks Envoy's validation rules`);
  }
  return body;
}

export function assignment(ctx: PushContext, name: string, proxy: Proxy = CLIENT): Body {
  const body = sidecarGenerator.generate(TYPE.EDS, ctx, proxy, name);
  if (body) {
    assert.deepEqual(roundTripLosses(CLA_TYPE, body), [], `${name} loses fields`);
    assert.deepEqual(pgvViolations(CLA_TYPE, body), [], `${name} breaks Envoy's validation rules`);
  }
  return body;
}

export function clusterNames(ctx: PushContext, proxy: Proxy = CLIENT): string[] {
  return sidecarGenerator.wildcardNames(TYPE.CDS, ctx, proxy);
}

/** filter_metadata[key] as plain JSON */
export function metadataOf(body: Body, key = 'istio'): Record<string, unknown> | undefined {
  const s = body?.metadata?.filter_metadata?.[key];
  return s ? structToJson(s) : undefined;
}

/** The HttpProtocolOptions inside typed_extension_protocol_options, if any. */
export function httpOptionsOf(body: Body): Body {
  return body?.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
}

/** The UpstreamTlsContext of the cluster's transport socket or of its `tlsMode-istio` match. */
export function upstreamTlsOf(body: Body): Body {
  const ts = body.transport_socket ?? body.transport_socket_matches?.find((m: Body) => m.name === 'tlsMode-istio')?.transport_socket;
  return ts?.typed_config;
}

export const HOST = 'reviews.default.svc.cluster.local';
