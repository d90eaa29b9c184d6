// `meshd diff -f CHANGE.yaml`: what a change would do to every proxy, against a running meshd (its config
// and its connected proxies) and against a config directory; exit 0 nothing changes, 1 something does,
// 2 a document is refused.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SotwFollower } from '../support/xds-follow.js';
import { startMeshd, type Meshd } from './harness/meshd.js';
import { dest, destinationRuleDoc, toYaml, virtualServiceDoc, writeMesh } from './harness/mesh.js';
import { connectSleep, meshdAddr, REVIEWS, reviewsMesh, runMeshd } from './harness/operator.js';
import { exitWhenIdle, tempDir } from './harness/util.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const weightsVs = (w1: number, w2: number) => virtualServiceDoc('reviews', [REVIEWS], [
  { name: 'jason', match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [dest(REVIEWS, 'v2')] },
  { name: 'split', route: [dest(REVIEWS, 'v1', w1), dest(REVIEWS, 'v2', w2)] },
]);

describe('meshd diff', { timeout: 300_000 }, () => {
  const tmp = tempDir('diff');
  const config = path.join(tmp.dir, 'config');
  const change = (name: string, text: string) => {
    const file = path.join(tmp.dir, name);
    writeFileSync(file, text);
    return file;
  };
  let meshd: Meshd;
  let sidecar: SotwFollower;

  before(async () => {
    writeMesh(config, reviewsMesh([80, 20]));
    meshd = await startMeshd({ configDir: config, startTimeoutMs: 120_000 });
    sidecar = await connectSleep(meshd);
  });

  after(async () => {
    sidecar?.close();
    const code = await meshd?.stop();
    tmp.remove();
    exitWhenIdle();
    assert.equal(code, 0);
  });

  test('against a running meshd: a weight edit changes the connected sidecar\'s route, field by field (exit 1)', async () => {
    const file = change('weights.yaml', toYaml([weightsVs(50, 50)]));
    const run = await runMeshd(['diff', '-f', file, '-o', 'json', '--meshd-addr', meshdAddr(meshd)]);
    assert.equal(run.code, 1, run.stderr);
    const r = JSON.parse(run.stdout) as Obj;
    assert.deepEqual(r.documents.map((d: Obj) => [d.object, d.action]), [['VirtualService default/reviews', 'update']]);
    assert.equal(r.proxies, 1);
    assert.deepEqual(r.classes.map((c: Obj) => c.proxies), [['sleep-1.default']]);
    const rds = r.classes[0].types.RDS;
    assert.deepEqual([rds.added, rds.removed, rds.changed.map((c: Obj) => c.name)], [[], [], ['9080']]);
    const fields = rds.changed[0].fields as Obj[];
    assert.deepEqual(fields.map((f) => [f.from, f.to]), [[80, 50], [20, 50]]);
    assert.match(fields[0]!.path, /routes\[1\]\.route\.weighted_clusters\.clusters\[0\]\.weight$/);

    const text = await runMeshd(['diff', '-f', file, '--meshd-addr', meshdAddr(meshd)]);
    assert.match(text.stdout, /class 1: sleep-1\.default\n {2}RDS ~ 9080\n.*weight: 80 → 50/);
  });

  test('a new subset adds clusters; the same config changes nothing (exit 0); a refused document exits 2 with its reason', async () => {
    const subset = change('subset.yaml', toYaml([destinationRuleDoc('reviews', REVIEWS, { v1: { version: 'v1' }, v2: { version: 'v2' }, v3: { version: 'v3' } })]));
    const added = await runMeshd(['diff', '-f', subset, '-o', 'json', '--meshd-addr', meshdAddr(meshd)]);
    assert.equal(added.code, 1, added.stderr);
    const types = (JSON.parse(added.stdout) as Obj).classes[0].types;
    assert.deepEqual(types.CDS.added, [`outbound|9080|v3|${REVIEWS}`]);

    const same = await runMeshd(['diff', '-f', change('same.yaml', toYaml([weightsVs(80, 20)])), '--meshd-addr', meshdAddr(meshd)]);
    assert.equal(same.code, 0, same.stdout + same.stderr);
    assert.match(same.stdout, /1 proxies: 0 change \(0 classes\), 1 unchanged/);

    const bad = change('bad.yaml', toYaml([{ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'broken', namespace: 'default' }, spec: { subsets: [{ name: 'v1' }] } }]));
    const refused = await runMeshd(['diff', '-f', bad, '--meshd-addr', meshdAddr(meshd)]);
    assert.equal(refused.code, 2);
    assert.match(refused.stdout, /bad\.yaml#0 DestinationRule default\/broken: refused\n\s+.*spec\.host/);
  });

  test('against a config directory: every Pod\'s sidecar, grouped by identical change; --delete removes', async () => {
    const run = await runMeshd(['diff', '-f', change('weights2.yaml', toYaml([weightsVs(0, 100)])), '--config-dir', config, '-o', 'json']);
    assert.equal(run.code, 1, run.stderr);
    const r = JSON.parse(run.stdout) as Obj;
    assert.equal(r.proxies, 3);
    assert.deepEqual(r.classes.map((c: Obj) => c.proxies), [['reviews-v1.default', 'reviews-v2.default', 'sleep-1.default']]);

    // Istio's analyzers run over both meshes: a route to a subset no DestinationRule defines is IST0101
    const v9 = virtualServiceDoc('reviews', [REVIEWS], [{ route: [dest(REVIEWS, 'v9')] }]);
    const analysed = await runMeshd(['diff', '-f', change('v9.yaml', toYaml([v9])), '--config-dir', config, '-o', 'json']);
    assert.equal(analysed.code, 1, analysed.stderr);
    const a = (JSON.parse(analysed.stdout) as Obj).analysis;
    assert.deepEqual(a.cleared, []);
    assert.equal(a.added.length, 1);
    assert.match(a.added[0], /^Error \[IST0101\] \(VirtualService reviews\.default\) Referenced host\+subset in destinationrule not found: "reviews\.default\.svc\.cluster\.local\+v9"$/);

    // deleting the ALLOW policy changes only the reviews pods' inbound listeners
    const authz = reviewsMesh()['reviews-authz.yaml']!;
    const del = await runMeshd(['diff', '-f', change('authz.yaml', toYaml(authz)), '--delete', '--config-dir', config, '-o', 'json']);
    assert.equal(del.code, 1, del.stderr);
    const d = JSON.parse(del.stdout) as Obj;
    assert.deepEqual(d.documents.map((x: Obj) => x.action), ['delete']);
    assert.deepEqual(d.unchanged, ['sleep-1.default']);
    assert.deepEqual(d.classes.map((c: Obj) => [c.proxies, Object.keys(c.types)]), [[['reviews-v1.default', 'reviews-v2.default'], ['LDS']]]);
  });
});
