import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ConfigStore } from '../../../src/config/store.js';
import { PushContext } from '../../../src/model/push-context.js';
import { silentLogger } from '../../../src/telemetry/log.js';
import { Metrics } from '../../../src/telemetry/metrics.js';
import { DiscoveryServer } from '../../../src/xds/server.js';
import { TYPE } from '../../../src/xds/resource-types.js';
import { sidecarGenerator } from '../../../src/xds/generators/sidecar/index.js';
import { RawAdsClient } from '../../support/ads-client.js';
import { BASE, vs, type Doc } from './lds-rds-fixture.js';
import { addDocs } from '../../support/snapshot.js';

// The sidecar listeners and routes over a real ADS stream, the way istio-proxy asks for them: LDS by
// wildcard, then RDS by the names the HCMs reference; a VirtualService change reaches the route
// configuration in a push. (Delta and the ADS protocol itself are tested elsewhere.)

describe('sidecar LDS/RDS over ADS', () => {
  const store = new ConfigStore();
  const ds = new DiscoveryServer({ log: silentLogger, metrics: new Metrics(), generators: { sidecar: sidecarGenerator } });
  const server = new grpc.Server();
  let addr = '';
  let version = 0;
  const clients: RawAdsClient[] = [];
  const apply = (d: Doc) => addDocs(store, [d], { label: 'ads test' });
  const push = () => {
    ds.push(new PushContext(store, `v${++version}`));
    return ds.settled();
  };
  const node = {
    id: 'sidecar~10.1.0.5~productpage-v1.default~default.svc.cluster.local',
    metadata: { NAMESPACE: 'default', ISTIO_VERSION: '1.24.0', LABELS: { app: 'productpage', version: 'v1' } },
  };

  before(async () => {
    for (const d of BASE) apply(d);
    ds.register(server);
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    addr = `127.0.0.1:${port}`;
    await push();
  });
  after(() => {
    for (const c of clients) c.close();
    server.forceShutdown();
  });

  it('wildcard LDS returns every listener; RDS by the HCM\'s name; a VirtualService push updates the routes', async () => {
    const c = new RawAdsClient(addr);
    clients.push(c);
    c.send({ node, type_url: TYPE.LDS });
    const lds = await c.next();
    const listeners = c.decode(lds);
    assert.deepEqual(listeners.map((l) => l.name).sort(), [
      '0.0.0.0_5000', '0.0.0.0_9080', '10.96.0.20_27017', '10.96.0.30_443', '10.96.0.40_7000', 'virtualInbound', 'virtualOutbound',
    ]);
    c.ack(lds);
    c.send({ type_url: TYPE.RDS, resource_names: ['9080'] });
    const rds = await c.next();
    const [rc] = c.decode(rds) as { name: string; virtual_hosts: { name: string; routes: { route?: { cluster?: string } }[] }[] }[];
    assert.equal(rc!.name, '9080');
    assert.ok(rc!.virtual_hosts.some((v) => v.name === 'reviews.default.svc.cluster.local:9080'));
    c.ack(rds);

    apply(vs('reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v3' } }] }] }));
    await push();
    const pushed = await c.next((r) => r.type_url === TYPE.RDS && r.version_info !== rds.version_info);
    const [rc2] = c.decode(pushed) as typeof rc[];
    const reviews = rc2!.virtual_hosts.find((v) => v.name === 'reviews.default.svc.cluster.local:9080')!;
    assert.equal(reviews.routes[0]!.route?.cluster, 'outbound|9080|v3|reviews.default.svc.cluster.local');
  });
});
