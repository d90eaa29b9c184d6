// Live analysis: every kind meshd reads (and the Secrets gateways name), listed from the API server across
// namespaces, plus the mesh config from the `istio` ConfigMap of the control-plane namespace — what
// istioctl's kube source reads. Objects come through the same loader as files (so the same checks apply).

import { MESH_RESOURCES, CORE_EXTRA_RESOURCES, apiVersionOf, resourcePath, type WatchedResource } from '../sources/kube/resources.js';
import { KubeApiError, type KubeHttp } from '../sources/kube/client.js';
import { parseDocuments } from '../config/documents.js';
import { loadObject, type LoadResult } from './resource.js';

interface ObjectList {
  items?: unknown[];
}

export interface ClusterReadResult {
  /** the mesh config YAML of ConfigMap istio (key `mesh`), if there is one */
  readonly meshConfigYaml?: string;
  /** kinds that could not be listed, with why (a CRD not installed, RBAC) */
  readonly skipped: string[];
}

async function listAll(http: KubeHttp, r: WatchedResource): Promise<{ version: string; items: unknown[] } | { error: string }> {
  let last = '';
  for (const version of r.versions) {
    try {
      const list = await http.request<ObjectList>('GET', resourcePath(r, version));
      return { version, items: list?.items ?? [] };
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 404) {
        last = 'not served by this cluster';
        continue;
      }
      return { error: (err as Error).message };
    }
  }
  return { error: last };
}

export async function readCluster(http: KubeHttp, istioNamespace: string, cluster: string, out: LoadResult): Promise<ClusterReadResult> {
  const skipped: string[] = [];
  for (const r of [...MESH_RESOURCES, CORE_EXTRA_RESOURCES.Secret]) {
    const listed = await listAll(http, r);
    if ('error' in listed) {
      skipped.push(`${r.kind}: ${listed.error}`);
      continue;
    }
    for (const item of listed.items) {
      const obj = { apiVersion: apiVersionOf(r.group, listed.version), kind: r.kind, ...(item as object) };
      const meta = (item as { metadata?: { namespace?: string; name?: string } }).metadata;
      loadObject(obj, { cluster }, { defaultNamespace: '' }, out, `${r.kind} ${meta?.namespace ? `${meta.namespace}/` : ''}${meta?.name ?? ''}`);
    }
  }
  let meshConfigYaml: string | undefined;
  try {
    const cm = await http.request<{ data?: Record<string, string> }>('GET', resourcePath(CORE_EXTRA_RESOURCES.ConfigMap, 'v1', { namespace: istioNamespace, name: 'istio' }));
    meshConfigYaml = cm?.data?.['mesh'];
  } catch (err) {
    if (!(err instanceof KubeApiError && err.statusCode === 404)) skipped.push(`ConfigMap ${istioNamespace}/istio: ${(err as Error).message}`);
  }
  return { ...(meshConfigYaml !== undefined ? { meshConfigYaml } : {}), skipped };
}

/** The first document of a mesh config text (a file or the ConfigMap's `mesh` key). */
export function meshConfigDocument(text: string): unknown {
  const doc = parseDocuments(text)[0];
  if (doc?.error) throw new Error(doc.error);
  return doc?.value ?? {};
}
