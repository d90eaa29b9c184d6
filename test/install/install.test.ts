// `meshd install` / `meshd uninstall` / `meshd manifest generate` against the API-server fixture, checked
// with real kubectl. The fixture runs no controllers, so nothing makes the Deployment available by itself:
// where a test waits for readiness, it plays the Deployment controller and writes an available status
// once the Deployment exists (or installs with --no-wait). A real cluster's rollout is not exercised here,
// nor SSA's per-item list merging (the fixture treats lists as atomic; a real API server keeps, e.g., the
// caBundle meshd writes into a webhook entry when install is re-run, because webhooks is listType=map).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { Command } from 'commander';
import YAML from 'yaml';
import { runInstall, runUninstall, type InstallFlags, type InstallIO } from '../../src/cli/install.js';
import { addInstallCommands } from '../../src/cli/program.js';
import { installPlan, objectRef, planYaml } from '../../src/install/installer.js';
import { defaultValues } from '../../src/install/values.js';
import { FakeApiServer } from '../kube-fixture/server.js';
import { kubectlAvailable } from '../kube-fixture/kubectl.js';
import { fixtureCluster } from './fixture-cluster.js';

const PLAN = installPlan(defaultValues());
/** every CRD install applies, as `kubectl get -o name` prints it (the list grows as kinds are added) */
const CRD_NAMES = PLAN.crds.map((c) => `customresourcedefinition.apiextensions.k8s.io/${c.metadata.name}`);

function io(answer?: string): InstallIO & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const stdin = new PassThrough();
  if (answer !== undefined) stdin.end(`${answer}\n`);
  return {
    stdout: { write: (c: string) => (out += c) },
    stderr: { write: (c: string) => (err += c) },
    stdin,
    out: () => out,
    err: () => err,
  };
}

/** Plays the Deployment controller: once a Deployment of the plan exists, reports it rolled out and available. */
function markAvailableWhenCreated(api: FakeApiServer): () => void {
  const timer = setInterval(() => {
    for (const name of PLAN.objects.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.name)) {
      const d = api.get('apps/v1', 'Deployment', 'istio-system', name);
      if (!d || (d.status as { availableReplicas?: number } | undefined)?.availableReplicas) continue;
      const generation = (d.metadata as { generation?: number }).generation ?? 1;
      api.update({ ...d, status: { observedGeneration: generation, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1, conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }] } });
    }
  }, 100);
  return () => clearInterval(timer);
}

