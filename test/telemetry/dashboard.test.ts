import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Metrics } from '../../src/telemetry/metrics.js';
import { WebhookMetrics } from '../../src/webhook/metrics.js';
import { dashboardQueries, GO_RUNTIME_REPLACEMENTS, PANEL_CHANGES, promqlMetricNames } from '../../src/telemetry/dashboard.js';
import { DASHBOARD_FILE, renderDashboard } from '../../scripts/gen-dashboard.js';
import { istioReference } from '../support/istio-reference.js';

// Istio's control-plane dashboard (pilot-dashboard.gen.json) against what meshd's /metrics exports: every
// metric its PromQL reads is either meshd's, under istiod's name, type and labels, or listed here as
// another component's (with why) or as Go runtime only, with the Node series meshd's edition of the
// dashboard (manifests/dashboards/meshd-control-plane-dashboard.json) reads instead.

type J = Record<string, unknown>;

/** Series the dashboard reads from other components' endpoints, not istiod's. */
const OTHER_COMPONENTS: Readonly<Record<string, string>> = {
  container_memory_working_set_bytes: 'kubelet/cAdvisor, per container: meshd\'s Deployment is `istiod` with container `discovery`, as the query selects',
  container_cpu_usage_seconds_total: 'kubelet/cAdvisor, per container (container="discovery", pod=~"istiod-.*")',
  envoy_cluster_upstream_cx_active: 'the sidecars\' own Envoy stats (cluster xds-grpc of their bootstrap), scraped from 15020',
};

/** Label names Prometheus adds from the scrape target or histogram series, not the exporter. */
const TARGET_LABELS = new Set(['pod', 'app', 'container', 'le', 'namespace', 'instance', 'job']);

const istio = JSON.parse(readFileSync(istioReference('addons', 'dashboards', 'pilot-dashboard.gen.json'), 'utf8')) as J;

async function exported(): Promise<Map<string, { type: string; labels: Set<string> }>> {
  const metrics = new Metrics();
  new WebhookMetrics(metrics); // the webhooks register theirs in the daemon's one registry
  const out = new Map<string, { type: string; labels: Set<string> }>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    const labels = new Set<string>();
    for (const v of (m as { values?: { labels?: J }[] }).values ?? []) for (const l of Object.keys(v.labels ?? {})) labels.add(l);
    for (const l of ((metrics.registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] })?.labelNames ?? [])) labels.add(l);
    out.set(m.name, { type: String(m.type), labels });
  }
  return out;
}

/** `x_bucket`/`x_count`/`x_sum` of a histogram name its family. */
function family(name: string, known: Map<string, { type: string }>): { name: string; histogram: boolean } {
  const m = /^(.*)_(bucket|count|sum)$/.exec(name);
  if (m && known.get(m[1]!)?.type === 'histogram') return { name: m[1]!, histogram: true };
  return { name, histogram: false };
}

/** Label names a query filters or groups a metric by (matchers and `by (…)`). */
function queriedLabels(expr: string): string[] {
  const out = new Set<string>();
  for (const m of expr.matchAll(/\{([^}]*)\}/g)) for (const l of m[1]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)/g)) out.add(l[1]!);
  for (const m of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) for (const l of m[1]!.split(',')) if (l.trim()) out.add(l.trim());
  return [...out];
}

describe('control-plane dashboard against /metrics', () => {
  it('every metric Istio\'s dashboard queries is exported by meshd with istiod\'s name, type and labels, or accounted for', async (t) => {
    const known = await exported();
    const queries = dashboardQueries(istio);
    assert.ok(queries.length >= 20, 'the dashboard\'s queries were found');
    const report = { meshd: new Set<string>(), other: new Set<string>(), go: new Set<string>() };
    const problems: string[] = [];
    for (const { panel, expr } of queries) {
      for (const raw of promqlMetricNames(expr)) {
        const { name, histogram } = family(raw, known);
        if (OTHER_COMPONENTS[name]) {
          report.other.add(name);
          continue;
        }
        const go = GO_RUNTIME_REPLACEMENTS.find((r) => r.go === name);
        if (go) {
          report.go.add(name);
          if (!known.has(go.node)) problems.push(`${panel}: ${name} → ${go.node}, which meshd does not export`);
          continue;
        }
        const m = known.get(name);
        if (!m) {
          problems.push(`${panel}: ${raw} (in ${JSON.stringify(expr)}) is not exported by meshd`);
          continue;
        }
        report.meshd.add(name);
        if (raw !== name && !histogram) problems.push(`${panel}: ${raw} needs ${name} to be a histogram, it is a ${m.type}`);
        for (const label of queriedLabels(expr)) {
          if (!TARGET_LABELS.has(label) && !m.labels.has(label)) problems.push(`${panel}: ${name} has no label ${label} (has ${[...m.labels].join(', ') || 'none'})`);
        }
      }
    }
    t.diagnostic(`meshd exports ${report.meshd.size}: ${[...report.meshd].sort().join(', ')}`);
    t.diagnostic(`other components ${report.other.size}: ${[...report.other].sort().join(', ')}`);
    t.diagnostic(`Go runtime only ${report.go.size} (replaced in meshd's edition): ${[...report.go].sort().join(', ')}`);
    assert.deepEqual(problems, []);
    // the ones the issue names, explicitly
    for (const name of ['pilot_xds_push_time', 'pilot_xds_config_size_bytes', 'pilot_push_triggers', 'pilot_total_xds_internal_errors', 'galley_validation_passed', 'galley_validation_failed', 'sidecar_injection_success_total', 'sidecar_injection_failure_total', 'pilot_k8s_reg_events', 'pilot_k8s_cfg_events', 'istio_build']) {
      assert.ok(report.meshd.has(name), name);
    }
    assert.equal(known.get('pilot_xds_push_time')?.type, 'histogram');
    assert.equal(known.get('pilot_xds_config_size_bytes')?.type, 'histogram');
    assert.equal(known.get('pilot_total_xds_internal_errors')?.type, 'counter');
  });

  it('meshd\'s edition is Istio\'s with only the Go runtime queries (and the panels they are in) changed, and is up to date', () => {
    assert.equal(readFileSync(DASHBOARD_FILE, 'utf8'), renderDashboard(), 'run npx tsx scripts/gen-dashboard.ts');
    const ours = JSON.parse(renderDashboard()) as J;
    const [a, b] = [dashboardQueries(istio), dashboardQueries(ours)];
    assert.equal(a.length, b.length, 'same number of queries');
    const changed = a.map((q, i) => ({ from: q, to: b[i]! })).filter(({ from, to }) => from.expr !== to.expr);
    assert.deepEqual(changed.map(({ from }) => promqlMetricNames(from.expr)[0]).sort(), GO_RUNTIME_REPLACEMENTS.map((r) => r.go).sort());
    for (const { from, to } of changed) assert.ok(PANEL_CHANGES[from.panel], `${from.panel}: a changed panel is listed`);
    for (const { to } of b.map((q) => ({ to: q }))) assert.doesNotMatch(to.expr, /\bgo_/);
  });
});
