import { getDebugJson, getFromReplicaOf, MeshdRequestError, type MeshdEndpoint } from './meshd-client.js';

// What `meshd explain` and `meshd diff` read about a mesh, in the JSON shapes of meshd's debug pages, from
// either a running meshd (--meshd-addr: /debug/config_dump, registryz, endpointz, configz) or a config
// directory read and generated here exactly as the daemon would (offline). One interface, so the commands
// walk the same data whichever way it came.

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface ConfigObjectRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** FILE#doc for a config directory, kube(CLUSTER) for the Kubernetes source */
  readonly origin?: string;
}

export interface MeshView {
  /** where the answers come from, for the verdict: `meshd at ADDR` or `config dir DIR` */
  readonly describe: string;
  /** Envoy ConfigDump (canonical proto3 JSON, EDS included) of what the proxy holds, or undefined if unknown */
  configDump(proxyId: string): Promise<{ configs: Json[] } | undefined>;
  /** /debug/registryz */
  services(): Promise<Json[]>;
  /** /debug/endpointz */
  endpoints(): Promise<Record<string, Record<string, Json>>>;
  /** where a config object came from */
  objectRef(kind: string, namespace: string, name: string): Promise<ConfigObjectRef>;
  /** the SPIFFE identity of a pod's workload, when the view knows it beyond the registry's endpoints */
  identity?(pod: string): Promise<string | undefined>;
}

/**
 * A running meshd's debug pages: a proxy's config dump from whichever replica has it connected, the
 * mesh-wide pages (same config everywhere) from the first.
 */
export function liveMeshView(target: { readonly endpoints: readonly MeshdEndpoint[]; readonly describe: string }): MeshView {
  let configz: Promise<Json> | undefined;
  const first = target.endpoints[0]!;
  return {
    describe: target.describe,
    async configDump(proxyId) {
      try {
        return await getFromReplicaOf<{ configs: Json[] }>(target.endpoints, 'config_dump', { proxyID: proxyId });
      } catch (err) {
        if (err instanceof MeshdRequestError && err.status === 404) return undefined;
        throw err;
      }
    },
    services: () => getDebugJson<Json[]>(first, 'registryz'),
    endpoints: () => getDebugJson<Record<string, Record<string, Json>>>(first, 'endpointz'),
    async objectRef(kind, namespace, name) {
      configz ??= getDebugJson<Json>(first, 'configz');
      const o = ((await configz).objects as Json[] | undefined)?.find((x) => x.kind === kind && x.namespace === namespace && x.name === name);
      return { kind, namespace, name, ...(o?.origin ? { origin: String(o.origin) } : {}) };
    },
  };
}
