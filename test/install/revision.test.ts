// Canary upgrades by revision, as istioctl: `meshd install --set revision=canary` beside the default
// control plane, namespaces choosing a control plane with istio.io/rev, revision tags moving namespaces,
// and `uninstall --revision`. Against the API-server fixture, read back with real kubectl.
//
// The fixture has no admission chain, so "which control plane injects this pod" is answered the way the
// API server answers it: every MutatingWebhookConfiguration in the cluster (read with kubectl), each
// webhook's namespaceSelector against the namespace's labels and objectSelector against the pod's
// (Kubernetes LabelSelector semantics, src/config/labels.ts), and the Service the matching webhooks call.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import YAML from 'yaml';
import { selectorMatches, type LabelSelector } from '../../src/config/labels.js';
import { runInstall, runUninstall, type InstallFlags, type InstallIO } from '../../src/cli/install.js';
import { runTagList, runTagRemove, runTagSet } from '../../src/cli/tag.js';
import { installObjects, type KObject } from '../../src/install/objects.js';
import { embeddedYaml } from '../../src/install/render.js';
import { defaultValues, valuesWithOverrides } from '../../src/install/values.js';
import { FakeApiServer } from '../kube-fixture/server.js';
import { kubectlAvailable } from '../kube-fixture/kubectl.js';
import { fixtureCluster } from './fixture-cluster.js';
import { renderTemplate } from './helm-subset.js';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

function io(): InstallIO & { out: () => string } {
  let out = '';
  return { stdout: { write: (c: string) => (out += c) }, stderr: { write: () => true }, stdin: new PassThrough(), out: () => out };
}

interface Hook {
  name: string;
  clientConfig: { service: { name: string; namespace: string } };
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
}

