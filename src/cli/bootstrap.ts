import fs from 'node:fs';
import type { z } from 'zod';
import { bootstrapInputSchema, buildEnvoyBootstrap, hostPortSchema, type BootstrapInput } from '../bootstrap/envoy-bootstrap.js';
import { toProto3Json } from '../bootstrap/proto3-json.js';
import { labelsFromFlags, type LabelFlags } from './flags.js';

// `meshd bootstrap`: an Envoy bootstrap for running stock Envoy against meshd without istio-proxy.
// Defaults follow the Kubernetes downward API / Istio's env names a pod would set, like `meshd agent`.

export interface BootstrapFlags extends LabelFlags {
  proxyType: string;
  podName: string;
  namespace: string;
  podIp: string;
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

/** Which flag each input comes from, so every error names what the user typed. */
const FLAG_OF: Record<keyof BootstrapInput, string> = {
  proxyType: '--proxy-type',
  podName: '--pod-name',
  namespace: '--namespace',
  podIps: '--pod-ip',
  labels: '--label',
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
    labels = labelsFromFlags(flags);
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

/** `meshd bootstrap`: the bootstrap to -o FILE or stdout. */
export function writeBootstrap(flags: BootstrapFlags): void {
  const text = renderBootstrap(bootstrapInputFromFlags(flags));
  if (flags.output) fs.writeFileSync(flags.output, text);
  else process.stdout.write(text);
}
