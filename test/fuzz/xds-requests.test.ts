import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { TYPE } from '../../src/xds/resource-types.js';
import { RawAdsClient, RawDeltaClient, type DeltaRequestInit, type RequestInit } from '../support/ads-client.js';
import { fuzzParameters, FUZZ_SEED } from './settings.js';

// Fuzz (b): random and mutated DiscoveryRequests, state of the world and Delta, on a live daemon. Whatever a
// stream sends (unknown types, garbage names, stale or invented nonces, NACKs, node ids of any shape),
// meshd must not crash (the test process would), must keep serving a well-behaved client, and must give
// back everything the stream made it hold once the stream is gone: no connection, no metric series, no
// cache entry for a name that matches nothing.

const MESH = `
apiVersion: v1
kind: Service
metadata: { name: hello, namespace: default }
spec: { selector: { app: hello }, ports: [{ name: grpc, port: 5000 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: hello-v1, namespace: default, labels: { app: hello, version: v1 } }
spec: { serviceAccountName: hello }
status: { podIP: 127.0.0.11, phase: Running }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: hello, namespace: default }
spec:
  hosts: [hello]
  http: [{ route: [{ destination: { host: hello } }] }]
`;
const LISTENER = 'hello.default.svc.cluster.local:5000';
const KNOWN_NAMES = [LISTENER, 'outbound|5000||hello.default.svc.cluster.local', 'hello.default.svc.cluster.local:5000', '*', ''];
const TYPES = [TYPE.LDS, TYPE.RDS, TYPE.CDS, TYPE.EDS];

const typeUrl = fc.oneof(fc.constantFrom(...TYPES), fc.constantFrom(...TYPES).map((t) => t.replace('v3', 'v2')), fc.string({ maxLength: 30 }));
const resourceName = fc.oneof(fc.constantFrom(...KNOWN_NAMES), fc.string({ maxLength: 40 }), fc.constant('n'.repeat(5000)));
const names = fc.oneof(
  { weight: 5, arbitrary: fc.array(resourceName, { maxLength: 6 }) },
  // many names at once: what a hostile client does to grow a server's memory
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 3000 }).map((n) => Array.from({ length: n }, (_, i) => `fuzz-${i}-${'x'.repeat(20)}`)) },
);
const nodeId = fc.oneof(
  fc.constantFrom('sidecar~127.0.0.31~fuzz.default~default.svc.cluster.local', 'sidecar~127.0.0.32~fuzz2.other~other.svc.cluster.local', '', 'garbage', 'router~1.2.3.4~a.b~b.svc'),
  fc.string({ maxLength: 50 }),
  fc.constant(`sidecar~127.0.0.33~${'p'.repeat(5000)}.default~default.svc.cluster.local`),
);
const node = fc.record({
  id: nodeId,
  metadata: fc.oneof(
    fc.constant({ GENERATOR: 'grpc', NAMESPACE: 'default' }),
    fc.constant({ NAMESPACE: 'default', ISTIO_VERSION: '1.24.0' }),
    fc.dictionary(fc.string({ maxLength: 12 }), fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean()), { maxKeys: 4 }).map((m) => ({ GENERATOR: 'grpc', ...m })),
  ),
});
/** a nonce: none, the last one the server sent (filled in when sent), or made up */
const nonce = fc.oneof(fc.constant(undefined), fc.constant('<last>'), fc.string({ maxLength: 12 }));
const errorDetail = fc.option(fc.record({ code: fc.integer({ min: -5, max: 40 }), message: fc.oneof(fc.string({ maxLength: 30 }), fc.constant('e'.repeat(20_000))) }), { nil: undefined });

const sotwRequest = fc.record({ type_url: typeUrl, resource_names: names, version_info: fc.oneof(fc.constant(''), fc.string({ maxLength: 10 })), response_nonce: nonce, error_detail: errorDetail });
const deltaRequest = fc.record({
  type_url: typeUrl, resource_names_subscribe: names, resource_names_unsubscribe: fc.array(resourceName, { maxLength: 4 }),
  initial_resource_versions: fc.dictionary(resourceName, fc.string({ maxLength: 8 }), { maxKeys: 3 }), response_nonce: nonce, error_detail: errorDetail,
});
const session = fc.oneof(
  fc.record({ mode: fc.constant('sotw' as const), node: fc.option(node, { nil: undefined }), requests: fc.array(sotwRequest, { minLength: 1, maxLength: 6 }) }),
  fc.record({ mode: fc.constant('delta' as const), node: fc.option(node, { nil: undefined }), requests: fc.array(deltaRequest, { minLength: 1, maxLength: 6 }) }),
);

