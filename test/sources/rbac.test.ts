// The ClusterRole lists exactly what meshd uses: the rules derived from the kinds table match the
// manifest, and match the (group, resource, verb) of every request made against the API-server fixture
// in a run that exercises every path (informers, status writes, leader election, and the CA's
// TokenReview, istio-ca-root-cert ConfigMap writes and istio-ca-secret read/create, and WorkloadEntry
// auto-registration). The CA's Secrets
// are granted by a Role in meshd's namespace (manifests/rbac/role.yaml), not cluster-wide.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import * as grpc from '@grpc/grpc-js';
import { TokenReviewAuthenticator } from '../../src/ca/authn.js';
import { RootCertPublisher } from '../../src/ca/root-publisher.js';
import { loadCaSecret } from '../../src/ca/ca-secret.js';
import { ConfigStore } from '../../src/config/store.js';
import { KubeHttp } from '../../src/sources/kube/client.js';
import { KubeSource } from '../../src/sources/kube/kube-source.js';
import { WorkloadAutoRegistration } from '../../src/sources/kube/autoregistration.js';
import { parseProxy } from '../../src/model/proxy.js';
import { clusterRoleRules, permissionTriples, roleRules } from '../../src/sources/kube/rbac.js';
import { CaBundlePatcher, MUTATING_WEBHOOK_CONFIGURATION, VALIDATING_WEBHOOK_CONFIGURATION } from '../../src/webhook/ca-bundle.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { FakeApiServer } from '../kube-fixture/server.js';
import { SecretStore } from '../../src/config/secrets.js';
import { SubjectAccessReviewAuthorizer } from '../../src/sources/kube/subject-access.js';
import { kubeConfigFor, until } from '../support/kube.js';
import { INVALID_ISTIO_OBJECTS, gatewayApiObjects, ingressObjects } from '../support/kube-objects.js';
import { PushContext } from '../../src/model/push-context.js';
import { DEFAULT_MESH_CONFIG } from '../../src/config/mesh-config.js';

