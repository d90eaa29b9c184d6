import { configz } from '../config/debug.js';
import { ConfigStore } from '../config/store.js';
import { endpointz, registryz } from '../model/debug.js';
import { PushContext } from '../model/push-context.js';
import { generatedConfigDump, sidecarOfPod } from '../simulate/proxy-dump.js';
import { DirectorySource } from '../sources/dir/directory-source.js';
import { createLogger } from '../telemetry/log.js';
import type { MeshView } from './mesh-view.js';

// The offline MeshView: a config directory read into a store and a snapshot, as `meshd serve
// --config-dir` would, with each Pod's sidecar generated on demand.

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export async function loadConfigDir(dir: string): Promise<ConfigStore> {
  const store = new ConfigStore();
  const source = new DirectorySource({ dir, store, log: createLogger('warn') });
  await source.start();
  await source.stop();
  return store;
}

export function snapshotMeshView(store: ConfigStore, describe: string, version = 'offline'): MeshView & { readonly ctx: PushContext } {
  const ctx = new PushContext(store, version);
  const objects = configz(store) as { objects: Json[] };
  return {
    ctx,
    describe,
    configDump: async (proxyId) => {
      const proxy = sidecarOfPod(store, proxyId.includes('~') ? proxyId.split('~')[2]! : proxyId, ctx.mesh.domainSuffix);
      return proxy ? generatedConfigDump(ctx, proxy) : undefined;
    },
    services: async () => registryz(ctx) as Json[],
    endpoints: async () => endpointz(ctx) as Record<string, Record<string, Json>>,
    identity: async (pod) => {
      const p = sidecarOfPod(store, pod, ctx.mesh.domainSuffix);
      return p ? `spiffe://${ctx.mesh.trustDomain}/ns/${p.namespace}/sa/${p.serviceAccount}` : undefined;
    },
    objectRef: async (kind, namespace, name) => {
      const o = objects.objects.find((x) => x.kind === kind && x.namespace === namespace && x.name === name);
      return { kind, namespace, name, ...(o?.origin ? { origin: String(o.origin) } : {}) };
    },
  };
}

export async function offlineMeshView(dir: string): Promise<MeshView> {
  return snapshotMeshView(await loadConfigDir(dir), `config dir ${dir}`);
}