describe('fuzz (b): random and mutated DiscoveryRequests on a live server', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-fuzz-xds-'));
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), MESH);
  const daemon = new Daemon({
    configDir: dir, grpcAddr: '127.0.0.1:0', monitoringAddr: '127.0.0.1:0', httpAddr: '127.0.0.1:0',
    debounce: { quietMs: 20, maxMs: 500 }, log: silentLogger,
  });
  let grpcAddr = '';
  before(async () => {
    grpcAddr = (await daemon.start()).grpcAddr;
  });
  after(async () => {
    await daemon.stop(1000);
  });

  const until = async (cond: () => boolean | Promise<boolean>, what: string): Promise<void> => {
    const end = Date.now() + 30_000;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  /** a well-behaved proxyless client still gets its listener */
  async function healthy(): Promise<void> {
    const c = new RawAdsClient(grpcAddr);
    try {
      c.send({ node: { id: 'sidecar~127.0.0.40~probe.default~default.svc.cluster.local', metadata: { GENERATOR: 'grpc', NAMESPACE: 'default' } }, type_url: TYPE.LDS, resource_names: [LISTENER] });
      const r = await c.next(undefined, 30_000);
      assert.equal(r.resources.length, 1);
    } finally {
      c.close();
    }
  }

  it(`survives any request sequence, keeps serving, and releases what a stream held (seed ${FUZZ_SEED})`, async (t) => {
    await healthy();
    await until(() => daemon.discovery.connections.length === 0, 'the probe gone');
    const cacheAfterProbe = daemon.discovery.cacheStats;
    let cases = 0;
    let requests = 0;
    let cut = 0;
    await fc.assert(
      fc.asyncProperty(session, async (s) => {
        cases++;
        const client = s.mode === 'sotw' ? new RawAdsClient(grpcAddr) : new RawDeltaClient(grpcAddr);
        try {
          let last = '';
          for (const [i, req] of s.requests.entries()) {
            requests++;
            const withNonce = { ...req, response_nonce: req.response_nonce === '<last>' ? last : req.response_nonce };
            const first = i === 0 && s.node ? { node: s.node } : {};
            if (s.mode === 'sotw') (client as RawAdsClient).send({ ...(withNonce as RequestInit), ...first });
            else (client as RawDeltaClient).send({ ...(withNonce as DeltaRequestInit), ...first });
            last = client.responses.at(-1)?.nonce ?? last;
          }
          await healthy();
          if (client.error) cut++;
        } finally {
          client.close();
        }
        await until(() => daemon.discovery.connections.length === 0, 'every stream of the case gone');
      }),
      fuzzParameters(30),
    );
    // nothing a stream made meshd hold outlives it
    const metrics = await daemon.metrics.registry.metrics();
    assert.deepEqual(metrics.split('\n').filter((l) => /^pilot_xds(_[a-z]+_reject)?\{/.test(l)), [], 'no per-proxy series left');
    // names that match nothing are cached at most 10,000 per snapshot (xds/resolve.ts), and not carried
    // into the next snapshot unless asked for again
    const during = daemon.discovery.cacheStats.size;
    assert.ok(during <= cacheAfterProbe.size + 10_000, `cache entries ${cacheAfterProbe.size} → ${during}`);
    daemon.rebuild(0, Date.now());
    await healthy();
    const cache = daemon.discovery.cacheStats;
    assert.ok(cache.size <= cacheAfterProbe.size + 10, `cache entries after the next snapshot: ${cacheAfterProbe.size} → ${cache.size}`);
    t.diagnostic(`fuzz (b): ${cases} streams (seed ${FUZZ_SEED}), ${requests} requests, ${cut} streams refused or cut by the server; cache entries ${cacheAfterProbe.size} → ${during} (bounded) → ${cache.size} after the next snapshot`);
  });
});
