// How far meshd's validation agrees with Istio's, over whole corpora (every document counted).
//
//   npx tsx scripts/validation-agreement.ts            per-corpus/kind table, then every disagreement
//   npx tsx scripts/validation-agreement.ts --verbose  plus every rejection that misses Istio's text
//
// Corpora:
//   istio-crd      testdata/validation-crds/*.yaml (all 22 files, 112 documents, 11 kinds): Istio's own
//                  conformance docs; a doc with `_err` (or in a *-invalid file) must be rejected, the others
//                  accepted. For rejections we also count how many carry Istio's `_err` text word for word.
//   istio-samples  every YAML document under samples/ and testdata/xds/tests-testdata-config/: what Istio ships
//                  and applies. Istio kinds and the Kubernetes kinds meshd reads must be accepted; any other
//                  Kubernetes document (Deployment, ServiceAccount…) must be reported "not Istio config,
//                  skipped" — not an error.
//   meshd          test/fixtures/validate/*-{valid,invalid}.yaml: meshd's own cases, reported apart (never in
//                  Istio's figure); rejections must report `_err` as a `field.path: reason`.
// A case that cannot agree is listed in KNOWN_DIFFERENCES with its reason: still counted as a disagreement.
// The corpus test (test/config/validation-corpus.test.ts) imports this module.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseDocuments } from '../src/config/documents.js';
import { isIgnorableKind } from '../src/config/kinds.js';
import { validateDocument } from '../src/config/validate.js';
import { ISTIO_REFERENCE } from '../test/support/istio-reference.js';

export { ISTIO_REFERENCE };
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURES = join(REPO, 'test', 'fixtures', 'validate');

export type CorpusName = 'istio-crd' | 'istio-samples' | 'meshd';
export type Outcome = 'accept' | 'reject' | 'skip';

export interface CorpusCase {
  readonly corpus: CorpusName;
  readonly file: string;
  readonly doc: number;
  readonly kind: string;
  readonly name: string;
  readonly expect: Outcome;
  /** the `_err` text of a document that must be rejected */
  readonly err?: string;
  readonly value: unknown;
  /** a YAML syntax error in the corpus file itself */
  readonly yamlError?: string;
}

export interface CaseResult extends CorpusCase {
  readonly got: Outcome;
  /** `field.path: reason` of each problem */
  readonly problems: readonly string[];
  readonly agree: boolean;
  /** rejected cases with `_err`: does a problem carry the `_err` text, or name the field it names? */
  readonly messageMatch?: boolean;
  /** rejected cases with `_err`: does a problem carry Istio's text word for word (Kubernetes' `PATH in body …` or `PATH: …` rendering)? */
  readonly verbatim?: boolean;
}

/**
 * Cases that do not agree, each with the reason it cannot (they stay counted as disagreements). Keyed by
 * corpus file (relative to its corpus root) and document index.
 */
export const KNOWN_DIFFERENCES: ReadonlyArray<{ file: string; doc: number; reason: string }> = [
  {
    file: 'serviceentry-valid.yaml',
    doc: 0,
    reason:
      'YAML dialect: `addresses: [1.2.3.4, 001:db8::]` — a YAML 1.2 parser (the `yaml` package meshd uses, like ' +
      'PyYAML/js-yaml) reads the flow entry `001:db8::` as a one-key map {"001:db8:": null}; go-yaml (kubectl, ' +
      "Istio's test) reads it as the string \"001:db8::\". meshd reports spec.addresses[1] as not a string.",
  },
];

/**
 * Sample files that are not Kubernetes manifests of any kind istiod reads: counted and listed, with the
 * reason, but outside the agreement figure.
 */
export const OUT_OF_SCOPE: ReadonlyArray<{ file: string; reason: string }> = [
  {
    file: 'samples/security/spire/istio-spire-config.yaml',
    reason: 'IstioOperator (install.istio.io): istioctl/operator install configuration, not a resource istiod validates or reads; meshd installs from its own values (meshd install)',
  },
  ...['spire-base.yaml', 'spire-east.yaml', 'spire-west.yaml'].map((f) => ({
    file: `samples/security/spire-trust-domain-federation/${f}`,
    reason: 'Helm values for the SPIRE chart (no apiVersion/kind): not a Kubernetes object; `meshd validate` refuses it as "kind: required", as istioctl validate does',
  })),
];

export function outOfScope(r: CorpusCase): string | undefined {
  return OUT_OF_SCOPE.find((o) => r.file.endsWith(o.file))?.reason;
}

function listYaml(dir: string, recursive = false): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) {
      if (recursive) out.push(...listYaml(full, true));
    } else if (/\.ya?ml$/.test(name)) out.push(full);
  }
  return out;
}

