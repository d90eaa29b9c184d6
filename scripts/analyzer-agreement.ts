// How far `meshd analyze` agrees with Istio's analyzers, over Istio's whole analyzer corpus
// (testdata/analyzers/cases.json: 104 single-cluster cases + 1 multi-cluster case, every one counted).
//
//   npx tsx scripts/analyzer-agreement.ts            summary, every disagreement, every out-of-scope case
//   npx tsx scripts/analyzer-agreement.ts --json     the same as JSON
//
// Harness (as Istio's analyzers_test.go): only the case's analyzer runs; istio namespace istio-system;
// objects without a namespace keep none; the case's MeshConfig file replaces the default; the default
// ingress gateway Pod+Service is added unless ingressControllerMode is OFF. A case agrees when the
// produced (code, origin) pairs equal `expected` as a multiset (texts are not compared, as upstream).
// A case is in scope when meshd runs its analyzer and every input kind is one meshd reads; every other
// case is listed with the reason. The test test/analyze/analyzer-corpus.test.ts pins the figure.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseDocuments } from '../src/config/documents.js';
import { KINDS, type Kind, type KindInfo } from '../src/config/kinds.js';
import { analyze, analyzerCatalog } from '../src/analyze/index.js';
import { addDefaultResources } from '../src/analyze/defaults.js';
import { analysisMeshConfig, emptyLoad, loadText, ANALYZER_NAME_SCHEMA } from '../src/analyze/resource.js';
import { groupOf } from '../src/config/kinds.js';
import { istioReference } from '../test/support/istio-reference.js';

export const CORPUS = istioReference('testdata', 'analyzers');
const ISTIO_NAMESPACE = 'istio-system';

/**
 * Kinds meshd reads besides its KINDS table: Secrets (gateway credentialName, served over SDS).
 * Everything else in an input (Deployment, ConfigMap, webhooks, Node, CRDs, Gateway API routes, EnvoyFilter
 * and the other validated-only Istio kinds) puts a case out of scope.
 */
const EXTRA_READ_KINDS = new Set(['/Secret']);

interface ExpectedMessage {
  code: string;
  origin: string;
}
interface CorpusCase {
  name: string;
  analyzerName: string;
  analyzerType: string;
  inputFiles: string[];
  meshConfigFile?: string;
  expected: ExpectedMessage[];
}

export interface CaseResult {
  readonly name: string;
  readonly analyzer: string;
  readonly agree: boolean;
  readonly missing: string[];
  readonly extra: string[];
}
export interface OutOfScope {
  readonly name: string;
  readonly analyzer: string;
  readonly reason: string;
}
export interface Agreement {
  readonly total: number;
  readonly inScope: CaseResult[];
  readonly outOfScope: OutOfScope[];
  readonly agreed: number;
}

function readKinds(files: readonly string[]): string[] {
  const kinds = new Set<string>();
  for (const f of files) {
    for (const doc of parseDocuments(readFileSync(join(CORPUS, f), 'utf8'))) {
      const v = doc.value as { apiVersion?: string; kind?: string } | undefined;
      if (v?.kind) kinds.add(`${groupOf(v.apiVersion ?? '')}/${v.kind}`);
    }
  }
  return [...kinds];
}

function readsKind(groupKind: string): boolean {
  if (EXTRA_READ_KINDS.has(groupKind)) return true;
  const [group, kind] = [groupKind.slice(0, groupKind.lastIndexOf('/')), groupKind.slice(groupKind.lastIndexOf('/') + 1)];
  const info = KINDS[kind as Kind] as KindInfo | undefined;
  return !!info && info.group === group && info.served;
}

const originOf = (kind: string, namespace: string, name: string) => (namespace ? `${kind} ${namespace}/${name}` : `${kind} ${name}`);

