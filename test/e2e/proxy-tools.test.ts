// `meshd proxy-status` and `meshd proxy-config` against a running meshd: the compiled CLI, a real
// meshd serving a config directory, an Envoy-like sidecar that follows references, and a client that
// NACKs what it is sent.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TYPE } from '../../src/xds/resource-types.js';
import { RawAdsClient } from '../support/ads-client.js';
import type { SotwFollower } from '../support/xds-follow.js';
import { startMeshd, type Meshd } from './harness/meshd.js';
import { writeMesh } from './harness/mesh.js';
import { connectSleep, meshdAddr, REVIEWS, reviewsMesh, runMeshd } from './harness/operator.js';
import { exitWhenIdle, freePort, tempDir } from './harness/util.js';

const NACK_TEXT = 'Proto constraint validation failed (ClusterValidationError.LbPolicy: value must be one of the defined enum values)';
const BAD_NODE = {
  id: 'sidecar~10.1.0.30~bad-1.default~default.svc.cluster.local',
  metadata: { NAMESPACE: 'default', ISTIO_VERSION: '1.25.1', CLUSTER_ID: 'Kubernetes' },
};

/** rows of a table as printed: header cell → the row's text under it (columns start where their header does) */
function tableRows(text: string): Record<string, string>[] {
  const lines = text.trimEnd().split('\n');
  const names = lines[0]!.split(/\s{2,}/);
  let from = 0;
  const starts = names.map((n) => (from = lines[0]!.indexOf(n, from)));
  return lines.slice(1).map((l) => Object.fromEntries(names.map((n, i) => [n, l.slice(starts[i], starts[i + 1]).trim()])));
}

