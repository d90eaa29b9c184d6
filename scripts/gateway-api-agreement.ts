// Scores meshd's Gateway API conversion against istiod's own corpus
// (../shared/istio-reference/testdata/gateway-api-conversion, from pilot/pkg/config/kube/gateway/testdata):
// for every case X, the Istio config meshd derives from X.yaml must equal X.yaml.golden and the status it
// writes back must equal X.status.yaml.golden, after istiod's own normalisation (lastTransitionTime: fake).
// The registry the cases run against (services, endpoints, Secrets, ConfigMaps) is the one istiod's
// conversion_test.go sets up; it is transcribed below.
//
//   npx tsx scripts/gateway-api-agreement.ts [--verbose] [case…]

import { readFileSync, readdirSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { convertGatewayApi } from '../src/config/gateway-api/convert.js';
import type { KubeObject, ServiceFacts } from '../src/config/gateway-api/objects.js';
import { istioReference } from '../test/support/istio-reference.js';

export const CORPUS_DIR = istioReference('testdata', 'gateway-api-conversion');
const DOMAIN = 'domain.suffix';

/**
 * Cases meshd does not convert, each with the reason. They are counted in the total and reported, never
 * dropped: the figure is over all cases of the corpus.
 */
export const OUT_OF_SCOPE: Readonly<Record<string, string>> = {
  'benchmark-httproute': 'input only: istiod benchmarks it, there is no golden',
  'backend-lb-policy': 'BackendLBPolicy / DestinationRule generation is not implemented',
  'backend-tls-client-cert': 'BackendTLSPolicy and Gateway spec.tls.backend → DestinationRule are not implemented',
  'backend-tls-policy': 'BackendTLSPolicy → DestinationRule is not implemented',
  'backend-tls-policy-ignored': 'BackendTLSPolicy status (ancestors) is not implemented',
  'backend-traffic-policy-ignored': 'XBackendTrafficPolicy status is not implemented',
  'mix-backend-policy': 'BackendTLSPolicy/XBackendTrafficPolicy → DestinationRule are not implemented',
  xbackend: 'experimental XBackend kind is not implemented',
  http: 'its InferencePool backends: the Gateway API Inference Extension is not implemented (every other route of the case agrees)',
  'foreign-waypoint': 'ambient waypoints (a Service bound to a waypoint of another controller) are not part of meshd',
  'reference-policy-inferencepool': 'Gateway API Inference Extension (InferencePool) is not implemented',
  waypoint: 'ambient waypoints (istio-waypoint class) are not part of meshd',
  'eastwest-remote': 'ambient multi-network east-west gateways are not part of meshd',
  'east-west-ambient': 'ambient multi-network east-west gateways are not part of meshd',
  listenerset: 'experimental ListenerSet kind is not implemented',
  'listenerset-cross-namespace': 'experimental ListenerSet kind is not implemented',
  'listenerset-same-name-different-ns': 'experimental ListenerSet kind is not implemented',
  'listenerset-invalid': 'experimental ListenerSet kind is not implemented',
  'listenerset-overlapping-port': 'experimental ListenerSet kind is not implemented',
  'listenerset-hostname-conflict': 'experimental ListenerSet kind is not implemented',
  'listenerset-protocol-conflict': 'experimental ListenerSet kind is not implemented',
  'listenerset-https-missing-tls': 'experimental ListenerSet kind is not implemented',
  'listenerset-empty-listeners': 'experimental ListenerSet kind is not implemented',
};

// --- the registry of istiod's conversion_test.go -------------------------------------------------------------

const TEST_PORTS = [
  { name: 'http', port: 80 },
  { name: 'tcp', port: 34000 },
  { name: 'tcp-other', port: 34001 },
];

function service(hostname: string, namespace: string, ports = TEST_PORTS, extra: Partial<ServiceFacts> = {}): ServiceFacts {
  // conversion_test.go gives every port an endpoint; the first one's target port is 8080 ("to test mismatch").
  return { hostname, namespace, ports, endpoints: ports.map((p, i) => ({ servicePort: p.port, endpointPort: i === 0 ? 8080 : 0 })), ...extra };
}

const K8S_SERVICES: [string, string][] = [
  ['httpbin', 'default'], ['httpbin-apple', 'apple'], ['httpbin-banana', 'banana'], ['httpbin-second', 'default'],
  ['httpbin-wildcard', 'default'], ['foo-svc', 'default'], ['httpbin-other', 'default'], ['example', 'default'],
  ['echo', 'default'], ['httpbin', 'cert'], ['my-svc', 'service'], ['a-example', 'allowed-1'], ['a-example', 'allowed-2'],
  ['b-example', 'allowed-1'], ['svc2', 'allowed-1'], ['svc2', 'allowed-2'], ['svc1', 'allowed-1'], ['svc3', 'allowed-2'],
  ['svc4', 'default'], ['httpbin', 'group-namespace1'], ['httpbin', 'group-namespace2'], ['httpbin-zero', 'default'],
  ['httpbin', 'istio-system'], ['httpbin-mirror', 'default'], ['httpbin-foo', 'default'], ['httpbin-alt', 'default'],
  ['istiod', 'istio-system'], ['echo', 'istio-system'], ['httpbin-bad', 'default'], ['echo-1', 'default'],
  ['echo-2', 'default'], ['echo-port', 'default'], ['not-found', 'default'],
];

export const TEST_SERVICES: readonly ServiceFacts[] = [
  service(
    `istio-ingressgateway.istio-system.svc.${DOMAIN}`,
    'istio-system',
    [{ name: 'http', port: 80 }, { name: 'https', port: 443 }, { name: 'tcp', port: 34000 }, { name: 'tcp-other', port: 34001 }],
    { name: 'istio-ingressgateway', externalAddresses: ['1.2.3.4'] },
  ),
  service('example.com', 'istio-system'),
  ...K8S_SERVICES.map(([name, ns]) => service(`${name}.${ns}.svc.${DOMAIN}`, ns, TEST_PORTS, { name })),
  service('google.com', 'default'),
  // stand-ins for the ServiceEntries istiod's registry synthesises from XBackends
  service('secure.example.net', 'default'),
  service('cross.example.net', 'allowed-1'),
  service('plaintext.example.net', 'default'),
  service('tcp.example.net', 'default'),
];

// kubectl's create-secret-tls test pair, which conversion_test.go uses for every TLS Secret
const RSA_CERT = `-----BEGIN CERTIFICATE-----
MIIB0zCCAX2gAwIBAgIJAI/M7BYjwB+uMA0GCSqGSIb3DQEBBQUAMEUxCzAJBgNV
BAYTAkFVMRMwEQYDVQQIDApTb21lLVN0YXRlMSEwHwYDVQQKDBhJbnRlcm5ldCBX
aWRnaXRzIFB0eSBMdGQwHhcNMTIwOTEyMjE1MjAyWhcNMTUwOTEyMjE1MjAyWjBF
MQswCQYDVQQGEwJBVTETMBEGA1UECAwKU29tZS1TdGF0ZTEhMB8GA1UECgwYSW50
ZXJuZXQgV2lkZ2l0cyBQdHkgTHRkMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBANLJ
hPHhITqQbPklG3ibCVxwGMRfp/v4XqhfdQHdcVfHap6NQ5Wok/4xIA+ui35/MmNa
rtNuC+BdZ1tMuVCPFZcCAwEAAaNQME4wHQYDVR0OBBYEFJvKs8RfJaXTH08W+SGv
zQyKn0H8MB8GA1UdIwQYMBaAFJvKs8RfJaXTH08W+SGvzQyKn0H8MAwGA1UdEwQF
MAMBAf8wDQYJKoZIhvcNAQEFBQADQQBJlffJHybjDGxRMqaRmDhX0+6v02TUKZsW
r5QuVbpQhH6u+0UgcW0jp9QwpxoPTLTWGXEWBBBurxFwiCBhkQ+V
-----END CERTIFICATE-----
`;
const RSA_KEY = `-----BEGIN RSA PRIVATE KEY-----
MIIBOwIBAAJBANLJhPHhITqQbPklG3ibCVxwGMRfp/v4XqhfdQHdcVfHap6NQ5Wo
k/4xIA+ui35/MmNartNuC+BdZ1tMuVCPFZcCAwEAAQJAEJ2N+zsR0Xn8/Q6twa4G
6OB1M1WO+k+ztnX/1SvNeWu8D6GImtupLTYgjZcHufykj09jiHmjHx8u8ZZB/o1N
MQIhAPW+eyZo7ay3lMz1V01WVjNKK9QSn1MJlb06h/LuYv9FAiEA25WPedKgVyCW
SmUwbPw8fnTcpqDWE3yTO3vKcebqMSsCIBF3UmVue8YU3jybC3NxuXq3wNm34R8T
xVLHwDXh/6NJAiEAl2oHGGLz64BuAfjKrqwz7qMYr9HCLIe/YsoWq/olzScCIQDi
D2lWusoe2/nEqfDVVWGWlyJ7yOmqaVm/iNUN9B2N2g==
-----END RSA PRIVATE KEY-----
`;

const b64 = (s: string) => Buffer.from(s).toString('base64');
function secret(name: string, namespace: string, data: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) };
}
function configMap(name: string, namespace: string, data: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data };
}
const tlsPair = { 'tls.crt': RSA_CERT, 'tls.key': RSA_KEY };

