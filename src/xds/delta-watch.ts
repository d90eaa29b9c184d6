import { diffSets, type EncodedResource, type ResourceSet } from './cache.js';
import { NO_NAMES, TypeWatch, subscriptionOf, type Subscription } from './connection.js';

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
  /** `upserts` as shared immutable lists (a set's segments, a shared diff), when it is: see delta-wire.ts */
  readonly sharedLists?: readonly (readonly EncodedResource[])[];
}

/**
 * Per-stream state is references, not per-name maps: once a response is committed the client holds
 * exactly that (shared, immutable) ResourceSet, and the explicit names it was told do not exist are
 * exactly its (interned) subscription's names missing from that set. Only what departs from that —
 * versions a reconnecting client claims before its first response, names it dropped since — is kept
 * per stream, and only until the next response.
 */
export class DeltaWatch extends TypeWatch {
  private started = false;
  private sub: Subscription = NO_NAMES;
  /** the set last committed: what the client holds (but for `forgotten`) */
  private base: ResourceSet | undefined;
  /** the subscription when `base` was committed: its names missing from `base` were told absent */
  private baseSub: Subscription = NO_NAMES;
  /** before the first response: the versions a reconnecting client says it holds */
  private claimed: Map<string, string> | undefined;
  /** names the client dropped since `base`/`claimed` (re-subscribed or unsubscribed): neither held nor told */
  private forgotten: Set<string> | undefined;

  constructor(private readonly wildcardable: boolean) {
    super();
  }

  get subscription(): Subscription {
    return this.sub;
  }

  get isWildcard(): boolean {
    return this.sub.wildcard;
  }

  get explicitNames(): readonly string[] {
    return this.sub.names;
  }

  /** resources the client holds as far as this stream knows */
  get heldCount(): number {
    return this.heldNames().length;
  }

  /**
   * Applies one request's subscription fields. Returns whether the answer to the subscription may have
   * changed (always true for the first request of the type, which must be answered).
   */
  apply(change: SubscriptionChange): boolean {
    const first = !this.started;
    this.started = true;
    let changed = first;
    let wildcard = this.sub.wildcard;
    let explicit: Set<string> | undefined;
    const names = () => (explicit ??= new Set(this.sub.names));
    if (first) {
      // Legacy wildcard: a first LDS/CDS request naming nothing asks for everything.
      if (this.wildcardable && change.subscribe.length === 0) wildcard = true;
      const claimed = Object.entries(change.initialVersions);
      if (claimed.length > 0) this.claimed = new Map(claimed);
    }
    for (const name of change.subscribe) {
      if (name === WILDCARD) {
        changed ||= !wildcard;
        wildcard = true;
        continue;
      }
      names().add(name);
      changed = true;
      // A later subscribe to a name the client seems to hold must still be answered: the client may
      // have dropped it (xDS protocol, "Subscribing to Resources").
      if (!first) this.forget(name);
    }
    for (const name of change.unsubscribe) {
      if (name === WILDCARD) {
        if (!wildcard) continue;
        wildcard = false;
        changed = true;
        // The client lets go of what only the wildcard gave it; nothing to report.
        for (const held of this.heldNames()) if (!names().has(held)) this.forget(held);
        continue;
      }
      // Phantom unsubscriptions are ignored. A name still covered by the wildcard is forgotten too, so
      // it is sent again: the client dropped it on unsubscribing.
      if (!names().delete(name)) continue;
      this.forget(name);
      changed = true;
    }
    if (first && !wildcard && this.claimed) {
      // Versions claimed for names not subscribed mean nothing to this subscription.
      for (const held of [...this.claimed.keys()]) if (!names().has(held)) this.claimed.delete(held);
    }
    if (changed) {
      this.sub = subscriptionOf(wildcard, explicit ?? this.sub.names);
      // the next push must diff resource by resource, not trust the last set's digest
      this.syncedTo = undefined;
    }
    return changed;
  }

  /**
   * What to send to bring the client to `set`: resources whose version differs from the one it holds,
   * and as removed the names it holds that are not in `set` (deleted, or no longer in the wildcard) and
   * explicitly subscribed names that do not exist (reported once). A client in step with its last set
   * and subscription gets the diff between the two sets, computed once per pair for every stream.
   */
  diff(set: ResourceSet): DeltaDiff {
    if (this.syncedTo && this.syncedTo.digest === set.digest) return NOTHING;
    if (this.base && !this.claimed && !this.forgotten && this.baseSub === this.sub) {
      const d = diffSets(this.base, set);
      return { upserts: d.changed, removed: d.removed, sharedLists: [d.changed] };
    }
    // a client holding nothing (a first response) is sent the whole set: its segments are shared lists
    const holdsNothing = !this.base && !this.claimed;
    const upserts = holdsNothing ? set.resources : set.resources.filter((r) => this.heldVersion(r.name) !== r.hash);
    const removed: string[] = [];
    for (const name of this.heldNames()) if (!set.byName.has(name)) removed.push(name);
    for (const name of this.sub.names) {
      if (!set.byName.has(name) && this.heldVersion(name) === undefined && !this.toldAbsent(name)) removed.push(name);
    }
    return { upserts, removed: removed.sort(), ...(holdsNothing ? { sharedLists: set.segments.map((s) => s.resources) } : {}) };
  }

  /** Records that `diff` was sent: the client now holds exactly `set`. */
  commit(set: ResourceSet, _diff: DeltaDiff): void {
    this.base = set;
    this.baseSub = this.sub;
    this.claimed = undefined;
    this.forgotten = undefined;
    this.syncedTo = set;
  }

  private heldVersion(name: string): string | undefined {
    if (this.forgotten?.has(name)) return undefined;
    return this.claimed ? this.claimed.get(name) : this.base?.get(name)?.hash;
  }

  private heldNames(): string[] {
    const all = this.claimed ? [...this.claimed.keys()] : (this.base?.resources ?? []).map((r) => r.name);
    const forgotten = this.forgotten;
    return forgotten ? all.filter((n) => !forgotten.has(n)) : all;
  }

  private toldAbsent(name: string): boolean {
    if (!this.base || this.claimed || this.forgotten?.has(name)) return false;
    return this.baseSub.has(name) && !this.base.byName.has(name);
  }

  private forget(name: string): void {
    (this.forgotten ??= new Set()).add(name);
  }
}

const NOTHING: DeltaDiff = { upserts: [], removed: [] };
