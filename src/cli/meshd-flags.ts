import { Option, type Command } from 'commander';

// How the operator commands (proxy-status, proxy-config, explain, diff) reach a running meshd's monitoring
// port (its /debug pages answer local callers only): `--meshd-addr` directly, or like istioctl through the
// Kubernetes API — `--kubeconfig`/`--context`/`-i`/`--revision` find the running meshd pods and
// port-forward to each (meshd-target.ts). The requests: meshd-client.ts.

export const DEFAULT_MESHD_ADDR = '127.0.0.1:15014';

export interface MeshdAddrFlags {
  /** unset unless given: the target then comes from the Kubernetes flags, $MESHD_ADDR or the default */
  meshdAddr?: string;
}

export interface MeshdTargetFlags extends MeshdAddrFlags {
  kubeconfig?: string;
  context?: string;
  /** istioctl's -i/--istioNamespace: where the meshd pods run (default istio-system) */
  istioNamespace?: string;
  /** only the meshd pods of this revision (istio.io/rev) */
  revision?: string;
}

export function addMeshdAddrFlag(cmd: Command): Command {
  return cmd
    .addOption(new Option('--meshd-addr <host:port>', `meshd's monitoring address (serve --monitoring-addr; default $MESHD_ADDR or ${DEFAULT_MESHD_ADDR})`))
    .option('--kubeconfig <file>', 'reach meshd through this cluster instead: port-forward to its running pods, as istioctl does (default $KUBECONFIG or ~/.kube/config when --context, -i or --revision is given)')
    .option('--context <name>', 'kubeconfig context of the cluster to reach meshd through (default: its current-context)')
    .option('-i, --istioNamespace <namespace>', 'namespace of the meshd pods on the cluster (default istio-system)')
    .option('--revision <rev>', 'only the meshd pods of this control-plane revision (istio.io/rev)');
}