export const TEST_OBJECTS: readonly KubeObject[] = [
  secret('my-cert-http', 'istio-system', { ...tlsPair, 'ca.crt': RSA_CERT }),
  secret('ns2-cert', 'ns2', tlsPair),
  secret('ns3-cert', 'ns3', tlsPair),
  secret('ns4-cert', 'ns4', tlsPair),
  secret('my-cert', 'istio-system', tlsPair),
  secret('my-cert-http2', 'istio-system', tlsPair),
  secret('cert', 'cert', tlsPair),
  secret('bookinfo-secret', 'bookinfo', tlsPair),
  secret('another-secret', 'bookinfo', tlsPair),
  // invalid: base64 of "Hello world" as both certificate and key (Gateway API conformance)
  secret('malformed', 'istio-system', { 'tls.crt': 'SGVsbG8gd29ybGQK', 'tls.key': 'SGVsbG8gd29ybGQK' }),
  configMap('malformed', 'istio-system', { 'not-ca.crt': 'hello' }),
  configMap('malformed-trustbundle', 'istio-system', { 'ca.crt': 'hello' }),
  configMap('my-cert-http', 'istio-system', { 'ca.crt': RSA_CERT }),
  configMap('malformed', 'default', { 'not-ca.crt': 'hello' }),
  configMap('auth-cert', 'default', { 'ca.crt': RSA_CERT }),
];

