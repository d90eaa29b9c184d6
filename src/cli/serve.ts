import { Daemon } from '../daemon.js';
import { createLogger } from '../telemetry/log.js';
import { parseDurationMs } from './duration.js';

export interface ServeFlags {
  configDir?: string;
  grpcAddr: string;
  monitoringAddr: string;
  httpAddr: string;
  logLevel: string;
  debounceAfter: string;
  debounceMax: string;
  domain: string;
  trustDomain: string;
  rootNamespace: string;
}

export async function runServe(flags: ServeFlags, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const log = createLogger(flags.logLevel);
  const quietMs = parseDurationMs(flags.debounceAfter, '--debounce-after');
  const maxMs = parseDurationMs(flags.debounceMax, '--debounce-max');
  if (!flags.configDir) {
    throw new Error('no configuration source: pass --config-dir DIR (the Kubernetes source is not available in this version)');
  }
  const daemon = new Daemon({
    configDir: flags.configDir,
    grpcAddr: flags.grpcAddr,
    monitoringAddr: flags.monitoringAddr,
    httpAddr: flags.httpAddr,
    debounce: { quietMs, maxMs },
    mesh: { domainSuffix: flags.domain, trustDomain: flags.trustDomain, rootNamespace: flags.rootNamespace },
    log,
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
      `meshd is serving the mesh in ${flags.configDir}`,
      `  xDS (ADS, plaintext)  ${addrs.grpcAddr}`,
      `  metrics and debug     http://${addrs.monitoringAddr}/metrics  /debug/syncz  /debug/configz  /debug/adsz`,
      `  readiness             http://${addrs.httpAddr}/ready`,
      `  ${snap.registry.services.length} services, ${snap.virtualServices.length} VirtualServices, ${snap.destinationRules.length} DestinationRules`,
      ...hosts.slice(0, 10).map((h) => `  proxyless gRPC target xds:///${h}`),
      hosts.length > 10 ? `  … and ${hosts.length - 10} more` : '',
      'Edit the files in the config directory and connected clients follow. Ctrl-C stops.',
      '',
    ].filter((l) => l !== '').join('\n') + '\n',
  );
}
