import { parseAllDocuments } from 'yaml';

export interface ParsedDocument {
  /** 0-based index of the document inside its file (`FILE#doc`) */
  readonly index: number;
  readonly value?: unknown;
  readonly error?: string;
}

/**
 * Splits a YAML or JSON text (JSON is YAML) into documents. Empty documents (`---` separators with
 * nothing between them, comment-only documents) are skipped but still count for numbering, so `#N`
 * matches what a user counts in the file. A `kind: List` document is expanded into its items.
 */
export function parseDocuments(text: string): ParsedDocument[] {
  const out: ParsedDocument[] = [];
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true, merge: true });
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      out.push({ index, error: doc.errors.map((e) => e.message.split('\n')[0]).join('; ') });
      return;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    const asList = value as { kind?: unknown; items?: unknown };
    if (asList.kind === 'List' && Array.isArray(asList.items)) {
      for (const item of asList.items) out.push({ index, value: item });
      return;
    }
    out.push({ index, value });
  });
  return out;
}