function runCase(c: CorpusCase, analyzerName: string): CaseResult {
  const mesh = analysisMeshConfig.parse(c.meshConfigFile ? parseDocuments(readFileSync(join(CORPUS, c.meshConfigFile), 'utf8'))[0]?.value ?? {} : {});
  const load = emptyLoad();
  for (const f of c.inputFiles) loadText(readFileSync(join(CORPUS, f), 'utf8'), f, { defaultNamespace: '' }, load);
  addDefaultResources(mesh, ISTIO_NAMESPACE, load);
  const schemaKind = c.analyzerName.startsWith(`${ANALYZER_NAME_SCHEMA}.`) ? c.analyzerName.slice(ANALYZER_NAME_SCHEMA.length + 1) : undefined;
  const result = analyze(load.resources, {
    mesh,
    istioNamespace: ISTIO_NAMESPACE,
    analyzers: [analyzerName],
    preMessages: load.messages.filter((m) => !schemaKind || m.resource?.kind === schemaKind),
  });
  // upstream compares before dedupe; meshd's dedupe only merges identical renderings
  const got = result.messages.map((m) => `${m.type.code} ${originOf(m.resource?.kind ?? '', m.resource?.namespace ?? '', m.resource?.name ?? '')}`);
  const want = c.expected.map((e) => `${e.code} ${e.origin}`);
  const missing = [...want];
  const extra: string[] = [];
  for (const g of got) {
    const i = missing.indexOf(g);
    if (i >= 0) missing.splice(i, 1);
    else extra.push(g);
  }
  return { name: c.name, analyzer: c.analyzerName, agree: missing.length === 0 && extra.length === 0, missing, extra };
}

export function runAgreement(): Agreement {
  const corpus = JSON.parse(readFileSync(join(CORPUS, 'cases.json'), 'utf8')) as { cases: CorpusCase[]; multiclusterCases: { name: string }[] };
  const implemented = new Set(analyzerCatalog().map((a) => a.name));
  const inScope: CaseResult[] = [];
  const outOfScope: OutOfScope[] = [];
  for (const c of corpus.cases) {
    const analyzerName = c.analyzerName.startsWith(`${ANALYZER_NAME_SCHEMA}.`) ? ANALYZER_NAME_SCHEMA : c.analyzerName;
    const unread = readKinds(c.inputFiles).filter((k) => !readsKind(k));
    if (!implemented.has(analyzerName)) {
      outOfScope.push({ name: c.name, analyzer: c.analyzerName, reason: `analyzer not run by meshd${unread.length ? ` (inputs meshd does not read: ${unread.join(', ')})` : ''}` });
    } else if (unread.length > 0) {
      outOfScope.push({ name: c.name, analyzer: c.analyzerName, reason: `inputs meshd does not read: ${unread.join(', ')}` });
    } else {
      inScope.push(runCase(c, analyzerName));
    }
  }
  for (const c of corpus.multiclusterCases) {
    outOfScope.push({ name: c.name, analyzer: 'multicluster.*', reason: 'multi-cluster analysis (meshd reads one cluster)' });
  }
  return { total: corpus.cases.length + corpus.multiclusterCases.length, inScope, outOfScope, agreed: inScope.filter((r) => r.agree).length };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const a = runAgreement();
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(a, null, 2)}\n`);
  } else {
    process.stdout.write(`Istio analyzer corpus: ${a.total} cases; in scope ${a.inScope.length}, agree ${a.agreed}/${a.inScope.length}; out of scope ${a.outOfScope.length}\n\n`);
    for (const r of a.inScope.filter((x) => !x.agree)) {
      process.stdout.write(`DISAGREE ${r.analyzer} "${r.name}"\n${r.missing.map((m) => `  missing ${m}\n`).join('')}${r.extra.map((m) => `  extra   ${m}\n`).join('')}`);
    }
    process.stdout.write('\nOut of scope:\n');
    for (const o of a.outOfScope) process.stdout.write(`  ${o.analyzer} "${o.name}": ${o.reason}\n`);
  }
}
