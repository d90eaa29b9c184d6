import type { ExtensionProvider } from '../config/mesh-config.js';
import type { DefaultProviders, MeshTelemetry } from '../config/mesh-telemetry.js';

export type { MeshTelemetry } from '../config/mesh-telemetry.js';
import type { StoredObject } from '../config/store.js';
import type { AccessLogging, CustomTag, Metrics, TagOverride, TelemetrySpec, Tracing, WorkloadMode } from '../config/schemas/telemetry.js';
import { ISTIO_METRICS } from '../config/schemas/telemetry.js';
import { GATEWAY_NAME_LABEL, policyAttaches, targetRefsOf } from './policy-attachment.js';

// The Telemetry API as istiod resolves it for one proxy (pilot/pkg/model/telemetry.go,
// telemetry_logging.go): which Telemetry objects apply (root namespace → proxy namespace → workload
// selector, later ones overriding), merged per concern into the access loggers, the tracer and the metrics
// overrides of each traffic direction. Pure data: the Envoy shapes are built in envoy/telemetry-config.ts.
//
// The mesh config's observability fields (accessLogFile, enableTracing, defaultConfig.tracing, the
// extension and default providers) come in through MeshTelemetry; when no Telemetry and no default provider
// speaks about a concern, the legacy mesh-config path applies, exactly where istiod falls back to it.

/** What Istio's chart puts in every mesh config (telemetry.v2.prometheus.enabled). */
export const CHART_DEFAULT_PROVIDERS: DefaultProviders = Object.freeze({ metrics: ['prometheus'] });

/** PILOT_TRACE_SAMPLING: istiod's default random sampling when nothing else sets it */
export const DEFAULT_TRACE_SAMPLING = 1.0;

/** Providers every istiod mesh config has (pkg/config/mesh DefaultMeshConfig); one of the same name replaces them. */
export const BUILTIN_PROVIDERS: readonly ExtensionProvider[] = Object.freeze([
  { name: 'prometheus', prometheus: {} },
  { name: 'stackdriver', stackdriver: {} },
  { name: 'envoy', envoyFileAccessLog: { path: '/dev/stdout' } },
]);

/** The direction a listener serves: outbound → CLIENT, inbound → SERVER (istiod workloadMode). */
export type TrafficMode = 'CLIENT' | 'SERVER';

export interface IndexedTelemetry {
  readonly name: string;
  readonly namespace: string;
  readonly spec: TelemetrySpec;
  readonly revision: number;
}

/** One access logger that applies: the provider and the filter expression that goes with it. */
export interface LoggingChoice {
  readonly provider: ExtensionProvider;
  readonly disabled: boolean;
  readonly filter?: string;
}

export interface TracingSpec {
  readonly provider?: ExtensionProvider;
  /** no tracing config at all for this direction */
  readonly disabled: boolean;
  readonly randomSamplingPercentage?: number;
  readonly customTags?: Readonly<Record<string, CustomTag>>;
  readonly useRequestIdForTraceSampling: boolean;
  readonly enableIstioTags: boolean;
  readonly disableContextPropagation: boolean;
}

export interface TracingChoice {
  readonly client: TracingSpec;
  readonly server: TracingSpec;
}

/** One metric override after merging (istiod metricsOverride): the Prometheus name or the custom metric name. */
export interface MetricOverride {
  readonly name: string;
  readonly disabled: boolean;
  /** sorted by name */
  readonly tags: readonly { readonly name: string; readonly remove: boolean; readonly value: string }[];
}

export interface MetricsDirection {
  /** the whole filter is dropped (ALL_METRICS disabled) */
  readonly disabled: boolean;
  /** sorted by name */
  readonly overrides: readonly MetricOverride[];
}

/** The metrics a provider reports for a proxy: per direction, and the TCP reporting interval. */
export interface MetricsChoice {
  readonly provider: ExtensionProvider;
  readonly client: MetricsDirection;
  readonly server: MetricsDirection;
  readonly reportingInterval?: string;
}

