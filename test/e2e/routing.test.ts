// grpc-js-xds clients → meshd → real gRPC backends on loopback. One meshd process serves one
// VirtualService whose routes each exercise one feature (selected by a request header or the method),
// in front of the 90/10 canary split. Nothing is mocked: the client is @grpc/grpc-js-xds, the daemon is
// the meshd CLI, the backends are grpc-js servers on 127.0.1.11 (v1) and 127.0.1.12 (v2).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { Backend } from './harness/backend.js';
import { startMeshd, type Meshd } from './harness/meshd.js';
import { dest, fqdn, versionedService, virtualServiceDoc, writeMesh, xdsTarget, type Doc } from './harness/mesh.js';
import { withinBinomial } from './harness/stats.js';
import { failures, format, total } from './harness/traffic.js';
import { exitWhenIdle, tempDir } from './harness/util.js';
import { XdsClient } from './harness/xds-client.js';
import { startHelloworldVersions } from './harness/helloworld.js';

const SVC = 'helloworld';
const HOST = fqdn(SVC);
const PORT = 5000;
const header = (name: string, value: string) => ({ headers: { [name]: { exact: value } } });
const xTest = (value: string) => header('x-test', value);

/** Every feature under test, as routes of one VirtualService (first match wins, as in Istio). */
function routes(): Doc[] {
  return [
    { name: 'canary-header', match: [header('x-canary', 'always')], route: [dest(HOST, 'v2')] },
    { name: 'goodbye-to-v2', match: [{ ...xTest('method'), uri: { prefix: '/hello.Greeter/SayGoodbye' } }], route: [dest(HOST, 'v2')] },
    { name: 'other-methods-to-v1', match: [xTest('method')], route: [dest(HOST, 'v1')] },
    {
      name: 'abort-grpc', match: [xTest('abort-grpc')], route: [dest(HOST, 'v1')],
      fault: { abort: { grpcStatus: 'PERMISSION_DENIED', percentage: { value: 100 } } },
    },
    {
      name: 'abort-http', match: [xTest('abort-http')], route: [dest(HOST, 'v1')],
      fault: { abort: { httpStatus: 503, percentage: { value: 100 } } },
    },
    {
      name: 'delay', match: [xTest('delay')], route: [dest(HOST, 'v1')],
      fault: { delay: { fixedDelay: '300ms', percentage: { value: 100 } } },
    },
    { name: 'retry', match: [xTest('retry')], route: [dest(HOST, 'v1')], retries: { attempts: 2, retryOn: 'unavailable' } },
    { name: 'retries-disabled', match: [xTest('no-retry')], route: [dest(HOST, 'v1')], retries: { attempts: 0 } },
    { name: 'retries-default', match: [xTest('default-retry')], route: [dest(HOST, 'v1')] },
    { name: 'timeout', match: [xTest('timeout')], route: [dest(HOST, 'v1')], timeout: '300ms' },
    { name: 'canary', route: [dest(HOST, 'v1', 90), dest(HOST, 'v2', 10)] },
  ];
}