describe('revisions side by side (API-server fixture, real kubectl)', { skip: !kubectlAvailable() && 'no kubectl' }, () => {
  const cluster = fixtureCluster(new FakeApiServer(), 'meshd-revision-');
  const { kubeconfig } = cluster;
  const k = { run: (args: readonly string[], input?: string) => cluster.kubectl().run(args, input) };

  const createNamespace = (name: string) => k.run(['apply', '-f', '-'], `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`);
  const install = (...set: string[]) => runInstall({ set, kubeconfig, skipConfirmation: true, wait: false, waitTimeout: '1s' } as InstallFlags, io());
  const names = async (kind: string, ns?: string) =>
    (await k.run(['get', kind, ...(ns ? ['-n', ns] : []), '-o', 'jsonpath={.items[*].metadata.name}'])).split(/\s+/).filter(Boolean).sort();

  /** The Services the API server would call to admit a pod with `podLabels` in `namespace`. */
  async function injectors(namespace: string, podLabels: Record<string, string> = {}): Promise<string[]> {
    const nsLabels = JSON.parse((await k.run(['get', 'namespace', namespace, '-o', 'jsonpath={.metadata.labels}'])) || '{}') as Record<string, string>;
    const configs = JSON.parse(await k.run(['get', 'mutatingwebhookconfigurations', '-o', 'json'])) as { items: { webhooks?: Hook[] }[] };
    const called = configs.items
      .flatMap((c) => c.webhooks ?? [])
      .filter((h) => selectorMatches(h.namespaceSelector ?? {}, nsLabels) && selectorMatches(h.objectSelector ?? {}, podLabels))
      .map((h) => h.clientConfig.service.name);
    return called.sort();
  }

  it('install --set revision=canary puts a second control plane beside the default one, which it leaves as it was', async () => {
    assert.equal(await install(), 0);
    const defaultDeployment = await k.run(['get', 'deployment', 'istiod', '-n', 'istio-system', '-o', 'jsonpath={.spec}']);
    assert.equal(await install('revision=canary'), 0);
    // the ingress gateway is not per revision: istioctl upgrades it in place to the revision installed last
    assert.deepEqual(await names('deployments', 'istio-system'), ['istio-ingressgateway', 'istiod', 'istiod-canary']);
    assert.deepEqual(await names('services', 'istio-system'), ['istio-ingressgateway', 'istiod', 'istiod-canary']);
    assert.deepEqual(await names('configmaps', 'istio-system'), ['istio', 'istio-canary']);
    assert.deepEqual(await names('serviceaccounts', 'istio-system'), ['istio-ingressgateway-service-account', 'istiod', 'istiod-canary']);
    assert.equal(await k.run(['get', 'deployment', 'istio-ingressgateway', '-n', 'istio-system', '-o', 'jsonpath={.metadata.labels.istio\\.io/rev}']), 'canary');
    assert.match(await k.run(['get', 'deployment', 'istio-ingressgateway', '-n', 'istio-system', '-o', 'jsonpath={.spec.template.spec.containers[0].env[?(@.name=="CA_ADDR")].value}']), /^istiod-canary\.istio-system\.svc:15012$/);
    assert.deepEqual(await names('mutatingwebhookconfigurations'), ['istio-sidecar-injector', 'istio-sidecar-injector-canary']);
    assert.deepEqual(await names('validatingwebhookconfigurations'), ['istio-validator-canary-istio-system', 'istio-validator-istio-system']);
    assert.deepEqual(await names('clusterroles'), ['meshd', 'meshd-canary']);
    // the default revision's objects were not touched
    assert.equal(await k.run(['get', 'deployment', 'istiod', '-n', 'istio-system', '-o', 'jsonpath={.spec}']), defaultDeployment);

    // each revision's Deployment, Service and PDB select its own pods only; the canary reads its own mesh config
    const canary = JSON.parse(await k.run(['get', 'deployment', 'istiod-canary', '-n', 'istio-system', '-o', 'json'])) as {
      spec: { selector: { matchLabels: Record<string, string> }; template: { spec: { serviceAccountName: string; volumes: { name: string; configMap?: { name: string } }[]; containers: { args: string[] }[] } } };
    };
    assert.deepEqual(canary.spec.selector.matchLabels, { app: 'istiod', istio: 'pilot', 'istio.io/rev': 'canary' });
    assert.equal(canary.spec.template.spec.serviceAccountName, 'istiod-canary');
    assert.equal(canary.spec.template.spec.volumes.find((v) => v.name === 'config-volume')?.configMap?.name, 'istio-canary');
    assert.ok(canary.spec.template.spec.containers[0]!.args.includes('--revision=canary'));
    assert.ok(canary.spec.template.spec.containers[0]!.args.includes('--ca-dns-names=istiod-canary.istio-system.svc'));
    assert.equal(await k.run(['get', 'service', 'istiod', '-n', 'istio-system', '-o', 'jsonpath={.spec.selector.istio\\.io/rev}']), 'default');
    assert.equal(await k.run(['get', 'service', 'istiod-canary', '-n', 'istio-system', '-o', 'jsonpath={.spec.selector.istio\\.io/rev}']), 'canary');
  });

  it('injection follows istio.io/rev: each pod reaches exactly one control plane', async () => {
    for (const [ns, label] of [['legacy', 'istio-injection=enabled'], ['stable', 'istio.io/rev=default'], ['trial', 'istio.io/rev=canary'], ['plain', '']] as const) {
      await createNamespace(ns);
      if (label) await k.run(['label', 'namespace', ns, label]);
    }
    assert.deepEqual(await injectors('legacy'), ['istiod']);
    assert.deepEqual(await injectors('stable'), ['istiod']);
    assert.deepEqual(await injectors('trial'), ['istiod-canary']);
    assert.deepEqual(await injectors('plain'), []);
    // a pod can name its revision itself, or opt in without one (default revision)
    assert.deepEqual(await injectors('plain', { 'istio.io/rev': 'canary' }), ['istiod-canary']);
    assert.deepEqual(await injectors('plain', { 'sidecar.istio.io/inject': 'true' }), ['istiod']);
    // and opt out
    assert.deepEqual(await injectors('trial', { 'sidecar.istio.io/inject': 'false' }), []);
    // moving a namespace to the canary is relabelling it
    await k.run(['label', 'namespace', 'legacy', 'istio-injection-', 'istio.io/rev=canary']);
    assert.deepEqual(await injectors('legacy'), ['istiod-canary']);
  });

  it('a tag moves every namespace that uses it: tag set, tag set --overwrite, tag list, tag remove', async () => {
    await createNamespace('shop');
    await k.run(['label', 'namespace', 'shop', 'istio.io/rev=prod']);
    assert.deepEqual(await injectors('shop'), [], 'no control plane answers for a tag that does not exist');

    const set = io();
    assert.equal(await runTagSet('prod', { revision: 'default', istioNamespace: 'istio-system', kubeconfig }, set), 0);
    assert.match(set.out(), /✔ tag prod → revision default \(used by shop\)/);
    assert.deepEqual(await injectors('shop'), ['istiod']);
    const webhook = JSON.parse(await k.run(['get', 'mutatingwebhookconfiguration', 'istio-revision-tag-prod', '-o', 'json'])) as { metadata: { labels: Record<string, string> } };
    assert.equal(webhook.metadata.labels['istio.io/tag'], 'prod');
    assert.equal(webhook.metadata.labels['istio.io/rev'], 'default');

    // moving the tag needs --overwrite, then the namespace follows without being touched
    await assert.rejects(runTagSet('prod', { revision: 'canary', istioNamespace: 'istio-system', kubeconfig }, io()), /tag "prod" points at revision "default": pass --overwrite/);
    assert.deepEqual(await injectors('shop'), ['istiod']);
    assert.equal(await runTagSet('prod', { revision: 'canary', istioNamespace: 'istio-system', kubeconfig, overwrite: true }, io()), 0);
    assert.deepEqual(await injectors('shop'), ['istiod-canary']);

    const list = io();
    assert.equal(await runTagList({ istioNamespace: 'istio-system', kubeconfig }, list), 0);
    assert.equal(list.out(), 'TAG    REVISION   NAMESPACES\nprod   canary     shop\n');

    await assert.rejects(runTagSet('prod', { revision: 'nope', istioNamespace: 'istio-system', kubeconfig, overwrite: true }, io()), /revision "nope" is not installed/);
    await assert.rejects(runTagSet('canary', { revision: 'default', istioNamespace: 'istio-system', kubeconfig }, io()), /a revision of that name is installed/);
    await assert.rejects(runTagRemove('prod', { istioNamespace: 'istio-system', kubeconfig }, io()), /tag "prod" is used by namespace shop: relabel them first, or pass -y/);
    assert.equal(await runTagRemove('prod', { istioNamespace: 'istio-system', kubeconfig, skipConfirmation: true }, io()), 0);
    assert.deepEqual(await names('mutatingwebhookconfigurations'), ['istio-sidecar-injector', 'istio-sidecar-injector-canary']);
    assert.deepEqual(await injectors('shop'), []);
  });

  it('uninstall --revision canary removes that control plane only', async () => {
    const t = io();
    assert.equal(await runUninstall({ set: [], kubeconfig, skipConfirmation: true, revision: 'canary' }, t), 0);
    assert.deepEqual(await names('deployments', 'istio-system'), ['istiod']);
    assert.deepEqual(await names('services', 'istio-system'), ['istiod']);
    assert.deepEqual(await names('configmaps', 'istio-system'), ['istio']);
    assert.deepEqual(await names('mutatingwebhookconfigurations'), ['istio-sidecar-injector']);
    assert.deepEqual(await names('clusterroles'), ['meshd']);
    assert.ok((await names('customresourcedefinitions')).includes('virtualservices.networking.istio.io'), 'the CRDs stay');
    assert.deepEqual(await injectors('trial'), [], 'namespaces still on the removed revision get no sidecar');
    await assert.rejects(runUninstall({ set: [], kubeconfig, skipConfirmation: true, revision: 'canary', purge: true }, io()), /--purge removes the CRDs every revision uses/);
  });

  it('the canary upgrade to its end: the gateway moved to the canary stays when the old default control plane is uninstalled', async () => {
    assert.equal(await install(), 0);
    assert.equal(await install('revision=canary'), 0);
    const t = io();
    assert.equal(await runUninstall({ set: [], kubeconfig, skipConfirmation: true }, t), 0);
    assert.match(t.out(), /kept Deployment istio-system\/istio-ingressgateway: it now belongs to revision canary/);
    assert.deepEqual(await names('deployments', 'istio-system'), ['istio-ingressgateway', 'istiod-canary']);
    assert.deepEqual(await names('services', 'istio-system'), ['istio-ingressgateway', 'istiod-canary']);
  });
});

