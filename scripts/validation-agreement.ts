// How far meshd's validation agrees with Istio's on the reference corpora.
//
//   npx tsx scripts/validation-agreement.ts            per-kind agreement table
//   npx tsx scripts/validation-agreement.ts --verbose  plus every case that does not agree
//
// Corpora (documents of the Istio kinds meshd serves):
//   istio-crd      testdata/validation-crds/{authz,destinationrule,peerauth,reqauth,telemetry}-{valid,invalid}.yaml: Istio's own
//                  conformance docs; a doc with `_err` must be rejected, one without must be accepted.
//   istio-samples  samples/bookinfo/networking/*.yaml and testdata/xds/tests-testdata-config/*.yaml: config
//                  Istio ships and loads; all must be accepted.
//   meshd          test/fixtures/validate/*-{valid,invalid}.yaml: meshd's own cases (VirtualService has no
//                  Istio conformance file); rejections must also report `_err` as a `field.path: reason`.
// The corpus test (test/config/validation-corpus.test.ts) imports this module and asserts 100%.

import { readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseDocuments } from '../src/config/documents.js';
import { validateDocument } from '../src/config/validate.js';

export const ISTIO_REFERENCE = process.env['MESHD_ISTIO_REFERENCE'] ?? '/work/shared/istio-reference';
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURES = join(REPO, 'test', 'fixtures', 'validate');

export const CORPUS_KINDS = ['VirtualService', 'DestinationRule', 'PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication', 'Telemetry'] as const;
export type CorpusKind = (typeof CORPUS_KINDS)[number];
export type CorpusName = 'istio-crd' | 'istio-samples' | 'meshd';

export interface CorpusCase {
  readonly corpus: CorpusName;
  readonly file: string;
  readonly doc: number;
  readonly kind: CorpusKind;
  readonly name: string;
  readonly expect: 'accept' | 'reject';
  /** the `_err` text of a document that must be rejected */
  readonly err?: string;
  readonly value: unknown;
}

export interface CaseResult extends CorpusCase {
  readonly got: 'accept' | 'reject';
  /** `field.path: reason` of each problem */
  readonly problems: readonly string[];
  readonly agree: boolean;
  /** rejected cases only: does a problem carry the `_err` text (or, for Istio's texts, the field path it names)? */
  readonly messageMatch?: boolean;
}

function listYaml(dir: string, filter: (name: string) => boolean = () => true): string[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f) && filter(f))
    .sort()
    .map((f) => join(dir, f));
}

function casesOf(corpus: CorpusName, file: string): CorpusCase[] {
  const out: CorpusCase[] = [];
  for (const d of parseDocuments(readFileSync(file, 'utf8'))) {
    if (d.error !== undefined) throw new Error(`${file}#${d.index}: YAML syntax error in a corpus file: ${d.error}`);
    const v = d.value as { kind?: unknown; metadata?: { name?: unknown }; _err?: unknown };
    if (!CORPUS_KINDS.includes(v?.kind as CorpusKind)) continue;
    const err = typeof v._err === 'string' ? v._err : undefined;
    out.push({
      corpus,
      file,
      doc: d.index,
      kind: v.kind as CorpusKind,
      name: typeof v.metadata?.name === 'string' ? v.metadata.name : '',
      expect: err !== undefined || /-invalid\.ya?ml$/.test(file) ? 'reject' : 'accept',
      ...(err !== undefined ? { err } : {}),
      value: v,
    });
  }
  return out;
}

export function loadCorpus(): CorpusCase[] {
  const crd = join(ISTIO_REFERENCE, 'testdata', 'validation-crds');
  const istioCrd = listYaml(crd, (f) => /^(authz|destinationrule|peerauth|reqauth|telemetry)-(valid|invalid)\.yaml$/.test(f));
  const samples = [
    ...listYaml(join(ISTIO_REFERENCE, 'samples', 'bookinfo', 'networking')),
    ...listYaml(join(ISTIO_REFERENCE, 'testdata', 'xds', 'tests-testdata-config')),
  ];
  const meshd = listYaml(FIXTURES, (f) => /-(valid|invalid)\.ya?ml$/.test(f));
  return [
    ...istioCrd.flatMap((f) => casesOf('istio-crd', f)),
    ...samples.flatMap((f) => casesOf('istio-samples', f)),
    ...meshd.flatMap((f) => casesOf('meshd', f)),
  ];
}