// --- scoring -----------------------------------------------------------------------------------------------

export interface CaseOutcome {
  name: string;
  outOfScope?: string;
  configAgree: boolean;
  statusAgree: boolean;
  configDiff?: string;
  statusDiff?: string;
}

function readDocs(file: string): Record<string, unknown>[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as Record<string, unknown> | null)
    .filter((d): d is Record<string, unknown> => !!d);
}

function normalise<T>(v: T): T {
  return JSON.parse(JSON.stringify(v, (k, val) => (k === 'lastTransitionTime' ? 'fake' : val))) as T;
}

function firstDifference(want: unknown[], got: unknown[]): string {
  const id = (d: unknown) => {
    const o = d as { kind?: string; metadata?: { name?: string; namespace?: string } };
    return `${o.kind} ${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
  };
  const wantIds = want.map(id);
  const gotIds = got.map(id);
  if (!isDeepStrictEqual(wantIds, gotIds)) {
    const missing = wantIds.filter((x) => !gotIds.includes(x));
    const extra = gotIds.filter((x) => !wantIds.includes(x));
    return `objects differ: missing [${missing.join(', ')}] extra [${extra.join(', ')}]${missing.length + extra.length === 0 ? ' (order)' : ''}`;
  }
  for (let i = 0; i < want.length; i++) {
    if (!isDeepStrictEqual(want[i], got[i])) return `${wantIds[i]}:\n  want ${JSON.stringify(want[i])}\n  got  ${JSON.stringify(got[i])}`;
  }
  return '';
}

export function caseNames(): string[] {
  return readdirSync(CORPUS_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort();
}

export function runCase(name: string): CaseOutcome {
  const input = readDocs(path.join(CORPUS_DIR, `${name}.yaml`)) as unknown as KubeObject[];
  // As conversion_test.go: a Namespace for every namespace of the input, labelled with the part of its name
  // before the first '-' (route-binding selects on it).
  const namespaces = [...new Set(input.map((o) => o.metadata?.namespace ?? ''))].map(
    (name): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'istio.io/test-name-part': name.split('-')[0]! } } }),
  );
  const result = convertGatewayApi({ objects: [...input, ...TEST_OBJECTS, ...namespaces], services: TEST_SERVICES, domainSuffix: DOMAIN }, 'fake');
  const outOfScope = OUT_OF_SCOPE[name];
  let wantConfig: unknown[] = [];
  let wantStatus: unknown[] = [];
  try {
    wantConfig = normalise(readDocs(path.join(CORPUS_DIR, `${name}.yaml.golden`)));
    wantStatus = normalise(readDocs(path.join(CORPUS_DIR, `${name}.status.yaml.golden`)).map(({ spec: _spec, ...rest }) => rest));
  } catch {
    return { name, outOfScope: outOfScope ?? 'no golden files', configAgree: false, statusAgree: false };
  }
  const gotConfig = normalise(result.configs);
  const gotStatus = normalise(result.statuses);
  const configDiff = firstDifference(wantConfig, gotConfig);
  const statusDiff = firstDifference(wantStatus, gotStatus);
  return { name, outOfScope, configAgree: configDiff === '', statusAgree: statusDiff === '', configDiff, statusDiff };
}

export function runAll(): CaseOutcome[] {
  return caseNames().map(runCase);
}

export function summary(outcomes: readonly CaseOutcome[]): string {
  const agree = outcomes.filter((o) => o.configAgree && o.statusAgree);
  const inScope = outcomes.filter((o) => !o.outOfScope);
  const lines = [
    `Gateway API conversion corpus: ${agree.length}/${outcomes.length} cases agree (config and status); ` +
      `${inScope.filter((o) => o.configAgree && o.statusAgree).length}/${inScope.length} of the cases in scope; ` +
      `config alone ${outcomes.filter((o) => o.configAgree).length}/${outcomes.length}, status alone ${outcomes.filter((o) => o.statusAgree).length}/${outcomes.length}`,
  ];
  for (const o of outcomes) {
    const mark = o.configAgree && o.statusAgree ? 'agree' : `${o.configAgree ? '' : 'config '}${o.statusAgree ? '' : 'status '}differ`.trim();
    lines.push(`  ${o.name.padEnd(36)} ${mark}${o.outOfScope ? ` — out of scope: ${o.outOfScope}` : ''}`);
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const verbose = process.argv.includes('--verbose');
  const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const outcomes = only.length > 0 ? only.map(runCase) : runAll();
  console.log(summary(outcomes));
  if (verbose) {
    for (const o of outcomes) {
      if (!o.configAgree) console.log(`\n### ${o.name} config\n${o.configDiff}`);
      if (!o.statusAgree) console.log(`\n### ${o.name} status\n${o.statusDiff}`);
    }
  }
}
