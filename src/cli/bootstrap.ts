import fs from 'node:fs';
import { Option, type Command } from 'commander';
import type { z } from 'zod';
import { bootstrapInputSchema, buildEnvoyBootstrap, DEFAULT_SDS_SOCKET, hostPortSchema, type BootstrapInput } from '../bootstrap/envoy-bootstrap.js';
import { toProto3Json } from '../bootstrap/proto3-json.js';
import { parseLabels } from './agent.js';

// `meshd bootstrap`: an Envoy bootstrap for running stock Envoy against meshd without istio-proxy.
// Defaults follow the Kubernetes downward API / Istio's env names a pod would set, like `meshd agent`.

export interface BootstrapFlags {
  proxyType: string;
  podName: string;
  namespace: string;
  podIp: string;
  labels: string;
  serviceAccount: string;
  domain: string;
  trustDomain: string;
  clusterId: string;
  istioVersion: string;
  interceptionMode: string;
  xdsMode: string;
  discoveryAddress: string;
  certDir?: string;
  xdsServerName: string;
  sdsSocket: string;
  adminPort: string;
  statsPort: string;
  statusPort: string;
  locality?: string;
  allStats?: boolean;
  output?: string;
}

const env = (k: string, d: string) => process.env[k] || d;

/** The version of Istio's data-plane contract meshd's sidecar output follows. */
export const DEFAULT_ISTIO_VERSION = '1.24.0';

/** Which flag each input comes from, so every error names what the user typed. */
const FLAG_OF: Record<keyof BootstrapInput, string> = {
  proxyType: '--proxy-type',
  podName: '--pod-name',
  namespace: '--namespace',
  podIps: '--pod-ip',
  labels: '--labels',
  serviceAccount: '--service-account',
  domain: '--domain',
  trustDomain: '--trust-domain',
  clusterId: '--cluster-id',
  istioVersion: '--istio-version',
  interceptionMode: '--interception-mode',
  xdsMode: '--xds-mode',
  discovery: '--discovery-address',
  certDir: '--cert-dir',
  xdsServerName: '--xds-server-name',
  sdsSocket: '--sds-socket',
  adminPort: '--admin-port',
  statsPort: '--stats-port',
  statusPort: '--status-port',
  locality: '--locality',
  allStats: '--all-stats',
};

export class BootstrapFlagError extends Error {}

function describeIssues(issues: z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const [key, ...rest] = issue.path;
      const flag = FLAG_OF[key as keyof BootstrapInput] ?? String(key);
      const where = rest.length > 0 ? ` (${rest.map(String).join('.')})` : '';
      return `${flag}${where}: ${issue.message}`;
    })
    .join('; ');
}

function portNumber(text: string): number {
  return /^\d+$/.test(text) ? Number(text) : Number.NaN;
}

/** Flags (strings, as commander gives them) → validated input; errors name the flag. */
export function bootstrapInputFromFlags(flags: BootstrapFlags): BootstrapInput {
  const problems: string[] = [];
  let labels: Record<string, string> = {};
  try {
    labels = parseLabels(flags.labels);
  } catch (err) {
    problems.push((err as Error).message);
  }
  const discovery = hostPortSchema.safeParse(flags.discoveryAddress);
  if (!discovery.success) problems.push(`--discovery-address: ${discovery.error.issues.map((i) => i.message).join('; ')}`);
  let locality: BootstrapInput['locality'];
  if (flags.locality) {
    const [region = '', zone = '', subZone = ''] = flags.locality.split('/');
    locality = { region, zone, sub_zone: subZone };
  }
  const raw = {
    proxyType: flags.proxyType,
    podName: flags.podName,
    namespace: flags.namespace,
    podIps: flags.podIp.split(',').map((s) => s.trim()).filter(Boolean),
    labels,
    serviceAccount: flags.serviceAccount,
    domain: flags.domain,
    trustDomain: flags.trustDomain,
    clusterId: flags.clusterId,
    istioVersion: flags.istioVersion,
    interceptionMode: flags.interceptionMode,
    xdsMode: flags.xdsMode,
    discovery: discovery.success ? discovery.data : { host: 'invalid', port: 1 },
    certDir: flags.certDir,
    xdsServerName: flags.xdsServerName,
    sdsSocket: flags.sdsSocket,
    adminPort: portNumber(flags.adminPort),
    statsPort: portNumber(flags.statsPort),
    statusPort: portNumber(flags.statusPort),
    locality,
    allStats: flags.allStats === true,
  };
  const parsed = bootstrapInputSchema.safeParse(raw);
  if (!parsed.success) problems.push(describeIssues(parsed.error.issues));
  if (problems.length > 0 || !parsed.success) throw new BootstrapFlagError(problems.join('; '));
  return parsed.data;
}

