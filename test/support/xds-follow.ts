import { lookupType } from '../../src/envoy/protos.js';
import { SHORT_TYPE, TYPE, typeName, type TypeUrl } from '../../src/xds/resource-types.js';
import type { DiscoveryServer } from '../../src/xds/server.js';
import { RawAdsClient, RawDeltaClient, type DeltaResponse, type RequestInit, type Response } from './ads-client.js';

// Clients that behave like Envoy/gRPC on top of the raw ADS clients: they subscribe to LDS/CDS (by
// wildcard where asked to), then follow references — listeners → route configurations → clusters →
// load assignments — subscribing to and dropping RDS/CDS/EDS names as the resources they hold change.
// One follows with state of the world, one with Delta, so a test can drive both through the same
// config changes and compare what each ends up holding, resource by resource.

type Obj = Record<string, unknown>;
export type Holdings = Map<TypeUrl, Map<string, string>>; // type → name → hex of the resource bytes

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

function decode(type: string, value: Uint8Array): Obj {
  const t = lookupType(typeName(type));
  return t.toObject(t.decode(value), { longs: String, enums: String }) as Obj;
}

/** Every HttpConnectionManager packed in an Any anywhere inside `o`, decoded. */
function connectionManagers(o: unknown, out: Obj[] = []): Obj[] {
  if (Array.isArray(o)) for (const x of o) connectionManagers(x, out);
  else if (o && typeof o === 'object' && !(o instanceof Uint8Array)) {
    const rec = o as Obj;
    if (rec.type_url === HCM && rec.value instanceof Uint8Array) out.push(decode(HCM, rec.value));
    else for (const v of Object.values(rec)) connectionManagers(v, out);
  }
  return out;
}

export function resourceName(type: TypeUrl, body: Obj): string {
  return String(type === TYPE.EDS ? body.cluster_name : body.name);
}

/** Names of `dependent`-type resources referenced by the held resources of the type it hangs off. */
function references(held: Holdings, dependent: TypeUrl): Set<string> {
  const out = new Set<string>();
  const bodies = (type: TypeUrl) => [...(held.get(type)?.values() ?? [])].map((hex) => decode(type, Buffer.from(hex, 'hex')));
  if (dependent === TYPE.RDS) {
    for (const l of bodies(TYPE.LDS)) {
      for (const hcm of connectionManagers(l)) {
        const rds = hcm.rds as { route_config_name?: string } | undefined;
        if (rds?.route_config_name) out.add(rds.route_config_name);
      }
    }
  } else if (dependent === TYPE.CDS) {
    for (const rc of bodies(TYPE.RDS)) {
      for (const vh of (rc.virtual_hosts as Obj[] | undefined) ?? []) {
        for (const r of (vh.routes as Obj[] | undefined) ?? []) {
          const action = r.route as { cluster?: string; weighted_clusters?: { clusters?: { name: string }[] } } | undefined;
          if (action?.cluster) out.add(action.cluster);
          for (const wc of action?.weighted_clusters?.clusters ?? []) out.add(wc.name);
        }
      }
    }
  } else if (dependent === TYPE.EDS) {
    for (const c of bodies(TYPE.CDS)) {
      if (c.type !== 'EDS') continue;
      const eds = c.eds_cluster_config as { service_name?: string } | undefined;
      out.add(eds?.service_name || String(c.name));
    }
  }
  return out;
}

/** Which type's resources name the ones of each dependent type. */
const DEPENDENTS: readonly [TypeUrl, TypeUrl][] = [[TYPE.LDS, TYPE.RDS], [TYPE.RDS, TYPE.CDS], [TYPE.CDS, TYPE.EDS]];

export interface FollowOptions {
  readonly node: NonNullable<RequestInit['node']>;
  /** types subscribed by wildcard (the rest are followed by reference; LDS must be one of these) */
  readonly wildcard: readonly TypeUrl[];
}

export abstract class Follower {
  abstract readonly mode: 'sotw' | 'delta';
  /** what the client holds now */
  readonly held: Holdings = new Map(Object.values(TYPE).map((t) => [t, new Map()]));
  /** names subscribed per followed type */
  readonly subscribed = new Map<TypeUrl, Set<string>>();

  constructor(readonly options: FollowOptions) {}

  /**
   * Whether the client holds the answer to its current subscriptions: as `ds` sees its (newest) stream,
   * every type it uses has been answered and ACKed, and the server has every subscription change.
   */
  settledOn(ds: DiscoveryServer): boolean {
    const conn = ds.connections.filter((c) => c.mode === this.mode && c.proxy.id === this.options.node.id).at(-1);
    if (!conn) return false;
    for (const type of new Set<TypeUrl>([...this.options.wildcard, ...this.subscribed.keys()])) {
      const w = conn.watches.get(type);
      if (!w || w.sentNonce === '' || w.awaitingAck) return false;
      const want = this.subscribed.get(type);
      if (want && JSON.stringify(w.subscription.names) !== JSON.stringify([...want].sort())) return false;
    }
    return true;
  }

  protected followed(type: TypeUrl): boolean {
    return !this.options.wildcard.includes(type);
  }

  protected drop(type: TypeUrl, name: string): void {
    this.held.get(type)!.delete(name);
  }

