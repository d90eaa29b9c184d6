// Istio's telemetry.* analyzers: selectors matching no pod or the same pod twice, several selector-less
// Telemetries in a namespace, access logging with no provider where the mesh has no default, Lightstep.

import { selectPods, specOf, type Analyzer } from '../context.js';
import { message } from '../message.js';
import type { Resource } from '../resource.js';
import { names } from './sidecar.js';

interface TelemetrySpec {
  selector?: { matchLabels?: Record<string, string> } | null;
  accessLogging?: { providers?: { name?: string }[]; disabled?: boolean | null }[];
  tracing?: { providers?: { name?: string }[] }[];
}

const SELECTOR = 'telemetry.SelectorAnalyzer';

export const telemetrySelectorAnalyzer: Analyzer = {
  name: SELECTOR,
  description: 'Validates that telemetries that define a selector match an existing workload',
  analyze(ctx) {
    const podsToTelemetries = new Map<Resource, Resource[]>();
    for (const r of ctx.all('Telemetry')) {
      const labels = specOf<TelemetrySpec>(r).selector?.matchLabels;
      if (!labels || Object.keys(labels).length === 0) continue;
      selectPods(ctx, r, labels, SELECTOR, podsToTelemetries);
    }
    for (const [pod, list] of podsToTelemetries) {
      if (list.length === 1) continue;
      for (const r of list) ctx.report(message('ConflictingTelemetryWorkloadSelectors', r, SELECTOR, names(list), pod.namespace, pod.name));
    }
  },
};

const DEFAULT_SELECTOR = 'telemetry.DefaultSelectorAnalyzer';

export const telemetryDefaultSelectorAnalyzer: Analyzer = {
  name: DEFAULT_SELECTOR,
  description: "Validates that there aren't multiple telemetry resources that have no selector",
  analyze(ctx) {
    const byNamespace = new Map<string, Resource[]>();
    for (const r of ctx.all('Telemetry')) {
      const s = specOf<TelemetrySpec>(r);
      if (s.selector === undefined || s.selector === null) byNamespace.set(r.namespace, [...(byNamespace.get(r.namespace) ?? []), r]);
    }
    for (const [ns, list] of byNamespace) {
      if (list.length > 1) for (const r of list) ctx.report(message('MultipleTelemetriesWithoutWorkloadSelectors', r, DEFAULT_SELECTOR, names(list), ns));
    }
  },
};

const PROVIDER = 'telemetry.ProviderAnalyzer';

export const telemetryProviderAnalyzer: Analyzer = {
  name: PROVIDER,
  description: 'Validates that providers in telemetry resource is valid',
  analyze(ctx) {
    if ((ctx.mesh.defaultProviders?.accessLogging?.length ?? 0) > 0) return;
    for (const r of ctx.all('Telemetry')) {
      for (const l of specOf<TelemetrySpec>(r).accessLogging ?? []) {
        if (l.disabled === true) continue;
        if (!l.providers?.length) ctx.report(message('InvalidTelemetryProvider', r, PROVIDER, r.name, r.namespace));
      }
    }
  },
};

const LIGHTSTEP = 'telemetry.LightstepAnalyzer';

export const telemetryLightstepAnalyzer: Analyzer = {
  name: LIGHTSTEP,
  description: 'Validates that lightstep provider is still used',
  analyze(ctx) {
    const lightstep = new Set((ctx.mesh.extensionProviders ?? []).filter((p) => 'lightstep' in p).map((p) => p.name));
    if (lightstep.size === 0) return;
    for (const r of ctx.all('Telemetry')) {
      for (const t of specOf<TelemetrySpec>(r).tracing ?? []) {
        for (const p of t.providers ?? []) {
          if (lightstep.has(p.name ?? '')) {
            ctx.report(message('Deprecated', r, LIGHTSTEP, `The Lightstep provider ${p.name} is deprecated, please migrate to OpenTelemetry provider.`));
          }
        }
      }
    }
  },
};

export const TELEMETRY_ANALYZERS: readonly Analyzer[] = [
  telemetryDefaultSelectorAnalyzer, telemetryLightstepAnalyzer, telemetryProviderAnalyzer, telemetrySelectorAnalyzer,
];