/** The bootstrap file's text (canonical proto3 JSON, as Envoy's `-c` reads it). */
export function renderBootstrap(input: BootstrapInput): string {
  return `${JSON.stringify(toProto3Json('envoy.config.bootstrap.v3.Bootstrap', buildEnvoyBootstrap(input)), null, 2)}\n`;
}

export function addBootstrapCommand(program: Command): void {
  program
    .command('bootstrap')
    .description('print an Envoy v3 bootstrap (JSON) for running stock Envoy as a sidecar against meshd, without istio-proxy')
    .option('--proxy-type <type>', 'sidecar, or router for a gateway (node id router~…: meshd sends it the gateway configuration)', 'sidecar')
    .option('--pod-name <name>', 'pod name (node id, metadata NAME)', env('POD_NAME', 'pod'))
    .option('--namespace <ns>', 'pod namespace', env('POD_NAMESPACE', 'default'))
    .option('--pod-ip <ips>', 'pod IPs, comma-separated; the first goes in the node id (INSTANCE_IPS)', env('INSTANCE_IP', '127.0.0.1'))
    .option('--labels <k=v,...>', 'pod labels (metadata LABELS: selects policies and subsets)', '')
    .option('--service-account <sa>', 'pod service account', env('SERVICE_ACCOUNT', 'default'))
    .option('--domain <suffix>', 'cluster DNS domain suffix', 'cluster.local')
    .option('--trust-domain <domain>', 'SPIFFE trust domain (metadata MESH_ID)', env('TRUST_DOMAIN', 'cluster.local'))
    .option('--cluster-id <name>', 'metadata CLUSTER_ID', env('CLUSTER_ID', 'Kubernetes'))
    .option('--istio-version <version>', 'metadata ISTIO_VERSION: the istio-proxy behaviour this Envoy stands in for', DEFAULT_ISTIO_VERSION)
    .addOption(new Option('--interception-mode <mode>', 'how traffic reaches Envoy (metadata INTERCEPTION_MODE)').choices(['REDIRECT', 'TPROXY', 'NONE']).default('REDIRECT'))
    .addOption(new Option('--xds-mode <mode>', 'ADS flavour: delta (istio-proxy default since 1.22) or sotw').choices(['delta', 'sotw']).default('delta'))
    .option('--discovery-address <host:port>', 'meshd xDS address: 15010 plaintext, 15012 TLS (needs --cert-dir)', env('XDS_ADDR', 'istiod.istio-system.svc:15010'))
    .option('--cert-dir <dir>', 'TLS to meshd with cert-chain.pem, key.pem, root-cert.pem from this directory (meshd agent / istio-agent layout)')
    .option('--xds-server-name <name>', "SNI and DNS SAN of meshd's TLS certificate", 'istiod.istio-system.svc')
    .option('--sds-socket <path>', 'Unix socket of the SDS server behind cluster sds-grpc (certificates `default` and `ROOTCA`)', DEFAULT_SDS_SOCKET)
    .option('--admin-port <port>', 'Envoy admin on 127.0.0.1', '15000')
    .option('--stats-port <port>', 'Prometheus listener (/stats/prometheus)', '15090')
    .option('--status-port <port>', 'readiness listener (/healthz/ready)', '15021')
    .option('--locality <region/zone/subzone>', 'node locality (locality-aware load balancing)')
    .option('--all-stats', "export all of Envoy's stats (its native request stats) instead of Istio's inclusion list, which assumes istio-proxy's istio.stats")
    .option('-o, --output <file>', 'write the bootstrap here instead of stdout')
    .action((flags: BootstrapFlags) => {
      const text = renderBootstrap(bootstrapInputFromFlags(flags));
      if (flags.output) fs.writeFileSync(flags.output, text);
      else process.stdout.write(text);
    });
}