describe('meshd install / uninstall against the API-server fixture (real kubectl)', { skip: !kubectlAvailable() && 'no kubectl' }, () => {
  const api = new FakeApiServer();
  const { dir, kubeconfig, kubectl } = fixtureCluster(api, 'meshd-install-');
  const flags = (extra: Partial<InstallFlags> = {}): InstallFlags => ({ set: [], kubeconfig, skipConfirmation: true, wait: true, waitTimeout: '20s', ...extra });
  const names = (out: string) => out.trim().split('\n').filter(Boolean).sort();

  it('asks first and changes nothing unless confirmed', async () => {
    const t = io('n');
    assert.equal(await runInstall(flags({ skipConfirmation: false }), t), 1);
    assert.match(t.out(), /This will install meshd .* into namespace istio-system .* Proceed\? \(y\/N\)/);
    assert.match(t.err(), /Cancelled/);
    assert.equal(api.get('apps/v1', 'Deployment', 'istio-system', 'istiod'), undefined);
  });

  it('install applies every object with server-side apply, waits for the Deployment, and kubectl get lists them', async () => {
    const stop = markAvailableWhenCreated(api);
    const t = io('y');
    try {
      assert.equal(await runInstall(flags({ skipConfirmation: false }), t), 0, t.err());
    } finally {
      stop();
    }
    assert.match(t.out(), /✔ CRDs installed/);
    assert.match(t.out(), /Deployment istio-system\/istiod: 1\/1 available/);
    assert.match(t.out(), /Deployment istio-system\/istio-ingressgateway: 1\/1 available/);
    assert.match(t.out(), /✔ meshd is ready/);
    const listed = names(await kubectl().run(['get', '-A', '-o', 'name', '-l', 'app.kubernetes.io/part-of=meshd', 'crd,ns,sa,cm,svc,deploy,pdb,hpa,role,rolebinding,clusterrole,clusterrolebinding,mutatingwebhookconfiguration,validatingwebhookconfiguration']));
    assert.deepEqual(listed, [
      'clusterrole.rbac.authorization.k8s.io/meshd',
      'clusterrolebinding.rbac.authorization.k8s.io/meshd',
      'configmap/istio',
      ...CRD_NAMES,
      'deployment.apps/istiod',
      'horizontalpodautoscaler.autoscaling/istiod',
      'mutatingwebhookconfiguration.admissionregistration.k8s.io/istio-sidecar-injector',
      'namespace/istio-system',
      'poddisruptionbudget.policy/istiod',
      'role.rbac.authorization.k8s.io/meshd',
      'rolebinding.rbac.authorization.k8s.io/meshd',
      'service/istiod',
      'serviceaccount/istiod',
      'validatingwebhookconfiguration.admissionregistration.k8s.io/istio-validator-istio-system',
      'deployment.apps/istio-ingressgateway',
      'horizontalpodautoscaler.autoscaling/istio-ingressgateway',
      'role.rbac.authorization.k8s.io/istio-ingressgateway-sds',
      'rolebinding.rbac.authorization.k8s.io/istio-ingressgateway-sds',
      'service/istio-ingressgateway',
      'serviceaccount/istio-ingressgateway-service-account',
    ].sort());
    const gw = JSON.parse(await kubectl().run(['get', '-n', 'istio-system', 'service', 'istio-ingressgateway', '-o', 'json'])) as { spec: { type: string; ports: { port: number; targetPort: number }[] } };
    assert.equal(gw.spec.type, 'LoadBalancer');
    assert.deepEqual(gw.spec.ports.map((p) => `${p.port}->${p.targetPort}`), ['15021->15021', '80->8080', '443->8443']);
    const deploy = JSON.parse(await kubectl().run(['get', '-n', 'istio-system', 'deployment', 'istiod', '-o', 'json', '--show-managed-fields'])) as { metadata: { managedFields: { manager: string; operation: string }[] } };
    assert.ok(deploy.metadata.managedFields.some((m) => m.manager === 'meshd' && m.operation === 'Apply'), JSON.stringify(deploy.metadata.managedFields));
    const svc = await kubectl().run(['get', '-n', 'istio-system', 'service', 'istiod', '-o', 'jsonpath={.spec.ports[*].port}']);
    assert.equal(svc, '15010 15012 443 15014');
  });

  it('install again is idempotent: applying the same configuration changes no object', async () => {
    const rvs = () => PLAN.objects.map((o) => api.get(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name)?.metadata.resourceVersion);
    const before = rvs();
    const t = io();
    assert.equal(await runInstall(flags({ wait: false }), t), 0, t.err());
    assert.deepEqual(rvs(), before);
  });

  it('--set reaches the cluster (istioctl spellings too)', async () => {
    const t = io();
    assert.equal(await runInstall(flags({ wait: false, set: ['values.pilot.autoscaleEnabled=false', 'replicaCount=2', 'values.pilot.hub=registry.example', 'values.global.hub=proxies.example'] }), t), 0, t.err());
    const spec = JSON.parse(await kubectl().run(['get', '-n', 'istio-system', 'deployment', 'istiod', '-o', 'json'])) as { spec: { replicas: number; template: { spec: { containers: { image: string; args: string[] }[] } } } };
    assert.equal(spec.spec.replicas, 2);
    assert.equal(spec.spec.template.spec.containers[0]!.image, 'registry.example/meshd:0.1.0');
    assert.ok(spec.spec.template.spec.containers[0]!.args.includes('--proxy-hub=proxies.example'));
  });

  it('-f values.yaml (the chart\'s layout) reaches the cluster, and a --set after it wins', async () => {
    const values = path.join(dir, 'values.yaml');
    writeFileSync(values, YAML.stringify({ hub: 'file.example', replicaCount: 3, autoscaleEnabled: false, meshConfig: { accessLogFile: '/dev/stdout' }, global: { tag: '1.28.1' } }));
    const t = io();
    assert.equal(await runInstall(flags({ wait: false, filename: values, set: ['replicaCount=4'] }), t), 0, t.err());
    const deploy = JSON.parse(await kubectl().run(['get', '-n', 'istio-system', 'deployment', 'istiod', '-o', 'json'])) as { spec: { replicas: number; template: { spec: { containers: { image: string; args: string[] }[] } } } };
    assert.equal(deploy.spec.replicas, 4, '--set replicaCount=4 after the file\'s 3');
    assert.equal(deploy.spec.template.spec.containers[0]!.image, 'file.example/meshd:0.1.0');
    assert.ok(deploy.spec.template.spec.containers[0]!.args.includes('--proxy-tag=1.28.1'), deploy.spec.template.spec.containers[0]!.args.join(' '));
    const mesh = await kubectl().run(['get', '-n', 'istio-system', 'configmap', 'istio', '-o', 'jsonpath={.data.mesh}']);
    assert.match(mesh, /accessLogFile: \/dev\/stdout/);
    // the file's other defaults are untouched: the mesh ConfigMap keeps the chart's trustDomain
    assert.match(mesh, /trustDomain: cluster.local/);
  });

  it('-f with a bad values file names the file and the field, and changes nothing', async () => {
    const rv = api.get('apps/v1', 'Deployment', 'istio-system', 'istiod')?.metadata.resourceVersion;
    const bad = path.join(dir, 'bad-values.yaml');
    writeFileSync(bad, 'replicaCount: many\n');
    await assert.rejects(runInstall(flags({ wait: false, filename: bad }), io()), new RegExp(`values file ${bad}: replicaCount: .*number`));
    writeFileSync(bad, 'global:\n  istioNamespace: Not_A_Label\n');
    await assert.rejects(runInstall(flags({ wait: false, filename: bad }), io()), new RegExp(`values file ${bad}: global.istioNamespace: must be a lowercase RFC 1123 label`));
    writeFileSync(bad, 'hub: [unclosed\n');
    await assert.rejects(runInstall(flags({ wait: false, filename: bad }), io()), new RegExp(`values file ${bad}: not YAML`));
    await assert.rejects(runInstall(flags({ wait: false, filename: path.join(dir, 'missing.yaml') }), io()), /values file .*missing.yaml: no such file/);
    assert.equal(api.get('apps/v1', 'Deployment', 'istio-system', 'istiod')?.metadata.resourceVersion, rv);
  });

  it('--dry-run against an installed cluster: the server checks every object, nothing changes', async () => {
    const rvs = () => PLAN.objects.map((o) => api.get(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name)?.metadata.resourceVersion);
    const before = rvs();
    const t = io();
    assert.equal(await runInstall(flags({ dryRun: true, set: ['replicaCount=9'] }), t), 0, t.err());
    assert.match(t.out(), /accepted Deployment istio-system\/istiod \(server dry run\)/);
    assert.match(t.out(), new RegExp(`✔ ${PLAN.objects.length} objects accepted \\(dry run\\)`));
    assert.doesNotMatch(t.out(), /would create|Proceed\?|Waiting/);
    assert.match(t.out(), /✔ Dry run complete: nothing was changed/);
    assert.deepEqual(rvs(), before);
  });

  it('--dry-run with the egress gateway on and the ingress gateway as NodePort: the server checks the gateway objects, nothing changes', async () => {
    const rvs = () => PLAN.objects.map((o) => api.get(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name)?.metadata.resourceVersion);
    const before = rvs();
    const t = io();
    assert.equal(await runInstall(flags({ dryRun: true, set: ['components.egressGateways[0].enabled=true', 'values.gateways.istio-ingressgateway.type=NodePort'] }), t), 0, t.err());
    for (const ref of ['ServiceAccount istio-system/istio-egressgateway-service-account', 'Role istio-system/istio-egressgateway-sds', 'Service istio-system/istio-egressgateway', 'Deployment istio-system/istio-egressgateway', 'HorizontalPodAutoscaler istio-system/istio-egressgateway', 'Service istio-system/istio-ingressgateway']) {
      assert.ok(t.out().includes(`accepted ${ref} (server dry run)`), `${ref}:\n${t.out()}`);
    }
    assert.deepEqual(rvs(), before);
    assert.equal(api.get('apps/v1', 'Deployment', 'istio-system', 'istio-egressgateway'), undefined);
    assert.equal(await kubectl().run(['get', '-n', 'istio-system', 'service', 'istio-ingressgateway', '-o', 'jsonpath={.spec.type}']), 'LoadBalancer');
  });

  it('a Deployment that never becomes available fails the wait with what to check', async () => {
    const d = api.get('apps/v1', 'Deployment', 'istio-system', 'istiod')!;
    api.update({ ...d, status: {} });
    const t = io();
    await assert.rejects(runInstall(flags({ waitTimeout: '1s' }), t), /Deployment istio-system\/istiod not available after 1s \(0\/1 available.*kubectl -n istio-system describe deployment istiod/);
  });

  it('uninstall removes the objects and keeps the CRDs and namespace; --purge removes those too', async () => {
    const t = io();
    assert.equal(await runUninstall({ set: [], kubeconfig, skipConfirmation: true }, t), 0, t.err());
    assert.match(t.out(), /removed Deployment istio-system\/istiod/);
    const left = names(await kubectl().run(['get', '-A', '-o', 'name', '-l', 'app.kubernetes.io/part-of=meshd', 'crd,ns,sa,cm,svc,deploy,pdb,hpa,role,rolebinding,clusterrole,clusterrolebinding,mutatingwebhookconfiguration,validatingwebhookconfiguration']));
    assert.deepEqual(left, [
      ...CRD_NAMES,
      'namespace/istio-system',
    ].sort());
    const again = io();
    assert.equal(await runUninstall({ set: [], kubeconfig, skipConfirmation: true, purge: true }, again), 0, again.err());
    assert.match(again.out(), /Deployment istio-system\/istiod was not there/);
    const none = await kubectl().run(['get', '-A', '-o', 'name', '-l', 'app.kubernetes.io/part-of=meshd', 'crd,ns,deploy,mutatingwebhookconfiguration']);
    assert.equal(none.trim(), '');
  });

  it('the command line (commander wiring of main.ts): manifest generate prints the install plan; install -y --no-wait', async () => {
    const run = async (args: string[]) => {
      const t = io();
      const program = new Command().exitOverride();
      addInstallCommands(program, t);
      process.exitCode = undefined;
      await program.parseAsync(['node', 'meshd', ...args]);
      const code = process.exitCode ?? 0;
      process.exitCode = undefined;
      return { code, stdout: t.out(), stderr: t.err() };
    };
    const generated = await run(['manifest', 'generate']);
    assert.equal(generated.stdout, planYaml(PLAN));
    assert.equal(YAML.parseAllDocuments(generated.stdout).length, PLAN.crds.length + PLAN.objects.length);
    const installed = await run(['install', '--kubeconfig', kubeconfig, '-y', '--no-wait', '--set', 'profile=default', '--set', 'autoscaleMax=7']);
    assert.equal(installed.code, 0, installed.stderr);
    assert.match(installed.stdout, /✔ Installation complete/);
    assert.equal((api.get('autoscaling/v2', 'HorizontalPodAutoscaler', 'istio-system', 'istiod')?.spec as { maxReplicas: number }).maxReplicas, 7);
  });
});

describe('meshd install --dry-run on a fresh cluster (no istio-system yet; real kubectl)', { skip: !kubectlAvailable() && 'no kubectl' }, () => {
  // the fixture pre-creates istio-system unless told which namespaces exist
  const api = new FakeApiServer({ namespaces: ['default', 'kube-system'] });
  const { kubeconfig, kubectl } = fixtureCluster(api, 'meshd-install-fresh-');

  it('reports what would be created, including the objects inside the namespace it would create, and stores nothing', async () => {
    const t = io();
    assert.equal(await runInstall({ set: [], kubeconfig, wait: true, waitTimeout: '5s', dryRun: true }, t), 0, t.err());
    const out = t.out();
    const inNamespace = PLAN.objects.filter((o) => o.metadata.namespace === 'istio-system');
    const clusterScoped = PLAN.objects.filter((o) => !o.metadata.namespace);
    for (const o of clusterScoped) assert.ok(out.includes(`accepted ${objectRef(o)} (server dry run)`), `${objectRef(o)} checked by the server:\n${out}`);
    for (const o of inNamespace) {
      assert.ok(out.includes(`would create ${objectRef(o)} (not checked: namespace istio-system does not exist yet and a dry run does not create it)`), `${objectRef(o)} reported:\n${out}`);
    }
    assert.match(out, new RegExp(`✔ ${clusterScoped.length} objects accepted \\(dry run\\)\n  ${inNamespace.length} more would be created in namespace istio-system after it`));
    assert.match(out, /✔ Dry run complete: nothing was changed/);
    assert.doesNotMatch(out, /Waiting for Deployment|Proceed\?/);
    assert.equal(t.err(), '');
    // nothing was stored: kubectl sees no namespace, no CRD, no webhook configuration
    await assert.rejects(kubectl().run(['get', 'namespace', 'istio-system']), /NotFound|not found/);
    assert.equal((await kubectl().run(['get', 'crd,mutatingwebhookconfiguration,clusterrole', '-o', 'name', '-l', 'app.kubernetes.io/part-of=meshd'])).trim(), '');
  });

  it('any other 404 still fails the dry run with the server\'s message', async () => {
    // a 404 that is not "namespace istio-system not found" (here: one the fixture injects for the
    // ServiceAccount) is a real problem, not an object waiting for its namespace
    api.fail({ verbs: ['patch'], resources: ['serviceaccounts'], respond: { status: 404 } });
    await assert.rejects(runInstall({ set: [], kubeconfig, wait: false, waitTimeout: '5s', dryRun: true }, io()), /applying ServiceAccount istio-system\/istiod: HTTP 404: injected 404/);
  });
});
