import { Option, type Command } from 'commander';

// `--meshd-addr`: how the operator commands (proxy-status, proxy-config, explain, diff) reach a running
// meshd — its monitoring port's /debug pages, which answer local callers only (on a cluster, through
// `kubectl -n istio-system port-forward deploy/istiod 15014` first). The requests: meshd-client.ts.

export const DEFAULT_MESHD_ADDR = '127.0.0.1:15014';

export interface MeshdAddrFlags {
  meshdAddr: string;
}

export function addMeshdAddrFlag(cmd: Command): Command {
  return cmd.addOption(
    new Option('--meshd-addr <host:port>', "meshd's monitoring address (serve --monitoring-addr); on a cluster: kubectl -n istio-system port-forward deploy/istiod 15014")
      .default(process.env.MESHD_ADDR || DEFAULT_MESHD_ADDR),
  );
}
