import type { ExtensionProvider } from '../../../config/mesh-config.js';
import { perSnapshot, type PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import {
  accessLoggingFor,
  DEFAULT_TRACE_SAMPLING,
  metricsFor,
  tracingFor,
  type ApplicableTelemetry,
  type MeshTelemetry,
  type TrafficMode,
} from '../../../model/telemetry.js';
import { istioStatsFilter, type ListenerClass } from '../../../envoy/hcm.js';
import { GATEWAY_NAME_LABEL, targetRefsOf } from '../../../model/policy-attachment.js';
import { lookupProviderCluster } from '../../../envoy/provider-cluster.js';
import {
  andFilters,
  celAccessLogFilter,
  hcmTracing,
  isAccessLogProvider,
  meshFileAccessLog,
  meshGrpcAccessLog,
  NO_ROUTE_FILTER,
  providerAccessLog,
  providerService,
  requestIdExtension,
  statsPluginConfig,
  type ProviderTarget,
  type TracingProxy,
} from '../../../envoy/telemetry-config.js';

// The observability part of a sidecar's or gateway's listeners, where istiod puts it (listener_builder.go,
// networkfilter.go, accesslog.go, tracing.go): the HCM's access_log, tracing and request_id_extension, the
// istio.stats HTTP/network filters, the tcp_proxy's access_log and the listeners' NR access log.
// Gateways (the router generator) ask for class 'gateway', which istiod treats as the client side (access
// log match mode CLIENT, the client tracing spec and metrics overrides) but, like inbound, without the
// istio.stats Host-header fallback (istiod disableHostHeaderFallback).
// Everything is derived from the snapshot (Telemetry objects, mesh config, services for provider clusters)
// and the proxy's namespace, labels and span-tag facts — see telemetryClassFacts for the class key.
//
// What meshd cannot honour is reported through ctx.warn (logged once, meshd_config_warnings_total), never
// dropped silently.

type J = Record<string, unknown>;

/** istiod's ListenerClass: sidecar inbound/outbound, or gateway */
export type TelemetryClass = ListenerClass | 'gateway';

const modeOf = (cls: TelemetryClass): TrafficMode => (cls === 'inbound' ? 'SERVER' : 'CLIENT');

const CANONICAL_NAME = 'service.istio.io/canonical-name';
const CANONICAL_REVISION = 'service.istio.io/canonical-revision';

export interface HcmTelemetry {
  readonly accessLog: J[];
  readonly tracing?: J;
  readonly requestIdExtension: J;
}

/** The telemetry pieces of one proxy's listeners; each is computed on first use. */
export class SidecarTelemetry {
  private readonly mesh: MeshTelemetry;
  private readonly providers: readonly ExtensionProvider[] | undefined;
  private applicableCache: ApplicableTelemetry | undefined;
  /** one listener build asks for the same pieces many times (every chain); each is built once */
  private readonly memo = new Map<string, unknown>();

  /**
   * @param onTracingRead told each TracingProxy field the output reads (outboundTelemetryReads uses it
   *   to learn which proxy facts the outbound listeners depend on)
   */
  constructor(
    private readonly ctx: PushContext,
    private readonly proxy: Proxy,
    private readonly onTracingRead?: (field: keyof TracingProxy) => void,
  ) {
    this.mesh = ctx.mesh.telemetry ?? {};
    this.providers = ctx.mesh.extensionProviders;
  }

  get applicable(): ApplicableTelemetry {
    return (this.applicableCache ??= this.ctx.telemetries.applicable(this.proxy.namespace, this.ctx.proxyLabels(this.proxy)));
  }

  private warn(message: string): void {
    const from = this.applicable.sources.length ? ` (Telemetry ${this.applicable.sources.join(', ')})` : '';
    this.ctx.warn(`${message}${from}`);
  }

  private target(p: ExtensionProvider): ProviderTarget | undefined {
    const svc = providerService(p);
    if (!svc) return undefined;
    const found = lookupProviderCluster(this.ctx, svc.service, svc.port);
    if ('error' in found) {
      this.warn(`extension provider ${JSON.stringify(p.name)}: could not find cluster: ${found.error}`);
      return undefined;
    }
    return found;
  }

  /**
   * Access loggers of one listener class (istiod setHTTPAccessLog / setTCPAccessLog; `extraFilter` is the
   * listener-level NR filter): the Telemetry path when it yields any, else the mesh config's.
   */
  accessLogs(cls: TelemetryClass, kind: 'http' | 'tcp' | 'listener'): J[] {
    return this.once(`al/${cls}/${kind}`, () => this.buildAccessLogs(cls, kind));
  }

  private once<T>(key: string, build: () => T): T {
    if (!this.memo.has(key)) this.memo.set(key, build());
    return this.memo.get(key) as T;
  }

  private buildAccessLogs(cls: TelemetryClass, kind: 'http' | 'tcp' | 'listener'): J[] {
    if (kind === 'listener' && this.mesh.disableEnvoyListenerLog) return [];
    const extra = kind === 'listener' ? NO_ROUTE_FILTER : undefined;
    const resolved = accessLoggingFor(this.applicable, this.mesh, this.providers, modeOf(cls));
    for (const name of resolved?.unknownProviders ?? []) this.warn(`access logging names provider ${JSON.stringify(name)}, which the mesh config's extensionProviders do not define`);
    const out: J[] = [];
    const usable = (resolved?.choices ?? []).filter((c) => {
      if (isAccessLogProvider(c.provider)) return true;
      if (!c.provider.stackdriver) this.warn(`access logging names provider ${JSON.stringify(c.provider.name)}, which is not an access-log provider (envoyFileAccessLog, envoyHttpAls, envoyTcpAls, envoyOtelAls); it logs nothing`);
      else this.warn(`access logging provider ${JSON.stringify(c.provider.name)} is stackdriver, which istio-proxy no longer supports; it logs nothing`);
      return false;
    });
    const built = usable.map((c) => ({ c, al: c.disabled ? undefined : this.providerLog(c.provider) }));
    const configured = built.filter((b) => b.c.disabled || b.al !== undefined);
    if (configured.length === 0) {
      if (resolved && resolved.choices.some((c) => c.disabled) === false && this.applicable.logging.some((level) => level.some((l) => l.disabled === true && !(l.providers ?? []).length))) {
        this.warn('accessLogging disabled without naming a provider has no effect on meshConfig.accessLogFile (istiod behaves the same): name the provider, e.g. `providers: [{name: envoy}]`');
      }
      return this.legacyAccessLogs(kind, extra);
    }
    for (const { c, al } of built) {
      if (c.disabled || !al) continue;
      const filter = andFilters([...(extra ? [extra] : []), ...(c.filter !== undefined ? [celAccessLogFilter(c.filter)] : [])]);
      out.push(filter ? { ...al, filter } : al);
    }
    return out;
  }

  private providerLog(p: ExtensionProvider): J | undefined {
    const problems: string[] = [];
    const al = providerAccessLog(p, p.envoyFileAccessLog ? undefined : this.target(p), this.mesh, problems);
    for (const m of problems) this.warn(m);
    return al;
  }

  private legacyAccessLogs(kind: 'http' | 'tcp' | 'listener', extra: J | undefined): J[] {
    const out: J[] = [];
    if (this.mesh.accessLogFile) {
      const problems: string[] = [];
      const al = meshFileAccessLog(this.mesh.accessLogFile, this.mesh.accessLogFormat, this.mesh.accessLogEncoding, problems);
      for (const m of problems) this.warn(m);
      out.push(extra ? { ...al, filter: extra } : al);
    }
    if (this.mesh.enableEnvoyAccessLogService) out.push(meshGrpcAccessLog(kind));
    return out;
  }

  /** The HCM's access loggers, tracing and request-id extension (istiod buildHTTPConnectionManager). */
  hcm(cls: TelemetryClass): HcmTelemetry {
    return this.once(`hcm/${cls}`, () => this.buildHcm(cls));
  }

  private buildHcm(cls: TelemetryClass): HcmTelemetry {
    const accessLog = this.accessLogs(cls, 'http');
    const resolved = tracingFor(this.applicable, this.mesh, this.providers);
    const proxyTracing = this.mesh.proxyTracing;
    const legacySampling = proxyTracing?.sampling ? (proxyTracing.sampling > 100 ? 1 : proxyTracing.sampling) : DEFAULT_TRACE_SAMPLING;
    const problems: string[] = [];
    if (!resolved) {
      // the legacy path: enableTracing (default on) with defaultConfig.tracing's sampling and tags; the
      // tracer itself lives in the bootstrap pilot-agent writes from defaultConfig.tracing
      if (this.mesh.enableTracing === false) return { accessLog, requestIdExtension: requestIdExtension(true) };
      const tracing = hcmTracing({
        randomSamplingPercentage: legacySampling,
        enableIstioTags: proxyTracing?.enableIstioTags ?? true,
        ...(proxyTracing?.customTags ? { proxyConfigTags: proxyTracing.customTags } : {}),
        ...(proxyTracing?.maxPathTagLength ? { maxPathTagLength: proxyTracing.maxPathTagLength } : {}),
      }, this.tracingProxy(), problems);
      for (const m of problems) this.warn(m);
      return { accessLog, tracing, requestIdExtension: requestIdExtension(true) };
    }
    for (const name of resolved.unknownProviders) this.warn(`tracing names provider ${JSON.stringify(name)}, which the mesh config's extensionProviders do not define`);
    for (const name of resolved.ignoredProviders) this.warn(`tracing provider ${JSON.stringify(name)} is ignored: only the first provider is used (istiod does the same)`);
    const spec = cls === 'inbound' ? resolved.choice.server : resolved.choice.client;
    if (spec.disabled) return { accessLog, requestIdExtension: requestIdExtension(true) };
    const provider = spec.provider;
    const target = provider ? this.target(provider) : undefined;
    const sampler = provider?.opentelemetry?.dynatraceSampler?.httpService;
    let samplerTarget: ProviderTarget | undefined;
    if (sampler) {
      const found = lookupProviderCluster(this.ctx, sampler.service, sampler.port);
      if (!('error' in found)) samplerTarget = found;
    }
    const tracing = hcmTracing({
      ...(provider ? { provider } : {}),
      ...(target ? { target } : {}),
      ...(samplerTarget ? { samplerTarget } : {}),
      randomSamplingPercentage: spec.randomSamplingPercentage ?? legacySampling,
      enableIstioTags: spec.enableIstioTags,
      ...(spec.customTags ? { telemetryTags: spec.customTags } : {}),
      ...(proxyTracing?.customTags ? { proxyConfigTags: proxyTracing.customTags } : {}),
      ...(proxyTracing?.maxPathTagLength ? { maxPathTagLength: proxyTracing.maxPathTagLength } : {}),
      disableContextPropagation: spec.disableContextPropagation,
    }, this.tracingProxy(), problems);
    for (const m of problems) this.warn(m);
    return { accessLog, tracing, requestIdExtension: requestIdExtension(spec.useRequestIdForTraceSampling) };
  }

  /** istio.stats filters of one listener class (istiod Telemetries.HTTPFilters / TCPFilters). */
  statsFilters(cls: TelemetryClass): J[] {
    return this.once(`stats/${cls}`, () => this.buildStatsFilters(cls));
  }

  private buildStatsFilters(cls: TelemetryClass): J[] {
    const resolved = metricsFor(this.applicable, this.mesh, this.providers);
    for (const name of resolved.unknownProviders) this.warn(`metrics names provider ${JSON.stringify(name)}, which the mesh config's extensionProviders do not define`);
    const out: J[] = [];
    for (const c of resolved.choices) {
      if (!c.provider.prometheus) {
        if (!c.provider.stackdriver) this.warn(`metrics provider ${JSON.stringify(c.provider.name)} is not a metrics provider (prometheus); it reports nothing`);
        continue;
      }
      const direction = cls === 'inbound' ? c.server : c.client;
      if (direction.disabled) continue;
      out.push(istioStatsFilter(cls === 'inbound' ? 'inbound' : 'outbound', statsPluginConfig(cls !== 'outbound', direction, c.reportingInterval)));
    }
    return out;
  }

  private tracingProxy(): TracingProxy {
    const labels = this.ctx.proxyLabels(this.proxy);
    const md = this.proxy.metadata;
    const str = (v: unknown) => (typeof v === 'string' ? v : '');
    const facts: TracingProxy = {
      serviceCluster: this.proxy.serviceCluster ?? '',
      canonicalService: labels[CANONICAL_NAME] ?? '',
      canonicalRevision: labels[CANONICAL_REVISION] ?? '',
      meshId: str(md.MESH_ID),
      namespace: str(md.NAMESPACE) || this.proxy.namespace,
      clusterId: str(md.CLUSTER_ID),
      router: this.proxy.type === 'router',
    };
    const onRead = this.onTracingRead;
    if (!onRead) return facts;
    return new globalThis.Proxy(facts, {
      get(target, field, receiver) {
        if (typeof field === 'string' && field in target) onRead(field as keyof TracingProxy);
        return Reflect.get(target, field, receiver) as unknown;
      },
    });
  }
}

/** Where each TracingProxy field comes from on the proxy (see tracingProxy). */
const TRACING_FACT_SOURCES: Readonly<Record<keyof TracingProxy, { label?: string; metadata?: string; serviceCluster?: true }>> = {
  serviceCluster: { serviceCluster: true },
  canonicalService: { label: CANONICAL_NAME },
  canonicalRevision: { label: CANONICAL_REVISION },
  meshId: { metadata: 'MESH_ID' },
  namespace: { metadata: 'NAMESPACE' },
  clusterId: { metadata: 'CLUSTER_ID' },
  // the proxy type is part of every view (model/proxy-view.ts proxyType)
  router: {},
};

/** The proxy facts the outbound listeners' telemetry reads (see outboundTelemetryReads). */
export interface OutboundTelemetryReads {
  readonly labelKeys: readonly string[];
  readonly metadataKeys: readonly string[];
  readonly serviceCluster: boolean;
}

/**
 * Which tracing facts the outbound HCM reads, per (namespace, applicable Telemetry set): only what the
 * resolved tracing uses (Istio's span tags only when tracing is on with enableIstioTags; node.cluster
 * only for a tracer that names the service). Learnt by building the outbound HCM's telemetry once with
 * every TracingProxy read recorded, so it cannot drift from what the builder does.
 */
const tracingReadsBySet = perSnapshot((): Map<string, ReadonlySet<keyof TracingProxy>> => new Map());

/**
 * The proxy facts beyond the outbound view's own that the outbound listeners' observability depends on
 * (model/proxy-view.ts adds them to the view): the label keys of the Telemetry selectors that pick this
 * proxy (with the namespace they decide which Telemetry applies: a proxy that has the same values for
 * them is picked by the same objects), and the tracing facts the resolved tracing reads. No Telemetry
 * selecting the proxy and no tracing that reads proxy facts → nothing: every proxy of the view shares
 * the listeners.
 */
export function outboundTelemetryReads(ctx: PushContext, proxy: Proxy): OutboundTelemetryReads {
  const telemetry = new SidecarTelemetry(ctx, proxy);
  const applicable = telemetry.applicable;
  const memo = tracingReadsBySet(ctx);
  const key = `${proxy.namespace}\u0000${applicable.sources.join('\u0000')}`;
  let fields = memo.get(key);
  if (!fields) {
    const read = new Set<keyof TracingProxy>();
    new SidecarTelemetry(ctx, proxy, (f) => read.add(f)).hcm('outbound');
    memo.set(key, (fields = read));
  }
  const labelKeys = new Set(applicable.selectorLabelKeys);
  const metadataKeys: string[] = [];
  let serviceCluster = false;
  for (const f of fields) {
    const from = TRACING_FACT_SOURCES[f];
    if (from.label) labelKeys.add(from.label);
    if (from.metadata) metadataKeys.push(from.metadata);
    if (from.serviceCluster) serviceCluster = true;
  }
  return { labelKeys: [...labelKeys].sort(), metadataKeys: metadataKeys.sort(), serviceCluster };
}

/**
 * The proxy facts the telemetry output reads beyond what the class key already holds: its span-tag values
 * (canonical service/revision labels, mesh id, cluster id, service cluster) and the label keys Telemetry
 * selectors use. Part of sidecarClassKey.
 */
export function telemetryClassFacts(ctx: PushContext, proxy: Proxy): string[] {
  const labels = ctx.proxyLabels(proxy);
  const md = proxy.metadata;
  const keys = new Set<string>();
  for (const t of ctx.telemetries.inNamespace(proxy.namespace)) {
    for (const k of Object.keys(t.spec.selector?.matchLabels ?? {})) keys.add(k);
    if (targetRefsOf(t.spec).length > 0) keys.add(GATEWAY_NAME_LABEL);
  }
  const selected = [...keys].sort().map((k) => `${k}=${labels[k] ?? ''}`);
  return [
    labels[CANONICAL_NAME] ?? '',
    labels[CANONICAL_REVISION] ?? '',
    typeof md.MESH_ID === 'string' ? md.MESH_ID : '',
    typeof md.CLUSTER_ID === 'string' ? md.CLUSTER_ID : '',
    proxy.serviceCluster ?? '',
    proxy.type,
    ...selected,
  ];
}
