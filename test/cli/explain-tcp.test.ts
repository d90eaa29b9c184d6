// `meshd explain tcp://…` decides authorization as the destination sidecar's network RBAC filter would:
// which AuthorizationPolicy admits or refuses the connection, from principals and ports.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { explain } from '../../src/cli/explain.js';
import { offlineMeshView } from '../../src/cli/offline-mesh.js';
import { endpointSliceDoc, namespaceDoc, podDoc, serviceDoc, writeMesh, type Doc } from '../e2e/harness/mesh.js';
import { tempDir } from '../e2e/harness/util.js';

const tmp = tempDir('explain-tcp');
after(() => tmp.remove());

const authz = (name: string, spec: Record<string, unknown>): Doc => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: 'default' }, spec });

function mesh(policies: Doc[]): string {
  const dir = tempDir('explain-tcp-mesh');
  writeMesh(dir.dir, {
    'mesh.yaml': [
      namespaceDoc('default'),
      serviceDoc({ name: 'db', port: 3306, portName: 'tcp-mysql', selector: { app: 'db' } }),
      podDoc({ name: 'db-1', ip: '10.1.0.30', labels: { app: 'db', 'security.istio.io/tlsMode': 'istio' }, serviceAccount: 'db' }),
      podDoc({ name: 'app-1', ip: '10.1.0.40', labels: { app: 'app', 'security.istio.io/tlsMode': 'istio' }, serviceAccount: 'app' }),
      podDoc({ name: 'other-1', ip: '10.1.0.50', labels: { app: 'other', 'security.istio.io/tlsMode': 'istio' }, serviceAccount: 'other' }),
      endpointSliceDoc({ name: 'db-1', service: 'db', portName: 'tcp-mysql', port: 3306, endpoints: [{ ip: '10.1.0.30', pod: 'db-1' }] }),
    ],
    'authz.yaml': policies,
  });
  after(() => dir.remove());
  return dir.dir;
}

const allowApp = authz('db-clients', { selector: { matchLabels: { app: 'db' } }, action: 'ALLOW', rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/app'] } }], to: [{ operation: { ports: ['3306'] } }] }] });

test('an ALLOW policy admits its principal on its port and refuses another, naming the policy', async () => {
  const view = await offlineMeshView(mesh([allowApp]));
  const ok = await explain(view, { proxy: 'app-1', request: 'tcp://db:3306', headers: [] });
  assert.equal(ok.authorization?.evaluated, true, JSON.stringify(ok.authorization));
  assert.equal(ok.authorization?.decision, 'ALLOW');
  assert.equal(ok.authorization?.policy?.name, 'db-clients');
  assert.equal(ok.forwarded, true, ok.verdict);

  const refused = await explain(view, { proxy: 'other-1', request: 'tcp://db:3306', headers: [] });
  assert.equal(refused.authorization?.decision, 'DENY');
  assert.equal(refused.forwarded, false);
  assert.match(refused.verdict, /refused at db-1\.default: DENY .*ALLOW policy default\/db-clients/);
});

test('a DENY policy on the port beats the ALLOW and is named', async () => {
  const denyApp = authz('no-app', { selector: { matchLabels: { app: 'db' } }, action: 'DENY', rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/app'] } }], to: [{ operation: { ports: ['3306'] } }] }] });
  const view = await offlineMeshView(mesh([allowApp, denyApp]));
  const e = await explain(view, { proxy: 'app-1', request: 'tcp://db:3306', headers: [] });
  assert.equal(e.authorization?.decision, 'DENY');
  assert.equal(e.authorization?.policy?.name, 'no-app');
});

test('without a policy the connection is allowed and the verdict says no policy applies', async () => {
  const view = await offlineMeshView(mesh([]));
  const e = await explain(view, { proxy: 'app-1', request: 'tcp://db:3306', headers: [] });
  assert.equal(e.authorization?.decision, 'ALLOW');
  assert.match(e.authorization?.detail ?? '', /no AuthorizationPolicy applies/);
});
