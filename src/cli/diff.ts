import { readFile } from 'node:fs/promises';
import { writeFormatted } from './output.js';
import { analyze } from '../analyze/index.js';
import { friendlyName, messageText } from '../analyze/message.js';
import { analysisMeshConfig, loadObject, type LoadResult } from '../analyze/resource.js';
import { ALL_KINDS, type Kind } from '../config/kinds.js';
import { parseDocuments } from '../config/documents.js';
import type { Origin } from '../config/origin.js';
import { ConfigStore } from '../config/store.js';
import { PushContext } from '../model/push-context.js';
import { parseProxy, type Proxy } from '../model/proxy.js';
import { generatedConfigDump, sidecarOfPod } from '../simulate/proxy-dump.js';
import { admit } from '../sources/apply.js';
import { createRouterGenerator } from '../xds/generators/router/index.js';
import { getDebugJson, getFromEveryReplica, type MeshdEndpoint } from './meshd-client.js';
import type { MeshdTargetFlags } from './meshd-flags.js';
import { withMeshdTarget } from './meshd-target.js';
import { loadConfigDir } from './offline-mesh.js';
import { resourcesOfDump } from './proxy-config.js';
import type { CommandIO } from './proxy-status.js';

// `meshd diff -f CHANGE.yaml`: what applying a change would do to every proxy, before it is applied. The
// mesh as it is (a config directory, or what a running meshd holds: /debug/configz and its connected
// proxies from /debug/adsz) and the mesh with the change are each built into a snapshot, every proxy's
// resources generated from both as meshd would send them, and compared per type: added, removed, changed
// (with the changed fields). Proxies whose resources change the same way are shown once, as one class.
// Each document of the change is validated as meshd's sources admit it (a refused one changes nothing),
// and Istio's analyzers (meshd analyze) run over both meshes: the messages the change adds or clears.

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const TYPES = [['clusters', 'CDS'], ['listeners', 'LDS'], ['routes', 'RDS'], ['endpoints', 'EDS']] as const;
const MAX_FIELD_LINES = 20;

export interface FieldChange {
  readonly path: string;
  readonly from?: unknown;
  readonly to?: unknown;
}

export interface TypeDiff {
  readonly added: string[];
  readonly removed: string[];
  readonly changed: { name: string; fields: FieldChange[]; more?: number }[];
}

export interface ProxyClassDiff {
  readonly proxies: string[];
  readonly types: Partial<Record<'CDS' | 'LDS' | 'RDS' | 'EDS', TypeDiff>>;
}

export interface DiffReport {
  readonly against: string;
  readonly documents: { where: string; object: string; action: 'create' | 'update' | 'delete' | 'unchanged' | 'refused'; messages?: string[] }[];
  readonly proxies: number;
  readonly unchanged: string[];
  readonly classes: ProxyClassDiff[];
  readonly skipped: string[];
  /** Istio analyzer messages (meshd analyze) the change introduces, and those it clears */
  readonly analysis: { readonly added: string[]; readonly cleared: string[] };
}

/** Field-level differences between two JSON values, paths as `a.b[2].c`. */
export function fieldChanges(a: unknown, b: unknown, path = ''): FieldChange[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  const isObj = (v: unknown) => v !== null && typeof v === 'object';
  if (Array.isArray(a) && Array.isArray(b)) {
    const out: FieldChange[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const p = `${path}[${i}]`;
      if (i >= a.length) out.push({ path: p, to: b[i] });
      else if (i >= b.length) out.push({ path: p, from: a[i] });
      else out.push(...fieldChanges(a[i], b[i], p));
    }
    return out;
  }
  if (isObj(a) && isObj(b) && !Array.isArray(a) && !Array.isArray(b)) {
    const out: FieldChange[] = [];
    const keys = [...new Set([...Object.keys(a as Json), ...Object.keys(b as Json)])];
    for (const k of keys) {
      const p = path ? `${path}.${k}` : k;
      const x = (a as Json)[k];
      const y = (b as Json)[k];
      if (x === undefined) out.push({ path: p, to: y });
      else if (y === undefined) out.push({ path: p, from: x });
      else out.push(...fieldChanges(x, y, p));
    }
    return out;
  }
  return [{ path: path || '.', from: a, to: b }];
}

