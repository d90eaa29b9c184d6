import type { EncodedResource, ResourceSet } from './cache.js';
import { TypeWatch, subscriptionOf, type Subscription } from './connection.js';

// One type's incremental (Delta) subscription on one stream. Unlike state of the world, the server must
// remember what the client holds: each response carries only resources whose version (content hash)
// differs from what the client has, plus the names of resources it holds that are gone.

export const WILDCARD = '*';

export interface SubscriptionChange {
  readonly subscribe: readonly string[];
  readonly unsubscribe: readonly string[];
  /** only honoured on the first request of a type on a stream (a reconnecting client's cache) */
  readonly initialVersions: Readonly<Record<string, string>>;
}

export interface DeltaDiff {
  readonly upserts: readonly EncodedResource[];
  readonly removed: readonly string[];
}

export class DeltaWatch extends TypeWatch {
  private started = false;
  private wildcard = false;
  private readonly explicit = new Set<string>();
  /** what the client holds, as far as this stream told it (or it told us): name → version */
  private readonly held = new Map<string, string>();
  /** explicitly subscribed names already reported as not existing, so they are reported once */
  private readonly toldAbsent = new Set<string>();
  private sub: Subscription | undefined;

  constructor(private readonly wildcardable: boolean) {
    super();
  }

  get subscription(): Subscription {
    return (this.sub ??= subscriptionOf(this.wildcard, this.explicit));
  }

  get isWildcard(): boolean {
    return this.wildcard;
  }

  get explicitNames(): readonly string[] {
    return this.subscription.names;
  }

  /** resources the client holds as far as this stream knows */
  get heldCount(): number {
    return this.held.size;
  }

  /**
   * Applies one request's subscription fields. Returns whether the answer to the subscription may have
   * changed (always true for the first request of the type, which must be answered).
   */
  apply(change: SubscriptionChange): boolean {
    const first = !this.started;
    this.started = true;
    let changed = first;
    if (first) {
      // Legacy wildcard: a first LDS/CDS request naming nothing asks for everything.
      if (this.wildcardable && change.subscribe.length === 0) this.wildcard = true;
      for (const [name, version] of Object.entries(change.initialVersions)) this.held.set(name, version);
    }
    for (const name of change.subscribe) {
      if (name === WILDCARD) {
        changed ||= !this.wildcard;
        this.wildcard = true;
        continue;
      }
      this.explicit.add(name);
      changed = true;
      // A later subscribe to a name the client seems to hold must still be answered: the client may
      // have dropped it (xDS protocol, "Subscribing to Resources").
      if (!first) this.forget(name);
    }
    for (const name of change.unsubscribe) {
      if (name === WILDCARD) {
        if (!this.wildcard) continue;
        this.wildcard = false;
        changed = true;
        // The client lets go of what only the wildcard gave it; nothing to report.
        for (const held of [...this.held.keys()]) if (!this.explicit.has(held)) this.forget(held);
        continue;
      }
      // Phantom unsubscriptions are ignored. A name still covered by the wildcard is forgotten too, so
      // it is sent again: the client dropped it on unsubscribing.
      if (!this.explicit.delete(name)) continue;
      this.forget(name);
      changed = true;
    }
    if (first && !this.wildcard) {
      // Versions claimed for names not subscribed mean nothing to this subscription.
      for (const held of [...this.held.keys()]) if (!this.explicit.has(held)) this.held.delete(held);
    }
    if (changed) {
      this.sub = undefined;
      // the next push must diff resource by resource, not trust the last set's digest
      this.syncedTo = undefined;
    }
    return changed;
  }

  /**
   * What to send to bring the client to `set`: resources whose version differs from the one it holds,
   * and as removed the names it holds that are not in `set` (deleted, or no longer in the wildcard) and
   * explicitly subscribed names that do not exist (reported once).
   */
  diff(set: ResourceSet): DeltaDiff {
    if (this.syncedTo && this.syncedTo.digest === set.digest) return { upserts: [], removed: [] };
    const upserts = set.resources.filter((r) => this.held.get(r.name) !== r.hash);
    const removed: string[] = [];
    for (const name of this.held.keys()) if (!set.byName.has(name)) removed.push(name);
    for (const name of this.explicit) {
      if (!set.byName.has(name) && !this.held.has(name) && !this.toldAbsent.has(name)) removed.push(name);
    }
    return { upserts, removed: removed.sort() };
  }

  /** Records that `diff` was sent: the client now holds exactly `set`. */
  commit(set: ResourceSet, diff: DeltaDiff): void {
    for (const r of diff.upserts) {
      this.held.set(r.name, r.hash);
      this.toldAbsent.delete(r.name);
    }
    for (const name of diff.removed) {
      this.held.delete(name);
      if (this.explicit.has(name)) this.toldAbsent.add(name);
    }
    this.syncedTo = set;
  }

  private forget(name: string): void {
    this.held.delete(name);
    this.toldAbsent.delete(name);
  }
}
