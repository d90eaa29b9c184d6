// `meshd install` / `meshd uninstall`: server-side apply of the CRDs and the installation objects
// (field manager `meshd`, as `kubectl apply --server-side`), a readiness wait on the Deployment, and
// deletion in reverse order. The objects are the ones the kustomize base and the Helm chart hold
// (src/install/objects.ts); `meshd manifest generate` prints exactly what install applies.

import { ApiException, KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { allCrds } from './crds.js';
import { REV_LABEL } from './names.js';
import { installObjects, type KObject } from './objects.js';
import { embeddedYaml, yamlDocuments } from './render.js';
import type { Values } from './values.js';

export const FIELD_MANAGER = 'meshd';

export interface InstallPlan {
  readonly crds: readonly KObject[];
  readonly objects: readonly KObject[];
}

export function installPlan(values: Values): InstallPlan {
  return { crds: allCrds() as KObject[], objects: installObjects(values, embeddedYaml) };
}

/** The YAML `meshd manifest generate` prints: CRDs first, then the objects, in apply order. */
export function planYaml(plan: InstallPlan): string {
  return yamlDocuments([...plan.crds, ...plan.objects]);
}

export const objectRef = (o: KObject) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

function statusOf(err: ApiException<unknown>): { message?: string; reason?: string; details?: { name?: string; kind?: string } } | undefined {
  try {
    return JSON.parse(String(err.body)) as { message?: string };
  } catch {
    return undefined; // body was not a Status
  }
}

function explain(err: unknown, what: string): Error {
  if (err instanceof ApiException) return new Error(`${what}: HTTP ${err.code}: ${statusOf(err)?.message ?? String(err.body)}`);
  return new Error(`${what}: ${(err as Error).message}`);
}

/** The namespace a 404 says is missing (`namespaces "X" not found`), if that is what the 404 is about. */
function missingNamespace(err: unknown): string | undefined {
  if (!(err instanceof ApiException) || err.code !== 404) return undefined;
  const details = statusOf(err)?.details;
  return details?.kind === 'namespaces' ? details.name : undefined;
}

export interface ApplyOptions {
  readonly dryRun?: boolean;
  readonly log: (line: string) => void;
}

export interface ApplyResult {
  /** objects the API server accepted (created, updated, or in a dry run checked) */
  readonly applied: readonly KObject[];
  /**
   * dry run only: objects in a namespace this same apply would create first. A server dry run stores
   * nothing, so the API server answers them 404 (namespace not found) and cannot check them.
   */
  readonly afterNamespace: readonly KObject[];
}

/** Server-side applies each object in order; the API server merges what meshd owns with other managers' fields. */
export async function applyObjects(kc: KubeConfig, objects: readonly KObject[], { dryRun = false, log }: ApplyOptions): Promise<ApplyResult> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  const applied: KObject[] = [];
  const afterNamespace: KObject[] = [];
  for (const o of objects) {
    try {
      // force: meshd owns these objects' fields (as istioctl install, which also forces conflicts)
      await client.patch(o as KubernetesObject, undefined, dryRun ? 'All' : undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (err) {
      const ns = missingNamespace(err);
      if (dryRun && ns !== undefined && ns === o.metadata.namespace && applied.some((a) => a.kind === 'Namespace' && a.metadata.name === ns)) {
        afterNamespace.push(o);
        log(`  would create ${objectRef(o)} (not checked: namespace ${ns} does not exist yet and a dry run does not create it)`);
        continue;
      }
      throw explain(err, `applying ${objectRef(o)}`);
    }
    applied.push(o);
    log(dryRun ? `  accepted ${objectRef(o)} (server dry run)` : `  applied ${objectRef(o)}`);
  }
  return { applied, afterNamespace };
}

export interface WaitOptions {
  readonly namespace: string;
  /** the Deployment: istiod, or istiod-REVISION */
  readonly name: string;
  readonly timeoutMs: number;
  readonly pollMs?: number;
  readonly log: (line: string) => void;
}

interface DeploymentStatus {
  metadata?: { generation?: number };
  spec?: { replicas?: number };
  status?: { observedGeneration?: number; replicas?: number; availableReplicas?: number; updatedReplicas?: number; conditions?: { type: string; status: string; message?: string }[] };
}

/** Available as `kubectl rollout status` reads it: the current generation observed, its replicas updated and available. */
export function deploymentReady(d: DeploymentStatus): { ready: boolean; summary: string } {
  const want = d.spec?.replicas ?? 1;
  const s = d.status ?? {};
  const available = s.availableReplicas ?? 0;
  const updated = s.updatedReplicas ?? 0;
  const observed = (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
  const condition = s.conditions?.find((c) => c.type === 'Available');
  const ready = observed && updated >= want && available >= want && condition?.status !== 'False';
  return { ready, summary: `${available}/${want} available, ${updated} updated${condition?.message ? ` (${condition.message})` : ''}` };
}

/** Polls the Deployment until it is available or the timeout passes; reports each change of its state. */
export async function waitForDeployment(kc: KubeConfig, { namespace, name, timeoutMs, pollMs = 1000, log }: WaitOptions): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    let state: { ready: boolean; summary: string };
    try {
      const d = await client.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace } });
      state = deploymentReady(d as DeploymentStatus);
    } catch (err) {
      throw explain(err, `reading Deployment ${namespace}/${name}`);
    }
    if (state.summary !== last) {
      log(`  Deployment ${namespace}/${name}: ${state.summary}`);
      last = state.summary;
    }
    if (state.ready) return;
    if (Date.now() >= deadline) {
      throw new Error(`Deployment ${namespace}/${name} not available after ${Math.round(timeoutMs / 1000)}s (${state.summary}); check \`kubectl -n ${namespace} describe deployment ${name}\` and its pods`);
    }
    await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
  }
}

export interface UninstallOptions {
  /** also delete the CRDs (and with them every Istio object in the cluster) and the namespace */
  readonly purge: boolean;
  readonly log: (line: string) => void;
}

/**
 * Deletes what install applied, in reverse order; objects already gone are skipped. A plan for a revision
 * holds only that revision's objects (names end in -REVISION): the other revisions keep theirs. The
 * gateways carry no revision in their names: one labelled (istio.io/rev) for another revision is kept.
 */
export async function deleteObjects(kc: KubeConfig, plan: InstallPlan, { purge, log }: UninstallOptions): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  // the namespace goes last and only with --purge (istioctl keeps istio-system too)
  const objects = plan.objects.filter((o) => o.kind !== 'Namespace').reverse();
  const targets = purge ? [...objects, ...[...plan.crds].reverse(), ...plan.objects.filter((o) => o.kind === 'Namespace')] : objects;
  for (const o of targets) {
    try {
      // Objects every revision shares by name (the gateways, upgraded in place by the revision installed
      // last, as istioctl does) go only with the revision they now belong to.
      const rev = o.metadata.labels?.[REV_LABEL];
      if (rev !== undefined) {
        const live = await client.read({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) } });
        const liveRev = live.metadata?.labels?.[REV_LABEL];
        if (liveRev !== undefined && liveRev !== rev) {
          log(`  kept ${objectRef(o)}: it now belongs to revision ${liveRev}`);
          continue;
        }
      }
      await client.delete({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) } });
      log(`  removed ${objectRef(o)}`);
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) {
        log(`  ${objectRef(o)} was not there`);
        continue;
      }
      throw explain(err, `deleting ${objectRef(o)}`);
    }
  }
}
