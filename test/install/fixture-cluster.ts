import { after, before } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FakeApiServer } from '../kube-fixture/server.js';
import { kubeconfigYaml, kubectlFor, type Kubectl } from '../kube-fixture/kubectl.js';

// The cluster the install tests run `meshd install` against.

/**
 * A fixture API server for one describe block: started before its tests with a kubeconfig file and real
 * kubectl pointed at it, stopped and cleaned up after them.
 */
export function fixtureCluster(api: FakeApiServer, prefix: string): { readonly dir: string; readonly kubeconfig: string; readonly kubectl: () => Kubectl } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const kubeconfig = path.join(dir, 'kubeconfig');
  let k: Kubectl | undefined;
  before(async () => {
    const url = await api.start();
    writeFileSync(kubeconfig, kubeconfigYaml({ server: url }));
    k = kubectlFor({ server: url });
  });
  after(async () => {
    k?.cleanup();
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, kubeconfig, kubectl: () => k! };
}
