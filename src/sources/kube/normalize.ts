// Objects as the informers hand them over differ by path: a typed LIST (ObjectSerializer) gives Date
// timestamps where WATCH gives RFC 3339 strings; LIST items of built-in kinds carry no kind/apiVersion;
// managedFields are bulky bookkeeping. Everything downstream sees one shape: plain JSON, strings for
// times, kind/apiVersion filled in, no managedFields.

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; generation?: number; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
};

/** `2024-05-01T10:00:00Z` (seconds) unless the Date has sub-second precision (MicroTime fields). */
export function rfc3339(d: Date): string {
  const iso = d.toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}

function plain(value: unknown): unknown {
  if (value instanceof Date) return rfc3339(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = plain(v);
    return out;
  }
  return value;
}

export function normalizeObject(obj: unknown, apiVersion: string, kind: string): KubeObject {
  const o = plain(obj) as KubeObject;
  if (!o.apiVersion) o.apiVersion = apiVersion;
  if (!o.kind) o.kind = kind;
  if (o.metadata && 'managedFields' in o.metadata) {
    const { managedFields: _, ...meta } = o.metadata;
    o.metadata = meta as KubeObject['metadata'];
  }
  return o;
}

/** The form the store keeps: no resourceVersion (it changes on every status write) and, for mesh config,
 *  no status (written by controllers, meshd itself included; never part of the model). */
export function storeForm(o: KubeObject, dropStatus: boolean): KubeObject {
  const { resourceVersion: _rv, ...meta } = o.metadata;
  const out: KubeObject = { ...o, metadata: meta as KubeObject['metadata'] };
  if (dropStatus) delete out.status;
  return out;
}
