import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { KubeConfig } from '@kubernetes/client-node';
import { AuthenticationError, TokenReviewAuthenticator } from '../../src/ca/authn.js';
import { kubeApiOf } from '../../src/cli/security-flags.js';
import { kubeconfigYaml } from '../kube-fixture/kubectl.js';
import { FakeApiServer } from '../kube-fixture/server.js';

// TokenReview in Kubernetes mode: meshd asks the API server its Kubernetes source already watches, with
// the source's own credentials (the API-server fixture requires a bearer token for every request).

const api = new FakeApiServer({
  tokens: ['meshd-own-token'],
  tokenReviews: { 'pod-token': { username: 'system:serviceaccount:shop:cart', audiences: ['istio-ca'] } },
});
let url = '';
before(async () => {
  url = await api.start();
});
after(() => api.stop());

const md = (token: string) => {
  const m = new grpc.Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
};

describe('TokenReview with the Kubernetes source credentials', () => {
  it('authenticates a pod token with meshd’s kubeconfig credentials', async () => {
    const kc = new KubeConfig();
    kc.loadFromString(kubeconfigYaml({ server: url, token: 'meshd-own-token' }));
    const target = kubeApiOf(kc)!;
    assert.equal(target.server, url);
    const a = new TokenReviewAuthenticator({ url: target.server, trustDomain: 'cluster.local', applyAuth: target.applyAuth });
    const caller = await a.authenticate({ metadata: md('pod-token') });
    assert.deepEqual(caller, { namespace: 'shop', serviceAccount: 'cart', identity: 'spiffe://cluster.local/ns/shop/sa/cart', method: 'tokenreview' });
    const seen = api.requests.filter((r) => r.resource === 'tokenreviews');
    assert.equal(seen.at(-1)?.status, 201);
    await assert.rejects(a.authenticate({ metadata: md('stolen') }), AuthenticationError);
  });

  it('an API server that refuses meshd is UNAVAILABLE, not the caller’s fault', async () => {
    const a = new TokenReviewAuthenticator({ url, trustDomain: 'cluster.local' });
    await assert.rejects(a.authenticate({ metadata: md('pod-token') }), (err: Error & { code?: number }) => err.code === grpc.status.UNAVAILABLE && /HTTP 401/.test(err.message));
  });
});