/** Istio's `_err` texts are Kubernetes/CEL messages; when one names a field (`spec.a.b: …`, `spec.a.b in body …`) compare paths. */
function istioErrPath(err: string): string | undefined {
  return /^(spec(?:\.[A-Za-z0-9_]+|\[\d+\])+)(?::| in body)/.exec(err)?.[1];
}

/** Kubernetes also names a field relative to its list item (`audiences[0] in body should be …`): its tail and reason. */
function istioRelativeErr(err: string): { field: string; reason: string } | undefined {
  const m = /^([A-Za-z0-9_]+(?:\[\d+\])*) in body (.+)$/.exec(err);
  return m ? { field: m[1]!, reason: m[2]! } : undefined;
}

export function evaluate(cases: readonly CorpusCase[]): CaseResult[] {
  return cases.map((c) => {
    const r = validateDocument(c.value);
    const problems = r.ok ? [] : r.problems.map((p) => (p.path ? `${p.path}: ${p.reason}` : p.reason));
    const got = r.ok ? 'accept' : 'reject';
    let messageMatch: boolean | undefined;
    if (c.expect === 'reject' && !r.ok && c.err !== undefined) {
      const err = c.err;
      const path = c.corpus === 'meshd' ? undefined : istioErrPath(err);
      const relative = c.corpus === 'meshd' ? undefined : istioRelativeErr(err);
      messageMatch = problems.some((p) => p.includes(err)
        || (path !== undefined && (p === path || p.startsWith(`${path}:`) || p.startsWith(`${path}.`)))
        || (relative !== undefined && p.split(': ')[0]!.endsWith(relative.field) && p.includes(relative.reason)));
    }
    return { ...c, got, problems, agree: got === c.expect, ...(messageMatch !== undefined ? { messageMatch } : {}) };
  });
}

export interface Tally {
  readonly agree: number;
  readonly total: number;
  readonly messages: number;
  readonly messageTotal: number;
}

export function tally(results: readonly CaseResult[]): Tally {
  const withMsg = results.filter((r) => r.messageMatch !== undefined);
  return {
    agree: results.filter((r) => r.agree).length,
    total: results.length,
    messages: withMsg.filter((r) => r.messageMatch).length,
    messageTotal: withMsg.length,
  };
}

export function describeCase(r: CaseResult): string {
  const where = `${r.corpus} ${basename(r.file)}#${r.doc} ${r.kind} ${r.name}`;
  const want = r.expect === 'reject' ? `reject${r.err ? ` (${JSON.stringify(r.err)})` : ''}` : 'accept';
  return `${where}: want ${want}, got ${r.got}${r.problems.length ? `: ${r.problems.join('; ')}` : ''}`;
}

/** The per-kind table printed by the script. */
export function agreementTable(results: readonly CaseResult[]): string {
  const rows: string[][] = [['corpus', 'kind', 'agree', 'cases', 'rate', 'messages']];
  const groups = new Map<string, CaseResult[]>();
  for (const r of results) {
    const key = `${r.corpus}\t${r.kind}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const pct = (a: number, b: number) => (b === 0 ? '-' : `${((100 * a) / b).toFixed(1)}%`);
  const msg = (t: Tally) => (t.messageTotal === 0 ? '-' : `${t.messages}/${t.messageTotal}`);
  for (const [key, rs] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const [corpus = '', kind = ''] = key.split('\t');
    const t = tally(rs);
    rows.push([corpus, kind, String(t.agree), String(t.total), pct(t.agree, t.total), msg(t)]);
  }
  const all = tally(results);
  rows.push(['all', '', String(all.agree), String(all.total), pct(all.agree, all.total), msg(all)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

function main(): void {
  const results = evaluate(loadCorpus());
  const t = tally(results);
  const lines = [
    agreementTable(results),
    '',
    `validation corpus: ${t.agree}/${t.total} agree` + (t.messageTotal ? `; rejections naming the expected field/message: ${t.messages}/${t.messageTotal}` : ''),
  ];
  const verbose = process.argv.includes('--verbose');
  const disagreements = results.filter((r) => !r.agree || (verbose && r.messageMatch === false));
  if (disagreements.length) lines.push('', ...disagreements.map(describeCase));
  process.stdout.write(`${lines.join('\n')}\n`);
  process.exitCode = t.agree === t.total ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
