import { crdDerived } from './crd-derived.js';

// networking.istio.io ServiceEntry, WorkloadEntry, WorkloadGroup (v1 / v1beta1 / v1alpha3 share them).
// The schema is Istio's CRD schema with its CEL rules (crd-derived.ts); these interfaces are the proto's
// fields (proto/networking/v1alpha3/service_entry.proto, workload_entry.proto, workload_group.proto) as
// the model reads them. istiod's webhook rules are in ../semantics/service-entry.ts.

export type ServiceEntryLocation = 'MESH_EXTERNAL' | 'MESH_INTERNAL';
export type ServiceEntryResolution = 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN';

export interface ServicePortSpec {
  readonly number: number;
  readonly protocol?: string;
  readonly name: string;
  readonly targetPort?: number;
}

export interface WorkloadEntrySpec {
  readonly address?: string;
  /** port name → workload port number */
  readonly ports?: Readonly<Record<string, number>>;
  readonly labels?: Readonly<Record<string, string>>;
  readonly network?: string;
  readonly locality?: string;
  readonly weight?: number;
  readonly serviceAccount?: string;
}

export interface ServiceEntrySpec {
  readonly hosts: readonly string[];
  readonly addresses?: readonly string[];
  readonly ports?: readonly ServicePortSpec[];
  readonly location?: ServiceEntryLocation;
  readonly resolution?: ServiceEntryResolution;
  readonly endpoints?: readonly WorkloadEntrySpec[];
  readonly workloadSelector?: { readonly labels?: Readonly<Record<string, string>> };
  readonly exportTo?: readonly string[];
  readonly subjectAltNames?: readonly string[];
}

export interface ProbeSpec {
  readonly periodSeconds?: number;
  readonly timeoutSeconds?: number;
  readonly successThreshold?: number;
  readonly failureThreshold?: number;
  readonly initialDelaySeconds?: number;
  readonly httpGet?: { readonly path?: string; readonly port: number; readonly host?: string; readonly scheme?: string; readonly httpHeaders?: readonly { name?: string; value?: string }[] };
  readonly tcpSocket?: { readonly host?: string; readonly port: number };
  readonly exec?: { readonly command?: readonly string[] };
  readonly grpc?: { readonly port?: number; readonly service?: string };
}

export interface WorkloadGroupSpec {
  readonly metadata?: { readonly labels?: Readonly<Record<string, string>>; readonly annotations?: Readonly<Record<string, string>> };
  readonly template: WorkloadEntrySpec;
  readonly probe?: ProbeSpec;
}

export const serviceEntry = crdDerived<'ServiceEntry', ServiceEntrySpec>('ServiceEntry');
export type ServiceEntry = ReturnType<typeof serviceEntry.parse>;
export const workloadEntry = crdDerived<'WorkloadEntry', WorkloadEntrySpec>('WorkloadEntry');
export type WorkloadEntry = ReturnType<typeof workloadEntry.parse>;
export const workloadGroup = crdDerived<'WorkloadGroup', WorkloadGroupSpec>('WorkloadGroup');
export type WorkloadGroup = ReturnType<typeof workloadGroup.parse>;
