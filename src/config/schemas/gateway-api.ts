import { gatewayApiCrd } from './crd-derived.js';
import type { GatewaySpec, RouteSpec } from '../gateway-api/objects.js';

// The Kubernetes Gateway API kinds meshd reads, checked against the Gateway API CRDs' own schemas and CEL
// rules for the document's version (vendored in src/config/crd/gateway-api-crd-schemas.gen.ts), with the
// API server's wording — what `kubectl apply` would refuse, meshd refuses with the same reasons. The
// TypeScript types are the fields the conversion (src/config/gateway-api/) reads.

export interface GatewayClassSpec {
  controllerName: string;
  parametersRef?: { group: string; kind: string; name: string; namespace?: string };
  description?: string;
}

export interface ReferenceGrantSpec {
  from: { group: string; kind: string; namespace: string }[];
  to: { group: string; kind: string; name?: string }[];
}

export const gatewayClass = gatewayApiCrd<'GatewayClass', GatewayClassSpec>('GatewayClass');
export const kubernetesGateway = gatewayApiCrd<'Gateway', GatewaySpec>('Gateway');
export const httpRoute = gatewayApiCrd<'HTTPRoute', RouteSpec>('HTTPRoute');
export const grpcRoute = gatewayApiCrd<'GRPCRoute', RouteSpec>('GRPCRoute');
export const tcpRoute = gatewayApiCrd<'TCPRoute', RouteSpec>('TCPRoute');
export const tlsRoute = gatewayApiCrd<'TLSRoute', RouteSpec>('TLSRoute');
export const referenceGrant = gatewayApiCrd<'ReferenceGrant', ReferenceGrantSpec>('ReferenceGrant');