/** What applies to one proxy, in precedence order (istiod computedTelemetries); names say which objects. */
export interface ApplicableTelemetry {
  /** `ns/name` of the Telemetry objects that applied, root first */
  readonly sources: readonly string[];
  readonly metrics: readonly Metrics[];
  /** access logging grouped per Telemetry object (mergeLogs reads them level by level) */
  readonly logging: readonly (readonly AccessLogging[])[];
  readonly tracing: readonly Tracing[];
  /**
   * The label keys of the selectors that picked a Telemetry here (sorted): with the namespace, the only
   * proxy facts that decide what applies (a proxy with the same values for these keys gets the same set)
   */
  readonly selectorLabelKeys: readonly string[];
}

const isNamespaceWide = (t: IndexedTelemetry) =>
  Object.keys(t.spec.selector?.matchLabels ?? {}).length === 0 && !t.spec.targetRef && (t.spec.targetRefs ?? []).length === 0;


/** The Telemetry objects of a snapshot by namespace, oldest first (istiod sortConfigByCreationTime). */
export class TelemetryIndex {
  private readonly byNamespace = new Map<string, IndexedTelemetry[]>();

  constructor(
    objects: readonly StoredObject<'Telemetry'>[],
    readonly rootNamespace: string,
  ) {
    const all = objects
      .map((o) => ({ name: o.object.metadata.name, namespace: o.object.metadata.namespace ?? 'default', spec: o.object.spec, revision: o.revision }))
      .sort((a, b) => a.revision - b.revision || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
    for (const t of all) {
      const list = this.byNamespace.get(t.namespace);
      if (list) list.push(t);
      else this.byNamespace.set(t.namespace, [t]);
    }
  }

  get size(): number {
    let n = 0;
    for (const l of this.byNamespace.values()) n += l.length;
    return n;
  }

  /** The first namespace-wide Telemetry of a namespace (istiod namespaceWideTelemetryConfig). */
  namespaceWide(namespace: string): IndexedTelemetry | undefined {
    return this.byNamespace.get(namespace)?.find(isNamespaceWide);
  }

  /** Every Telemetry of a namespace, oldest first. */
  inNamespace(namespace: string): readonly IndexedTelemetry[] {
    return this.byNamespace.get(namespace) ?? [];
  }

  /**
   * istiod applicableTelemetries for a sidecar or gateway: the root namespace's namespace-wide Telemetry,
   * then the proxy namespace's, then every other Telemetry of the proxy's namespace that attaches to it
   * (policy-attachment.ts: a matching selector; targetRefs only on the Gateway API gateway they name).
   */
  applicable(proxyNamespace: string, labels: Readonly<Record<string, string>>): ApplicableTelemetry {
    const picked: IndexedTelemetry[] = [];
    const root = this.namespaceWide(this.rootNamespace);
    if (root) picked.push(root);
    if (proxyNamespace !== this.rootNamespace) {
      const ns = this.namespaceWide(proxyNamespace);
      if (ns) picked.push(ns);
    }
    for (const t of this.inNamespace(proxyNamespace)) {
      if (isNamespaceWide(t)) continue;
      if (policyAttaches(t.spec, t.namespace, { namespace: proxyNamespace, labels })) picked.push(t);
    }
    return {
      sources: picked.map((t) => `${t.namespace}/${t.name}`),
      metrics: picked.flatMap((t) => t.spec.metrics ?? []),
      logging: picked.filter((t) => (t.spec.accessLogging ?? []).length > 0).map((t) => t.spec.accessLogging!),
      tracing: picked.flatMap((t) => t.spec.tracing ?? []),
      selectorLabelKeys: [...new Set(picked.flatMap((t) => [...Object.keys(t.spec.selector?.matchLabels ?? {}), ...(targetRefsOf(t.spec).length > 0 ? [GATEWAY_NAME_LABEL] : [])]))].sort(),
    };
  }
}

/** istiod fetchProvider: the mesh config's providers (case-insensitive name), then the built-in ones. */
export function findProvider(providers: readonly ExtensionProvider[] | undefined, name: string): ExtensionProvider | undefined {
  const lower = name.toLowerCase();
  return (providers ?? []).find((p) => p.name.toLowerCase() === lower) ?? BUILTIN_PROVIDERS.find((p) => p.name.toLowerCase() === lower);
}

const providerNames = (refs: readonly { name: string }[] | undefined) => (refs ?? []).map((r) => r.name);

function modeMatches(match: { mode?: WorkloadMode | undefined } | undefined, mode: TrafficMode): boolean {
  const m = match?.mode ?? 'CLIENT_AND_SERVER';
  return m === 'CLIENT_AND_SERVER' || m === mode;
}

// ---------------------------------------------------------------------------------------------------------
// access logging

/**
 * istiod Telemetries.AccessLogging + mergeLogs: the access loggers of one direction, sorted by provider
 * name, or undefined when neither a Telemetry nor defaultProviders.accessLogging speaks about access logs
 * (then the legacy accessLogFile / enableEnvoyAccessLogService path applies). An empty list also falls back
 * to the legacy path, as in istiod (see README "Observability").
 */
export function accessLoggingFor(
  applicable: ApplicableTelemetry,
  mesh: MeshTelemetry,
  providers: readonly ExtensionProvider[] | undefined,
  mode: TrafficMode,
): { choices: LoggingChoice[]; unknownProviders: string[] } | undefined {
  const defaults = defaultProvidersOf(mesh).accessLogging ?? [];
  if (applicable.logging.length === 0 && defaults.length === 0) return undefined;
  const merged = mergeLogs(applicable.logging, defaults, mode);
  const choices: LoggingChoice[] = [];
  const unknownProviders: string[] = [];
  for (const [name, spec] of merged) {
    const provider = findProvider(providers, name);
    if (!provider) {
      unknownProviders.push(name);
      continue;
    }
    choices.push({ provider, disabled: spec.disabled, ...(spec.filter !== undefined ? { filter: spec.filter } : {}) });
  }
  choices.sort((a, b) => (a.provider.name < b.provider.name ? -1 : a.provider.name > b.provider.name ? 1 : 0));
  return { choices, unknownProviders };
}

interface LoggingSpec {
  readonly disabled: boolean;
  readonly filter?: string;
}

function mergeLogs(levels: readonly (readonly AccessLogging[])[], defaults: readonly string[], mode: TrafficMode): Map<string, LoggingSpec> {
  const out = new Map<string, LoggingSpec>();
  if (levels.length === 0) {
    for (const p of defaults) out.set(p, { disabled: false });
    return out;
  }
  // the last level that names providers (for this mode) decides which are in scope; each names the filter
  let inScope: readonly string[] = defaults;
  const filters = new Map<string, string | undefined>();
  for (const level of levels) {
    const names = new Set<string>();
    for (const l of level) {
      if (!modeMatches(l.match, mode)) continue;
      for (const p of providerNames(l.providers)) {
        names.add(p);
        filters.set(p, l.filter?.expression);
      }
    }
    if (names.size > 0) inScope = [...names];
  }
  const scope = new Set(inScope);
  let parent: readonly string[] = defaults;
  for (const level of levels) {
    for (const l of level) {
      let names: readonly string[] = providerNames(l.providers);
      if (names.length === 0) names = parent;
      parent = names;
      for (const p of names) {
        if (!scope.has(p) || !modeMatches(l.match, mode)) continue;
        if (l.disabled === true) {
          out.set(p, { disabled: true });
          continue;
        }
        const filter = filters.get(p);
        out.set(p, { disabled: false, ...(filter !== undefined ? { filter } : {}) });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// tracing

/**
 * istiod Telemetries.Tracing: the tracer of each direction, or undefined when neither a Telemetry nor
 * defaultProviders.tracing configures tracing (the legacy enableTracing + defaultConfig.tracing path).
 * Only the first provider of an entry is used, as in istiod; `ignoredProviders` names the others.
 */
export function tracingFor(
  applicable: ApplicableTelemetry,
  mesh: MeshTelemetry,
  providers: readonly ExtensionProvider[] | undefined,
): { choice: TracingChoice; unknownProviders: string[]; ignoredProviders: string[] } | undefined {
  const defaults = defaultProvidersOf(mesh).tracing ?? [];
  if (applicable.tracing.length === 0 && defaults.length === 0) return undefined;
  const unknownProviders: string[] = [];
  const ignoredProviders: string[] = defaults.slice(1);
  const fetch = (name: string) => {
    const p = findProvider(providers, name);
    if (!p) unknownProviders.push(name);
    return p;
  };
  type Mutable = { -readonly [K in keyof TracingSpec]: TracingSpec[K] };
  const client: Mutable = { disabled: false, useRequestIdForTraceSampling: true, enableIstioTags: true, disableContextPropagation: false };
  const server: Mutable = { disabled: false, useRequestIdForTraceSampling: true, enableIstioTags: true, disableContextPropagation: false };
  if (defaults.length > 0) {
    const p = fetch(defaults[0]!);
    if (p) client.provider = server.provider = p;
  }
  for (const t of applicable.tracing) {
    const mode = t.match?.mode ?? 'CLIENT_AND_SERVER';
    const specs = mode === 'CLIENT' ? [client] : mode === 'SERVER' ? [server] : [client, server];
    const names = providerNames(t.providers);
    if (names.length > 0) {
      ignoredProviders.push(...names.slice(1));
      const p = fetch(names[0]!);
      for (const s of specs) {
        if (p) s.provider = p;
        else delete s.provider;
      }
    }
    for (const s of specs) {
      if (t.disableSpanReporting !== undefined && t.disableSpanReporting !== null) s.disabled = t.disableSpanReporting;
      if (t.customTags !== undefined) s.customTags = t.customTags;
      if (t.randomSamplingPercentage !== undefined && t.randomSamplingPercentage !== null) s.randomSamplingPercentage = t.randomSamplingPercentage;
      if (t.useRequestIdForTraceSampling !== undefined && t.useRequestIdForTraceSampling !== null) s.useRequestIdForTraceSampling = t.useRequestIdForTraceSampling;
      if (t.enableIstioTags !== undefined && t.enableIstioTags !== null) s.enableIstioTags = t.enableIstioTags;
      if (t.disableContextPropagation !== undefined && t.disableContextPropagation !== null) s.disableContextPropagation = t.disableContextPropagation;
    }
  }
  if (!client.provider) client.disabled = true;
  if (!server.provider) server.disabled = true;
  return { choice: { client, server }, unknownProviders, ignoredProviders };
}

// ---------------------------------------------------------------------------------------------------------
// metrics

/** istiod metricToPrometheusMetric: the istio_* metric each IstioMetric names (without the prefix). */
export const PROMETHEUS_METRIC_NAME: Readonly<Record<string, string>> = {
  REQUEST_COUNT: 'requests_total',
  REQUEST_DURATION: 'request_duration_milliseconds',
  REQUEST_SIZE: 'request_bytes',
  RESPONSE_SIZE: 'response_bytes',
  TCP_OPENED_CONNECTIONS: 'tcp_connections_opened_total',
  TCP_CLOSED_CONNECTIONS: 'tcp_connections_closed_total',
  TCP_SENT_BYTES: 'tcp_sent_bytes_total',
  TCP_RECEIVED_BYTES: 'tcp_received_bytes_total',
  GRPC_REQUEST_MESSAGES: 'request_messages_total',
  GRPC_RESPONSE_MESSAGES: 'response_messages_total',
};

const ALL_METRICS = ISTIO_METRICS.filter((m) => m !== 'ALL_METRICS').sort();

/**
 * istiod mergeMetrics: per metrics provider in scope, the overrides of each direction after applying every
 * applicable Metrics entry in order (later entries win per metric and tag). Providers: the last entry that
 * names some decides, else defaultProviders.metrics.
 */
export function metricsFor(
  applicable: ApplicableTelemetry,
  mesh: MeshTelemetry,
  providers: readonly ExtensionProvider[] | undefined,
): { choices: MetricsChoice[]; unknownProviders: string[] } {
  const defaults = defaultProvidersOf(mesh).metrics ?? [];
  type Override = { disabled?: boolean; tags?: Map<string, TagOverride> };
  const perProvider = new Map<string, Map<TrafficMode, Map<string, Override>>>();
  if (applicable.metrics.length === 0) for (const p of defaults) perProvider.set(p, new Map());
  let inScopeNames = defaults;
  for (const m of applicable.metrics) {
    const names = providerNames(m.providers);
    if (names.length > 0) inScopeNames = names;
  }
  const inScope = new Set(inScopeNames);
  let parent: readonly string[] = defaults;
  const disabledAll = new Set<string>();
  const intervals = new Map<string, string>();
  for (const m of applicable.metrics) {
    let names: readonly string[] = providerNames(m.providers);
    if (names.length === 0) names = parent;
    parent = names;
    for (const provider of names) {
      if (!inScope.has(provider)) continue;
      if (m.reportingInterval !== undefined) intervals.set(provider, m.reportingInterval);
      let modes = perProvider.get(provider);
      if (!modes) perProvider.set(provider, (modes = new Map([['CLIENT', new Map()], ['SERVER', new Map()]])));
      for (const o of m.overrides ?? []) {
        const match = o.match;
        const modesOf: TrafficMode[] = match?.mode === 'CLIENT' ? ['CLIENT'] : match?.mode === 'SERVER' ? ['SERVER'] : ['CLIENT', 'SERVER'];
        const all = match?.customMetric === undefined && (match?.metric === undefined || match.metric === 'ALL_METRICS');
        if (all && o.disabled === true) {
          for (const md of modesOf) disabledAll.add(`${provider}/${md}`);
          continue;
        }
        const metricNames: readonly string[] = match?.customMetric !== undefined ? [match.customMetric] : all ? ALL_METRICS : [match!.metric!];
        for (const md of modesOf) {
          disabledAll.delete(`${provider}/${md}`);
          let byMetric = modes.get(md);
          if (!byMetric) modes.set(md, (byMetric = new Map()));
          for (const name of metricNames) {
            const cur = byMetric.get(name) ?? {};
            if (o.disabled !== undefined && o.disabled !== null) cur.disabled = o.disabled;
            for (const [k, v] of Object.entries(o.tagOverrides ?? {})) (cur.tags ??= new Map()).set(k, v);
            byMetric.set(name, cur);
          }
        }
      }
    }
  }
  const choices: MetricsChoice[] = [];
  const unknownProviders: string[] = [];
  for (const name of [...perProvider.keys()].sort()) {
    const provider = findProvider(providers, name);
    if (!provider) {
      unknownProviders.push(name);
      continue;
    }
    const modes = perProvider.get(name)!;
    const direction = (md: TrafficMode): MetricsDirection => {
      if (disabledAll.has(`${name}/${md}`)) return { disabled: true, overrides: [] };
      const overrides: MetricOverride[] = [...(modes.get(md) ?? new Map<string, Override>())]
        .map(([metric, o]) => ({
          name: metric,
          disabled: o.disabled ?? false,
          tags: [...(o.tags ?? new Map<string, TagOverride>())]
            .map(([tag, t]) => ({ name: tag, remove: t.operation === 'REMOVE', value: t.operation === 'REMOVE' ? '' : (t.value ?? '') }))
            .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
        }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return { disabled: false, overrides };
    };
    const interval = intervals.get(name);
    choices.push({ provider, client: direction('CLIENT'), server: direction('SERVER'), ...(interval !== undefined ? { reportingInterval: interval } : {}) });
  }
  return { choices, unknownProviders };
}

export function defaultProvidersOf(mesh: MeshTelemetry): DefaultProviders {
  return mesh.defaultProviders ?? CHART_DEFAULT_PROVIDERS;
}
