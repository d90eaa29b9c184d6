// The proxy-status table from istiod's SyncStatus fields (what /debug/syncz serves) and kubectl's age format.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { humanDuration } from '../../src/cli/duration.js';
import { formatProxyStatus, proxyStatusRows } from '../../src/cli/proxy-status.js';
import type { SyncStatus } from '../../src/xds/debug.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('humanDuration (kubectl / istioctl ages)', () => {
  it('prints seconds, minutes, hours, days and years at the thresholds kubectl uses', () => {
    const cases: [number, string][] = [
      [-5 * S, '<invalid>'], [-1500, '0s'], [0, '0s'], [59 * S, '59s'], [119 * S, '119s'], [2 * M, '2m'], [5 * M + 30 * S, '5m30s'],
      [10 * M + 30 * S, '10m'], [179 * M, '179m'], [3 * H, '3h'], [3 * H + 7 * M, '3h7m'], [8 * H + 5 * M, '8h'], [47 * H, '47h'],
      [2 * D, '2d'], [2 * D + 3 * H, '2d3h'], [8 * D, '8d'], [729 * D, '729d'], [730 * D, '2y'], [744 * D, '2y14d'], [3000 * D, '8y'],
    ];
    for (const [ms, text] of cases) assert.equal(humanDuration(ms), text, `${ms} ms`);
  });
});

describe('proxy-status rows from istiod SyncStatus', () => {
  const now = Date.parse('2026-12-08T01:00:00Z');
  const sentAt = new Date(now - 5 * M).toISOString();
  const detail = (nonce: string, acked: string, lastNack?: string) => ({
    sent: { version: 'v1', nonce, at: sentAt, resources: 1 },
    acked: { version: acked ? 'v1' : '', nonce: acked },
    synced: nonce === acked,
    ...(lastNack ? { lastNack: { nonce, version: 'v1', message: lastNack, at: sentAt } } : {}),
  });
  const entry: SyncStatus = {
    cluster_id: 'Kubernetes', proxy: 'a-1.default', proxy_type: 'sidecar', istio_version: '1.26.0',
    cluster_sent: 'n1', cluster_acked: 'n1', listener_sent: 'n2', endpoint_sent: 'n3', endpoint_acked: 'n0',
    nodeId: 'sidecar~10.0.0.1~a-1.default~default.svc.cluster.local', connection: 'c1', mode: 'sotw', generator: 'sidecar',
    namespace: 'default', controlPlane: 'meshd-1',
    types: { CDS: detail('n1', 'n1'), LDS: detail('n2', '', 'bad listener'), EDS: detail('n3', 'n0'), RDS: { ...detail('', ''), sent: { version: '', nonce: '', resources: 0 } } },
  };

  it('SYNCED when the nonce sent was ACKed, STALE with the NACK text, STALE while unanswered, NOT SENT, IGNORED when not subscribed', () => {
    const [row] = proxyStatusRows([entry]);
    assert.equal(row!.name, 'a-1.default');
    assert.equal(row!.proxy, entry.nodeId);
    assert.deepEqual(Object.fromEntries(Object.entries(row!.types).map(([t, s]) => [t, s.status])), { CDS: 'SYNCED', LDS: 'STALE', EDS: 'STALE', RDS: 'NOT SENT', ECDS: 'IGNORED' });
    assert.equal(row!.types.LDS.nack, 'bad listener');
    const table = formatProxyStatus([row!], now).split('\n')[1]!;
    assert.match(table, /^a-1\.default\s+Kubernetes\s+SYNCED \(5m\)\s+STALE \(5m\) \(NACK: bad listener\)\s+STALE \(5m\)\s+NOT SENT\s+IGNORED\s+meshd-1\s+1\.26\.0$/);
  });

  it("reads istiod's own syncz too (no meshd detail): status from the nonces alone", () => {
    const istiod = { proxy: 'b-1.prod', cluster_id: 'c1', istio_version: '1.24.0', cluster_sent: 'x', cluster_acked: 'x', resources: { 'type.googleapis.com/envoy.config.cluster.v3.Cluster': { sent: 'x', acked: 'x' } } } as unknown as SyncStatus;
    const [row] = proxyStatusRows([istiod], { namespace: 'prod' });
    assert.equal(row!.types.CDS.status, 'SYNCED');
    assert.equal(row!.types.LDS.status, 'IGNORED');
  });
});