function casesOf(corpus: CorpusName, file: string): CorpusCase[] {
  const out: CorpusCase[] = [];
  for (const d of parseDocuments(readFileSync(file, 'utf8'))) {
    if (d.error !== undefined) {
      out.push({ corpus, file, doc: d.index, kind: '<yaml>', name: '', expect: 'accept', value: undefined, yamlError: d.error });
      continue;
    }
    const v = d.value as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown }; _err?: unknown };
    const err = typeof v?._err === 'string' ? v._err : undefined;
    let expect: Outcome;
    if (err !== undefined || /-invalid\.ya?ml$/.test(file)) expect = 'reject';
    else if (corpus === 'istio-samples' && isIgnorableKind(v?.apiVersion, v?.kind)) expect = 'skip';
    else expect = 'accept';
    out.push({
      corpus,
      file,
      doc: d.index,
      kind: typeof v?.kind === 'string' ? v.kind : '<no kind>',
      name: typeof v?.metadata?.name === 'string' ? v.metadata.name : '',
      expect,
      ...(err !== undefined ? { err } : {}),
      value: v,
    });
  }
  return out;
}

export function corpusFiles(): Record<CorpusName, string[]> {
  return {
    'istio-crd': listYaml(join(ISTIO_REFERENCE, 'testdata', 'validation-crds')),
    'istio-samples': [
      ...listYaml(join(ISTIO_REFERENCE, 'samples'), true),
      ...listYaml(join(ISTIO_REFERENCE, 'testdata', 'xds', 'tests-testdata-config')),
    ],
    meshd: listYaml(FIXTURES).filter((f) => /-(valid|invalid)\.ya?ml$/.test(f)),
  };
}

export function loadCorpus(): CorpusCase[] {
  const files = corpusFiles();
  return (Object.keys(files) as CorpusName[]).flatMap((corpus) => files[corpus].flatMap((f) => casesOf(corpus, f)));
}

/** Istio's `_err` texts are Kubernetes/CEL messages; when one names a field (`spec.a.b: …`, `spec.a.b in body …`) compare paths. */
function istioErrPath(err: string): string | undefined {
  return /^(spec(?:\.[A-Za-z0-9_]+|\[\d+\])*)(?::| in body)/.exec(err)?.[1];
}

/** The renderings of one problem Istio's texts could be written in (meshd's, and Kubernetes' `in body` form). */
function renderings(p: { path: string; reason: string }): string[] {
  if (!p.path) return [p.reason];
  return [`${p.path}: ${p.reason}`, `${p.path} in body ${p.reason}`];
}

/** Kubernetes also names a field relative to its list item (`audiences[0] in body should be …`): its tail and reason. */
function istioRelativeErr(err: string): { field: string; reason: string } | undefined {
  const m = /^([A-Za-z0-9_]+(?:\[\d+\])*) in body (.+)$/.exec(err);
  return m ? { field: m[1]!, reason: m[2]! } : undefined;
}

export function evaluate(cases: readonly CorpusCase[]): CaseResult[] {
  return cases.map((c) => {
    if (c.yamlError !== undefined) {
      return { ...c, got: 'reject', problems: [`YAML syntax error: ${c.yamlError}`], agree: false };
    }
    if (c.expect === 'skip' || (c.corpus === 'istio-samples' && isIgnorableKind((c.value as { apiVersion?: unknown })?.apiVersion, c.kind))) {
      return { ...c, got: 'skip', problems: [], agree: c.expect === 'skip' };
    }
    const r = validateDocument(c.value);
    const problems = r.ok ? [] : r.problems.map((p) => (p.path ? `${p.path}: ${p.reason}` : p.reason));
    const got: Outcome = r.ok ? 'accept' : 'reject';
    let messageMatch: boolean | undefined;
    let verbatim: boolean | undefined;
    if (c.expect === 'reject' && !r.ok && c.err !== undefined) {
      const err = c.err.trim();
      const path = c.corpus === 'meshd' ? undefined : istioErrPath(err);
      const relative = c.corpus === 'meshd' ? undefined : istioRelativeErr(err);
      verbatim = r.problems.some((p) => renderings(p).some((text) => text.includes(err)));
      messageMatch = verbatim || problems.some((p) => p.includes(err)
        || (path !== undefined && (p === path || p.startsWith(`${path}:`) || p.startsWith(`${path}.`) || p.startsWith(`${path}[`)))
        || (relative !== undefined && p.split(': ')[0]!.endsWith(relative.field) && p.includes(relative.reason)));
    }
    return {
      ...c,
      got,
      problems,
      agree: got === c.expect,
      ...(messageMatch !== undefined ? { messageMatch } : {}),
      ...(verbatim !== undefined && c.corpus !== 'meshd' ? { verbatim } : {}),
    };
  });
}

