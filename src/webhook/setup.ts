import type { CertificateAuthority } from '../ca/authority.js';
import type { KubeRequester } from '../ca/root-publisher.js';
import { DEFAULT_SERVING_DNS_NAMES } from '../ca/secure-server.js';
import type { ConfigStore } from '../config/store.js';
import type { Logger } from '../telemetry/log.js';
import type { Metrics } from '../telemetry/metrics.js';
import { CaBundlePatcher, type WebhookConfigurationRef } from './ca-bundle.js';
import { DEFAULT_INJECTION_CONFIG, type InjectionConfig } from './inject/config.js';
import { WebhookMetrics } from './metrics.js';
import { WebhookServer } from './server.js';

// What `meshd serve` runs for the webhooks (DaemonOptions.webhook): the HTTPS server on --webhook-addr
// and, with the Kubernetes source, the caBundle patcher. Needs the CA (the TLS port's).

export interface WebhookOptions {
  /** HOST:PORT (istiod's 15017) */
  readonly addr: string;
  /** DNS names of the serving certificate beyond istiod.istio-system.svc */
  readonly extraDnsNames?: readonly string[];
  readonly injection?: Partial<InjectionConfig>;
  readonly configurations?: readonly WebhookConfigurationRef[];
  /** keep the caBundle of this revision's tags too (CaBundlePatcherOptions.tagsOfRevision) */
  readonly tagsOfRevision?: string;
  readonly caBundleResyncMs?: number;
  readonly servingTtlMs?: number;
}

export interface RunningWebhooks {
  readonly server: WebhookServer;
  readonly patcher: CaBundlePatcher | undefined;
  stop(): Promise<void>;
}

/** Namespace labels as the model holds them (the Kubernetes source or config-dir Namespace objects). */
function namespaceLabelsFrom(store: ConfigStore): (ns: string) => Record<string, string> | undefined {
  return (ns) => {
    const found = store.list('Namespace').find((n) => n.object.metadata.name === ns);
    return found ? { ...(found.object.metadata.labels ?? {}) } : undefined;
  };
}

export async function startWebhooks(opts: WebhookOptions, deps: {
  ca: CertificateAuthority;
  store: ConfigStore;
  metrics: Metrics;
  log: Logger;
  mesh: { trustDomain: string; domainSuffix: string };
  kube?: { http: KubeRequester; cluster: string; leader?: { isLeader: boolean; on(ev: 'leader', fn: (isLeader: boolean) => void): unknown } | undefined };
  parseAddress: (addr: string) => { host: string; port: number };
}): Promise<{ webhooks: RunningWebhooks; addr: string }> {
  const cfg: InjectionConfig = {
    ...DEFAULT_INJECTION_CONFIG,
    trustDomain: deps.mesh.trustDomain,
    domainSuffix: deps.mesh.domainSuffix,
    meshId: deps.mesh.trustDomain,
    ...(deps.kube ? { clusterId: deps.kube.cluster } : {}),
    ...opts.injection,
  };
  const server = new WebhookServer({
    ca: deps.ca,
    dnsNames: [...new Set([...DEFAULT_SERVING_DNS_NAMES, ...(opts.extraDnsNames ?? [])])],
    inject: { cfg, namespaceLabels: namespaceLabelsFrom(deps.store) },
    metrics: new WebhookMetrics(deps.metrics),
    log: deps.log,
    ...(opts.servingTtlMs ? { servingTtlMs: opts.servingTtlMs } : {}),
  });
  const { host, port } = deps.parseAddress(opts.addr);
  const addr = await server.start(host, port).catch((err: Error) => {
    throw new Error(`--webhook-addr ${opts.addr}: ${err.message}`);
  });
  let patcher: CaBundlePatcher | undefined;
  if (deps.kube) {
    const kube = deps.kube;
    patcher = new CaBundlePatcher({
      http: kube.http,
      rootPem: () => deps.ca.rootPem,
      isLeader: () => kube.leader?.isLeader ?? true,
      log: deps.log,
      ...(opts.configurations ? { configurations: opts.configurations } : {}),
      ...(opts.tagsOfRevision ? { tagsOfRevision: opts.tagsOfRevision } : {}),
      ...(opts.caBundleResyncMs ? { resyncMs: opts.caBundleResyncMs } : {}),
    });
    const p = patcher;
    kube.leader?.on('leader', (isLeader) => {
      if (isLeader) p.trigger();
    });
    deps.ca.on('rotated', () => p.trigger());
    patcher.start();
  }
  return {
    addr,
    webhooks: {
      server,
      patcher,
      async stop() {
        patcher?.stop();
        await server.stop();
      },
    },
  };
}
