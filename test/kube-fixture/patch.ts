// Patch semantics of the API-server fixture: JSON merge patch (RFC 7386), JSON patch (RFC 6902), an
// approximation of strategic merge patch (what kubectl sends for built-in kinds) and of server-side apply.
// Approximations are named as such: a real API server knows every field's merge key and list type from
// Go struct tags / OpenAPI; this one infers them from the patch itself.

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));
const isObject = (v: unknown): v is JsonObject => !!v && typeof v === 'object' && !Array.isArray(v);

export class PatchError extends Error {}

/** RFC 7386: objects merge recursively, `null` deletes, everything else (lists included) replaces. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** RFC 6902 (kubectl patch --type=json). */
export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new PatchError('json patch must be an array of operations');
  let doc = clone(target);
  const parse = (p: unknown): string[] => {
    if (typeof p !== 'string' || (p !== '' && !p.startsWith('/'))) throw new PatchError(`bad JSON pointer ${JSON.stringify(p)}`);
    return p === '' ? [] : p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  };
  const parentOf = (path: string[]): { parent: Json; key: string } => {
    let cur: Json = doc;
    for (const seg of path.slice(0, -1)) {
      if (Array.isArray(cur)) cur = cur[Number(seg)] as Json;
      else if (isObject(cur)) cur = cur[seg] as Json;
      else cur = undefined as unknown as Json;
      if (cur === undefined) throw new PatchError(`path /${path.join('/')} does not exist`);
    }
    return { parent: cur, key: path[path.length - 1] ?? '' };
  };
  const get = (path: string[]): Json => {
    let cur: Json = doc;
    for (const seg of path) {
      cur = (Array.isArray(cur) ? cur[Number(seg)] : isObject(cur) ? cur[seg] : undefined) as Json;
      if (cur === undefined) throw new PatchError(`path /${path.join('/')} does not exist`);
    }
    return cur;
  };
  const remove = (path: string[]): Json => {
    const { parent, key } = parentOf(path);
    if (Array.isArray(parent)) return parent.splice(Number(key), 1)[0] as Json;
    if (isObject(parent) && key in parent) {
      const v = parent[key] as Json;
      delete parent[key];
      return v;
    }
    throw new PatchError(`path /${path.join('/')} does not exist`);
  };
  const add = (path: string[], value: Json) => {
    if (path.length === 0) {
      doc = clone(value);
      return;
    }
    const { parent, key } = parentOf(path);
    if (Array.isArray(parent)) parent.splice(key === '-' ? parent.length : Number(key), 0, clone(value));
    else if (isObject(parent)) parent[key] = clone(value);
    else throw new PatchError(`cannot add at /${path.join('/')}`);
  };
  for (const op of ops) {
    if (!isObject(op)) throw new PatchError('operation must be an object');
    const path = parse(op.path);
    switch (op.op) {
      case 'add':
        add(path, op.value as Json);
        break;
      case 'remove':
        remove(path);
        break;
      case 'replace':
        remove(path);
        add(path, op.value as Json);
        break;
      case 'move':
        add(path, remove(parse(op.from)));
        break;
      case 'copy':
        add(path, get(parse(op.from)));
        break;
      case 'test':
        if (JSON.stringify(get(path)) !== JSON.stringify(op.value)) throw new PatchError(`test failed at ${String(op.path)}`);
        break;
      default:
        throw new PatchError(`unknown op ${JSON.stringify(op.op)}`);
    }
  }
  return doc;
}

/** Merge keys used when a patch does not reveal one (no `$setElementOrder`): Kubernetes' usual keys. */
const FALLBACK_MERGE_KEYS = ['name', 'port', 'containerPort', 'mountPath', 'devicePath', 'ip', 'type', 'key'];

function inferMergeKey(items: Json[], order: Json[] | undefined): string | undefined {
  const first = order?.find(isObject);
  if (first) {
    const keys = Object.keys(first);
    if (keys.length === 1) return keys[0];
  }
  if (!items.some((i) => isObject(i) && i.$patch !== undefined)) return undefined;
  return FALLBACK_MERGE_KEYS.find((k) => items.every((i) => isObject(i) && k in i));
}

/**
 * Strategic merge patch, approximated: maps merge like a merge patch; a list merges by key when the patch
 * carries `$setElementOrder/<field>` (the key is the one field of its entries — kubectl always sends it for
 * merging lists) or `$patch` directives, and is replaced otherwise. Supports `$patch: replace|delete`,
 * `$retainKeys`, `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>` for primitive lists.
 */