export interface Tally {
  readonly agree: number;
  readonly total: number;
  readonly messages: number;
  readonly messageTotal: number;
  readonly verbatim: number;
}

export function tally(results: readonly CaseResult[]): Tally {
  const withMsg = results.filter((r) => r.messageMatch !== undefined);
  return {
    agree: results.filter((r) => r.agree).length,
    total: results.length,
    messages: withMsg.filter((r) => r.messageMatch).length,
    messageTotal: withMsg.length,
    verbatim: results.filter((r) => r.verbatim).length,
  };
}

export function knownDifference(r: CorpusCase): string | undefined {
  return KNOWN_DIFFERENCES.find((k) => basename(r.file) === k.file && k.doc === r.doc)?.reason;
}

export function describeCase(r: CaseResult): string {
  const root = r.corpus === 'meshd' ? FIXTURES : ISTIO_REFERENCE;
  const where = `${r.corpus} ${relative(root, r.file)}#${r.doc} ${r.kind} ${r.name}`;
  const want = r.expect === 'reject' ? `reject${r.err ? ` (${JSON.stringify(r.err)})` : ''}` : r.expect;
  const known = knownDifference(r) ?? outOfScope(r);
  return `${where}: want ${want}, got ${r.got}${r.problems.length ? `: ${r.problems.join('; ')}` : ''}${known ? ` [${outOfScope(r) ? 'out of scope' : 'known'}: ${known}]` : ''}`;
}

/** The per-corpus, per-kind table printed by the script. */
export function agreementTable(results: readonly CaseResult[]): string {
  const rows: string[][] = [['corpus', 'kind', 'agree', 'cases', 'rate', 'field/message', 'verbatim']];
  const groups = new Map<string, CaseResult[]>();
  for (const r of results) {
    const kind = outOfScope(r) ? '(out of scope)' : r.expect === 'skip' || r.got === 'skip' ? `(skipped: ${r.kind})` : r.kind;
    const key = `${r.corpus}\t${kind}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const pct = (a: number, b: number) => (b === 0 ? '-' : `${((100 * a) / b).toFixed(1)}%`);
  const msg = (t: Tally) => (t.messageTotal === 0 ? '-' : `${t.messages}/${t.messageTotal}`);
  const verb = (t: Tally) => (t.messageTotal === 0 ? '-' : `${t.verbatim}/${t.messageTotal}`);
  for (const [key, rs] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const [corpus = '', kind = ''] = key.split('\t');
    const t = tally(rs);
    rows.push([corpus, kind, String(t.agree), String(t.total), pct(t.agree, t.total), msg(t), corpus === 'meshd' ? '-' : verb(t)]);
  }
  for (const corpus of ['istio-crd', 'istio-samples', 'meshd'] as const) {
    const t = tally(results.filter((r) => r.corpus === corpus && outOfScope(r) === undefined));
    rows.push([`${corpus} total`, '', String(t.agree), String(t.total), pct(t.agree, t.total), msg(t), corpus === 'meshd' ? '-' : verb(t)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

/** Istio's figure: both Istio corpora (out-of-scope files excepted and listed), never meshd's own fixtures. */
export function istioFigure(results: readonly CaseResult[]): Tally {
  return tally(results.filter((r) => r.corpus !== 'meshd' && outOfScope(r) === undefined));
}

function main(): void {
  const results = evaluate(loadCorpus());
  const istio = istioFigure(results);
  const own = tally(results.filter((r) => r.corpus === 'meshd'));
  const lines = [
    agreementTable(results),
    '',
    `Istio corpora (validation-crds + samples): ${istio.agree}/${istio.total} agree; ` +
      `rejections with Istio's error text word for word: ${istio.verbatim}/${istio.messageTotal}, naming Istio's field or text: ${istio.messages}/${istio.messageTotal}`,
    `out of scope (listed below, not in the figure): ${results.filter((r) => outOfScope(r)).length} documents`,
    `meshd's own fixtures (apart): ${own.agree}/${own.total} agree; rejections naming the expected field.path: reason: ${own.messages}/${own.messageTotal}`,
  ];
  const verbose = process.argv.includes('--verbose');
  const shown = results.filter((r) => !r.agree || (verbose && (r.messageMatch === false || r.verbatim === false)));
  if (shown.length) lines.push('', ...shown.map(describeCase));
  process.stdout.write(`${lines.join('\n')}\n`);
  process.exitCode = results.every((r) => r.agree || knownDifference(r) !== undefined || outOfScope(r) !== undefined) ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
