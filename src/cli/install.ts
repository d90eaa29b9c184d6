// `meshd install`, `meshd uninstall`, `meshd manifest generate`: istioctl's install workflow for meshd.
//   meshd install --set profile=default -y            (the seed's `istioctl install --set profile=default -y`)
//   meshd install --set autoscaleEnabled=false --set meshConfig.accessLogFile=/dev/stdout
//   meshd manifest generate > meshd.yaml               (what install would apply)
//   meshd uninstall [--purge] -y
// Values keys are the Helm chart's (manifests/charts/meshd/values.yaml, istio-discovery's layout).

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import YAML from 'yaml';
import { resolveKubeConnection } from '../sources/kube/client.js';
import { applyObjects, deleteObjects, installPlan, planYaml, waitForDeployment } from '../install/installer.js';
import { defaultValues, valuesSchema, valuesWithOverrides, type Values } from '../install/values.js';
import { parseDurationMs } from './duration.js';

export interface InstallIO {
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: { write(chunk: string): unknown };
  readonly stdin: NodeJS.ReadableStream;
}

export interface ValuesFlags {
  set: string[];
  filename?: string;
}

interface ClusterFlags {
  kubeconfig?: string;
  context?: string;
  skipConfirmation?: boolean;
}

/** Defaults, then a values file (-f, chart values layout), then each --set in order. */
export function valuesFromFlags({ set, filename }: ValuesFlags): Values {
  let base = defaultValues();
  if (filename) {
    let text: string;
    try {
      text = readFileSync(filename, 'utf8');
    } catch (err) {
      throw new Error(`values file ${filename}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    let file: unknown;
    try {
      file = YAML.parse(text) as unknown;
    } catch (err) {
      throw new Error(`values file ${filename}: not YAML: ${(err as Error).message}`);
    }
    const merged = deepMerge(base, file ?? {});
    const parsed = valuesSchema.safeParse(merged);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new Error(`values file ${filename}: ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
    }
    base = parsed.data;
  }
  return valuesWithOverrides(set, base);
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (!over || typeof over !== 'object' || Array.isArray(over) || !base || typeof base !== 'object' || Array.isArray(base)) return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? deepMerge(out[k], v) : v;
  return out;
}

function connect(flags: ClusterFlags) {
  const conn = resolveKubeConnection({ kubeconfig: flags.kubeconfig, context: flags.context, useDefaultFiles: true });
  if (!conn) throw new Error('no Kubernetes cluster: pass --kubeconfig FILE, set KUBECONFIG, or have ~/.kube/config');
  return conn;
}

/** istioctl's prompt: proceed only on y/yes; -y skips it. */
async function confirm(question: string, flags: ClusterFlags, io: InstallIO): Promise<boolean> {
  if (flags.skipConfirmation) return true;
  io.stdout.write(`${question} Proceed? (y/N) `);
  const rl = createInterface({ input: io.stdin, terminal: false });
  const answer = await new Promise<string>((resolve) => {
    rl.once('line', resolve);
    rl.once('close', () => resolve(''));
  });
  rl.close();
  io.stdout.write('\n');
  return /^(y|yes)$/i.test(answer.trim());
}

export interface InstallFlags extends ValuesFlags, ClusterFlags {
  wait: boolean;
  waitTimeout: string;
  dryRun?: boolean;
}

export async function runInstall(flags: InstallFlags, io: InstallIO): Promise<number> {
  const values = valuesFromFlags(flags);
  const plan = installPlan(values);
  const timeoutMs = parseDurationMs(flags.waitTimeout, '--wait-timeout');
  const conn = connect(flags);
  const ns = values.global.istioNamespace;
  const server = conn.kc.getCurrentCluster()?.server ?? conn.from;
  const revision = values.revision ? ` revision "${values.revision}" (beside any other revision)` : '';
  const question = `This will install meshd (istiod-compatible control plane, profile "default")${revision} into namespace ${ns} of the cluster at ${server}.`;
  // a dry run changes nothing, so there is nothing to confirm
  if (!flags.dryRun && !(await confirm(question, flags, io))) {
    io.stderr.write('Cancelled.\n');
    return 1;
  }
  const log = (line: string) => io.stdout.write(`${line}\n`);
  const dryRun = !!flags.dryRun;
  if (dryRun) log('Dry run: every request carries dryRun=All, so the API server checks each object and stores nothing');
  log(`Applying ${plan.crds.length} CustomResourceDefinitions`);
  await applyObjects(conn.kc, plan.crds, { dryRun, log });
  log(dryRun ? '✔ CRDs accepted (dry run)' : '✔ CRDs installed');
  log(`Applying ${plan.objects.length} objects (field manager meshd, server-side apply)`);
  const objects = await applyObjects(conn.kc, plan.objects, { dryRun, log });
  if (dryRun) {
    log(`✔ ${objects.applied.length} objects accepted (dry run)`);
    if (objects.afterNamespace.length) {
      log(`  ${objects.afterNamespace.length} more would be created in namespace ${ns} after it; the API server could not check them, since a dry run does not create the namespace`);
    }
    log('✔ Dry run complete: nothing was changed');
    return 0;
  }
  log('✔ meshd objects installed');
  if (flags.wait) {
    // istiod first (the gateways' proxies need it to become ready), then the gateways, as istioctl waits for every component
    const deadline = Date.now() + timeoutMs;
    for (const d of plan.objects.filter((o) => o.kind === 'Deployment')) {
      log(`Waiting for Deployment ${ns}/${d.metadata.name} to be available (timeout ${flags.waitTimeout})`);
      await waitForDeployment(conn.kc, { namespace: ns, name: d.metadata.name, timeoutMs: Math.max(0, deadline - Date.now()), log });
    }
    log(`✔ meshd is ready`);
  }
  log(
    values.revision
      ? `✔ Installation complete (revision ${values.revision}). Move a namespace to it: kubectl label namespace NS istio-injection- istio.io/rev=${values.revision} --overwrite (or through a tag: meshd tag set TAG --revision ${values.revision})`
      : '✔ Installation complete. Label a namespace to inject sidecars: kubectl label namespace default istio-injection=enabled',
  );
  return 0;
}

export interface UninstallFlags extends ValuesFlags, ClusterFlags {
  purge?: boolean;
  /** remove this revision's control plane only */
  revision?: string;
}

export async function runUninstall(flags: UninstallFlags, io: InstallIO): Promise<number> {
  const values = valuesFromFlags(flags.revision ? { ...flags, set: [...flags.set, `revision=${flags.revision === 'default' ? '' : flags.revision}`] } : flags);
  if (flags.revision && flags.purge) throw new Error('--purge removes the CRDs every revision uses: uninstall the other revisions first, then --purge without --revision');
  const plan = installPlan(values);
  const conn = connect(flags);
  const rev = values.revision ? `revision ${values.revision}'s objects (istiod-${values.revision}, its injector, ConfigMap istio-${values.revision}, RBAC; the other revisions, the CRDs and namespace ${values.global.istioNamespace} are kept)` : undefined;
  const what = rev ?? (flags.purge ? `every meshd object, namespace ${values.global.istioNamespace} and the Istio CRDs (deleting ALL Istio config in the cluster)` : `the default revision's meshd objects (CRDs, Istio config, other revisions and namespace ${values.global.istioNamespace} are kept; --purge removes CRDs and namespace)`);
  if (!(await confirm(`This will remove ${what}.`, flags, io))) {
    io.stderr.write('Cancelled.\n');
    return 1;
  }
  const log = (line: string) => io.stdout.write(`${line}\n`);
  await deleteObjects(conn.kc, plan, { purge: !!flags.purge, log });
  log('✔ Uninstall complete');
  return 0;
}

/** `meshd manifest generate`: what install would apply, as YAML. */
export function runManifestGenerate(flags: ValuesFlags, io: InstallIO): void {
  io.stdout.write(planYaml(installPlan(valuesFromFlags(flags))));
}
