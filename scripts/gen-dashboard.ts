// Writes manifests/dashboards/meshd-control-plane-dashboard.json: Istio's control-plane Grafana dashboard
// (shared/istio-reference/addons/dashboards/pilot-dashboard.gen.json) with its Go runtime queries swapped
// for Node's (src/telemetry/dashboard.ts). `npx tsx scripts/gen-dashboard.ts`; `--check` exits 1 when the
// committed file differs from a fresh render (test/telemetry/dashboard.test.ts runs the same comparison).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { meshdDashboard } from '../src/telemetry/dashboard.js';
import { istioReference } from '../test/support/istio-reference.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DASHBOARD_FILE = path.join(root, 'manifests', 'dashboards', 'meshd-control-plane-dashboard.json');

export function renderDashboard(): string {
  const istio = JSON.parse(readFileSync(istioReference('addons', 'dashboards', 'pilot-dashboard.gen.json'), 'utf8')) as Record<string, unknown>;
  return `${JSON.stringify(meshdDashboard(istio), null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const text = renderDashboard();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(DASHBOARD_FILE, 'utf8');
    } catch {
      // missing: differs
    }
    if (current !== text) {
      process.stderr.write(`${path.relative(root, DASHBOARD_FILE)}: differs from a fresh render (run npx tsx scripts/gen-dashboard.ts)\n`);
      process.exit(1);
    }
  } else {
    mkdirSync(path.dirname(DASHBOARD_FILE), { recursive: true });
    writeFileSync(DASHBOARD_FILE, text);
    process.stdout.write(`wrote ${path.relative(root, DASHBOARD_FILE)}\n`);
  }
}
