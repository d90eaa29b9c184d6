// Shared pieces of the Kubernetes-source tests: a KubeConfig for a fixture, bounded waiting, and the
// "what the store must hold" view of the fixture's state (normalised and validated exactly as the
// source does, so a difference is a lost or stale object, never a formatting artefact).

import { KubeConfig } from '@kubernetes/client-node';
import { ALL_KINDS, ISTIO_KINDS, KINDS, type Kind } from '../../src/config/kinds.js';
import type { ConfigStore } from '../../src/config/store.js';
import { validateDocument } from '../../src/config/validate.js';
import { normalizeObject, storeForm } from '../../src/sources/kube/normalize.js';
import type { FakeApiServer } from '../kube-fixture/server.js';
import { grOf } from '../kube-fixture/resources.js';
import { hangGuardMs } from './hang-guard.js';

export function kubeConfigFor(server: string, { token, caPem }: { token?: string; caPem?: string } = {}): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fixture', server, ...(caPem ? { caData: Buffer.from(caPem).toString('base64') } : { skipTLSVerify: true }) }],
    users: [{ name: 'u', ...(token ? { token } : {}) }],
    contexts: [{ name: 'fixture', cluster: 'fixture', user: 'u' }],
    currentContext: 'fixture',
  });
  return kc;
}

export async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, requestedTimeoutMs = 10_000, intervalMs = 25): Promise<T> {
  const timeoutMs = hangGuardMs(requestedTimeoutMs);
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** kind → key → canonical JSON, of what the store holds for a source. */
export function storeView(store: ConfigStore, sourceId: string, kinds: readonly Kind[] = ALL_KINDS): Map<string, string> {
  const out = new Map<string, string>();
  for (const kind of kinds) {
    for (const key of store.keys(kind, sourceId)) out.set(key, JSON.stringify(store.get(kind, key)!.object));
  }
  return out;
}

/** The same view computed from the fixture: what a correct source must have stored. */
export function fixtureView(api: FakeApiServer, kinds: readonly Kind[] = ALL_KINDS, visibleNs?: (ns: string) => boolean): Map<string, string> {
  const out = new Map<string, string>();
  for (const kind of kinds) {
    const info = KINDS[kind];
    for (const raw of api.list(grOf({ group: info.group, plural: info.plural }))) {
      const ns = kind === 'Namespace' ? raw.metadata.name : raw.metadata.namespace;
      if (visibleNs && ns && !visibleNs(ns)) continue;
      const o = storeForm(normalizeObject(raw, String(raw.apiVersion), kind), ISTIO_KINDS.includes(kind));
      const r = validateDocument(o);
      if (!r.ok) continue;
      const key = `${kind}/${kind === 'Namespace' ? '' : raw.metadata.namespace}/${raw.metadata.name}`;
      out.set(key, JSON.stringify(r.value.object));
    }
  }
  return out;
}

/** Differences between two views: lost (in fixture, not in store), stale (different), extra. */
export function diffViews(expected: Map<string, string>, actual: Map<string, string>): { lost: string[]; stale: string[]; extra: string[] } {
  const lost: string[] = [];
  const stale: string[] = [];
  const extra: string[] = [];
  for (const [k, v] of expected) {
    const a = actual.get(k);
    if (a === undefined) lost.push(k);
    else if (a !== v) stale.push(k);
  }
  for (const k of actual.keys()) if (!expected.has(k)) extra.push(k);
  return { lost, stale, extra };
}
