import { parseAllDocuments } from 'yaml';

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

function countNewlines(text: string, end: number): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < end; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

function parseChunk(chunk: Chunk, firstIndex: number, out: ParsedDocument[]): number {
  const docs = parseAllDocuments(chunk.text, { prettyErrors: true, uniqueKeys: true, merge: true });
  const list = Array.isArray(docs) ? docs : [docs];
  let index = firstIndex;
  for (const doc of list) {
    if (doc.errors.length > 0) {
      // the parser counts lines from the chunk's start: say the file's line
      const inFile = (message: string) => message.replace(/ at line (\d+), column /, (_, n: string) => ` at line ${Number(n) + chunk.line}, column `);
      out.push({ index, error: doc.errors.map((e) => inFile(e.message.split('\n')[0] ?? '')).join('; ') });
    } else {
      const value: unknown = doc.toJS({ maxAliasCount: 100 });
      const contentStart = doc.contents?.range?.[0] ?? 0;
      const line = chunk.line + 1 + countNewlines(chunk.text, contentStart);
      const asList = value as { kind?: unknown; items?: unknown } | null | undefined;
      if (asList?.kind === 'List' && Array.isArray(asList.items)) {
        for (const item of asList.items) out.push({ index, line, value: item });
      } else if (value !== null && value !== undefined) {
        out.push({ index, line, value });
      }
    }
    index++;
  }
  return index;
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
  const out: ParsedDocument[] = [];
  let index = 0;
  for (const chunk of documentChunks(text)) {
    const refused = tooLarge(chunk, index, limits.maxDocumentBytes);
    if (refused) {
      out.push(refused);
      index++;
    } else {
      index = parseChunk(chunk, index, out);
    }
  }
  return out;
}

/**
 * parseDocuments for a server: hands the event loop back between documents whenever it has held it for
 * `sliceMs`, so a file of many documents never stalls serving for longer than one document's parse (and a
 * document's size is bounded by `maxDocumentBytes`). `onDocument` runs on each document as it is parsed.
 */
export async function parseDocumentsYielding(
  text: string,
  limits: DocumentLimits,
  onDocument: (doc: ParsedDocument) => void,
  sliceMs = 20,
): Promise<void> {
  let index = 0;
  let since = performance.now();
  for (const chunk of documentChunks(text)) {
    if (performance.now() - since > sliceMs) {
      await new Promise((resolve) => setImmediate(resolve));
      since = performance.now();
    }
    const refused = tooLarge(chunk, index, limits.maxDocumentBytes);
    const out: ParsedDocument[] = [];
    if (refused) {
      out.push(refused);
      index++;
    } else {
      index = parseChunk(chunk, index, out);
    }
    for (const doc of out) onDocument(doc);
  }
}