  /**
   * Recomputes the names each followed type needs after `changed` changed, cascading through what the
   * client drops; returns the types whose names changed.
   */
  protected refollow(changed: TypeUrl): { type: TypeUrl; add: string[]; drop: string[] }[] {
    const out: { type: TypeUrl; add: string[]; drop: string[] }[] = [];
    for (const [from, dependent] of DEPENDENTS) {
      if (from !== changed || !this.followed(dependent)) continue;
      const want = references(this.held, dependent);
      const had = this.subscribed.get(dependent) ?? new Set<string>();
      const add = [...want].filter((n) => !had.has(n)).sort();
      const drop = [...had].filter((n) => !want.has(n)).sort();
      if (add.length === 0 && drop.length === 0) continue;
      this.subscribed.set(dependent, want);
      // like Envoy, a client drops what it no longer references
      for (const n of drop) this.drop(dependent, n);
      out.push({ type: dependent, add, drop });
      if (drop.length > 0) out.push(...this.refollow(dependent));
    }
    return out;
  }
}

/** State of the world: each request names everything wanted; LDS/CDS responses are the whole set. */
export class SotwFollower extends Follower {
  readonly mode = 'sotw' as const;
  readonly client: RawAdsClient;
  private readonly last = new Map<TypeUrl, Response>();

  constructor(addr: string, options: FollowOptions) {
    super(options);
    this.client = new RawAdsClient(addr);
    this.client.onResponse((r) => this.onResponse(r));
    let first = true;
    for (const type of options.wildcard) {
      this.client.send({ type_url: type, ...(first ? { node: options.node } : {}) });
      first = false;
    }
  }

  private onResponse(r: Response): void {
    const type = r.type_url as TypeUrl;
    const held = this.held.get(type)!;
    const full = type === TYPE.LDS || type === TYPE.CDS;
    if (full) held.clear();
    for (const a of r.resources) held.set(resourceName(type, decode(type, a.value)), Buffer.from(a.value).toString('hex'));
    if (!full) for (const n of [...held.keys()]) if (!this.subscribed.get(type)?.has(n)) held.delete(n);
    this.last.set(type, r);
    this.client.ack(r, this.followed(type) ? [...(this.subscribed.get(type) ?? [])] : []);
    for (const { type: dep } of this.refollow(type)) {
      const prev = this.last.get(dep);
      this.client.send({ type_url: dep, resource_names: [...this.subscribed.get(dep)!], version_info: prev?.version_info ?? '', response_nonce: prev?.nonce ?? '' });
    }
  }

  close(): void {
    this.client.close();
  }
}

/** Delta: subscriptions change by increments; each response adds/replaces and removes by name. */
export class DeltaFollower extends Follower {
  readonly mode = 'delta' as const;
  readonly client: RawDeltaClient;
  /** the Resource.version of everything held, for initial_resource_versions on a reconnect */
  private readonly versions = new Map<TypeUrl, Map<string, string>>(Object.values(TYPE).map((t) => [t, new Map()]));
  /** every Delta response received, for counting what was sent */
  readonly log: DeltaResponse[] = [];
  /**
   * `SHORT name` of resources received for names the client had already unsubscribed from (a push that
   * crossed the unsubscribe on the wire); ignored, as gRPC and the SotW follower do.
   */
  readonly unsolicited: string[] = [];
  /** `SHORT name` of resources received with exactly the bytes the client already held */
  readonly redundant: string[] = [];

  /**
   * With `resume`, plays an Envoy reconnecting after losing its stream: it keeps what the previous
   * client held and opens every type with its names and initial_resource_versions.
   */
  constructor(addr: string, options: FollowOptions, resume?: DeltaFollower) {
    super(options);
    this.client = new RawDeltaClient(addr);
    this.client.onResponse((r) => this.onResponse(r));
    if (resume) {
      for (const [t, m] of resume.held) this.held.set(t, new Map(m));
      for (const [t, m] of resume.versions) this.versions.set(t, new Map(m));
      for (const [t, names] of resume.subscribed) this.subscribed.set(t, new Set(names));
    }
    const types = [...options.wildcard, ...(resume ? [...this.subscribed.keys()] : [])];
    for (const [i, type] of types.entries()) {
      this.client.send({
        type_url: type,
        ...(i === 0 ? { node: options.node } : {}),
        resource_names_subscribe: [...(this.subscribed.get(type) ?? [])],
        initial_resource_versions: Object.fromEntries(this.versions.get(type)!),
      });
    }
  }

  private onResponse(r: DeltaResponse): void {
    const type = r.type_url as TypeUrl;
    this.log.push(r);
    const held = this.held.get(type)!;
    for (const res of r.resources) {
      if (!res.resource) continue;
      if (this.followed(type) && !this.subscribed.get(type)?.has(res.name)) {
        this.unsolicited.push(`${SHORT_TYPE[type]} ${res.name}`);
        continue;
      }
      const hex = Buffer.from(res.resource.value).toString('hex');
      if (held.get(res.name) === hex) this.redundant.push(`${SHORT_TYPE[type]} ${res.name}`);
      held.set(res.name, hex);
      this.versions.get(type)!.set(res.name, res.version);
    }
    for (const n of r.removed_resources) {
      held.delete(n);
      this.versions.get(type)!.delete(n);
    }
    this.client.ack(r);
    for (const { type: dep, add, drop } of this.refollow(type)) {
      this.client.send({ type_url: dep, resource_names_subscribe: add, resource_names_unsubscribe: drop });
    }
  }

  protected override drop(type: TypeUrl, name: string): void {
    super.drop(type, name);
    this.versions.get(type)!.delete(name);
  }

  close(): void {
    this.client.close();
  }
}
