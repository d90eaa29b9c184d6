import type { z } from 'zod';
import { resolveKind, type Kind } from './kinds.js';
import type { ObjectRef, Problem } from './origin.js';
import { SCHEMAS, type KindMap } from './schemas/index.js';
import { SEMANTIC_CHECKS } from './semantics/index.js';

export type Validated<K extends Kind = Kind> = { kind: K; object: KindMap[K] };

export type ValidationResult =
  | { ok: true; ref: ObjectRef; value: Validated }
  /** `kind`: the KINDS key when apiVersion + kind name a known kind (so a refusal is keyed like the object) */
  | { ok: false; ref: ObjectRef; kind?: Kind; problems: Problem[] };

/** Keys that test corpora and tools attach to documents but that are not part of any object. */
const IGNORED_TOP_LEVEL_KEYS = new Set(['_err']);

function refOf(doc: unknown): ObjectRef {
  if (!doc || typeof doc !== 'object') return {};
  const d = doc as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return { kind: str(d.kind), name: str(d.metadata?.name), namespace: str(d.metadata?.namespace) };
}

/** `spec.http[0].route` from zod's path array */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

export function zodProblems(error: z.ZodError): Problem[] {
  const problems: Problem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push({ path: formatPath([...issue.path, key]), reason: 'unknown field' });
      }
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Report the alternative that got furthest: its issues name the real field at fault.
      const best = [...issue.errors].sort((a, b) => depth(b) - depth(a))[0] ?? [];
      if (best.length === 0) problems.push({ path: formatPath(issue.path), reason: issue.message });
      for (const sub of best) {
        problems.push({ path: formatPath([...issue.path, ...sub.path]), reason: sub.message });
      }
    } else if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) {
      problems.push({ path: formatPath(issue.path), reason: `required field is missing (${issue.expected})` });
    } else {
      problems.push({ path: formatPath(issue.path), reason: issue.message });
    }
  }
  return problems;
}

function depth(issues: readonly z.core.$ZodIssue[]): number {
  return Math.max(0, ...issues.map((i) => i.path.length));
}

/** Schema then Istio's semantic rules. Never throws: every failure is a Problem naming a field. */
export function validateDocument(doc: unknown): ValidationResult {
  const ref = refOf(doc);
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    return { ok: false, ref, problems: [{ path: '', reason: 'document is not an object' }] };
  }
  const resolved = resolveKind((doc as { apiVersion?: unknown }).apiVersion, (doc as { kind?: unknown }).kind);
  if ('error' in resolved) {
    const [path, ...rest] = resolved.error.split(': ');
    return { ok: false, ref, ...(resolved.kind ? { kind: resolved.kind } : {}), problems: [{ path: path ?? '', reason: rest.join(': ') }] };
  }
  const kind = resolved.kind;
  const input = Object.fromEntries(Object.entries(doc).filter(([k]) => !IGNORED_TOP_LEVEL_KEYS.has(k)));
  const parsed = SCHEMAS[kind].safeParse(input);
  const check = SEMANTIC_CHECKS[kind] as ((o: KindMap[typeof kind]) => Problem[]) | undefined;
  if (!parsed.success) {
    // Report the semantic problems too (all of a document's problems in one run), except where the schema
    // already found the field at fault; the raw document may break a rule's assumptions, so a throw here
    // adds nothing rather than an internal error.
    const schemaProblems = zodProblems(parsed.error);
    const semantic = check ? safeCheck(() => check(input as KindMap[typeof kind]), true) : [];
    const covered = (p: Problem) => schemaProblems.some((s) => s.path === '' || underPath(p.path, s.path));
    return { ok: false, ref, kind, problems: [...schemaProblems, ...semantic.filter((p) => !covered(p))] };
  }
  const problems = check ? safeCheck(() => check(parsed.data), false) : [];
  if (problems.length > 0) return { ok: false, ref, kind, problems };
  return { ok: true, ref, value: { kind, object: parsed.data } as Validated };
}

/** `path` is `base` or a field inside it (`spec.a` is under `spec`, `spec.ab` is not). */
function underPath(path: string, base: string): boolean {
  return path === base || path.startsWith(`${base}.`) || path.startsWith(`${base}[`);
}

function safeCheck(run: () => Problem[], schemaRefused: boolean): Problem[] {
  try {
    return run();
  } catch (err) {
    if (schemaRefused) return [];
    return [{ path: '', reason: `internal validation error: ${(err as Error).message}` }];
  }
}
