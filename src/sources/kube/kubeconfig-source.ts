import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// Which Kubernetes credentials meshd would use, decided without loading the Kubernetes client: a
// `meshd serve --config-dir` with no cluster never pays for @kubernetes/client-node (seconds to load).

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export type KubeconfigSource =
  | { readonly kind: 'file'; readonly file: string; readonly from: string }
  | { readonly kind: 'in-cluster'; readonly from: string };

export interface KubeconfigSourceOptions {
  /** --kubeconfig */
  readonly kubeconfig?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  /** also look at $KUBECONFIG and ~/.kube/config (not when --config-dir names another source) */
  readonly useDefaultFiles?: boolean;
  readonly serviceAccountDir?: string;
}

/**
 * istiod's order: an explicit kubeconfig, then the in-cluster service account (KUBERNETES_SERVICE_HOST +
 * token file), then $KUBECONFIG / ~/.kube/config when allowed. Undefined: no cluster to talk to.
 */
export function kubeconfigSource({ kubeconfig, env = process.env, useDefaultFiles = false, serviceAccountDir = SERVICE_ACCOUNT_DIR }: KubeconfigSourceOptions): KubeconfigSource | undefined {
  if (kubeconfig) {
    if (!existsSync(kubeconfig)) throw new Error(`--kubeconfig ${kubeconfig}: no such file`);
    return { kind: 'file', file: kubeconfig, from: `--kubeconfig ${kubeconfig}` };
  }
  if (env.KUBERNETES_SERVICE_HOST && existsSync(path.join(serviceAccountDir, 'token'))) return { kind: 'in-cluster', from: 'in-cluster service account' };
  if (!useDefaultFiles) return undefined;
  const fromEnv = env.KUBECONFIG?.split(path.delimiter).find((f) => f && existsSync(f));
  if (fromEnv) return { kind: 'file', file: fromEnv, from: `$KUBECONFIG ${fromEnv}` };
  const home = path.join(env.HOME ?? os.homedir(), '.kube', 'config');
  if (existsSync(home)) return { kind: 'file', file: home, from: home };
  return undefined;
}