describe('grpc-js-xds through meshd: routing, faults, retries, timeouts', { timeout: 180_000 }, () => {
  const tmp = tempDir('routing');
  let meshd: Meshd | undefined;
  let v1: Backend;
  let v2: Backend;
  let client: XdsClient;

  before(async () => {
    const hello = await startHelloworldVersions('127.0.1');
    ({ v1, v2 } = hello);
    writeMesh(tmp.dir, {
      ...versionedService(SVC, PORT, hello.versions),
      'virtual-service.yaml': [virtualServiceDoc(SVC, [HOST], routes())],
    });
    meshd = await startMeshd({ configDir: tmp.dir });
    client = new XdsClient(meshd.grpcAddr, xdsTarget(SVC, PORT), { pod: 'routing-client', ip: '127.0.1.1' });
    await client.waitReady();
  });

  after(async () => {
    client?.close();
    const code = await meshd?.stop();
    await Promise.all([v1?.stop(), v2?.stop()]);
    tmp.remove();
    exitWhenIdle();
    assert.equal(code, 0, 'meshd exits 0 on SIGTERM');
  });

  test('the client is connected and synced under its Istio node id, with istiod cluster names', { timeout: 180_000 }, async () => {
    const s = await meshd!.waitForAck(
      (all) => all.some((e) => e.nodeId === client.nodeId && ['LDS', 'RDS', 'CDS', 'EDS'].every((t) => e.types[t]?.synced)),
      'the client to ACK LDS, RDS, CDS and EDS',
    );
    const entry = s.find((e) => e.nodeId === client.nodeId)!;
    assert.equal(entry.generator, 'grpc');
    const adsz = await meshd!.getJson<{ connections: { proxy: string; subscriptions: Record<string, string[]> }[] }>('/debug/adsz');
    const subs = adsz.connections.find((c) => c.proxy === client.nodeId)!.subscriptions;
    assert.deepEqual(subs.LDS, [`${HOST}:${PORT}`]);
    for (const c of [`outbound|${PORT}|v1|${HOST}`, `outbound|${PORT}|v2|${HOST}`]) {
      assert.ok(subs.CDS?.includes(c), `CDS subscription has ${c}: ${JSON.stringify(subs.CDS)}`);
    }
  });

  test('90/10 canary split over 500 calls is within binomial tolerance', { timeout: 180_000 }, async () => {
    const n = 500;
    const counts = await client.split(n);
    console.log(`grpc-js-xds 90/10 split over ${n} calls: ${format(counts)}`);
    assert.deepEqual(failures(counts), {}, 'no call fails');
    assert.equal(total(counts), n);
    const v1share = withinBinomial(counts['helloworld-v1'] ?? 0, n, 0.9);
    assert.ok(v1share.ok, `v1 share: ${v1share.why}`);
    assert.equal((counts['helloworld-v1'] ?? 0) + (counts['helloworld-v2'] ?? 0), n);
  });

  test('header match routes to subset v2, chosen by the Pod label version=v2', { timeout: 180_000 }, async () => {
    const counts = await client.split(100, { md: { 'x-canary': 'always' } });
    assert.deepEqual(counts, { 'helloworld-v2': 100 });
    // a different header value falls through to the canary split
    const other = await client.split(100, { md: { 'x-canary': 'never' } });
    assert.ok((other['helloworld-v1'] ?? 0) > 50, `x-canary: never follows the split: ${format(other)}`);
  });

  test('per-method routing: uri prefix /hello.Greeter/SayGoodbye → v2, SayHello → v1', { timeout: 180_000 }, async () => {
    const md = { 'x-test': 'method' };
    const hello = await client.split(50, { md, method: 'SayHello' });
    const goodbye = await client.split(50, { md, method: 'SayGoodbye' });
    assert.deepEqual(hello, { 'helloworld-v1': 50 });
    assert.deepEqual(goodbye, { 'helloworld-v2': 50 });
  });

  test('fault abort: grpcStatus PERMISSION_DENIED at 100% fails every call without reaching a backend', { timeout: 180_000 }, async () => {
    const before = v1.calls.SayHello + v2.calls.SayHello;
    for (let i = 0; i < 20; i++) {
      const r = await client.call({ md: { 'x-test': 'abort-grpc' }, name: `abort-${i}` });
      assert.equal(r.code, grpc.status.PERMISSION_DENIED, `call ${i}: ${r.status} ${r.details}`);
    }
    assert.equal(v1.calls.SayHello + v2.calls.SayHello, before, 'aborted calls never reach a backend');
  });

  test('fault abort: httpStatus 503 maps to gRPC UNAVAILABLE', { timeout: 180_000 }, async () => {
    const counts = await client.split(20, { md: { 'x-test': 'abort-http' } });
    const keys = Object.keys(counts);
    assert.equal(keys.length, 1, format(counts));
    assert.match(keys[0]!, /^UNAVAILABLE: /);
  });

  test('fault delay: fixedDelay 300ms at 100% delays every call by at least 300 ms', { timeout: 180_000 }, async () => {
    const base = await client.call({ md: { 'x-test': 'method' } });
    assert.equal(base.status, 'OK');
    const lat: number[] = [];
    await Promise.all(
      Array.from({ length: 5 }, async () => {
        const r = await client.call({ md: { 'x-test': 'delay' } });
        assert.equal(r.status, 'OK', `${r.status} ${r.details}`);
        assert.equal(r.backend, 'helloworld-v1');
        lat.push(r.ms);
      }),
    );
    console.log(`delay fault latencies (ms): ${lat.map((x) => x.toFixed(0)).join(', ')}; undelayed call: ${base.ms.toFixed(1)} ms`);
    for (const ms of lat) assert.ok(ms >= 299, `latency ${ms.toFixed(1)} ms ≥ 300 ms`);
  });

  test('retries {attempts: 2, retryOn: unavailable} rescue a backend that fails the first attempt', { timeout: 180_000 }, async () => {
    for (let i = 0; i < 5; i++) {
      const name = `failfirst:retry-${i}`;
      const r = await client.call({ md: { 'x-test': 'retry' }, name });
      assert.equal(r.status, 'OK', `call ${i}: ${r.status} ${r.details}`);
      assert.equal(r.backend, 'helloworld-v1');
      assert.equal(v1.attempts.get(name), 2, 'the backend saw the failed attempt and the retry');
    }
  });

  test('retries {attempts: 0} (no retry policy): the first failure reaches the caller', { timeout: 180_000 }, async () => {
    for (let i = 0; i < 5; i++) {
      const name = `failfirst:no-retry-${i}`;
      const r = await client.call({ md: { 'x-test': 'no-retry' }, name });
      assert.equal(r.code, grpc.status.UNAVAILABLE, `call ${i}: ${r.status} ${r.details}`);
      assert.match(r.details ?? '', /first attempt .* fails/);
      assert.equal(v1.attempts.get(name), 1, 'exactly one attempt');
    }
  });

  test('no retries field: istiod\'s default policy (2 retries on unavailable) applies', { timeout: 180_000 }, async () => {
    const name = 'failfirst:default-retry';
    const r = await client.call({ md: { 'x-test': 'default-retry' }, name });
    assert.equal(r.status, 'OK', `${r.status} ${r.details}`);
    assert.equal(v1.attempts.get(name), 2);
  });

  test('VirtualService timeout 300ms: a backend sleeping 1.5 s gives DEADLINE_EXCEEDED after ~300 ms', { timeout: 180_000 }, async () => {
    const slow = await client.call({ md: { 'x-test': 'timeout' }, name: 'sleep:1500', deadlineMs: 5000 });
    assert.equal(slow.code, grpc.status.DEADLINE_EXCEEDED, `${slow.status} ${slow.details}`);
    assert.ok(slow.ms >= 290 && slow.ms < 1400, `failed after ${slow.ms.toFixed(0)} ms (route timeout 300 ms, client deadline 5 s)`);
    const quick = await client.call({ md: { 'x-test': 'timeout' }, name: 'sleep:50' });
    assert.equal(quick.status, 'OK', 'a call within the timeout succeeds');
  });
});
