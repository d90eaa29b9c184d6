import { recordDependencies, trackDependencies, type Dependency, type PushContext } from './push-context.js';

interface Entry<V> {
  readonly value: V;
  readonly deps: readonly Dependency[];
  readonly fingerprints: readonly string[];
  /** the snapshot in which `value` was last found valid */
  validIn: PushContext;
}

/**
 * Values built from a snapshot, reused in later snapshots while every dependency the build read has the
 * same fingerprint — the encode cache's rule (cache.ts), for parts of a resource: a route configuration's
 * virtual hosts, each built once and reused until what *it* read changes, so a VirtualService edit on one
 * host rebuilds one virtual host instead of every virtual host of the route configuration.
 *
 * The caller's key must hold every input of `build` besides the snapshot (e.g. the proxy, port and
 * hostname). A reused value's dependencies are recorded into the enclosing `trackDependencies`, so the
 * resource built around it depends on exactly what it would have read building the part afresh. Values
 * must be treated as immutable: they are shared across snapshots (and their encodings memoised by
 * identity, see xds/encode-parts.ts). Entries not asked for during one whole snapshot are dropped at the
 * next (two generations, as in the encode cache).
 */
export class DependencyMemo<V> {
  private current = new Map<string, Entry<V>>();
  private previous = new Map<string, Entry<V>>();
  private generationOf: PushContext | undefined;
  /** built / reused since creation (for tests and stats) */
  built = 0;
  reused = 0;

  get(ctx: PushContext, key: string, build: () => V): V {
    if (this.generationOf !== ctx) {
      this.previous = this.current;
      this.current = new Map();
      this.generationOf = ctx;
    }
    const entry = this.current.get(key) ?? this.previous.get(key);
    if (entry && (entry.validIn === ctx || entry.deps.every((d, i) => ctx.fingerprint(d) === entry.fingerprints[i]))) {
      entry.validIn = ctx;
      this.current.set(key, entry);
      this.reused++;
      recordDependencies(entry.deps);
      return entry.value;
    }
    const { value, deps } = trackDependencies(build);
    recordDependencies(deps);
    this.current.set(key, { value, deps, fingerprints: deps.map((d) => ctx.fingerprint(d)), validIn: ctx });
    this.built++;
    return value;
  }
}
