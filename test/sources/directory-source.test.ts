import { after, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { ConfigStore, objectKey } from '../../src/config/store.js';
import { DirectorySource } from '../../src/sources/dir/directory-source.js';
import { Metrics } from '../../src/telemetry/metrics.js';

const VS = (weightV1: number, name = 'hello') => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name} }
spec:
  hosts: [hello]
  http:
  - route:
    - destination: { host: hello, subset: v1 }
      weight: ${weightV1}
    - destination: { host: hello, subset: v2 }
      weight: ${100 - weightV1}
`;

const SERVICE = `
apiVersion: v1
kind: Service
metadata: { name: hello, namespace: demo }
spec:
  selector: { app: hello }
  ports: [{ name: grpc, port: 5000 }]
---
# a Deployment beside mesh config is not a mesh kind: ignored, not an error
apiVersion: apps/v1
kind: Deployment
metadata: { name: hello }
spec: {}
`;

function capture() {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _e, cb) { lines.push(...String(chunk).trim().split('\n')); cb(); } });
  return { log: pino({ level: 'debug' }, stream), lines };
}

const vsKey = (name = 'hello') => objectKey('VirtualService', 'default', name);
const weightOf = (store: ConfigStore, name = 'hello') =>
  (store.get('VirtualService', vsKey(name))?.object.spec.http?.[0]?.route?.[0]?.weight);

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('config-dir source', () => {
  let dir: string;
  let store: ConfigStore;
  let src: DirectorySource;
  let out: ReturnType<typeof capture>;
  const metrics = new Metrics();
  const sources: DirectorySource[] = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-dir-'));
    fs.mkdirSync(path.join(dir, 'nested'));
    fs.writeFileSync(path.join(dir, 'vs.yaml'), VS(90));
    fs.writeFileSync(path.join(dir, 'nested', 'svc.yml'), SERVICE);
    fs.writeFileSync(path.join(dir, 'ns.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } }));
    store = new ConfigStore();
    out = capture();
    src = new DirectorySource({ dir, store, log: out.log, metrics, settleMs: 10 });
    sources.push(src);
    await src.start();
  });
  after(async () => {
    await Promise.all(sources.map((s) => s.stop()));
  });

  it('loads YAML and JSON, multi-document and recursive, defaulting the namespace', () => {
    assert.equal(weightOf(store), 90);
    assert.ok(store.get('Service', objectKey('Service', 'demo', 'hello')));
    assert.ok(store.get('Namespace', objectKey('Namespace', undefined, 'demo')));
    assert.equal(store.count('Pod'), 0);
    assert.equal(store.listRejections().length, 0, 'the Deployment is ignored, not rejected');
  });

  it('applies edits, additions and deletions without restart', async () => {
    fs.writeFileSync(path.join(dir, 'vs.yaml'), VS(50));
    await until(() => weightOf(store) === 50, 'edit');
    fs.writeFileSync(path.join(dir, 'nested', 'more.yaml'), VS(10, 'second'));
    await until(() => weightOf(store, 'second') === 10, 'addition');
    fs.rmSync(path.join(dir, 'vs.yaml'));
    await until(() => !store.get('VirtualService', vsKey()), 'deletion');
    assert.equal(weightOf(store, 'second'), 10);
  });

  it('refuses a bad document with FILE#doc Kind ns/name: field: reason and keeps the last good version', async () => {
    const before = store.revision;
    fs.writeFileSync(path.join(dir, 'vs.yaml'), VS(50).replace('host: hello, subset: v1', 'subset: v1'));
    await until(() => store.listRejections().length === 1, 'rejection');
    assert.equal(weightOf(store), 90, 'last good version stays in force');
    assert.equal(store.revision, before, 'nothing accepted changed');
    const line = out.lines.map((l) => JSON.parse(l) as { msg: string }).find((l) => l.msg.includes('VirtualService default/hello'));
    assert.ok(line, 'rejection logged');
    assert.match(line.msg, /^\/\S+\/vs\.yaml#0 VirtualService default\/hello: spec\.http\[0\]\.route\[0\]\.destination\.host: .+/);
    assert.match(await metrics.registry.metrics(), /meshd_config_rejections_total\{kind="VirtualService",source="file"\} [1-9]/);
    fs.writeFileSync(path.join(dir, 'vs.yaml'), VS(70));
    await until(() => weightOf(store) === 70, 'recovery');
    assert.equal(store.listRejections().length, 0, 'a good version clears the rejection');
  });

  it('keeps everything a file held while the file does not parse as YAML', async () => {
    fs.writeFileSync(path.join(dir, 'nested', 'svc.yml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: hello\n  bad: [\n');
    await until(() => out.lines.some((l) => l.includes('YAML')), 'YAML error logged');
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(store.get('Service', objectKey('Service', 'demo', 'hello')), 'service kept');
  });

  it('follows a file saved by rename (as editors and sed -i do), again and again, then deleted', async () => {
    const target = path.join(dir, 'vs.yaml');
    const atomicSave = (text: string) => {
      const tmp = path.join(dir, `.vs.yaml.${Math.random().toString(36).slice(2)}`);
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, target);
    };
    for (const w of [80, 70, 60]) {
      atomicSave(VS(w));
      await until(() => weightOf(store) === w, `atomic save ${w}`);
    }
    fs.writeFileSync(target, VS(55));
    await until(() => weightOf(store) === 55, 'in-place write after atomic saves');
    fs.rmSync(target);
    await until(() => !store.get('VirtualService', vsKey()), 'deletion after atomic saves');
  });

  it('picks up a directory created after start and files inside it', async () => {
    fs.mkdirSync(path.join(dir, 'late', 'deeper'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'late', 'deeper', 'x.yaml'), VS(20, 'late'));
    await until(() => weightOf(store, 'late') === 20, 'file in new directory');
    fs.writeFileSync(path.join(dir, 'late', 'deeper', 'x.yaml'), VS(25, 'late'));
    await until(() => weightOf(store, 'late') === 25, 'edit in new directory');
    fs.rmSync(path.join(dir, 'late'), { recursive: true });
    await until(() => !store.get('VirtualService', vsKey('late')), 'directory removal');
  });

  it('does not delete an object that another file now defines', async () => {
    fs.writeFileSync(path.join(dir, 'copy.yaml'), VS(30));
    await until(() => weightOf(store) === 30, 'copy wins');
    fs.rmSync(path.join(dir, 'vs.yaml'));
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(weightOf(store), 30);
  });
});
