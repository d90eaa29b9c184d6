import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocuments } from '../config/documents.js';
import { describeOrigin, formatProblem, type Origin } from '../config/origin.js';
import { KINDS, displayKind, isIgnorableKind, type Kind, type KindInfo } from '../config/kinds.js';
import { validateDocument } from '../config/validate.js';

// `meshd validate -f PATH...`: the same schema + semantic checks the daemon applies at its edge, run over
// files, directories (recursively: *.yaml, *.yml, *.json) and `-` (stdin), for every Istio kind (served by
// meshd or not). One line per problem on stdout:
//   FILE#doc Kind namespace/name: field.path: reason
// plus a line for each document that is not Istio config (a Deployment beside the mesh config: skipped,
// not an error) and for each valid document of a kind meshd validates but does not serve. A summary on
// stderr; exit 0 when every Istio/mesh document is valid and 1 otherwise.

export interface ValidateIO {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  stdin: AsyncIterable<string | Buffer | Uint8Array>;
}

const STDIN = '-';
const STDIN_NAME = '<stdin>';
const CONFIG_FILE = /\.(ya?ml|json)$/i;

export interface Input {
  /** name used in messages */
  readonly name: string;
  readonly read: () => Promise<string>;
}

async function readAll(stream: AsyncIterable<string | Buffer | Uint8Array>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

/** Files under `dir`, recursively, sorted so output is stable. */
async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: string[] = [];
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if ((e.isFile() || e.isSymbolicLink()) && CONFIG_FILE.test(e.name)) out.push(p);
  }
  return out;
}

/** Expands the command-line paths into inputs; unreadable paths become error lines. */
export async function expand(paths: readonly string[], io: Pick<ValidateIO, 'stdin'>, errors: string[]): Promise<Input[]> {
  const inputs: Input[] = [];
  let stdinUsed = false;
  for (const p of paths) {
    if (p === STDIN) {
      if (stdinUsed) continue;
      stdinUsed = true;
      inputs.push({ name: STDIN_NAME, read: () => readAll(io.stdin) });
      continue;
    }
    try {
      const st = await stat(p);
      if (st.isDirectory()) {
        for (const f of await walk(p)) inputs.push({ name: f, read: () => readFile(f, 'utf8') });
      } else {
        inputs.push({ name: p, read: () => readFile(p, 'utf8') });
      }
    } catch (err) {
      errors.push(`${p}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return inputs;
}

export const NOT_SERVED = 'valid; validated but not served by meshd (it has no effect on the xDS meshd sends)';

/** `apps/v1 Deployment default/reviews-v1` for a document meshd does not read. */
function describeForeign(raw: { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null): string {
  const str = (v: unknown, fallback: string) => (typeof v === 'string' && v !== '' ? v : fallback);
  const name = str(raw?.metadata?.name, '<unnamed>');
  const ns = str(raw?.metadata?.namespace, 'default');
  return `${str(raw?.apiVersion, '<no apiVersion>')} ${str(raw?.kind, '<no kind>')} ${ns}/${name}`;
}

export async function runValidate(paths: string[], io: ValidateIO): Promise<number> {
  if (paths.length === 0) {
    io.stderr.write('meshd validate: no input; pass -f FILE, -f DIRECTORY or -f - (stdin)\n');
    return 1;
  }
  const readErrors: string[] = [];
  const inputs = await expand(paths, io, readErrors);
  for (const line of readErrors) io.stdout.write(`${line}\n`);

  let documents = 0;
  let invalid = 0;
  let skipped = 0;
  const notServed = new Map<Kind, number>();
  for (const input of inputs) {
    let text: string;
    try {
      text = await input.read();
    } catch (err) {
      io.stdout.write(`${input.name}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
      readErrors.push(input.name);
      continue;
    }
    for (const doc of parseDocuments(text)) {
      documents++;
      const origin: Origin = { source: 'file', file: input.name, doc: doc.index };
      if (doc.error !== undefined) {
        invalid++;
        io.stdout.write(`${describeOrigin(origin)}: YAML syntax error: ${doc.error}\n`);
        continue;
      }
      const raw = doc.value as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
      if (isIgnorableKind(raw?.apiVersion, raw?.kind)) {
        skipped++;
        io.stdout.write(`${describeOrigin(origin)} ${describeForeign(raw)}: not Istio config, skipped\n`);
        continue;
      }
      const result = validateDocument(doc.value);
      if (result.ok) {
        const kind = result.value.kind;
        if (!(KINDS[kind] as KindInfo).served) {
          notServed.set(kind, (notServed.get(kind) ?? 0) + 1);
          io.stdout.write(`${formatProblem(origin, result.ref, { path: '', reason: NOT_SERVED })}\n`);
        }
        continue;
      }
      invalid++;
      for (const problem of result.problems) io.stdout.write(`${formatProblem(origin, result.ref, problem)}\n`);
    }
  }

  const unreadable = readErrors.length > 0 ? `, ${readErrors.length} unreadable` : '';
  const skippedNote = skipped > 0 ? `, ${skipped} skipped (not Istio config)` : '';
  const notServedNote =
    notServed.size > 0
      ? `; validated but not served by meshd: ${[...notServed].map(([k, n]) => `${displayKind(k)} (${n})`).join(', ')}`
      : '';
  io.stderr.write(`${documents} document${documents === 1 ? '' : 's'}, ${invalid} invalid${skippedNote}${unreadable}${notServedNote}\n`);
  return invalid === 0 && readErrors.length === 0 ? 0 : 1;
}