describe('RBAC: manifests/rbac/clusterrole.yaml', () => {
  const api = new FakeApiServer({
    tokenReviews: { 'pod-token': { username: 'system:serviceaccount:default:app', audiences: ['istio-ca'] } },
  });
  let src: KubeSource;
  let url = '';
  const store = new ConfigStore();
  before(async () => {
    url = await api.start();
    for (const o of INVALID_ISTIO_OBJECTS) api.create(o);
    // an Ingress meshd handles and the ingress Service with a load balancer address: Ingress status is written
    for (const o of ingressObjects('default')) api.create(o);
    api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'istio-ingressgateway', namespace: 'istio-system' }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] }, status: { loadBalancer: { ingress: [{ ip: '203.0.113.10' }] } } });
    src = new KubeSource({
      kc: kubeConfigFor(url), store, log: silentLogger, mesh: () => DEFAULT_MESH_CONFIG, secrets: new SecretStore(),
      status: { namespace: 'istio-system', name: 'istio-status-leader', identity: 'rbac-test', retryPeriodMs: 50 },
    });
    src.start();
    await src.waitSynced();
    await until('status on every refused Istio object', () =>
      INVALID_ISTIO_OBJECTS.every((o) => {
        const cur = api.get(String(o.apiVersion), String(o.kind), o.metadata.namespace, o.metadata.name);
        return (cur?.status as { validationMessages?: unknown[] } | undefined)?.validationMessages?.length;
      }));
    await until('Ingress status written', () => (api.get('networking.k8s.io/v1', 'Ingress', 'default', 'web')?.status as { loadBalancer?: { ingress?: unknown[] } } | undefined)?.loadBalancer?.ingress?.length);
    // Gateway API status: the conversion's statuses of one object of each kind, written back
    for (const o of gatewayApiObjects('default')) api.create(o);
    await until('Gateway API objects stored', () => src.informer('TCPRoute')?.list().length === 1 && store.count('TLSRoute') === 1 && store.count('GatewayClass') === 1);
    src.gatewayApiStatus!.setDesired(new PushContext(store, 'rbac').gatewayApiStatuses);
    await until('Gateway API statuses written', () =>
      gatewayApiObjects('default').filter((o) => o.kind !== 'ReferenceGrant').every((o) => api.get(String(o.apiVersion), String(o.kind), o.metadata.namespace, o.metadata.name)?.status));
    await until('a lease renewal', () => api.requests.some((r) => r.resource === 'leases' && r.verb === 'update'));
    // the CA: a TokenReview, then the root ConfigMap created and later updated
    const md = new grpc.Metadata();
    md.set('authorization', 'Bearer pod-token');
    await new TokenReviewAuthenticator({ url, trustDomain: 'cluster.local' }).authenticate({ metadata: md });
    let root = 'ROOT-1';
    const publisher = new RootCertPublisher({
      http: new KubeHttp(kubeConfigFor(url)), isLeader: () => true, namespaces: () => ['default'], rootPem: () => root,
      log: silentLogger, resyncMs: 3_600_000,
    });
    await publisher.sync();
    root = 'ROOT-2';
    publisher.trigger(true);
    await publisher.sync();
    publisher.stop();
    // the CA material: cacerts and istio-ca-secret read, istio-ca-secret created
    await loadCaSecret({ http: new KubeHttp(kubeConfigFor(url)), namespace: 'istio-system', trustDomain: 'cluster.local', keyType: 'ec', log: silentLogger });
    // the webhooks: both configurations read and their caBundle written
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      const name = kind === 'MutatingWebhookConfiguration' ? MUTATING_WEBHOOK_CONFIGURATION : VALIDATING_WEBHOOK_CONFIGURATION;
      api.create({ apiVersion: 'admissionregistration.k8s.io/v1', kind, metadata: { name }, webhooks: [{ name: 'w.istio.io', clientConfig: {} }] });
    }
    await new CaBundlePatcher({ http: new KubeHttp(kubeConfigFor(url)), rootPem: () => 'ROOT', isLeader: () => true, log: silentLogger }).sync();
    // gateway credentials: may a gateway's service account read its namespace's Secrets?
    await new SubjectAccessReviewAuthorizer({ http: new KubeHttp(kubeConfigFor(url)), log: silentLogger })
      .check({ namespace: 'istio-system', serviceAccount: 'istio-ingressgateway', identity: 'spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway' });
    // WorkloadEntry auto-registration: group read, entry created, marked disconnected, deleted after the grace period
    api.create({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadGroup', metadata: { name: 'vms', namespace: 'default' }, spec: { template: {} } });
    const registration = new WorkloadAutoRegistration({ http: new KubeHttp(kubeConfigFor(url)), store: new ConfigStore(), log: silentLogger, instanceId: 'rbac-test', gracePeriodMs: 10 });
    const vm = parseProxy({ id: 'sidecar~10.1.1.1~vm.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default', AUTO_REGISTER_GROUP: 'vms', INSTANCE_IPS: '10.1.1.1' } });
    const connectedAt = new Date();
    await registration.onConnect(vm, { namespace: 'default', serviceAccount: 'default' }, connectedAt);
    registration.onDisconnect(vm, connectedAt);
    await until('the auto-registered entry deleted', () => api.requests.some((r) => r.resource === 'workloadentries' && r.verb === 'delete'));
    registration.stop();
  });
  after(async () => {
    await src.stop();
    await api.stop();
  });

  it('is the rule set derived from src/config/kinds.ts', () => {
    const manifest = YAML.parse(readFileSync('manifests/rbac/clusterrole.yaml', 'utf8')) as { kind: string; rules: unknown };
    assert.equal(manifest.kind, 'ClusterRole');
    assert.deepEqual(manifest.rules, clusterRoleRules());
  });

  it('role.yaml is the Role of the CA Secrets in istio-system, and only that', () => {
    const manifest = YAML.parse(readFileSync('manifests/rbac/role.yaml', 'utf8')) as { kind: string; metadata: { namespace: string }; rules: unknown };
    assert.equal(manifest.kind, 'Role');
    assert.equal(manifest.metadata.namespace, 'istio-system');
    assert.deepEqual(manifest.rules, roleRules());
    const secretRequests = api.requests.filter((r) => r.resource === 'secrets' && r.verb !== 'list' && r.verb !== 'watch');
    assert.ok(secretRequests.length > 0);
    assert.deepEqual([...new Set(secretRequests.map((r) => r.namespace))], ['istio-system'], 'Secrets are only read one by one or written in the CA namespace');
    // cluster-wide: only the credential watch (list/watch, as istiod's credentials controller), never get/create/update
    const clusterSecretVerbs = clusterRoleRules().filter((r) => r.apiGroups.includes('') && r.resources.includes('secrets')).flatMap((r) => r.verbs);
    assert.deepEqual(clusterSecretVerbs.sort(), ['list', 'watch']);
  });

  it('grants exactly the requests the source makes: nothing missing, nothing unused', () => {
    const used = new Set(
      api.requests.filter((r) => r.verb && r.resource).map((r) => `${r.group}|${r.resource}${r.subresource ? `/${r.subresource}` : ''}|${r.verb}`),
    );
    const granted = permissionTriples();
    assert.deepEqual([...used].filter((t) => !granted.has(t)).sort(), [], 'requests the ClusterRole does not allow');
    assert.deepEqual([...granted].filter((t) => !used.has(t)).sort(), [], 'permissions meshd never uses');
  });
});
