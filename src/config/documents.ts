import { CORE_SCHEMA, defineMappingTag, loadAll, mergeTag } from 'js-yaml';
import { parseAllDocuments } from 'yaml';

// Two YAML parsers, one result. The `yaml` package is the reference: its values, its error messages (with
// the file's line and column) and its limits are what meshd has always reported. js-yaml parses the
// common document — plain mappings, sequences and core-schema scalars — several times faster, which is
// most of a cold start over thousands of files. Every document js-yaml does not take exactly as `yaml`
// would is handed to `yaml` instead: anything it reports as an error (so every error message is
// `yaml`'s), aliases (`yaml` bounds their expansion), explicit or unknown tags, complex or null keys, and
// chunks that are not exactly one document. test/config/documents.test.ts holds the two to the same
// values over Istio's sample and test corpora and the cases where they differ.

export interface ParsedDocument {
  /** 0-based index of the document inside its file (`FILE#doc`) */
  readonly index: number;
  /** 1-based line of the document's content in its file (where a reader finds it; `meshd analyze` cites it) */
  readonly line?: number;
  readonly value?: unknown;
  readonly error?: string;
}

export interface DocumentLimits {
  /** a document longer than this (UTF-8 bytes) is refused unparsed; default: no limit */
  readonly maxDocumentBytes?: number;
}

/** Kubernetes' own limit on one object (etcd's request limit): the default for documents meshd serves. */
export const KUBERNETES_OBJECT_LIMIT_BYTES = 1.5 * 1024 * 1024;

// A line starting with `---` followed by a blank or the end of the line starts a document, wherever it is:
// YAML forbids such a line inside any scalar, so splitting here agrees with a full parse.
const DOCUMENT_START = /^---(?=[ \t\r\n]|$)/gm;
/**
 * text with no content: blank lines, comments, directives (`%YAML 1.2`). Each repetition consumes one whole
 * line, so matching stays linear (a repeated group of all-optional parts backtracks exponentially on a long
 * comment header followed by content — bookinfo.yaml's licence header hung the parse).
 */
