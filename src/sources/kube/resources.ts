// What the Kubernetes source watches and where, derived from the one kinds table (src/config/kinds.ts).
// The same table gives the ClusterRole (rbac.ts): a kind added there is watched and authorised at once.

import { ALL_KINDS, KINDS, type Kind, type KindInfo } from '../../config/kinds.js';

export interface WatchedResource {
  readonly kind: string;
  readonly group: string;
  /** versions to try, preferred first: the first one the cluster serves is used */
  readonly versions: readonly string[];
  readonly plural: string;
  readonly namespaced: boolean;
}

export function resourceOf(kind: Kind): WatchedResource {
  const info: KindInfo = KINDS[kind];
  return { kind: info.kind, group: info.group, versions: info.versions, plural: info.plural, namespaced: !info.clusterScoped };
}

/** Every mesh kind, the informers the source starts. */
export const MESH_RESOURCES: readonly WatchedResource[] = ALL_KINDS.map(resourceOf);

/**
 * Resources other components will watch through the same informer layer (the CA's `cacerts` Secret and
 * the `istio-ca-root-cert` ConfigMaps, the webhooks' certificates). Listed here so RBAC is derived in one
 * place once they are used; not watched by the config source.
 */
export const CORE_EXTRA_RESOURCES = {
  Secret: { kind: 'Secret', group: '', versions: ['v1'], plural: 'secrets', namespaced: true },
  ConfigMap: { kind: 'ConfigMap', group: '', versions: ['v1'], plural: 'configmaps', namespaced: true },
} as const satisfies Record<string, WatchedResource>;

/** The coordination.k8s.io Lease used for leader election of status writes. */
export const LEASE_RESOURCE: WatchedResource = { kind: 'Lease', group: 'coordination.k8s.io', versions: ['v1'], plural: 'leases', namespaced: true };

export const apiVersionOf = (group: string, version: string) => (group ? `${group}/${version}` : version);

/** `/api/v1/pods`, `/apis/networking.istio.io/v1/namespaces/ns/virtualservices/name/status` … */
export function resourcePath(r: Pick<WatchedResource, 'group' | 'plural' | 'namespaced'>, version: string, { namespace, name, subresource }: { namespace?: string | undefined; name?: string | undefined; subresource?: string | undefined } = {}): string {
  const base = r.group ? `/apis/${r.group}/${version}` : `/api/${version}`;
  const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const n = name ? `/${encodeURIComponent(name)}` : '';
  const sub = name && subresource ? `/${subresource}` : '';
  return `${base}${ns}/${r.plural}${n}${sub}`;
}
