// Istio's analyzers of workloads meshd injects and configures: injection.Analyzer (namespaces without an
// injection choice, several injection labels, pods in injected namespaces without istio-proxy) and
// applicationUID.Analyzer (application containers running as 1337, the proxy's UID, which the iptables
// rules exempt from capture).

import { fullName, type Analyzer } from '../context.js';
import { message } from '../message.js';
import type { Resource } from '../resource.js';

const INJECTION = 'injection.Analyzer';
const ISTIO_SYSTEM = 'istio-system';
const INJECTION_LABEL = 'istio-injection';
const REV_LABEL = 'istio.io/rev';
const DATAPLANE_MODE = 'istio.io/dataplane-mode';

interface Container {
  name?: string;
  image?: string;
  securityContext?: { runAsUser?: number } | null;
}
interface PodSpec {
  hostNetwork?: boolean;
  containers?: Container[];
  initContainers?: Container[];
  securityContext?: { runAsUser?: number } | null;
}

/** GetEnableNamespacesByDefaultFromInjectedConfigMap: values.sidecarInjectorWebhook.enableNamespacesByDefault */
function enableNamespacesByDefault(cm: Resource): boolean {
  const values = (cm.object as { data?: Record<string, unknown> }).data?.['values'];
  if (typeof values !== 'string') return false;
  try {
    return (JSON.parse(values) as { sidecarInjectorWebhook?: { enableNamespacesByDefault?: unknown } }).sidecarInjectorWebhook?.enableNamespacesByDefault === true;
  } catch {
    return false;
  }
}

export const injectionAnalyzer: Analyzer = {
  name: INJECTION,
  description: 'Checks conditions related to Istio sidecar injection',
  analyze(ctx) {
    const injected = new Set<string>();
    let byDefault = false;
    for (const r of ctx.all('Namespace')) {
      if (r.name === ISTIO_SYSTEM) continue;
      const injectionLabel = r.labels[INJECTION_LABEL];
      const revision = r.labels[REV_LABEL];
      const labels: string[] = [];
      if (injectionLabel !== undefined) labels.push(`${INJECTION_LABEL}=${injectionLabel}`);
      for (const l of [REV_LABEL, DATAPLANE_MODE]) {
        if (l in r.labels && (injectionLabel === undefined || injectionLabel === 'enabled')) labels.push(`${l}=${r.labels[l]}`);
      }
      if (labels.length > 1) ctx.report(message('NamespaceMultipleInjectionLabels', r, INJECTION, labels));
      if (r.labels[DATAPLANE_MODE] === 'ambient') continue;
      const cmName = !revision || revision === 'default' ? 'istio-sidecar-injector' : `istio-sidecar-injector-${revision}`;
      const cm = ctx.all('ConfigMap').find((c) => c.name === cmName);
      if (cm) byDefault = enableNamespacesByDefault(cm);
      if (!injectionLabel && revision === undefined) {
        if (byDefault) ctx.report(message('NamespaceInjectionEnabledByDefault', r, INJECTION));
        else ctx.report(message('NamespaceNotInjected', r, INJECTION, r.name, r.name));
        continue;
      }
      if (injectionLabel === 'enabled') injected.add(r.name);
    }
    for (const r of ctx.all('Pod')) {
      if (!injected.has(r.namespace)) continue;
      const inject = r.labels['sidecar.istio.io/inject'] ?? r.annotations['sidecar.istio.io/inject'] ?? '';
      if (inject.toLowerCase() === 'false') continue;
      const spec = ((r.object as { spec?: PodSpec }).spec ?? {}) as PodSpec;
      if (spec.hostNetwork) continue;
      const proxy = [...(spec.containers ?? []), ...(spec.initContainers ?? [])].find((c) => c.name === 'istio-proxy');
      if (!proxy?.image) ctx.report(message('PodMissingProxy', r, INJECTION, fullName(r)));
    }
  },
};

const APP_UID = 'applicationUID.Analyzer';
const PROXY_UID = 1337;

function runsAsProxyUid(spec: PodSpec | undefined): number {
  let hits = spec?.securityContext?.runAsUser === PROXY_UID ? 1 : 0;
  for (const c of spec?.containers ?? []) {
    if (c.name !== 'istio-proxy' && c.name !== 'istio-operator' && c.securityContext?.runAsUser === PROXY_UID) hits++;
  }
  return hits;
}

export const applicationUidAnalyzer: Analyzer = {
  name: APP_UID,
  description: 'Checks invalid application UID',
  analyze(ctx) {
    const controlPlane = (r: Resource) => 'istio' in r.labels || r.labels['release'] === 'istio';
    for (const r of ctx.all('Pod')) {
      if (controlPlane(r)) continue;
      for (let i = runsAsProxyUid((r.object as { spec?: PodSpec }).spec); i > 0; i--) ctx.report(message('InvalidApplicationUID', r, APP_UID));
    }
    for (const r of ctx.all('Deployment')) {
      if (controlPlane(r)) continue;
      const spec = (r.object as { spec?: { template?: { spec?: PodSpec } } }).spec?.template?.spec;
      for (let i = runsAsProxyUid(spec); i > 0; i--) ctx.report(message('InvalidApplicationUID', r, APP_UID));
    }
  },
};

export const WORKLOAD_ANALYZERS: readonly Analyzer[] = [applicationUidAnalyzer, injectionAnalyzer];
