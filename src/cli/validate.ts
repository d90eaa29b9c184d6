import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocuments } from '../config/documents.js';
import { describeOrigin, formatProblem, type Origin } from '../config/origin.js';
import { validateDocument } from '../config/validate.js';

// `meshd validate -f PATH...`: the same schema + semantic checks the daemon applies at its edge, run over
// files, directories (recursively: *.yaml, *.yml, *.json) and `-` (stdin). One line per problem on stdout:
//   FILE#doc Kind namespace/name: field.path: reason
// a one-line summary on stderr, exit 0 when every document is valid and 1 otherwise.

export interface ValidateIO {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  stdin: AsyncIterable<string | Buffer | Uint8Array>;
}

const STDIN = '-';
const STDIN_NAME = '<stdin>';
const CONFIG_FILE = /\.(ya?ml|json)$/i;

interface Input {
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
async function expand(paths: readonly string[], io: ValidateIO, errors: string[]): Promise<Input[]> {
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
      const result = validateDocument(doc.value);
      if (result.ok) continue;
      invalid++;
      for (const problem of result.problems) io.stdout.write(`${formatProblem(origin, result.ref, problem)}\n`);
    }
  }

  const unreadable = readErrors.length > 0 ? `, ${readErrors.length} unreadable` : '';
  io.stderr.write(`${documents} document${documents === 1 ? '' : 's'}, ${invalid} invalid${unreadable}\n`);
  return invalid === 0 && readErrors.length === 0 ? 0 : 1;
}
