// The kustomize base (manifests/), the Helm chart (manifests/charts/meshd) and what `meshd install` applies
// come from one set of builders (src/install/objects.ts). Checked here: the committed files are a fresh
// render; real `kubectl kustomize manifests/` output holds every object of an installation; the chart's
// templates, rendered by the Helm-subset renderer (Helm itself cannot run here), give the same objects as
// kustomize for the default values and the same objects as `meshd install` for overridden values.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { installObjects, type KObject } from '../../src/install/objects.js';
import { embeddedYaml, generatedFiles } from '../../src/install/render.js';
import { clusterRoleRules, roleRules } from '../../src/sources/kube/rbac.js';
import { defaultValues, valuesWithOverrides, type Values } from '../../src/install/values.js';
import { KUBECTL, kubectlAvailable } from '../kube-fixture/kubectl.js';
import { renderTemplate } from './helm-subset.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CHART = path.join(root, 'manifests/charts/meshd');
const key = (o: KObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const parseAll = (text: string) => YAML.parseAllDocuments(text).map((d) => d.toJS() as KObject | null).filter((o): o is KObject => !!o);

function renderChart(values: Values, namespace = values.global.istioNamespace): KObject[] {
  const out: KObject[] = [];
  for (const name of readdirSync(path.join(CHART, 'templates')).sort()) {
    const text = renderTemplate(readFileSync(path.join(CHART, 'templates', name), 'utf8'), { Values: values, Release: { Namespace: namespace, Name: 'meshd' } }, name);
    out.push(...parseAll(text));
  }
  return out;
}

function byKey(objects: readonly KObject[]): Map<string, KObject> {
  const m = new Map<string, KObject>();
  for (const o of objects) {
    assert.ok(!m.has(key(o)), `duplicate ${key(o)}`);
    m.set(key(o), o);
  }
  return m;
}

const EXPECTED = [
  'Namespace//istio-system',
  'ServiceAccount/istio-system/istiod',
  'ClusterRole//meshd',
  'ClusterRoleBinding//meshd',
  'Role/istio-system/meshd',
  'RoleBinding/istio-system/meshd',
  'ConfigMap/istio-system/istio',
  'Deployment/istio-system/istiod',
  'Service/istio-system/istiod',
  'MutatingWebhookConfiguration//istio-sidecar-injector',
  'ValidatingWebhookConfiguration//istio-validator-istio-system',
  'PodDisruptionBudget/istio-system/istiod',
  'HorizontalPodAutoscaler/istio-system/istiod',
  // istioctl's default profile: the ingress gateway (no PDB with one replica, as Istio's chart)
  'ServiceAccount/istio-system/istio-ingressgateway-service-account',
  'Role/istio-system/istio-ingressgateway-sds',
  'RoleBinding/istio-system/istio-ingressgateway-sds',
  'Service/istio-system/istio-ingressgateway',
  'Deployment/istio-system/istio-ingressgateway',
  'HorizontalPodAutoscaler/istio-system/istio-ingressgateway',
];

describe('installation manifests', () => {
  it('committed crds/, manifests/ and the chart are a fresh render (npm run gen:manifests)', () => {
    const version = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
    for (const [rel, content] of generatedFiles(version)) {
      assert.equal(readFileSync(path.join(root, rel), 'utf8'), content, `${rel} differs from a fresh render: run npm run gen:manifests`);
    }
    const generatedTemplates = [...generatedFiles(version).keys()].filter((f) => f.startsWith('manifests/charts/meshd/templates/')).map((f) => path.basename(f)).sort();
    assert.deepEqual(readdirSync(path.join(CHART, 'templates')).sort(), generatedTemplates);
  });

  describe('kubectl kustomize manifests/ (real kubectl)', { skip: !kubectlAvailable() && 'no kubectl' }, () => {
    const rendered = () => parseAll(execFileSync(KUBECTL, ['kustomize', path.join(root, 'manifests')], { encoding: 'utf8' }));

    it('renders every object of an installation, each labelled part-of meshd', () => {
      const objects = rendered();
      assert.deepEqual(objects.map(key).sort(), [...EXPECTED].sort());
      for (const o of objects) assert.equal(o.metadata.labels?.['app.kubernetes.io/part-of'], 'meshd', key(o));
    });

    it('is what meshd install applies for the default values', () => {
      const fromInstall = byKey(installObjects(defaultValues(), embeddedYaml));
      const fromKustomize = byKey(rendered());
      assert.deepEqual([...fromKustomize.keys()].sort(), [...fromInstall.keys()].sort());
      for (const [k, o] of fromKustomize) assert.deepEqual(o, fromInstall.get(k), k);
    });

    it('runs meshd as istiod: probes on /ready, non-root read-only container, Service and webhook ports, RBAC from the Kubernetes source', () => {
      const objects = byKey(rendered());
      const deploy = objects.get('Deployment/istio-system/istiod') as unknown as { spec: { template: { spec: { serviceAccountName: string; securityContext: Record<string, unknown>; containers: { args: string[]; readinessProbe: { httpGet: { path: string; port: number } }; resources: unknown; securityContext: Record<string, unknown> }[] } } } };
      const pod = deploy.spec.template.spec;
      const c = pod.containers[0]!;
      assert.deepEqual(c.readinessProbe.httpGet, { path: '/ready', port: 8080 });
      assert.equal(c.args[0], 'serve');
      assert.deepEqual(c.resources, { requests: { cpu: '500m', memory: '512Mi' } });
      assert.equal(c.securityContext.readOnlyRootFilesystem, true);
      assert.equal(c.securityContext.runAsNonRoot, true);
      assert.equal(c.securityContext.allowPrivilegeEscalation, false);
      assert.equal(pod.securityContext.runAsNonRoot, true);
      assert.equal(pod.serviceAccountName, 'istiod');
      const svc = objects.get('Service/istio-system/istiod') as unknown as { spec: { ports: { name: string; port: number; targetPort: number }[] } };
      assert.deepEqual(svc.spec.ports.map((p) => `${p.name} ${p.port}->${p.targetPort}`), ['grpc-xds 15010->15010', 'https-dns 15012->15012', 'https-webhook 443->15017', 'http-monitoring 15014->15014']);
      const inj = objects.get('MutatingWebhookConfiguration//istio-sidecar-injector') as unknown as { webhooks: { name: string; clientConfig: { service: Record<string, unknown> } }[] };
      assert.deepEqual(inj.webhooks.map((w) => w.name), ['rev.namespace.sidecar-injector.istio.io', 'rev.object.sidecar-injector.istio.io', 'namespace.sidecar-injector.istio.io', 'object.sidecar-injector.istio.io']);
      for (const w of inj.webhooks) assert.deepEqual(w.clientConfig.service, { name: 'istiod', namespace: 'istio-system', path: '/inject', port: 443 });
      const val = objects.get('ValidatingWebhookConfiguration//istio-validator-istio-system') as unknown as { webhooks: { name: string; clientConfig: { service: Record<string, unknown> }; rules: { apiGroups: string[] }[] }[] };
      assert.equal(val.webhooks[0]!.name, 'rev.validation.istio.io');
      assert.equal(val.webhooks[0]!.clientConfig.service.path, '/validate');
      assert.deepEqual(val.webhooks[0]!.rules[0]!.apiGroups, ['networking.istio.io', 'security.istio.io']);
      assert.deepEqual((objects.get('ClusterRole//meshd') as unknown as { rules: unknown }).rules, clusterRoleRules());
      assert.deepEqual((objects.get('Role/istio-system/meshd') as unknown as { rules: unknown }).rules, roleRules());
      const mesh = objects.get('ConfigMap/istio-system/istio') as unknown as { data: { mesh: string } };
      assert.deepEqual(YAML.parse(mesh.data.mesh), defaultValues().meshConfig);
    });

    it('the ingress gateway is istioctl\'s: proxyv2 running `proxy router`, LoadBalancer 15021/80/443, SDS Role, HPA 1–5', () => {
      const objects = byKey(rendered());
      type Container = { image: string; args: string[]; ports: { containerPort: number }[]; env: { name: string; value?: string }[]; readinessProbe: { httpGet: { path: string; port: number } } };
      const deploy = objects.get('Deployment/istio-system/istio-ingressgateway') as unknown as { spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string; containers: Container[] } } } };
      const c = deploy.spec.template.spec.containers[0]!;
      assert.equal(c.image, `${defaultValues().global.hub}/proxyv2:${defaultValues().global.tag}`);
      assert.deepEqual(c.args.slice(0, 4), ['proxy', 'router', '--domain', '$(POD_NAMESPACE).svc.cluster.local']);
      assert.deepEqual(c.ports.map((p) => p.containerPort), [15021, 8080, 8443, 15090]);
      assert.deepEqual(c.readinessProbe.httpGet, { path: '/healthz/ready', port: 15021, scheme: 'HTTP' });
      const env = Object.fromEntries(c.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
      assert.equal(env.CA_ADDR, 'istiod.istio-system.svc:15012');
      assert.deepEqual(JSON.parse(env.PROXY_CONFIG!), { discoveryAddress: 'istiod.istio-system.svc:15012' });
      assert.equal(deploy.spec.replicas, undefined, 'the HPA owns the replica count');
      assert.deepEqual(deploy.spec.selector.matchLabels, { app: 'istio-ingressgateway', istio: 'ingressgateway' });
      assert.equal(deploy.spec.template.metadata.labels['sidecar.istio.io/inject'], 'false', 'the injector leaves the gateway alone');
      assert.equal(deploy.spec.template.spec.serviceAccountName, 'istio-ingressgateway-service-account');
      const svc = objects.get('Service/istio-system/istio-ingressgateway') as unknown as { spec: { type: string; selector: Record<string, string>; ports: { name: string; port: number; targetPort: number }[] } };
      assert.equal(svc.spec.type, 'LoadBalancer');
      assert.deepEqual(svc.spec.ports.map((p) => `${p.name} ${p.port}->${p.targetPort}`), ['status-port 15021->15021', 'http2 80->8080', 'https 443->8443']);
      assert.deepEqual(svc.spec.selector, { app: 'istio-ingressgateway', istio: 'ingressgateway' });
      assert.deepEqual((objects.get('Role/istio-system/istio-ingressgateway-sds') as unknown as { rules: unknown }).rules, [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'watch', 'list'] }]);
      const hpa = objects.get('HorizontalPodAutoscaler/istio-system/istio-ingressgateway') as unknown as { spec: { minReplicas: number; maxReplicas: number } };
      assert.deepEqual([hpa.spec.minReplicas, hpa.spec.maxReplicas], [1, 5]);
    });

    it('Helm chart rendered with its default values.yaml equals the kustomize base, object by object (Namespace aside: Helm creates it)', (t) => {
      const chartValues = YAML.parse(readFileSync(path.join(CHART, 'values.yaml'), 'utf8')) as Values;
      assert.deepEqual(chartValues, defaultValues());
      const chart = byKey(renderChart(chartValues));
      const kustomize = byKey(rendered().filter((o) => o.kind !== 'Namespace'));
      assert.deepEqual([...chart.keys()].sort(), [...kustomize.keys()].sort());
      for (const [k, o] of kustomize) assert.deepEqual(chart.get(k), o, k);
      t.diagnostic(`chart vs kustomize: ${chart.size}/${kustomize.size} objects identical`);
    });
  });

  it('Helm chart rendered with overridden values equals what meshd install applies for the same --set', () => {
    const cases = [
      ['autoscaleEnabled=false', 'replicaCount=3'],
      ['hub=registry.example/mesh', 'tag=1.2.3', 'imagePullPolicy=Always'],
      ['revision=canary', 'global.defaultPodDisruptionBudget.enabled=false'],
      ['resources.requests.cpu=2', 'resources.limits.memory=4Gi', 'autoscaleMax=9', 'cpu.targetAverageUtilization=60'],
      ['meshConfig.accessLogFile=/dev/stdout', 'nodeSelector.disk=ssd', 'global.istioNamespace=mesh-system'],
      ['values.pilot.autoscaleMin=2', 'values.global.hub=docker.io/me', 'profile=default'],
      // istioctl's gateway toggles and values
      ['components.egressGateways[0].enabled=true', 'values.gateways.istio-ingressgateway.type=NodePort'],
      ['components.ingressGateways[0].enabled=false'],
      ['values.gateways.istio-ingressgateway.autoscaleEnabled=false', 'values.gateways.istio-ingressgateway.replicaCount=3', 'gateways.egress.enabled=true', 'gateways.egress.autoscaleMin=2'],
      ['revision=canary', 'components.egressGateways[0].enabled=true', 'gateways.ingress.resources.limits.cpu=4'],
    ];
    for (const sets of cases) {
      const values = valuesWithOverrides(sets);
      const chart = byKey(renderChart(values));
      const install = byKey(installObjects(values, embeddedYaml).filter((o) => o.kind !== 'Namespace'));
      assert.deepEqual([...chart.keys()].sort(), [...install.keys()].sort(), sets.join(' '));
      for (const [k, o] of install) assert.deepEqual(chart.get(k), o, `${sets.join(' ')}: ${k}`);
    }
  });

  it('gateway toggles: the egress gateway when enabled, a PDB only with more than one replica, none when disabled, a revision points them at its istiod', () => {
    const keys = (sets: string[]) => installObjects(valuesWithOverrides(sets), embeddedYaml).map(key).filter((k) => k.includes('gateway'));
    assert.deepEqual(keys(['components.ingressGateways[0].enabled=false']), []);
    assert.ok(keys(['components.egressGateways[0].enabled=true']).includes('Deployment/istio-system/istio-egressgateway'));
    assert.ok(!keys([]).some((k) => k.startsWith('PodDisruptionBudget/')), 'autoscaleMin 1: no PDB (kubernetes#93476)');
    assert.ok(keys(['values.gateways.istio-ingressgateway.autoscaleMin=2']).includes('PodDisruptionBudget/istio-system/istio-ingressgateway'));
    assert.ok(keys(['gateways.ingress.autoscaleEnabled=false', 'gateways.ingress.replicaCount=2']).includes('PodDisruptionBudget/istio-system/istio-ingressgateway'));
    assert.ok(!keys(['gateways.ingress.autoscaleEnabled=false', 'gateways.ingress.replicaCount=2', 'global.defaultPodDisruptionBudget.enabled=false']).some((k) => k.startsWith('PodDisruptionBudget/')));
    const canary = installObjects(valuesWithOverrides(['revision=canary']), embeddedYaml).find((o) => key(o) === 'Deployment/istio-system/istio-ingressgateway') as unknown as { metadata: { labels: Record<string, string> }; spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[]; volumes: { name: string; configMap?: { name: string } }[] } } } };
    assert.equal(canary.metadata.labels['istio.io/rev'], 'canary', 'gateways are not per revision: the same Deployment moves to the revision installed last');
    const env = Object.fromEntries(canary.spec.template.spec.containers[0]!.env.map((e) => [e.name, e.value]));
    assert.equal(env.CA_ADDR, 'istiod-canary.istio-system.svc:15012');
    assert.match(env.PROXY_CONFIG!, /istiod-canary\.istio-system\.svc:15012/);
    assert.equal(canary.spec.template.spec.volumes.find((v) => v.name === 'config-volume')?.configMap?.name, 'istio-canary');
    assert.throws(() => valuesWithOverrides(['components.ingressGateways[1].enabled=true']), /meshd installs istio-ingressgateway and istio-egressgateway only/);
    assert.throws(() => valuesWithOverrides(['values.gateways.istio-ingressgateway.type=External']), /--set: gateways.ingress.type: /);
  });

  it('--set errors name the key and the rule', () => {
    assert.throws(() => valuesWithOverrides(['autoscaleMin=zero']), /--set: autoscaleMin: .*number/);
    assert.throws(() => valuesWithOverrides(['profile=demo']), /meshd installs the "default" profile only/);
    assert.throws(() => valuesWithOverrides(['nosuchkey=1']), /Unrecognized key.*nosuchkey/);
    assert.throws(() => valuesWithOverrides(['hub']), /--set hub: expected key=value/);
  });
});
