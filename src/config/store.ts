import { EventEmitter } from 'node:events';
import { isClusterScoped, type Kind } from './kinds.js';
import type { Origin } from './origin.js';
import type { KindMap, MeshObject } from './schemas/index.js';

export interface StoredObject<K extends Kind = Kind> {
  readonly kind: K;
  readonly object: KindMap[K];
  readonly origin: Origin;
  /** store-wide monotonically increasing revision at which this version was accepted */
  readonly revision: number;
  /** which source owns it (several sources may run side by side) */
  readonly sourceId: string;
}

export interface Rejection {
  readonly kind?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly origin: Origin;
  readonly messages: readonly string[];
  readonly at: Date;
}

export type StoreEvent =
  | { type: 'upsert'; kind: Kind; key: string; object: StoredObject }
  | { type: 'delete'; kind: Kind; key: string; object: StoredObject };

export function objectKey(kind: Kind, namespace: string | undefined, name: string): string {
  return `${kind}/${namespace ?? ''}/${name}`;
}

export function keyOf(obj: MeshObject, kind: Kind): string {
  return objectKey(kind, obj.metadata.namespace, obj.metadata.name);
}

const DEFAULT_NAMESPACE = 'default';

/**
 * The typed, validated objects of the mesh. Sources write here (already validated); the model reads
 * snapshots. Every change gets a revision and an event, so the debouncer knows a push is due.
 * Objects are frozen: a snapshot may hold them while sources keep writing.
 */
export class ConfigStore extends EventEmitter<{ change: [StoreEvent]; rejection: [Rejection] }> {
  private readonly byKind = new Map<Kind, Map<string, StoredObject>>();
  private readonly rejections = new Map<string, Rejection>();
  private rev = 0;

  get revision(): number {
    return this.rev;
  }

  /** Inserts or replaces an object. Namespaced kinds without a namespace land in `default`. */
  upsert<K extends Kind>(kind: K, object: KindMap[K], origin: Origin, sourceId: string): StoredObject<K> {
    const namespaced = !isClusterScoped(kind);
    const meta = object.metadata;
    if (namespaced && !meta.namespace) {
      object = { ...object, metadata: { ...meta, namespace: DEFAULT_NAMESPACE } } as KindMap[K];
    }
    const key = keyOf(object, kind);
    const stored: StoredObject<K> = Object.freeze({
      kind,
      object: deepFreeze(object),
      origin,
      revision: ++this.rev,
      sourceId,
    });
    this.mapOf(kind).set(key, stored as StoredObject);
    this.rejections.delete(key);
    this.emit('change', { type: 'upsert', kind, key, object: stored as StoredObject });
    return stored;
  }

  delete(kind: Kind, key: string): boolean {
    const map = this.mapOf(kind);
    const existing = map.get(key);
    if (!existing) return false;
    map.delete(key);
    this.rejections.delete(key);
    this.rev++;
    this.emit('change', { type: 'delete', kind, key, object: existing });
    return true;
  }

  /** Records why a document was refused; the last good version of that object (if any) stays. */
  reject(key: string, rejection: Rejection): void {
    this.rejections.set(key, rejection);
    this.emit('rejection', rejection);
  }

  clearRejection(key: string): void {
    this.rejections.delete(key);
  }

  get<K extends Kind>(kind: K, key: string): StoredObject<K> | undefined {
    return this.mapOf(kind).get(key) as StoredObject<K> | undefined;
  }

  list<K extends Kind>(kind: K): StoredObject<K>[] {
    return [...this.mapOf(kind).values()] as StoredObject<K>[];
  }

  keys(kind: Kind, sourceId?: string): string[] {
    const out: string[] = [];
    for (const [k, v] of this.mapOf(kind)) if (!sourceId || v.sourceId === sourceId) out.push(k);
    return out;
  }

  count(kind: Kind): number {
    return this.mapOf(kind).size;
  }

  listRejections(): Rejection[] {
    return [...this.rejections.values()];
  }

  private mapOf(kind: Kind): Map<string, StoredObject> {
    let m = this.byKind.get(kind);
    if (!m) this.byKind.set(kind, (m = new Map()));
    return m;
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}