function typeDiff(before: Json[], after: Json[], nameOf: (r: Json) => string): TypeDiff | undefined {
  const a = new Map(before.map((r) => [nameOf(r), r]));
  const b = new Map(after.map((r) => [nameOf(r), r]));
  const added = [...b.keys()].filter((n) => !a.has(n)).sort();
  const removed = [...a.keys()].filter((n) => !b.has(n)).sort();
  const changed = [...b.keys()].filter((n) => a.has(n)).sort().flatMap((n) => {
    const fields = fieldChanges(a.get(n), b.get(n));
    if (fields.length === 0) return [];
    return [{ name: n, fields: fields.slice(0, MAX_FIELD_LINES), ...(fields.length > MAX_FIELD_LINES ? { more: fields.length - MAX_FIELD_LINES } : {}) }];
  });
  return added.length + removed.length + changed.length > 0 ? { added, removed, changed } : undefined;
}

const routerGenerator = createRouterGenerator();

function dumpOf(ctx: PushContext, proxy: Proxy) {
  return resourcesOfDump(generatedConfigDump(ctx, proxy, proxy.type === 'router' ? routerGenerator : undefined));
}

/** The differences meshd would send `proxy` between two snapshots, per type (empty when none). */
export function proxyDiff(before: PushContext, after: PushContext, proxy: Proxy): ProxyClassDiff['types'] {
  const a = dumpOf(before, proxy);
  const b = dumpOf(after, proxy);
  const out: ProxyClassDiff['types'] = {};
  for (const [key, short] of TYPES) {
    const d = typeDiff(a[key], b[key], (r) => String(key === 'endpoints' ? r.cluster_name : r.name));
    if (d) out[short] = d;
  }
  return out;
}

interface BaseObject { readonly kind: Kind; readonly object: Json; readonly origin: Origin }

/** `meshd analyze`'s messages over a store's objects, as istioctl prints them (without where they were read). */
function analysisMessages(store: ConfigStore): Set<string> {
  const load: LoadResult = { resources: [], messages: [], parseErrors: [] };
  for (const kind of ALL_KINDS) {
    for (const s of store.list(kind)) loadObject(s.object, {}, { defaultNamespace: 'default' }, load, `${kind} ${s.object.metadata.name}`);
  }
  const { messages } = analyze(load.resources, { mesh: analysisMeshConfig.parse({}), istioNamespace: 'istio-system', preMessages: load.messages });
  return new Set(messages.map((m) => `${m.type.level} [${m.type.code}] (${m.resource ? friendlyName(m.resource) : 'mesh'}) ${messageText(m)}`));
}

function storeOf(objects: readonly BaseObject[]): ConfigStore {
  const store = new ConfigStore();
  for (const o of objects) store.upsert(o.kind, o.object as never, o.origin, 'diff');
  return store;
}

