import { celLibrary } from '../crd/cel-lib.js';
import type { Problem } from '../origin.js';
import type { Telemetry } from '../schemas/telemetry.js';
import { Problems, at, checkTargetRef, checkWorkloadSelector } from './util.js';

// Telemetry rules of istiod's validating webhook (ValidateTelemetry, pkg/config/validation): the ones the
// CRD cannot express. istiod's two warnings (more than one tracing entry, more than one tracing provider) do
// not refuse a document; the model reports them when it uses only the first (model/telemetry.ts).

export function checkTelemetry(tel: Telemetry): Problem[] {
  const out = new Problems();
  const spec = tel.spec;
  if (spec.selector) {
    checkWorkloadSelector(out, 'spec.selector', spec.selector.matchLabels);
  }
  if (spec.targetRef) checkTargetRef(out, 'spec.targetRef', spec.targetRef);
  (spec.targetRefs ?? []).forEach((r, i) => checkTargetRef(out, at('spec.targetRefs', i), r));

  (spec.metrics ?? []).forEach((m, i) => {
    const p = at('spec.metrics', i);
    checkProviders(out, p, m.providers);
    (m.overrides ?? []).forEach((o, j) => {
      const op = at(at(p, 'overrides'), j);
      for (const [name, t] of Object.entries(o.tagOverrides ?? {})) {
        const tp = at(op, 'tagOverrides') + `.${name}`;
        // an absent operation is UPSERT (the enum's zero value)
        if ((t.operation ?? 'UPSERT') === 'UPSERT' && !t.value) out.add(at(tp, 'value'), 'tagOverrides.value must be set when operation is UPSERT');
        if (t.operation === 'REMOVE' && t.value) out.add(at(tp, 'value'), 'tagOverrides.value may only be set when operation is UPSERT');
      }
      if (o.match?.customMetric === '') out.add(at(at(op, 'match'), 'customMetric'), 'customMetric may not be empty');
    });
  });

  (spec.tracing ?? []).forEach((t, i) => {
    const p = at('spec.tracing', i);
    checkProviders(out, p, t.providers);
    const pct = t.randomSamplingPercentage;
    if (pct !== undefined && pct !== null && (pct < 0 || pct > 100)) out.add(at(p, 'randomSamplingPercentage'), 'randomSamplingPercentage must be in range [0.0, 100.0]');
    for (const [name, tag] of Object.entries(t.customTags ?? {})) {
      const tp = at(p, 'customTags') + `.${name}`;
      if (name === '') out.add(at(p, 'customTags'), 'tag name may not be empty');
      if (tag.literal && !tag.literal.value) out.add(at(tp, 'literal.value'), 'literal tag value may not be empty');
      if (tag.header && !tag.header.name) out.add(at(tp, 'header.name'), 'header tag name may not be empty');
      if (tag.environment && !tag.environment.name) out.add(at(tp, 'environment.name'), 'environment tag name may not be empty');
    }
  });

  (spec.accessLogging ?? []).forEach((l, i) => {
    const p = at('spec.accessLogging', i);
    if (l.filter) {
      const problem = celSyntaxError(l.filter.expression ?? '');
      if (problem) out.add(at(p, 'filter.expression'), `must be a valid CEL expression, ${problem}`);
    }
    checkProviders(out, p, l.providers);
  });
  return out.list;
}

function checkProviders(out: Problems, path: string, providers: readonly { name: string }[] | undefined): void {
  const i = (providers ?? []).findIndex((p) => !p.name);
  if (i >= 0) out.add(at(at(path, 'providers'), i), 'providers.name may not be empty');
}

/**
 * istiod parses (does not type-check) the filter with cel-go; Envoy compiles it when the listener loads.
 * The same CEL parser as the CRD rules (@bufbuild/cel); its first line says what is wrong and where.
 */
export function celSyntaxError(expression: string): string | undefined {
  try {
    celLibrary().parse(expression);
    return undefined;
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  }
}
