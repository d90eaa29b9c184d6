// ServiceEntry and WorkloadEntry with the real xDS peers: a grpc-js-xds client and gRPC C-core reach a
// ServiceEntry host whose STATIC endpoint is a backend on loopback, and grpc-js-xds reaches a Kubernetes
// Service whose only backend is a WorkloadEntry (a "VM").
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBackend, type Backend } from './harness/backend.js';
import { startMeshd, type Meshd } from './harness/meshd.js';
import { fqdn, serviceDoc, writeMesh, type Doc } from './harness/mesh.js';
import { PyXdsClient } from './harness/py-client.js';
import { exitWhenIdle, requirePythonGrpc, tempDir } from './harness/util.js';
import { XdsClient } from './harness/xds-client.js';

const SE_HOST = 'greeter.external.example.com';
const SE_PORT = 7070;
const VM_SVC = 'vm-greeter';
const VM_PORT = 5000;

function serviceEntryDoc(backend: Backend): Doc {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata: { name: 'external-greeter', namespace: 'default' },
    spec: {
      hosts: [SE_HOST],
      location: 'MESH_EXTERNAL',
      resolution: 'STATIC',
      ports: [{ number: SE_PORT, name: 'grpc', protocol: 'GRPC' }],
      endpoints: [{ address: backend.ip, ports: { grpc: backend.port }, labels: { version: 'static' } }],
    },
  };
}

function workloadEntryDoc(backend: Backend): Doc {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'WorkloadEntry',
    metadata: { name: 'vm-1', namespace: 'default' },
    spec: { address: backend.ip, labels: { app: VM_SVC }, ports: { grpc: backend.port }, serviceAccount: 'vm-greeter' },
  };
}

function sidecarDoc(): Doc {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'Sidecar',
    metadata: { name: 'default', namespace: 'scoped' },
    spec: { egress: [{ hosts: [`default/${fqdn(VM_SVC)}`] }] },
  };
}

describe('ServiceEntry and WorkloadEntry through meshd (grpc-js-xds and C-core)', { timeout: 180_000 }, () => {
  const tmp = tempDir('service-entry');
  let meshd: Meshd | undefined;
  let external: Backend | undefined;
  let vm: Backend | undefined;
  const clients: XdsClient[] = [];
  let py: PyXdsClient | undefined;

  before(async () => {
    external = await startBackend('external-greeter', '127.0.7.11');
    vm = await startBackend('vm-greeter-1', '127.0.7.12');
    writeMesh(tmp.dir, {
      'service-entry.yaml': [serviceEntryDoc(external)],
      // a Service with a selector and no Pods: its backend is the WorkloadEntry its selector matches
      'vm.yaml': [serviceDoc({ name: VM_SVC, port: VM_PORT, selector: { app: VM_SVC } }), workloadEntryDoc(vm)],
      // namespace `scoped`: its default Sidecar lets its proxies see the VM Service only
      'sidecar.yaml': [sidecarDoc()],
    });
    meshd = await startMeshd({ configDir: tmp.dir });
  });

  after(async () => {
    for (const c of clients) c.close();
    await py?.close();
    const code = await meshd?.stop();
    await Promise.all([external?.stop(), vm?.stop()]);
    tmp.remove();
    exitWhenIdle();
    assert.equal(code, 0, 'meshd exits 0 on SIGTERM');
  });

  test('(a) grpc-js-xds reaches a ServiceEntry host with a STATIC endpoint on loopback', { timeout: 180_000 }, async () => {
    const client = new XdsClient(meshd!.grpcAddr, `xds:///${SE_HOST}:${SE_PORT}`, { pod: 'se-client', ip: '127.0.7.1' });
    clients.push(client);
    const first = await client.waitReady();
    assert.equal(first.status, 'OK', JSON.stringify(first));
    assert.deepEqual(await client.split(50), { 'external-greeter': 50 });
  });

  test('(b) grpc-js-xds reaches a Service whose only backend is a WorkloadEntry', { timeout: 180_000 }, async () => {
    const client = new XdsClient(meshd!.grpcAddr, `xds:///${fqdn(VM_SVC)}:${VM_PORT}`, { pod: 'vm-client', ip: '127.0.7.2' });
    clients.push(client);
    const first = await client.waitReady();
    assert.equal(first.status, 'OK', JSON.stringify(first));
    assert.deepEqual(await client.split(50), { 'vm-greeter-1': 50 });
  });

  test('(c) a Sidecar whose egress hides the ServiceEntry host: it no longer resolves, the VM Service still does', { timeout: 180_000 }, async () => {
    const vmClient = new XdsClient(meshd!.grpcAddr, `xds:///${fqdn(VM_SVC)}:${VM_PORT}`, { pod: 'scoped-vm-client', ip: '127.0.7.4', namespace: 'scoped' });
    const seClient = new XdsClient(meshd!.grpcAddr, `xds:///${SE_HOST}:${SE_PORT}`, { pod: 'scoped-se-client', ip: '127.0.7.5', namespace: 'scoped' });
    clients.push(vmClient, seClient);
    const ok = await vmClient.waitReady();
    assert.equal(ok.status, 'OK', JSON.stringify(ok));
    assert.deepEqual(await vmClient.split(20), { 'vm-greeter-1': 20 });
    // grpc-js keeps waiting for a listener meshd says nothing about: the name never resolves
    const hidden = await seClient.call({ deadlineMs: 4000 });
    assert.notEqual(hidden.status, 'OK', JSON.stringify(hidden));
    assert.match(hidden.details ?? '', /name resolution|does not exist|not found/i, JSON.stringify(hidden));
    // meshd answered the listener request without the hidden host (it does not exist for this proxy)
    const s = await meshd!.syncz();
    const entry = s.find((e) => e.nodeId === seClient.nodeId);
    assert.ok(entry?.types.LDS, 'the scoped client asked for its listener');
    // the same host still resolves for a proxy outside `scoped`
    assert.deepEqual(await clients[0]!.split(10), { 'external-greeter': 10 });
  });

  test('(a) C-core reaches the ServiceEntry host too, and ACKs every resource', { timeout: 180_000 }, async () => {
    requirePythonGrpc();
    py = await PyXdsClient.start(meshd!.grpcAddr, `xds:///${SE_HOST}:${SE_PORT}`, { pod: 'se-c-core', ip: '127.0.7.3' }, tmp.dir);
    await py.waitReady();
    assert.deepEqual(await py.split(50), { 'external-greeter': 50 });
    const s = await meshd!.syncz();
    const entry = s.find((e) => e.nodeId === py!.nodeId);
    assert.ok(entry);
    for (const [t, st] of Object.entries(entry.types)) assert.equal(st.lastNack, undefined, `${t} was never NACKed by C-core`);
  });
});
