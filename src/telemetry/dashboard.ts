// meshd's edition of Istio's control-plane Grafana dashboard (manifests/addons/dashboards/
// pilot-dashboard.gen.json, "Istio Control Plane Dashboard"). Every istiod metric it queries meshd exports
// under the same name, type and labels (telemetry/metrics.ts, webhook/metrics.ts); only the Go runtime
// series (go_memstats_*, go_goroutines) have no meaning for a Node process. This edition swaps those
// queries for Node's runtime series (prom-client's default metrics) and retitles the panels they change;
// every other panel, query, unit and layout is Istio's. scripts/gen-dashboard.ts writes it to manifests/.

type J = Record<string, unknown>;

/** What replaces one Go runtime query: the new expression and legend. */
export interface QueryReplacement {
  readonly go: string;
  readonly expr: string;
  readonly legendFormat: string;
  /** the Node series it reads */
  readonly node: string;
}

/** Go runtime series → the Node series meshd's edition queries instead (same pod selection, app="istiod"). */
export const GO_RUNTIME_REPLACEMENTS: readonly QueryReplacement[] = [
  {
    go: 'go_memstats_stack_inuse_bytes',
    expr: 'sum by (pod) (nodejs_external_memory_bytes{app="istiod"})',
    legendFormat: 'External (Buffers) ({{pod}})',
    node: 'nodejs_external_memory_bytes',
  },
  {
    go: 'go_memstats_heap_inuse_bytes',
    expr: 'sum by (pod) (nodejs_heap_size_used_bytes{app="istiod"})',
    legendFormat: 'Heap (In Use) ({{pod}})',
    node: 'nodejs_heap_size_used_bytes',
  },
  {
    go: 'go_memstats_heap_alloc_bytes',
    expr: 'sum by (pod) (nodejs_heap_size_total_bytes{app="istiod"})',
    legendFormat: 'Heap (Allocated) ({{pod}})',
    node: 'nodejs_heap_size_total_bytes',
  },
  {
    go: 'go_memstats_alloc_bytes_total',
    expr: 'sum by (pod) (rate(nodejs_gc_duration_seconds_sum{app="istiod"}[$__rate_interval]))',
    legendFormat: 'GC time per second ({{pod}})',
    node: 'nodejs_gc_duration_seconds',
  },
  {
    go: 'go_memstats_mallocs_total',
    expr: 'sum by (pod) (rate(nodejs_gc_duration_seconds_count{app="istiod"}[$__rate_interval]))',
    legendFormat: 'GC runs per second ({{pod}})',
    node: 'nodejs_gc_duration_seconds',
  },
  {
    go: 'go_goroutines',
    expr: 'sum by (pod) (nodejs_active_handles_total{app="istiod"})',
    legendFormat: 'Active handles ({{pod}})',
    node: 'nodejs_active_handles_total',
  },
];

/** Panels whose title or unit names Go concepts: Istio's title → meshd's title (and unit). */
export const PANEL_CHANGES: Readonly<Record<string, { readonly title: string; readonly unit?: string; readonly why: string }>> = {
  'Memory Usage': { title: 'Memory Usage', why: 'Go stack/heap series → Node external memory and V8 heap used/total' },
  'Memory Allocations': { title: 'Garbage Collection', unit: 'short', why: 'Go allocation counters → V8 GC time and runs per second (Node exports no allocation counter)' },
  Goroutines: { title: 'Active Handles', why: 'goroutines → libuv handles kept alive by the event loop (sockets, timers, streams)' },
};

export const MESHD_DASHBOARD_TITLE = 'Istio Control Plane Dashboard (meshd)';
export const MESHD_DASHBOARD_UID = 'meshd-control-plane';

function walk(node: unknown, visit: (o: J) => void): void {
  if (Array.isArray(node)) for (const v of node) walk(v, visit);
  else if (node && typeof node === 'object') {
    visit(node as J);
    for (const v of Object.values(node)) walk(v, visit);
  }
}

/** Istio's dashboard JSON → meshd's edition (a new object; the input is not changed). */
export function meshdDashboard(istio: J): J {
  const out = structuredClone(istio);
  out.title = MESHD_DASHBOARD_TITLE;
  out.uid = MESHD_DASHBOARD_UID;
  walk(out, (o) => {
    if (typeof o.title === 'string' && Array.isArray(o.targets)) {
      const change = PANEL_CHANGES[o.title];
      if (change) {
        o.title = change.title;
        if (change.unit) {
          const defaults = ((o.fieldConfig as J | undefined)?.defaults ?? {}) as J;
          defaults.unit = change.unit;
        }
      }
    }
    if (typeof o.expr === 'string') {
      const r = GO_RUNTIME_REPLACEMENTS.find((x) => new RegExp(`\\b${x.go}\\b`).test(o.expr as string));
      if (r) {
        o.expr = r.expr;
        o.legendFormat = r.legendFormat;
      }
    }
  });
  return out;
}

const PROMQL_WORDS = new Set([
  'sum', 'avg', 'min', 'max', 'count', 'by', 'without', 'rate', 'irate', 'increase', 'delta', 'histogram_quantile',
  'label_replace', 'topk', 'bottomk', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'offset',
  'abs', 'ceil', 'floor', 'round', 'clamp_min', 'clamp_max', 'sort', 'sort_desc', 'time', 'vector', 'scalar', 'le',
]);

/** Metric names a PromQL expression reads (label matchers, `by (…)` lists, ranges and functions removed). */
export function promqlMetricNames(expr: string): string[] {
  const stripped = expr
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/"[^"]*"/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const next = stripped.slice(m.index! + word.length).trimStart();
    if (PROMQL_WORDS.has(word) || next.startsWith('(')) continue;
    names.add(word);
  }
  return [...names];
}

/** Every PromQL expression of a dashboard, with the title of the panel it belongs to. */
export function dashboardQueries(dashboard: J): { panel: string; expr: string }[] {
  const out: { panel: string; expr: string }[] = [];
  walk(dashboard, (o) => {
    if (typeof o.title === 'string' && Array.isArray(o.targets)) {
      for (const t of o.targets as J[]) if (typeof t.expr === 'string') out.push({ panel: o.title, expr: t.expr });
    }
  });
  return out;
}
