import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseDocuments, parseDocumentsReference } from '../../src/config/documents.js';
import { ISTIO_REFERENCE } from '../support/istio-reference.js';

// parseDocuments reads most documents with js-yaml and hands the rest to the `yaml` package, which alone
// read them before (documents.ts says which go where). Whatever parser read a document, the result must
// be the one `yaml` gives: the same values (key order included), the same document numbering, the same
// error text with the file's line. Held here over Istio's samples and its config test corpora (the
// validation, analyzer, xds, ingress, ambient-rbac and benchmark inputs: ~330 files), this repository's
// examples and test fixtures, and the cases where the two parsers are known to differ. (Istio's CRD
// bundles and dashboards are left out: megabytes of text no mesh config looks like, and minutes of
// parsing on a busy machine.)

const REPO = path.resolve(import.meta.dirname, '..', '..');

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...yamlFiles(full));
    else if (/\.(ya?ml|json)(\.golden)?$|\.injected$/.test(entry.name) && statSync(full).size < 64 * 1024) out.push(full);
  }
  return out;
}

/** Values compared with their key order, which JSON.stringify keeps and deepEqual does not check. */
function sameAsReference(text: string): void {
  const fast = parseDocuments(text);
  const reference = parseDocumentsReference(text);
  assert.deepStrictEqual(fast, reference);
  assert.equal(JSON.stringify(fast), JSON.stringify(reference));
}

const CORPORA = [
  ...['samples', 'testdata/validation-crds', 'testdata/analyzers', 'testdata/xds', 'testdata/ingress', 'testdata/ambient-rbac', 'testdata/pilot-benchmarks'].map((d) => path.join(ISTIO_REFERENCE, d)),
  ...['examples', 'test'].map((d) => path.join(REPO, d)),
];

test('Istio\'s samples and config corpora and this repository\'s fixtures parse as with the yaml package alone', () => {
  const files = CORPORA.flatMap(yamlFiles);
  assert.ok(files.length > 300, `only ${files.length} YAML files found under ${ISTIO_REFERENCE} and the repository`);
  const differing: string[] = [];
  let documents = 0;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    documents += parseDocumentsReference(text).length;
    try {
      sameAsReference(text);
    } catch {
      differing.push(path.relative(REPO, file));
    }
  }
  assert.deepEqual(differing, [], `${differing.length} of ${files.length} files (${documents} documents) differ`);
});

test('documents js-yaml would read differently are read as the yaml package reads them', () => {
  const cases = [
    // null and collection keys: `yaml` makes '' and '[ a, b ]' of them
    'null: a\n~: b\n',
    '? [a, b]\n: c\n',
    // aliases and merges: `yaml` bounds alias expansion (maxAliasCount)
    'a: &x {p: 1}\nb: *x\n',
    'base: &b {x: 1, y: 2}\nitem:\n  <<: *b\n  y: 3\n',
    'a:\n  <<: {x: 1}\n  x: 2\n',
    // tags: explicit core tags, YAML 1.1 tags and unknown ones
    'a: !!str 1\nb: !!int "2"\n',
    'a: !!binary aGk=\nb: !!timestamp 2020-01-01\n',
    'a: !custom x\n',
    // scalars whose core-schema reading is easy to get wrong
    'a: [0o17, 0x1F, 0b101, 1_000, 007, 1e3, .5, +.5, .inf, -.Inf, .nan, yes, no, on, True, FALSE, ~, Null, 2024-01-01]\n',
    'a: 12345678901234567890\nb: 1.0\nc: "1"\n',
    // block scalars, folding, escapes
    'a: |\n  x\n   y\n\nb: >-\n  x\n  y\n\n  z\nc: "\\x41\\u00e9\\t"\nd: \'it\'\'s\'\n',
    'a: multi\n  line\n  plain\n',
    '__proto__: {polluted: true}\nb: 1\n',
    // not one mapping per document: numbering of empty and scalar documents
    '# only a comment\n',
    '---\n---\na: 1\n...\n',
    'a: 1\n---\n- x\n- y\n---\nplain scalar\n---\n',
    '%YAML 1.2\n---\na: 1\n',
    // the line of a document's content (`meshd analyze` cites it): after comments, markers, indentation
    '# licence\n\n---\n# about a\n\n  a: 1\n---   # marker comment\nb: 2\n--- {c: 3}\n',
    '--- !!map\na: 1\n---\n&anchor\nb: 2\n',
    '\ufeffa: 1\n',
    'a: 1\r\n---\r\n\r\nb: 2\r\n',
    'apiVersion: v1\nkind: List\nitems:\n- {kind: A}\n- {kind: B}\n',
    // errors: the text (and the line in the file) is the yaml package's
    'a: 1\na: 2\n',
    'a: 1\n---\nb: "unterminated\n',
    'a:\n\t- b\n',
    'a: b: c\n',
    'a: @x\n',
    'a: b #c\n  d\n',
    `${'a: '.repeat(1)}${'['.repeat(150)}${']'.repeat(150)}\n`,
  ];
  for (const text of cases) {
    assert.doesNotThrow(() => sameAsReference(text), `case ${JSON.stringify(text)}`);
  }
  // the errors keep naming the file's line, not the document's
  const [, second] = parseDocuments('a: 1\n---\nb: 1\nb: 2\n');
  assert.match(second?.error ?? '', /Map keys must be unique at line 4, column 1/);
});
