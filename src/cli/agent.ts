import { Agent } from '../agent/agent.js';
import { createCliLogger } from '../telemetry/log.js';
import { parseDurationMs } from './duration.js';
import { labelsFromFlags, type LabelFlags, type LogFlags } from './flags.js';

// `meshd agent`: certificates and a gRPC xDS bootstrap for a proxyless gRPC workload (Istio grpc-agent).
// Its flags (program.ts) default to the Kubernetes downward API / Istio's env names where a pod sets them.

export interface AgentFlags extends LabelFlags, LogFlags {
  caAddr: string;
  caRoot: string;
  caServerName: string;
  tokenFile: string;
  xdsAddr: string;
  namespace: string;
  serviceAccount: string;
  podName: string;
  podIp: string;
  trustDomain: string;
  domain: string;
  certDir: string;
  bootstrap: string;
  certTtl: string;
  initialCertTimeout: string;
  keyType: 'rsa' | 'ec';
  once?: boolean;
}

export async function runAgent(flags: AgentFlags): Promise<void> {
  const log = (await createCliLogger({ level: flags.logLevel, format: flags.logFormat, outputLevels: flags.logOutputLevel })).child({ component: 'meshd-agent' });
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
    labels: labelsFromFlags(flags),
    trustDomain: flags.trustDomain,
    domainSuffix: flags.domain,
    certDir: flags.certDir,
    bootstrapFile: flags.bootstrap,
    certTtlMs: parseDurationMs(flags.certTtl, '--cert-ttl'),
    initialCertTimeoutMs: parseDurationMs(flags.initialCertTimeout, '--initial-cert-timeout'),
    keyType: flags.keyType,
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
