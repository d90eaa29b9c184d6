import { spawn } from 'node:child_process';
import { TYPE } from '../../../src/xds/resource-types.js';
import { SotwFollower } from '../../support/xds-follow.js';
import { meshdCommand } from '../../support/meshd-bin.js';
import { dest, destinationRuleDoc, endpointSliceDoc, fqdn, namespaceDoc, podDoc, serviceDoc, virtualServiceDoc, type Doc } from './mesh.js';
import type { Meshd } from './meshd.js';
import { REPO_ROOT, trackChild, waitUntil } from './util.js';

// The operator-tools tests' mesh and client: a small HTTP mesh (reviews v1/v2 behind a weighted
// VirtualService and a DestinationRule with subsets, an ALLOW AuthorizationPolicy), an Envoy-like sidecar
// `sleep-1.default` that follows references over state of the world, and a runner for meshd's own
// commands (the compiled CLI, as a user runs it).

export const REVIEWS = fqdn('reviews');

export function reviewsMesh(weights: readonly [number, number] = [80, 20]): Record<string, Doc[]> {
  return {
    'services.yaml': [
      namespaceDoc('default'),
      serviceDoc({ name: 'reviews', port: 9080, portName: 'http', selector: { app: 'reviews' } }),
      serviceDoc({ name: 'sleep', port: 80, portName: 'http', selector: { app: 'sleep' } }),
    ],
    'workloads.yaml': [
      podDoc({ name: 'reviews-v1', ip: '10.1.0.11', labels: { app: 'reviews', version: 'v1', 'security.istio.io/tlsMode': 'istio' }, serviceAccount: 'reviews' }),
      podDoc({ name: 'reviews-v2', ip: '10.1.0.12', labels: { app: 'reviews', version: 'v2', 'security.istio.io/tlsMode': 'istio' }, serviceAccount: 'reviews' }),
      podDoc({ name: 'sleep-1', ip: '10.1.0.20', labels: { app: 'sleep', 'security.istio.io/tlsMode': 'istio' }, serviceAccount: 'sleep' }),
    ],
    'endpoints.yaml': [
      endpointSliceDoc({ name: 'reviews-1', service: 'reviews', portName: 'http', port: 9080, endpoints: [{ ip: '10.1.0.11', pod: 'reviews-v1' }, { ip: '10.1.0.12', pod: 'reviews-v2' }] }),
      endpointSliceDoc({ name: 'sleep-1', service: 'sleep', portName: 'http', port: 80, endpoints: [{ ip: '10.1.0.20', pod: 'sleep-1' }] }),
    ],
    'reviews-dr.yaml': [destinationRuleDoc('reviews', REVIEWS, { v1: { version: 'v1' }, v2: { version: 'v2' } })],
    'reviews-vs.yaml': [virtualServiceDoc('reviews', [REVIEWS], [
      { name: 'jason', match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [dest(REVIEWS, 'v2')] },
      { name: 'split', route: [dest(REVIEWS, 'v1', weights[0]), dest(REVIEWS, 'v2', weights[1])] },
    ])],
    'reviews-authz.yaml': [{
      apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'reviews-viewers', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'reviews' } }, action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] },
    }],
  };
}

export const SLEEP_NODE = {
  id: 'sidecar~10.1.0.20~sleep-1.default~default.svc.cluster.local',
  metadata: { NAMESPACE: 'default', LABELS: { app: 'sleep', 'security.istio.io/tlsMode': 'istio' }, ISTIO_VERSION: '1.26.0', CLUSTER_ID: 'Kubernetes', INSTANCE_IPS: '10.1.0.20' },
};

/** An Envoy-like sidecar (LDS/CDS wildcard, RDS/EDS followed) synced with meshd. */
export async function connectSleep(meshd: Meshd, node = SLEEP_NODE): Promise<SotwFollower> {
  const sidecar = new SotwFollower(meshd.grpcAddr, { node, wildcard: [TYPE.CDS, TYPE.LDS] });
  await meshd.waitForAck((s) => {
    const e = s.find((x) => x.nodeId === node.id);
    return !!e && ['CDS', 'LDS', 'RDS', 'EDS'].every((t) => e.types[t]?.synced);
  }, `${node.id} synced on every type`, 120_000);
  return sidecar;
}

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `meshd ARGS` (compiled), stdin optional; resolves when it exits. */
export function runMeshd(args: readonly string[], stdin?: string): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(...meshdCommand(args), { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    trackChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

/** The monitoring address as `--meshd-addr` takes it. */
export const meshdAddr = (meshd: Meshd): string => meshd.monitoringAddr;

export { waitUntil };