export function strategicMergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _, ...rest } = patch;
    return clone(rest);
  }
  if (patch.$patch === 'delete') return null;
  let out: JsonObject = isObject(target) ? { ...target } : {};
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set(patch.$retainKeys.map(String));
    out = Object.fromEntries(Object.entries(out).filter(([k]) => keep.has(k)));
  }
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$retainKeys' || k === '$patch' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const del = new Set((Array.isArray(v) ? v : []).map((x) => JSON.stringify(x)));
      if (Array.isArray(out[field])) out[field] = (out[field] as Json[]).filter((x) => !del.has(JSON.stringify(x)));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const order = patch[`$setElementOrder/${k}`];
    if (Array.isArray(v)) {
      out[k] = mergeList(out[k], v, Array.isArray(order) ? order : undefined);
      continue;
    }
    const merged = strategicMergePatch(out[k], v);
    if (merged === null) delete out[k];
    else out[k] = merged;
  }
  // `$setElementOrder` for a list the patch did not otherwise touch only reorders it.
  for (const [k, order] of Object.entries(patch)) {
    if (!k.startsWith('$setElementOrder/') || !Array.isArray(order)) continue;
    const field = k.slice('$setElementOrder/'.length);
    if (field in patch || !Array.isArray(out[field])) continue;
    out[field] = mergeList(out[field], [], order);
  }
  return out;
}

function mergeList(current: Json | undefined, patch: Json[], order: Json[] | undefined): Json[] {
  const cur = Array.isArray(current) ? current : [];
  const key = inferMergeKey([...patch, ...cur], order);
  if (!key) {
    // primitive lists with an element order are merged as sets in that order; anything else replaces
    if (order && patch.every((x) => !isObject(x))) {
      const all = [...cur, ...patch];
      const seen = new Set<string>();
      const inOrder = order.filter((x) => all.some((y) => JSON.stringify(y) === JSON.stringify(x)));
      return [...inOrder, ...all].filter((x) => (seen.has(JSON.stringify(x)) ? false : (seen.add(JSON.stringify(x)), true)));
    }
    return clone(patch.filter((x) => !(isObject(x) && x.$patch === 'delete')));
  }
  const id = (x: Json) => (isObject(x) ? JSON.stringify(x[key]) : JSON.stringify(x));
  const result = new Map<string, Json>();
  for (const item of cur) result.set(id(item), item);
  for (const item of patch) {
    if (isObject(item) && item.$patch === 'delete') {
      result.delete(id(item));
      continue;
    }
    const merged = strategicMergePatch(result.get(id(item)), item);
    if (merged === null) result.delete(id(item));
    else result.set(id(item), merged);
  }
  if (!order) return [...result.values()];
  const ordered: Json[] = [];
  for (const o of order) {
    const k = id(o);
    const item = result.get(k);
    if (item !== undefined) {
      ordered.push(item);
      result.delete(k);
    }
  }
  return [...ordered, ...result.values()];
}

/** The leaf paths an applied configuration sets, lists counted as one atomic field. */
export function fieldPaths(obj: Json, prefix: string[] = []): string[][] {
  if (!isObject(obj)) return [prefix];
  const out: string[][] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (isObject(v) && Object.keys(v).length > 0) out.push(...fieldPaths(v, [...prefix, k]));
    else out.push([...prefix, k]);
  }
  return out;
}

/** `managedFields[].fieldsV1` for a set of paths. */
export function fieldsV1(paths: string[][]): JsonObject {
  const root: JsonObject = {};
  for (const p of paths) {
    let cur = root;
    for (const seg of p) {
      const k = `f:${seg}`;
      if (!isObject(cur[k])) cur[k] = {};
      cur = cur[k] as JsonObject;
    }
  }
  return root;
}

/**
 * Server-side apply, approximated: the applied configuration is merged into the live object (maps merge,
 * lists are atomic), and fields this manager applied last time but not now are removed — unless another
 * manager's last applied configuration also sets them. No conflict detection (a real cluster's SSA
 * conflicts are out of reach here).
 */
export function serverSideApply(live: JsonObject | undefined, applied: JsonObject, previous: JsonObject | undefined, others: JsonObject[]): JsonObject {
  let out = (live ? clone(live) : {}) as JsonObject;
  if (previous) {
    const now = new Set(fieldPaths(applied).map((p) => p.join('\u0000')));
    const keptByOthers = new Set(others.flatMap((o) => fieldPaths(o).map((p) => p.join('\u0000'))));
    for (const p of fieldPaths(previous)) {
      const k = p.join('\u0000');
      if (now.has(k) || keptByOthers.has(k) || p[0] === 'metadata' || p[0] === 'apiVersion' || p[0] === 'kind') continue;
      out = removePath(out, p);
    }
  }
  return deepMergeAtomicLists(out, applied) as JsonObject;
}

function removePath(obj: JsonObject, path: string[]): JsonObject {
  const [head, ...rest] = path;
  if (head === undefined || !(head in obj)) return obj;
  if (rest.length === 0) {
    const { [head]: _, ...others } = obj;
    return others;
  }
  const child = obj[head];
  if (!isObject(child)) return obj;
  const next = removePath(child, rest);
  if (Object.keys(next).length === 0) {
    const { [head]: _, ...others } = obj;
    return others;
  }
  return { ...obj, [head]: next };
}

function deepMergeAtomicLists(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) out[k] = v === null ? null : deepMergeAtomicLists(out[k], v);
  return out;
}
