import { Daemon, type DaemonOptions } from '../daemon.js';
import type { KubeHttp } from '../sources/kube/client.js';
import type { MeshConfig } from '../config/mesh-config.js';
import { meshFromFile, MeshConfigFileSource, type MeshFlags } from '../sources/mesh/mesh-config-file.js';
import { kubeconfigSource } from '../sources/kube/kubeconfig-source.js';
import type { LabelSelector } from '../config/labels.js';
import { parseDiscoverySelectors } from '../sources/kube/selectors.js';
import { createCliLogger, type Logger } from '../telemetry/log.js';
import { parseDurationMs } from './duration.js';
import type { KubeFlags, LogFlags } from './flags.js';
import { parseByteSize } from './byte-size.js';
import { DEFAULT_FILE_LIMITS, type ConfigFileLimits } from '../sources/dir/directory-source.js';
import { jwksOptions, kubeApiOf, securityOptions, type SecurityFlags } from './security-flags.js';
import { webhookOptions, type WebhookFlags } from './webhook-flags.js';
import { xdsServerOptions, type XdsFlags } from './xds-flags.js';

export interface ServeFlags extends Partial<SecurityFlags>, Partial<Omit<WebhookFlags, 'caDnsNames'>>, Partial<XdsFlags>, LogFlags, KubeFlags {
  configDir?: string;
  grpcAddr: string;
  monitoringAddr: string;
  httpAddr: string;
  debounceAfter: string;
  debounceMax: string;
  domain: string;
  /** unset: the mesh config file's, else cluster.local */
  trustDomain?: string;
  /** unset: the mesh config file's, else istio-system */
  rootNamespace?: string;
  /** istiod's CLUSTER_ID */
  clusterId?: string;
  /** config-dir limits: `16Mi`, `1.5Mi`, or bytes */
  maxConfigFileSize?: string;
  maxDocumentSize?: string;
  /** config-dir: Secret documents are gateway credentials */
  configDirSecrets?: boolean;
  /** mesh config YAML (istiod's --meshConfig), followed while serving */
  meshConfig?: string;
}

/** istiod's own namespace (POD_NAMESPACE): its leader Lease and the CA Secrets live there. */
function caNamespace(mesh: MeshConfig): string {
  return process.env.POD_NAMESPACE || mesh.rootNamespace;
}

/**
 * The Kubernetes source's options, or undefined when there is no cluster to watch (the Kubernetes client
 * is loaded only when there is one).
 */
async function kubeOptions(flags: ServeFlags, useDefaultFiles: boolean, mesh: MeshConfig, meshFile: MeshConfigFileSource | undefined, log: Logger): Promise<{ source: NonNullable<DaemonOptions['kube']>; http: KubeHttp } | undefined> {
  if (!kubeconfigSource({ kubeconfig: flags.kubeconfig, useDefaultFiles })) return undefined;
  const { KubeHttp, resolveKubeConnection } = await import('../sources/kube/client.js');
  const conn = resolveKubeConnection({ kubeconfig: flags.kubeconfig, context: flags.context, useDefaultFiles });
  if (!conn) return undefined;
  const discoverySelectors: LabelSelector[] = meshFile?.parsed.discoverySelectors
    ? parseDiscoverySelectors(meshFile.parsed.discoverySelectors, `${meshFile.path}: discoverySelectors`)
    : [];
  const namespace = caNamespace(mesh);
  log.info({ from: conn.from, server: conn.server, discoverySelectors: discoverySelectors.length }, 'Kubernetes source configured');
  return {
    source: { kc: conn.kc, cluster: flags.clusterId || process.env.CLUSTER_ID || 'Kubernetes', discoverySelectors, status: { namespace, name: 'istio-status-leader' } },
    http: new KubeHttp(conn.kc),
  };
}

function configLimits(flags: ServeFlags): ConfigFileLimits {
  return {
    maxFileBytes: flags.maxConfigFileSize ? parseByteSize(flags.maxConfigFileSize, '--max-config-file-size') : DEFAULT_FILE_LIMITS.maxFileBytes,
    maxDocumentBytes: flags.maxDocumentSize ? parseByteSize(flags.maxDocumentSize, '--max-document-size') : DEFAULT_FILE_LIMITS.maxDocumentBytes,
  };
}