/** A running meshd's config (configz: Istio config whole, Kubernetes objects as the model reads them) and its proxies. */
/** A running meshd's config (every replica holds the same; the first is asked) and every replica's proxies. */
async function liveBase(endpoints: readonly MeshdEndpoint[]): Promise<{ objects: BaseObject[]; proxies: Proxy[] }> {
  const [configz, adszs] = await Promise.all([getDebugJson<Json>(endpoints[0]!, 'configz'), getFromEveryReplica<Json>(endpoints, 'adsz')]);
  const objects: BaseObject[] = [];
  for (const o of (configz.objects ?? []) as Json[]) {
    const admitted = admit(o.object, { source: 'memory', label: String(o.origin) });
    if (admitted.ok) objects.push({ kind: admitted.kind, object: admitted.object as Json, origin: { source: 'memory', label: String(o.origin) } });
  }
  const proxies = new Map<string, Proxy>();
  for (const c of adszs.flatMap((a) => (a.connections ?? []) as Json[])) {
    try {
      proxies.set(String(c.proxy), parseProxy({
        id: String(c.proxy),
        metadata: { NAMESPACE: c.namespace, LABELS: c.labels ?? {}, INSTANCE_IPS: (c.ips ?? []).join(','), ...(c.generator === 'grpc' ? { GENERATOR: 'grpc' } : {}) },
      }));
    } catch {
      // a node id meshd accepted parses again; anything else is not a proxy to diff
    }
  }
  return { objects, proxies: [...proxies.values()] };
}

function dirBase(store: ConfigStore): BaseObject[] {
  return ALL_KINDS.flatMap((kind) => store.list(kind).map((s) => ({ kind, object: s.object as Json, origin: s.origin })));
}

export interface DiffOptions extends MeshdTargetFlags {
  readonly filename: string;
  readonly configDir?: string;
  readonly delete?: boolean;
}

export async function diffChange(opts: DiffOptions, changeText: string): Promise<DiffReport> {
  let against = `config dir ${opts.configDir}`;
  const base = opts.configDir
    ? { objects: dirBase(await loadConfigDir(opts.configDir)), proxies: undefined }
    : await withMeshdTarget(opts, (target) => {
      against = target.describe;
      return liveBase(target.endpoints);
    });
  const before = storeOf(base.objects);
  const after = storeOf(base.objects);
  const documents: DiffReport['documents'] = [];
  for (const d of parseDocuments(changeText)) {
    const where = `${opts.filename}#${d.index}`;
    const origin: Origin = { source: 'file', file: opts.filename, doc: d.index };
    if (d.error !== undefined) {
      documents.push({ where, object: '', action: 'refused', messages: [`${where}: ${d.error}`] });
      continue;
    }
    const admitted = admit(d.value, origin);
    if (!admitted.ok) {
      documents.push({ where, object: `${admitted.ref.kind ?? '?'} ${admitted.ref.namespace ? `${admitted.ref.namespace}/` : ''}${admitted.ref.name ?? '?'}`, action: 'refused', messages: admitted.messages });
      continue;
    }
    const name = `${admitted.kind} ${admitted.object.metadata.namespace ? `${admitted.object.metadata.namespace}/` : ''}${admitted.object.metadata.name}`;
    const existing = before.list(admitted.kind).find((s) => s.object.metadata.name === admitted.object.metadata.name && s.object.metadata.namespace === admitted.object.metadata.namespace);
    if (opts.delete) {
      if (existing) after.delete(admitted.kind, admitted.key);
      documents.push({ where, object: name, action: existing ? 'delete' : 'unchanged' });
      continue;
    }
    const same = existing && JSON.stringify(existing.object.spec ?? existing.object) === JSON.stringify((admitted.object as Json).spec ?? admitted.object);
    after.upsert(admitted.kind, admitted.object, origin, 'diff');
    documents.push({ where, object: name, action: existing ? (same ? 'unchanged' : 'update') : 'create' });
  }
  const ctxBefore = new PushContext(before, 'diff');
  const ctxAfter = new PushContext(after, 'diff');
  const proxies = base.proxies ?? [...new Set([...before.list('Pod'), ...after.list('Pod')].map((p) => `${p.object.metadata.name}.${p.object.metadata.namespace}`))]
    .map((id) => sidecarOfPod(after, id, ctxAfter.mesh.domainSuffix) ?? sidecarOfPod(before, id, ctxBefore.mesh.domainSuffix))
    .filter((p): p is Proxy => p !== undefined);
  const classes = new Map<string, ProxyClassDiff>();
  const unchanged: string[] = [];
  const skipped: string[] = [];
  for (const proxy of proxies.sort((a, b) => a.id.localeCompare(b.id))) {
    const name = `${proxy.podName}.${proxy.namespace}`;
    if (proxy.generator === 'grpc') {
      skipped.push(`${name} (proxyless gRPC: not diffed)`);
      continue;
    }
    const types = proxyDiff(ctxBefore, ctxAfter, proxy);
    if (Object.keys(types).length === 0) {
      unchanged.push(name);
      continue;
    }
    const key = JSON.stringify(types);
    const cls = classes.get(key);
    if (cls) cls.proxies.push(name);
    else classes.set(key, { proxies: [name], types });
  }
  const [analysedBefore, analysedAfter] = [analysisMessages(before), analysisMessages(after)];
  return {
    against,
    documents, proxies: proxies.length, unchanged, classes: [...classes.values()], skipped,
    analysis: {
      added: [...analysedAfter].filter((m) => !analysedBefore.has(m)).sort(),
      cleared: [...analysedBefore].filter((m) => !analysedAfter.has(m)).sort(),
    },
  };
}