describe('meshd proxy-status and proxy-config', { timeout: 300_000 }, () => {
  const tmp = tempDir('proxy-tools');
  let meshd: Meshd;
  let sidecar: SotwFollower;
  let bad: RawAdsClient;

  before(async () => {
    writeMesh(tmp.dir, reviewsMesh());
    meshd = await startMeshd({ configDir: tmp.dir, startTimeoutMs: 120_000 });
    sidecar = await connectSleep(meshd);
    bad = new RawAdsClient(meshd.grpcAddr);
    bad.send({ type_url: TYPE.CDS, node: BAD_NODE });
    const cds = await bad.next((r) => r.type_url === TYPE.CDS, 120_000);
    bad.send({ type_url: TYPE.CDS, version_info: '', response_nonce: cds.nonce, error_detail: { code: 3, message: NACK_TEXT } });
    await meshd.waitForAck((s) => !!s.find((e) => e.nodeId === BAD_NODE.id)?.types.CDS?.lastNack, 'the NACK recorded', 120_000);
  });

  after(async () => {
    sidecar?.close();
    bad?.close();
    const code = await meshd?.stop();
    tmp.remove();
    exitWhenIdle();
    assert.equal(code, 0);
  });

  test("proxy-status prints istioctl's table: SYNCED per type, the NACK text, IGNORED for what is not subscribed", async () => {
    const run = await runMeshd(['proxy-status', '--meshd-addr', meshdAddr(meshd)]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+CLUSTER\s+CDS\s+LDS\s+EDS\s+RDS\s+ECDS\s+ISTIOD\s+VERSION$/);
    const rows = tableRows(run.stdout);
    assert.deepEqual(rows.map((r) => r.NAME), ['bad-1.default', 'sleep-1.default']);
    const sleep = rows[1]!;
    // istioctl's cells: the state and how long ago the last response was sent (kubectl's age format)
    const age = (cell: string | undefined) => /^(\w+(?: \w+)?) \((\d+s|\d+m(\d+s)?|\d+h(\d+m)?)\)$/.exec(cell ?? '')?.[1];
    assert.deepEqual([sleep.CDS, sleep.LDS, sleep.EDS, sleep.RDS].map(age), ['SYNCED', 'SYNCED', 'SYNCED', 'SYNCED'], JSON.stringify(sleep));
    assert.deepEqual([sleep.CLUSTER, sleep.ECDS, sleep.VERSION], ['Kubernetes', 'IGNORED', '1.26.0']);
    assert.ok(sleep.ISTIOD, 'the control plane is named');
    const badRow = rows[0]!;
    const nackCell = ` (NACK: ${NACK_TEXT.slice(0, 79)}…)`;
    assert.ok(badRow.CDS!.endsWith(nackCell), badRow.CDS);
    assert.equal(age(badRow.CDS!.slice(0, -nackCell.length)), 'STALE', badRow.CDS);
    assert.equal(badRow.LDS, 'IGNORED');
  });

  test('proxy-status -o json carries the whole NACK; a named proxy filters; an unknown one exits 1', async () => {
    const run = await runMeshd(['ps', 'bad-1', '-o', 'json', '--meshd-addr', meshdAddr(meshd)]);
    assert.equal(run.code, 0, run.stderr);
    const rows = JSON.parse(run.stdout) as { name: string; types: Record<string, { status: string; nack?: string; sentVersion?: string }> }[];
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.name, 'bad-1.default');
    assert.equal(rows[0]!.types.CDS!.status, 'STALE');
    assert.equal(rows[0]!.types.CDS!.nack, NACK_TEXT);
    assert.ok(rows[0]!.types.CDS!.sentVersion, 'the version the proxy refused');
    const missing = await runMeshd(['proxy-status', 'nobody.default', '--meshd-addr', meshdAddr(meshd)]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nobody\.default.*not connected/);
  });

  test('proxy-config cluster: istioctl columns, the DestinationRule named, --fqdn/--subset/--direction/--port filters', async () => {
    const run = await runMeshd(['proxy-config', 'cluster', 'sleep-1', '--fqdn', REVIEWS, '--meshd-addr', meshdAddr(meshd)]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout.split('\n')[0]!, /^SERVICE FQDN\s+PORT\s+SUBSET\s+DIRECTION\s+TYPE\s+DESTINATION RULE$/);
    const rows = tableRows(run.stdout);
    assert.deepEqual(rows.map((r) => [r['SERVICE FQDN'], r.PORT, r.SUBSET, r.DIRECTION, r.TYPE, r['DESTINATION RULE']]), [
      [REVIEWS, '9080', '-', 'outbound', 'EDS', 'reviews.default'],
      [REVIEWS, '9080', 'v1', 'outbound', 'EDS', 'reviews.default'],
      [REVIEWS, '9080', 'v2', 'outbound', 'EDS', 'reviews.default'],
    ]);
    const v2 = await runMeshd(['pc', 'cluster', 'sleep-1.default', '--subset', 'v2', '--direction', 'outbound', '--port', '9080', '-o', 'json', '--meshd-addr', meshdAddr(meshd)]);
    const clusters = JSON.parse(v2.stdout) as { name: string; connect_timeout?: string }[];
    assert.deepEqual(clusters.map((c) => c.name), [`outbound|9080|v2|${REVIEWS}`]);
    assert.match(String(clusters[0]!.connect_timeout), /^\d+(\.\d+)?s$/, 'Envoy JSON: durations as text');
  });

  test('proxy-config route, listener and endpoint name the VirtualService, the chains and the subset endpoints', async () => {
    const routes = await runMeshd(['proxy-config', 'route', 'sleep-1', '--name', '9080', '--meshd-addr', meshdAddr(meshd)]);
    assert.equal(routes.code, 0, routes.stderr);
    assert.match(routes.stdout.split('\n')[0]!, /^NAME\s+VHOST NAME\s+DOMAINS\s+MATCH\s+VIRTUAL SERVICE$/);
    const reviewsRoutes = tableRows(routes.stdout).filter((r) => r['VHOST NAME'] === `${REVIEWS}:9080`);
    assert.ok(reviewsRoutes.length >= 2, routes.stdout);
    assert.ok(reviewsRoutes.every((r) => r['VIRTUAL SERVICE'] === 'reviews.default' && r.MATCH === '/*' && /\breviews\b/.test(r.DOMAINS ?? '')), routes.stdout);

    const listeners = await runMeshd(['proxy-config', 'listener', 'sleep-1', '--port', '9080', '--meshd-addr', meshdAddr(meshd)]);
    assert.equal(listeners.code, 0, listeners.stderr);
    assert.match(listeners.stdout.split('\n')[0]!, /^ADDRESSES\s+PORT\s+MATCH\s+DESTINATION$/);
    assert.ok(tableRows(listeners.stdout).some((r) => r.PORT === '9080' && r.DESTINATION === 'Route: 9080'), listeners.stdout);

    const endpoints = await runMeshd(['proxy-config', 'endpoint', 'sleep-1', '--subset', 'v2', '--meshd-addr', meshdAddr(meshd)]);
    assert.equal(endpoints.code, 0, endpoints.stderr);
    assert.deepEqual(tableRows(endpoints.stdout).map((r) => [r.ENDPOINT, r.STATUS, r.CLUSTER]), [['10.1.0.12:9080', 'HEALTHY', `outbound|9080|v2|${REVIEWS}`]]);

    const secrets = await runMeshd(['proxy-config', 'secret', 'sleep-1', '-o', 'yaml', '--meshd-addr', meshdAddr(meshd)]);
    assert.equal(secrets.code, 0, secrets.stderr);
    assert.match(secrets.stdout, /name: default/);
    assert.doesNotMatch(secrets.stdout, /PRIVATE KEY/);
  });

  test('proxy-config exits 1 for a proxy that is not connected and 2 when meshd cannot be reached', async () => {
    const missing = await runMeshd(['proxy-config', 'cluster', 'nobody', '--meshd-addr', meshdAddr(meshd)]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /404.*nobody\.default/);
    const port = await freePort('127.0.0.1');
    const down = await runMeshd(['proxy-config', 'all', 'sleep-1', '--meshd-addr', `127.0.0.1:${port}`]);
    assert.equal(down.code, 2);
    assert.match(down.stderr, /cannot reach meshd at 127\.0\.0\.1:\d+/);
  });
});