export async function runServe(flags: ServeFlags, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const log = await createCliLogger({ level: flags.logLevel, format: flags.logFormat, outputLevels: flags.logOutputLevel });
  const quietMs = parseDurationMs(flags.debounceAfter, '--debounce-after');
  const maxMs = parseDurationMs(flags.debounceMax, '--debounce-max');
  const meshFlags: MeshFlags = {
    domainSuffix: flags.domain, trustDomain: flags.trustDomain, rootNamespace: flags.rootNamespace, defaultRootNamespace: process.env.POD_NAMESPACE || undefined,
  };
  const meshFile = flags.meshConfig ? new MeshConfigFileSource(flags.meshConfig, meshFlags, log) : undefined;
  const mesh: MeshConfig = meshFile?.current ?? meshFromFile({}, meshFlags);
  const cluster = await kubeOptions(flags, !flags.configDir, mesh, meshFile, log);
  const kube = cluster?.source;
  if (!flags.configDir && !kube) {
    throw new Error('no configuration source: pass --config-dir DIR, or --kubeconfig FILE (or set KUBECONFIG, or run in a cluster) for the Kubernetes source');
  }
  const daemon = new Daemon({
    ...(kube ? { kube } : {}),
    ...(flags.configDir ? { configDir: flags.configDir, configLimits: configLimits(flags), ...(flags.configDirSecrets ? { configDirSecrets: true } : {}) } : {}),
    grpcAddr: flags.grpcAddr,
    monitoringAddr: flags.monitoringAddr,
    httpAddr: flags.httpAddr,
    debounce: { quietMs, maxMs },
    xds: xdsServerOptions(flags),
    mesh,
    ...(meshFile ? { meshConfigFile: meshFile } : {}),
    log,
    ...(flags.secureGrpcAddr && flags.secureGrpcAddr !== 'off' && flags.caAdminAddr ? { caAdminAddr: flags.caAdminAddr } : {}),
    rotationCheckIntervalMs: parseDurationMs(flags.caRotationCheckInterval ?? '5s', '--ca-rotation-check-interval'),
    // istiod's environment switch, kept under its name so an istiod Deployment's env works unchanged
    scopeGatewayToNamespace: process.env.PILOT_SCOPE_GATEWAY_TO_NAMESPACE === 'true',
    // PILOT_ENABLE_ANALYSIS (off by default, as istiod): analyzer messages in the Istio objects' status
    ...(process.env.PILOT_ENABLE_ANALYSIS === 'true'
      ? { analysis: { istioNamespace: caNamespace(mesh), intervalMs: parseDurationMs(process.env.PILOT_ANALYSIS_INTERVAL || '10s', 'PILOT_ANALYSIS_INTERVAL') } }
      : {}),
    // WorkloadEntry auto-registration (Kubernetes source only), under istiod's environment switches
    autoRegistration: {
      enabled: process.env.PILOT_ENABLE_WORKLOAD_ENTRY_AUTOREGISTRATION !== 'false',
      gracePeriodMs: parseDurationMs(process.env.PILOT_WORKLOAD_ENTRY_GRACE_PERIOD || '10s', 'PILOT_WORKLOAD_ENTRY_GRACE_PERIOD'),
      validateIdentity: process.env.ISTIO_WORKLOAD_ENTRY_VALIDATE_IDENTITY !== 'false',
      ...(process.env.POD_NAME ? { instanceId: process.env.POD_NAME } : {}),
    },
    jwks: jwksOptions({ jwksCaFile: flags.jwksCaFile, jwksRefreshInterval: flags.jwksRefreshInterval ?? '20m' }),
    ...(flags.secureGrpcAddr
      ? { security: securityOptions(flags as SecurityFlags, kube && kubeApiOf(kube.kc), cluster && { http: cluster.http, namespace: caNamespace(mesh) }) }
      : {}),
    // the webhooks' certificate comes from the CA, which runs with the TLS port
    ...(flags.secureGrpcAddr && flags.secureGrpcAddr !== 'off' && flags.webhookAddr
      ? { webhook: webhookOptions(flags as WebhookFlags, kube?.cluster) }
      : {}),
  });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    daemon.stop().then(
      () => {
        log.info('stopped');
        log.flush();
        process.exit(0);
      },
      (err) => {
        log.error({ err }, 'unclean shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  const addrs = await daemon.start();
  log.info({ ...addrs, configDir: flags.configDir }, 'meshd is serving');
  const snap = daemon.discovery.snapshot!;
  const hosts = snap.registry.services.flatMap((s) => s.ports.map((p) => `${s.hostname}:${p.port}`));
  out.write(
    [
      `meshd is serving the mesh in ${[flags.configDir, kube ? `Kubernetes cluster ${kube.cluster} (${kube.kc.getCurrentCluster()?.server})` : undefined].filter(Boolean).join(' and ')}`,
      `  xDS (ADS, plaintext)  ${addrs.grpcAddr}`,
      addrs.webhookAddr ? `  webhooks (HTTPS)      https://${addrs.webhookAddr}/inject  /validate` : '',
      addrs.secureGrpcAddr ? `  CA + xDS over TLS     ${addrs.secureGrpcAddr}  (CA from ${daemon.caSource})` : '',
      addrs.caAdminAddr ? `  CA admin (meshd ca)   http://${addrs.caAdminAddr}/ca/rotation` : '',
      `  metrics and debug     http://${addrs.monitoringAddr}/metrics  /debug/syncz  /debug/configz  /debug/adsz`,
      `  readiness             http://${addrs.httpAddr}/ready`,
      `  ${snap.registry.services.length} services, ${snap.virtualServices.length} VirtualServices, ${snap.destinationRules.length} DestinationRules`,
      ...hosts.slice(0, 10).map((h) => `  proxyless gRPC target xds:///${h}`),
      hosts.length > 10 ? `  … and ${hosts.length - 10} more` : '',
      flags.configDir ? 'Edit the files in the config directory and connected clients follow. Ctrl-C stops.' : 'kubectl apply/delete your Istio config and connected clients follow. Ctrl-C stops.',
      '',
    ].filter((l) => l !== '').join('\n') + '\n',
  );
}
