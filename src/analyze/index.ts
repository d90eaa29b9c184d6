// `analyze(resources)`: runs Istio's analyzers for every kind meshd serves over a set of objects, then
// keeps what istioctl keeps: messages of the analyzed namespace (plus cluster-scoped ones), minus those
// suppressed by the `galley.istio.io/analyze-suppress` annotation or `--suppress CODE=RESOURCE` (glob),
// sorted and deduplicated as istioctl prints them.

import { AnalysisContext, type Analyzer } from './context.js';
import { DESTINATION_RULE_ANALYZERS } from './analyzers/destinationrule.js';
import { gatewayAnalyzers } from './analyzers/gateway.js';
import { portNameAnalyzer } from './analyzers/service.js';
import { SERVICE_ENTRY_ANALYZERS } from './analyzers/serviceentry.js';
import { sidecarSelectorAnalyzer } from './analyzers/sidecar.js';
import { TELEMETRY_ANALYZERS } from './analyzers/telemetry.js';
import { VIRTUAL_SERVICE_ANALYZERS } from './analyzers/virtualservice.js';
import { WORKLOAD_ANALYZERS } from './analyzers/workload.js';
import { friendlyName, message, sortAndDedupe, type AnalysisMessage } from './message.js';
import { ANALYZER_NAME_SCHEMA, type AnalysisMeshConfig, type Resource } from './resource.js';

export type { Analyzer } from './context.js';

export interface AnalyzerOptions {
  /** istiod's PILOT_SCOPE_GATEWAY_TO_NAMESPACE */
  readonly scopeGatewayToNamespace?: boolean;
}

/** Every analyzer meshd runs, by Istio's name. */
export function allAnalyzers(opts: AnalyzerOptions = {}): Analyzer[] {
  return [
    ...DESTINATION_RULE_ANALYZERS,
    ...gatewayAnalyzers(opts.scopeGatewayToNamespace ?? false),
    portNameAnalyzer,
    ...SERVICE_ENTRY_ANALYZERS,
    sidecarSelectorAnalyzer,
    ...TELEMETRY_ANALYZERS,
    ...VIRTUAL_SERVICE_ANALYZERS,
    ...WORKLOAD_ANALYZERS,
  ];
}

/** Names `--analyzer` accepts and `--list-analyzers` prints, with their descriptions. */
export function analyzerCatalog(opts: AnalyzerOptions = {}): { name: string; description: string }[] {
  return [
    ...allAnalyzers(opts).map((a) => ({ name: a.name, description: a.description })),
    { name: ANALYZER_NAME_SCHEMA, description: 'Runs schema validation as an analyzer on every Istio kind (meshd validate\'s checks)' },
  ].sort((a, b) => (a.name < b.name ? -1 : 1));
}

export interface Suppression {
  readonly code: string;
  /** `Kind name.namespace`, `*` matching any run of characters */
  readonly resource: string;
}

export const SUPPRESS_ANNOTATION = 'galley.istio.io/analyze-suppress';

/** ryanuber/go-glob: `*` matches any run of characters, nothing else is special. */
export function globMatch(pattern: string, subject: string): boolean {
  if (pattern === '*') return true;
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === subject;
  if (!subject.startsWith(parts[0]!)) return false;
  let at = parts[0]!.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const found = subject.indexOf(parts[i]!, at);
    if (found < 0) return false;
    at = found + parts[i]!.length;
  }
  const last = parts[parts.length - 1]!;
  return subject.length - last.length >= at && subject.endsWith(last);
}

export interface AnalyzeOptions extends AnalyzerOptions {
  readonly mesh: AnalysisMeshConfig;
  readonly istioNamespace: string;
  /** only messages about objects of this namespace (and cluster-scoped ones); '' or undefined: all */
  readonly namespace?: string;
  readonly suppressions?: readonly Suppression[];
  /** run only these analyzers (Istio names); schema validation messages are kept unless a list excludes it */
  readonly analyzers?: readonly string[];
  /** messages found before the analyzers ran (schema validation while loading) */
  readonly preMessages?: readonly AnalysisMessage[];
}

export interface AnalyzeResult {
  readonly messages: AnalysisMessage[];
  readonly executed: string[];
}

export function analyze(resources: readonly Resource[], opts: AnalyzeOptions): AnalyzeResult {
  const selected = opts.analyzers?.length ? new Set(opts.analyzers) : undefined;
  const analyzers = allAnalyzers(opts).filter((a) => !selected || selected.has(a.name));
  const ctx = new AnalysisContext(resources, opts.mesh, opts.istioNamespace);
  const executed: string[] = [];
  for (const a of analyzers) {
    try {
      a.analyze(ctx);
    } catch (err) {
      ctx.report(message('InternalError', undefined, a.name, `${a.name}: ${(err as Error).message}`));
    }
    executed.push(a.name);
  }
  const pre = (opts.preMessages ?? []).filter((m) => !selected || selected.has(m.analyzer));
  if (pre.length > 0 || !selected || selected.has(ANALYZER_NAME_SCHEMA)) executed.push(ANALYZER_NAME_SCHEMA);
  return { messages: sortAndDedupe(filterMessages([...pre, ...ctx.messages], opts)), executed: executed.sort() };
}

/** istiod_analyze.go filterMessages */
export function filterMessages(messages: readonly AnalysisMessage[], opts: Pick<AnalyzeOptions, 'namespace' | 'suppressions'>): AnalysisMessage[] {
  return messages.filter((m) => {
    const r = m.resource;
    if (!r) return true;
    if (opts.namespace && r.namespace && r.namespace !== opts.namespace) return false;
    const annotation = r.annotations[SUPPRESS_ANNOTATION];
    if (annotation && annotation.split(',').some((code) => code === '*' || code === m.type.code)) return false;
    return !(opts.suppressions ?? []).some((s) => s.code === m.type.code && globMatch(s.resource, friendlyName(r)));
  });
}
