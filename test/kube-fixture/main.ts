#!/usr/bin/env -S npx tsx
// Standalone API-server fixture for manual kubectl use:
//   npx tsx test/kube-fixture/main.ts --port 18443 [--token T] [--tls-cert F --tls-key F] [--history N]
//                                      [--kubeconfig-out FILE] [--quiet]
//   kubectl --kubeconfig FILE --cache-dir $(mktemp -d) apply -f vs.yaml
// Faults by hand: curl -XPOST http://127.0.0.1:18443/__fixture/{error410,expire,http410,http500,http429,
//   hang,drop,end,silence,restart?jump=N&downMs=M,clear}[?times=N&verbs=watch,list]
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FakeApiServer } from './server.js';
import { kubeconfigYaml } from './kubectl.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '18443' },
    token: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    history: { type: 'string', default: '10000' },
    'kubeconfig-out': { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});
const tls = values['tls-cert'] && values['tls-key'] ? { cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']) } : undefined;
const server = new FakeApiServer({
  port: Number(values.port),
  ...(values.token ? { tokens: [values.token] } : {}),
  ...(tls ? { tls } : {}),
  historySize: Number(values.history),
  controlEndpoints: true,
  ...(values.quiet ? {} : { log: (l: string) => console.log(l) }),
});
const url = await server.start();
const kc = kubeconfigYaml({ server: url, ...(values.token ? { token: values.token } : {}), ...(tls ? { caPem: readFileSync(values['tls-cert']!, 'utf8') } : {}) });
if (values['kubeconfig-out']) writeFileSync(values['kubeconfig-out'], kc);
console.log(`meshd API-server fixture on ${url}${values['kubeconfig-out'] ? ` (kubeconfig: ${values['kubeconfig-out']})` : ''}`);
const stop = () => void server.stop().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