describe('the Helm chart with revision=canary', () => {
  it('renders exactly the objects install applies for that revision', () => {
    const values = valuesWithOverrides(['revision=canary'], defaultValues());
    const chart = path.join(REPO_ROOT, 'manifests/charts/meshd/templates');
    const rendered: KObject[] = [];
    for (const name of readdirSync(chart).sort()) {
      const text = renderTemplate(readFileSync(path.join(chart, name), 'utf8'), { Values: values, Release: { Namespace: 'istio-system', Name: 'meshd' } }, name);
      rendered.push(...YAML.parseAllDocuments(text).map((d) => d.toJS() as KObject | null).filter((o): o is KObject => !!o));
    }
    const key = (o: KObject) => `${o.kind}/${o.metadata.name}`;
    const sorted = (objs: readonly KObject[]) => [...objs].sort((a, b) => key(a).localeCompare(key(b)));
    const installed = installObjects(values, embeddedYaml).filter((o) => o.kind !== 'Namespace');
    assert.deepEqual(sorted(rendered).map(key), sorted(installed).map(key));
    assert.deepEqual(sorted(rendered), sorted(installed));
    const injector = rendered.find((o) => o.kind === 'MutatingWebhookConfiguration') as unknown as { webhooks: Hook[] };
    assert.deepEqual(injector.webhooks.map((w) => w.name), ['rev.namespace.sidecar-injector.istio.io', 'rev.object.sidecar-injector.istio.io']);
  });
});
