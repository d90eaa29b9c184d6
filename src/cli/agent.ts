import { Option, type Command } from 'commander';
import { Agent } from '../agent/agent.js';
import { createLogger } from '../telemetry/log.js';
import { parseDurationMs } from './duration.js';

// `meshd agent`: certificates and a gRPC xDS bootstrap for a proxyless gRPC workload (Istio grpc-agent).
// Defaults follow the Kubernetes downward API / Istio's env names where a pod would set them.

export interface AgentFlags {
  caAddr: string;
  caRoot: string;
  caServerName: string;
  tokenFile: string;
  xdsAddr: string;
  namespace: string;
  serviceAccount: string;
  podName: string;
  podIp: string;
  labels: string;
  trustDomain: string;
  domain: string;
  certDir: string;
  bootstrap: string;
  certTtl: string;
  initialCertTimeout: string;
  keyType: 'rsa' | 'ec';
  once?: boolean;
  rootCheckInterval: string;
  logLevel: string;
}

const env = (k: string, d: string) => process.env[k] || d;

export function addAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('get a workload certificate from the mesh CA, keep it renewed, and write a gRPC xDS bootstrap (proxyless gRPC)')
    .option('--ca-addr <addr>', 'the CA (meshd TLS port)', env('CA_ADDR', 'istiod.istio-system.svc:15012'))
    .option('--ca-root <file>', "PEM root the CA's serving certificate chains to (ConfigMap istio-ca-root-cert)", '/var/run/secrets/istio/root-cert.pem')
    .option('--ca-server-name <name>', 'TLS server name of the CA', 'istiod.istio-system.svc')
    .option('--token-file <file>', 'service-account token with audience istio-ca', '/var/run/secrets/tokens/istio-token')
    .option('--xds-addr <addr>', 'xDS server for the bootstrap (plaintext)', env('XDS_ADDR', 'istiod.istio-system.svc:15010'))
    .option('--namespace <ns>', 'pod namespace', env('POD_NAMESPACE', 'default'))
    .option('--service-account <sa>', 'pod service account', env('SERVICE_ACCOUNT', 'default'))
    .option('--pod-name <name>', 'pod name', env('POD_NAME', 'pod'))
    .option('--pod-ip <ip>', 'pod IP (node id and INSTANCE_IPS)', env('INSTANCE_IP', '127.0.0.1'))
    .option('--labels <k=v,...>', 'pod labels for node metadata LABELS', '')
    .option('--trust-domain <domain>', 'SPIFFE trust domain', env('TRUST_DOMAIN', 'cluster.local'))
    .option('--domain <suffix>', 'cluster DNS domain suffix', 'cluster.local')
    .option('--cert-dir <dir>', 'where cert-chain.pem, key.pem and root-cert.pem are written', '/var/lib/istio/data')
    .option('--bootstrap <file>', 'gRPC xDS bootstrap to write (GRPC_XDS_BOOTSTRAP)', '/etc/istio/proxy/grpc-bootstrap.json')
    .option('--cert-ttl <duration>', 'requested certificate lifetime', '24h')
    .option('--initial-cert-timeout <duration>', 'keep retrying the first certificate (jittered backoff, 1s doubling to 30s) this long before exiting with the last error', '5m')
    .addOption(new Option('--key-type <type>', 'workload key type').choices(['rsa', 'ec']).default('ec'))
    .option('--root-check-interval <duration>', 'how often --ca-root is checked for a changed trust bundle (a root rotation: renew at once); 0 never', '5s')
    .option('--once', 'write the first certificate and the bootstrap, then exit')
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'))
    .action(async (flags: AgentFlags) => {
      await runAgent(flags);
    });
}

export function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) throw new Error(`--labels: ${JSON.stringify(part)} is not key=value`);
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

export async function runAgent(flags: AgentFlags): Promise<void> {
  const log = createLogger(flags.logLevel).child({ component: 'meshd-agent' });
  const agent = new Agent({
    caAddr: flags.caAddr,
    caRootFile: flags.caRoot,
    caServerName: flags.caServerName,
    tokenFile: flags.tokenFile,
    xdsAddr: flags.xdsAddr,
    namespace: flags.namespace,
    serviceAccount: flags.serviceAccount,
    podName: flags.podName,
    podIp: flags.podIp,
    labels: parseLabels(flags.labels),
    trustDomain: flags.trustDomain,
    domainSuffix: flags.domain,
    certDir: flags.certDir,
    bootstrapFile: flags.bootstrap,
    certTtlMs: parseDurationMs(flags.certTtl, '--cert-ttl'),
    initialCertTimeoutMs: parseDurationMs(flags.initialCertTimeout, '--initial-cert-timeout'),
    keyType: flags.keyType,
    rootFileCheckMs: parseDurationMs(flags.rootCheckInterval, '--root-check-interval'),
    log,
  });
  const first = await agent.start();
  log.info({ identity: agent.identity, notAfter: first.notAfter.toISOString() }, 'agent ready');
  if (flags.once) {
    agent.stop();
    return;
  }
  const stop = (signal: string) => {
    log.info({ signal }, 'agent stopping');
    agent.stop();
    log.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