const short = (v: unknown) => {
  const t = v === undefined ? '(none)' : JSON.stringify(v);
  return t.length > 100 ? `${t.slice(0, 99)}…` : t;
};

export function formatDiff(r: DiffReport): string {
  const out: string[] = [`against ${r.against}`];
  for (const d of r.documents) {
    out.push(`  ${d.where} ${d.object}: ${d.action}`);
    for (const m of d.messages ?? []) out.push(`    ${m}`);
  }
  for (const m of r.analysis.added) out.push(`  analysis: ${m}`);
  for (const m of r.analysis.cleared) out.push(`  analysis, cleared: ${m}`);
  const changed = r.classes.reduce((n, c) => n + c.proxies.length, 0);
  out.push(`${r.proxies} proxies: ${changed} change (${r.classes.length} class${r.classes.length === 1 ? '' : 'es'}), ${r.unchanged.length} unchanged${r.skipped.length ? `, ${r.skipped.length} not diffed` : ''}`);
  r.classes.forEach((c, i) => {
    out.push('', `class ${i + 1}: ${c.proxies.join(', ')}`);
    for (const [type, d] of Object.entries(c.types)) {
      for (const n of d.added) out.push(`  ${type} + ${n}`);
      for (const n of d.removed) out.push(`  ${type} - ${n}`);
      for (const ch of d.changed) {
        out.push(`  ${type} ~ ${ch.name}`);
        for (const f of ch.fields) out.push(`      ${f.path}: ${short(f.from)} → ${short(f.to)}`);
        if (ch.more) out.push(`      … ${ch.more} more fields`);
      }
    }
  });
  for (const s of r.skipped) out.push(`not diffed: ${s}`);
  return `${out.join('\n')}\n`;
}

export interface DiffFlags extends MeshdTargetFlags {
  readonly filename: string;
  readonly configDir?: string;
  readonly delete?: boolean;
  readonly output: 'text' | 'json' | 'yaml';
}

/** Exit 0: nothing changes; 1: some proxy's config changes; 2: a document is refused, or the base cannot be read. */
export async function runDiff(flags: DiffFlags, io: CommandIO & { stdin: NodeJS.ReadableStream }): Promise<number> {
  let report: DiffReport;
  try {
    const text = flags.filename === '-' ? await readAll(io.stdin) : await readFile(flags.filename, 'utf8');
    report = await diffChange(flags, text);
  } catch (err) {
    io.stderr.write(`meshd diff: ${(err as Error).message}\n`);
    return 2;
  }
  await writeFormatted(io.stdout, flags.output, report, () => formatDiff(report));
  if (report.documents.some((d) => d.action === 'refused')) return 2;
  return report.classes.length > 0 ? 1 : 0;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text;
}
