import { crdDerived } from './crd-derived.js';
import type { ServicePortSpec } from './service-entry.js';

// networking.istio.io Sidecar (v1 / v1beta1 / v1alpha3). Schema: Istio's CRD (crd-derived.ts); the
// interface is proto/networking/v1alpha3/sidecar.proto as the model reads it; webhook rules in
// ../semantics/sidecar.ts.

export type CaptureMode = 'DEFAULT' | 'IPTABLES' | 'NONE';
export type OutboundTrafficPolicyMode = 'REGISTRY_ONLY' | 'ALLOW_ANY';

export interface SidecarPortSpec extends Omit<ServicePortSpec, 'name'> {
  readonly name?: string;
}

export interface IstioIngressListener {
  readonly port: SidecarPortSpec;
  readonly bind?: string;
  readonly captureMode?: CaptureMode;
  readonly defaultEndpoint?: string;
  readonly tls?: Readonly<Record<string, unknown>>;
  readonly connectionPool?: Readonly<Record<string, unknown>>;
}

export interface IstioEgressListener {
  readonly port?: SidecarPortSpec;
  readonly bind?: string;
  readonly captureMode?: CaptureMode;
  readonly hosts: readonly string[];
}

export interface OutboundTrafficPolicy {
  readonly mode?: OutboundTrafficPolicyMode;
  readonly egressProxy?: { readonly host: string; readonly subset?: string; readonly port?: { readonly number?: number } };
}

export interface SidecarSpec {
  readonly workloadSelector?: { readonly labels?: Readonly<Record<string, string>> };
  readonly ingress?: readonly IstioIngressListener[];
  readonly egress?: readonly IstioEgressListener[];
  readonly inboundConnectionPool?: Readonly<Record<string, unknown>>;
  readonly outboundTrafficPolicy?: OutboundTrafficPolicy;
}

export const sidecar = crdDerived<'Sidecar', SidecarSpec>('Sidecar');
export type Sidecar = ReturnType<typeof sidecar.parse>;