const NO_CONTENT = /^(?:[ \t]*(?:[#%][^\n]*)?(?:\r?\n|$))*$/;

interface Chunk {
  readonly text: string;
  /** line of the chunk's first character in the file, 0-based */
  readonly line: number;
}

/** The file cut into one piece per document, without parsing: each piece can be sized before it is parsed. */
function* documentChunks(text: string): Generator<Chunk> {
  let start = 0;
  let startLine = 0;
  let line = 0;
  let counted = 0;
  const lineOf = (offset: number): number => {
    for (let i = text.indexOf('\n', counted); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) line++;
    counted = offset;
    return line;
  };
  for (const m of text.matchAll(DOCUMENT_START)) {
    if (m.index === 0) continue;
    const piece = text.slice(start, m.index);
    // what precedes the first `---` is a document of its own only when it has content (else it is
    // comments or directives belonging to the first document)
    if (start === 0 && NO_CONTENT.test(piece)) continue;
    yield { text: piece, line: startLine };
    start = m.index;
    startLine = lineOf(m.index);
  }
  yield { text: text.slice(start), line: startLine };
}

/**
 * js-yaml's plain-object mapping, except for the keys `yaml` turns into other strings (a null key becomes
 * '' there, 'null' here) or warns about (collections as keys): those documents go to `yaml`.
 */
const plainMapTag = defineMappingTag<Record<string, unknown>>('tag:yaml.org,2002:map', {
  create: () => ({}),
  identify: (data: unknown) => typeof data === 'object' && data !== null && !Array.isArray(data),
  addPair: (map, key, value) => {
    if (key === null || typeof key === 'object') return 'key left to the yaml package';
    const name = String(key);
    // as both parsers do: a `__proto__` key is data, never the object's prototype
    if (name === '__proto__') Object.defineProperty(map, name, { value, enumerable: true, configurable: true, writable: true });
    else map[name] = value;
    return '';
  },
  has: (map, key) => key !== null && typeof key !== 'object' && Object.prototype.hasOwnProperty.call(map, String(key)),
  keys: (map) => Object.keys(map),
  get: (map, key) => (Object.prototype.hasOwnProperty.call(map, String(key)) ? map[String(key)] : null),
});

/** YAML 1.2 core schema with merge keys, as `yaml` is called below; no other tags. */
const FAST_SCHEMA = CORE_SCHEMA.withTags(mergeTag, plainMapTag);

/**
 * What precedes a document's content: blank and comment lines, directives, the `---` marker (and the rest
 * of its line when that is blank or a comment), the content's indentation. Each repetition consumes at
 * least one character and the whole always matches, so it never backtracks.
 */
const BEFORE_CONTENT = /(?:[ \t]*(?:#[^\n]*)?\r?\n|%[^\n]*\r?\n|---(?=[ \t\r\n]|$)[ \t]*(?:#[^\n]*)?)*[ \t]*/y;

/**
 * Offset of the chunk's content (where `yaml` says its content node starts), or undefined when there is
 * none or it starts with a tag or an anchor (where `yaml` places such a node is left to `yaml`).
 */
function contentOffset(text: string): number | undefined {
  BEFORE_CONTENT.lastIndex = 0;
  BEFORE_CONTENT.test(text);
  const offset = BEFORE_CONTENT.lastIndex;
  const first = text.charAt(offset);
  return first === '' || first === '!' || first === '&' ? undefined : offset;
}

/** The chunk's one mapping as js-yaml reads it, or undefined when `yaml` must read the chunk. */
function fastMapping(text: string): unknown {
  let docs: unknown[];
  try {
    docs = loadAll(text, { schema: FAST_SCHEMA, maxAliases: 0 });
  } catch {
    return undefined;
  }
  const value = docs.length === 1 ? docs[0] : undefined;
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
}

function countNewlines(text: string, end: number): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < end; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

function parseChunk(chunk: Chunk, firstIndex: number, out: ParsedDocument[], parser: Parser): number {
  const offset = parser === 'fast' ? contentOffset(chunk.text) : undefined;
  const fast = offset === undefined ? undefined : fastMapping(chunk.text);
  if (fast !== undefined) {
    pushValue(fast, firstIndex, chunk.line + 1 + countNewlines(chunk.text, offset!), out);
    return firstIndex + 1;
  }
  const docs = parseAllDocuments(chunk.text, { prettyErrors: true, uniqueKeys: true, merge: true });
  const list = Array.isArray(docs) ? docs : [docs];
  let index = firstIndex;
  for (const doc of list) {
    if (doc.errors.length > 0) {
      // the parser counts lines from the chunk's start: say the file's line
      const inFile = (message: string) => message.replace(/ at line (\d+), column /, (_, n: string) => ` at line ${Number(n) + chunk.line}, column `);
      out.push({ index, error: doc.errors.map((e) => inFile(e.message.split('\n')[0] ?? '')).join('; ') });
    } else {
      const contentStart = doc.contents?.range?.[0] ?? 0;
      pushValue(doc.toJS({ maxAliasCount: 100 }), index, chunk.line + 1 + countNewlines(chunk.text, contentStart), out);
    }
    index++;
  }
  return index;
}

/** A document's value, or a `kind: List` document's items; nothing for an empty document. */
function pushValue(value: unknown, index: number, line: number, out: ParsedDocument[]): void {
  const asList = value as { kind?: unknown; items?: unknown } | null | undefined;
  if (asList?.kind === 'List' && Array.isArray(asList.items)) {
    for (const item of asList.items) out.push({ index, line, value: item });
  } else if (value !== null && value !== undefined) {
    out.push({ index, line, value });
  }
}

function tooLarge(chunk: Chunk, index: number, maxBytes: number | undefined): ParsedDocument | undefined {
  // a UTF-8 byte is at most one UTF-16 unit, so only long texts need counting
  if (maxBytes === undefined || chunk.text.length <= maxBytes / 3) return undefined;
  const bytes = Buffer.byteLength(chunk.text);
  if (bytes <= maxBytes) return undefined;
  return { index, error: `document is ${bytes} bytes, over the limit of ${maxBytes} bytes per document (--max-document-size); not read` };
}

/**
 * Splits a YAML or JSON text (JSON is YAML) into documents. Empty documents (`---` separators with
 * nothing between them, comment-only documents) are skipped but still count for numbering, so `#N`
 * matches what a user counts in the file. A `kind: List` document is expanded into its items. A document
 * over `maxDocumentBytes` is refused without being parsed.
 */
export function parseDocuments(text: string, limits: DocumentLimits = {}): ParsedDocument[] {
  return parseAll(text, limits, 'fast');
}

/** parseDocuments with the `yaml` package alone: the reference the fast path is held to in tests. */
export function parseDocumentsReference(text: string, limits: DocumentLimits = {}): ParsedDocument[] {
  return parseAll(text, limits, 'yaml');
}

/** 'fast': js-yaml where it reads a document exactly as `yaml` does, `yaml` elsewhere; 'yaml': `yaml` only. */
type Parser = 'fast' | 'yaml';

function parseAll(text: string, limits: DocumentLimits, parser: Parser): ParsedDocument[] {
  const out: ParsedDocument[] = [];
  let index = 0;
  for (const chunk of documentChunks(text)) {
    const refused = tooLarge(chunk, index, limits.maxDocumentBytes);
    if (refused) {
      out.push(refused);
      index++;
    } else {
      index = parseChunk(chunk, index, out, parser);
    }
  }
  return out;
}

/**
 * Hands the event loop back whenever work has held it for `sliceMs`: await `pause()` between units of
 * work (documents, files). One slice shared by a whole batch (a directory scan) bounds the stall of the
 * batch, not only of each file.
 */
export class TimeSlice {
  private since = performance.now();
  constructor(private readonly sliceMs = 20) {}

  async pause(): Promise<void> {
    if (performance.now() - this.since <= this.sliceMs) return;
    await new Promise((resolve) => setImmediate(resolve));
    this.since = performance.now();
  }
}

/**
 * parseDocuments for a server: hands the event loop back between documents whenever it has held it for
 * the slice (`sliceMs`, or a TimeSlice shared with the caller's other work), so a file of many documents
 * never stalls serving for longer than one document's parse (and a document's size is bounded by
 * `maxDocumentBytes`). `onDocument` runs on each document as it is parsed.
 */
export async function parseDocumentsYielding(
  text: string,
  limits: DocumentLimits,
  onDocument: (doc: ParsedDocument) => void,
  slice: TimeSlice | number = 20,
): Promise<void> {
  const time = typeof slice === 'number' ? new TimeSlice(slice) : slice;
  let index = 0;
  for (const chunk of documentChunks(text)) {
    await time.pause();
    const refused = tooLarge(chunk, index, limits.maxDocumentBytes);
    const out: ParsedDocument[] = [];
    if (refused) {
      out.push(refused);
      index++;
    } else {
      index = parseChunk(chunk, index, out, 'fast');
    }
    for (const doc of out) onDocument(doc);
  }
}
