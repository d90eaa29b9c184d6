import type { z } from 'zod';
import type { Kind } from '../kinds.js';
import { virtualService } from './virtual-service.js';
import { destinationRule } from './destination-rule.js';
import { gateway } from './gateway.js';
import { peerAuthentication } from './peer-authentication.js';
import { authorizationPolicy } from './authorization-policy.js';
import { telemetry } from './telemetry.js';
import { requestAuthentication } from './request-authentication.js';
import { service, endpointSlice, pod, namespace, ingress, ingressClass } from './kubernetes.js';
import { serviceEntry, workloadEntry, workloadGroup } from './service-entry.js';
import { sidecar } from './sidecar.js';
import { gatewayClass, kubernetesGateway, httpRoute, grpcRoute, tcpRoute, tlsRoute, referenceGrant } from './gateway-api.js';
import { envoyFilter, proxyConfig, trafficExtension, wasmPlugin } from './validated-only.js';

export const SCHEMAS = {
  VirtualService: virtualService,
  DestinationRule: destinationRule,
  Gateway: gateway,
  PeerAuthentication: peerAuthentication,
  AuthorizationPolicy: authorizationPolicy,
  ServiceEntry: serviceEntry,
  WorkloadEntry: workloadEntry,
  WorkloadGroup: workloadGroup,
  Sidecar: sidecar,
  EnvoyFilter: envoyFilter,
  ProxyConfig: proxyConfig,
  RequestAuthentication: requestAuthentication,
  Telemetry: telemetry,
  WasmPlugin: wasmPlugin,
  TrafficExtension: trafficExtension,
  Service: service,
  EndpointSlice: endpointSlice,
  Pod: pod,
  Namespace: namespace,
  Ingress: ingress,
  IngressClass: ingressClass,
  GatewayClass: gatewayClass,
  KubernetesGateway: kubernetesGateway,
  HTTPRoute: httpRoute,
  GRPCRoute: grpcRoute,
  TCPRoute: tcpRoute,
  TLSRoute: tlsRoute,
  ReferenceGrant: referenceGrant,
} as const satisfies Record<Kind, z.ZodType>;

/** The validated shape of each kind: Kubernetes' own envelope (apiVersion, kind, metadata, spec…). */
export type KindMap = { [K in Kind]: z.infer<(typeof SCHEMAS)[K]> };
export type MeshObject = KindMap[Kind];

export type { VirtualService } from './virtual-service.js';
export type { DestinationRule } from './destination-rule.js';
export type { Gateway } from './gateway.js';
export type { PeerAuthentication } from './peer-authentication.js';
export type { AuthorizationPolicy } from './authorization-policy.js';
export type { Telemetry } from './telemetry.js';
export type { RequestAuthentication } from './request-authentication.js';
export type { Service, EndpointSlice, Pod, Namespace, Ingress, IngressClass } from './kubernetes.js';
export type { ServiceEntry, WorkloadEntry, WorkloadGroup } from './service-entry.js';
export type { Sidecar } from './sidecar.js';
