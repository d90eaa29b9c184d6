// Simulated proxies for the xDS load benchmark (bench/xds-load.ts forks two of these): proxyless gRPC
// clients (below) or Envoy sidecars (SidecarProxy, further down).
//
// Each simulated proxy opens its own HTTP/2 connection (local subchannel pool) and one SotW ADS stream,
// and walks the discovery chain the way grpc-js-xds does:
//   LDS (its listener names) → RDS (the route names in the listeners' HCM `rds`) → CDS (clusters the
//   routes reference, weighted_clusters included) → EDS (the CDS clusters' eds service names).
// Every response is ACKed with the names currently subscribed for that type. A proxy is "synced" when
// every name it subscribes to, at every level, has arrived and been ACKed.
//
// To stay cheap (the proxies share two cores with meshd): the DiscoveryResponse envelope is walked by
// hand, only LDS/RDS/CDS bodies are decoded (protobufjs types from src/envoy/protos.ts), decoded results
// are memoized by content within the worker (N proxies receiving the same bytes decode them once, as
// if each ran on its own machine), and requests are hand-assembled from a per-subscription cached
// `resource_names` block. EDS bodies are only decoded for a tracked resource.
//
// A simulated Envoy sidecar (`kind: 'sidecar'`) subscribes as Envoy does: CDS and LDS by wildcard, then
// EDS for every EDS cluster it holds and RDS for every route name its listeners' HTTP connection managers
// reference (re-derived from what it holds after each CDS/LDS response), over SotW or Delta ADS.
//
// The same process also plays the client side of the write-time baseline (`baseline` command): plain
// streams that count bytes, no decoding.

import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { jsonToStruct, lookupType } from '../src/envoy/protos.js';
import { TYPE } from '../src/xds/resource-types.js';
import { BASELINE_PATH } from './write-baseline.js';

export const ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
export const DELTA_ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

// ---------------------------------------------------------------------------------------------- IPC

export interface ProxySpec {
  readonly index: number;
  readonly id: string;
  readonly namespace: string;
  /** indexes into `listeners` this proxy watches (proxyless gRPC only; a sidecar subscribes by wildcard) */
  readonly watch: readonly number[];
  /** proxyless gRPC (GENERATOR=grpc, the default) or an Envoy sidecar */
  readonly kind?: 'grpc' | 'sidecar';
  /** node metadata (a sidecar's istio-proxy-like metadata; gRPC proxies send GENERATOR and NAMESPACE) */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** ADS flavour, sidecars only (gRPC proxies speak SotW) */
  readonly protocol?: 'sotw' | 'delta';
}

/** A resource whose content a proxy reports (after ACKing it) whenever its summary changes. */
export type TrackSpec =
  | { readonly id: string; readonly kind: 'route-weights'; readonly listener: string }
  | { readonly id: string; readonly kind: 'eds-endpoints'; readonly cluster: string }
  | { readonly id: string; readonly kind: 'cluster-digest'; readonly cluster: string }
  /** the routes of the virtual host for `host` in route configuration `route` (sidecars: one per port) */
  | { readonly id: string; readonly kind: 'vhost-weights'; readonly route: string; readonly host: string };

export type WorkerCommand =
  | { cmd: 'start'; addr: string; listeners: string[]; proxies: ProxySpec[]; tracks: TrackSpec[]; connectSpreadMs: number }
  | { cmd: 'stats' }
  | { cmd: 'status' }
  | { cmd: 'close' }
  | { cmd: 'baseline'; addr: string; proxies: { index: number; expectBytes: number; expectMsgs: number }[] }
  | { cmd: 'exit' };

export interface ProxyStats {
  readonly index: number;
  readonly bytes: number;
  readonly msgs: number;
  /** payload size of every response since the last stats call, in arrival order */
  readonly sizes: number[];
  readonly requests: number;
  readonly requestBytes: number;
}

export type WorkerEvent =
  | { ev: 'ready'; pid: number }
  | { ev: 'synced'; index: number; t: number; firstResponseAt: Record<string, number> }
  | { ev: 'tracked'; track: string; index: number; summary: string; t: number }
  | { ev: 'stream-error'; index: number; message: string; t: number }
  | { ev: 'stats'; proxies: ProxyStats[]; cpuMs: number; rssBytes: number; decodes: number; memoHits: number }
  | { ev: 'status'; total: number; synced: number; errors: number; unsynced: { index: number; waitingFor: Record<string, string[]> }[] }
  | { ev: 'closed' }
  | { ev: 'baseline-done'; index: number; t: number; bytes: number; msgs: number }
  | { ev: 'baseline-error'; index: number; message: string };

const now = (): number => performance.timeOrigin + performance.now();

function send(e: WorkerEvent): void {
  process.send?.(e);
}

// ------------------------------------------------------------------------------------ wire helpers

interface Envelope {
  version: string;
  typeUrl: string;
  nonce: string;
  /** [resource name, Any.value bytes] */
  resources: [string, Uint8Array][];
}

/** DiscoveryResponse → the fields a client needs; resource names read from field 1 of each body. */
function readEnvelope(buf: Uint8Array): Envelope {
  const r = protobuf.Reader.create(buf);
  const env: Envelope = { version: '', typeUrl: '', nonce: '', resources: [] };
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        env.version = r.string();
        break;
      case 2: {
        const any = r.bytes();
        const value = anyValue(any);
        env.resources.push([firstStringField(value), value]);
        break;
      }
      case 4:
        env.typeUrl = r.string();
        break;
      case 5:
        env.nonce = r.string();
        break;
      default:
        r.skipType(tag & 7);
    }
  }
  return env;
}

function anyValue(any: Uint8Array): Uint8Array {
  const r = protobuf.Reader.create(any);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 2) return r.bytes();
    r.skipType(tag & 7);
  }
  return new Uint8Array(0);
}

/** Listener.name, RouteConfiguration.name, Cluster.name and ClusterLoadAssignment.cluster_name are all field 1. */
function firstStringField(msg: Uint8Array): string {
  const r = protobuf.Reader.create(msg);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | 2)) return r.string();
    r.skipType(tag & 7);
  }
  return '';
}

const nodeType = lookupType('envoy.config.core.v3.Node');
const listenerType = lookupType('envoy.config.listener.v3.Listener');
const hcmType = lookupType('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
const routeConfigType = lookupType('envoy.config.route.v3.RouteConfiguration');
const clusterType = lookupType('envoy.config.cluster.v3.Cluster');
const claType = lookupType('envoy.config.endpoint.v3.ClusterLoadAssignment');
const aggregateType = lookupType('envoy.extensions.clusters.aggregate.v3.ClusterConfig');
const HCM_URL = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const EDS_CLUSTER_TYPE = 3; // envoy.config.cluster.v3.Cluster.DiscoveryType.EDS

/** DiscoveryRequest, hand-assembled: version_info=1 node=2 resource_names=3 type_url=4 response_nonce=5. */
function encodeRequest(version: string, node: Uint8Array | undefined, namesBlock: Uint8Array, typeUrl: string, nonce: string): Uint8Array {
  const w = protobuf.Writer.create();
  if (version) w.uint32((1 << 3) | 2).string(version);
  if (node) w.uint32((2 << 3) | 2).bytes(node);
  const head = w.finish();
  const w2 = protobuf.Writer.create();
  w2.uint32((4 << 3) | 2).string(typeUrl);
  if (nonce) w2.uint32((5 << 3) | 2).string(nonce);
  const tail = w2.finish();
  return Buffer.concat([head, namesBlock, tail]);
}

function encodeNamesBlock(names: readonly string[]): Uint8Array {
  const w = protobuf.Writer.create();
  for (const n of names) w.uint32((3 << 3) | 2).string(n);
  return w.finish();
}

// ------------------------------------------------------------------------------- decode (memoized)

interface Decoded {
  /** LDS: route config names; RDS: cluster names; CDS: EDS names (or aggregate children as `cds:NAME`) */
  readonly refs: readonly string[];
}

/**
 * Decoded references by resource name, one entry per distinct body. Thousands of simulated proxies
 * receive byte-identical resources, so a body is decoded once per worker: a lookup is a name and a
 * memcmp against the few bodies seen under that name (no copy of the body as a key, no hashing).
 */
const memo = new Map<string, { body: Buffer; decoded: Decoded }[]>();
const BODIES_PER_NAME = 4;
let decodes = 0;
let memoHits = 0;

function decodeRefs(typeUrl: string, value: Uint8Array, name = ''): Decoded {
  const body = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const key = `${typeUrl.length}${typeUrl.charCodeAt(typeUrl.length - 2)}|${name}`;
  const seen = memo.get(key);
  const hit = seen?.find((e) => e.body.length === body.length && e.body.equals(body));
  if (hit) {
    memoHits++;
    return hit.decoded;
  }
  decodes++;
  let refs: string[] = [];
  switch (typeUrl) {
    case TYPE.LDS: {
      type PackedAny = { type_url?: string; value?: Uint8Array };
      const l = listenerType.decode(value) as unknown as {
        api_listener?: { api_listener?: PackedAny };
        filter_chains?: { filters?: { typed_config?: PackedAny }[] }[];
      };
      const any = l.api_listener?.api_listener;
      if (any?.type_url === HCM_URL && any.value) {
        const hcm = hcmType.decode(any.value) as unknown as { rds?: { route_config_name?: string }; route_config?: unknown };
        if (hcm.rds?.route_config_name) refs = [hcm.rds.route_config_name];
        else if (hcm.route_config) refs = routeClusters(hcm.route_config).map((c) => `cds:${c}`);
      }
      // Envoy listeners: an HCM per filter chain, each naming its route configuration (inline ones need nothing)
      const routeNames = new Set<string>();
      for (const fc of l.filter_chains ?? []) {
        for (const f of fc.filters ?? []) {
          if (f.typed_config?.type_url !== HCM_URL || !f.typed_config.value) continue;
          const hcm = hcmType.decode(f.typed_config.value) as unknown as { rds?: { route_config_name?: string } };
          if (hcm.rds?.route_config_name) routeNames.add(hcm.rds.route_config_name);
        }
      }
      if (routeNames.size > 0) refs = [...refs, ...routeNames];
      break;
    }
    case TYPE.RDS:
      refs = routeClusters(routeConfigType.decode(value));
      break;
    case TYPE.CDS: {
      const c = clusterType.decode(value) as unknown as {
        name?: string;
        type?: number;
        eds_cluster_config?: { service_name?: string };
        cluster_type?: { name?: string; typed_config?: { value?: Uint8Array } };
      };
      if (c.type === EDS_CLUSTER_TYPE) refs = [c.eds_cluster_config?.service_name || c.name || ''];
      else if (c.cluster_type?.name === 'envoy.clusters.aggregate' && c.cluster_type.typed_config?.value) {
        const agg = aggregateType.decode(c.cluster_type.typed_config.value) as unknown as { clusters?: string[] };
        refs = (agg.clusters ?? []).map((n) => `cds:${n}`);
      }
      break;
    }
    default:
      break;
  }
  const d: Decoded = { refs };
  const entry = { body: Buffer.from(body), decoded: d };
  if (!seen) memo.set(key, [entry]);
  else {
    if (seen.length >= BODIES_PER_NAME) seen.shift();
    seen.push(entry);
  }
  return d;
}

interface RouteLike {
  virtual_hosts?: { routes?: { route?: { cluster?: string; weighted_clusters?: { clusters?: { name?: string }[] } } }[] }[];
}

function routeClusters(rc: unknown): string[] {
  const out = new Set<string>();
  for (const vh of (rc as RouteLike).virtual_hosts ?? []) {
    for (const r of vh.routes ?? []) {
      if (r.route?.cluster) out.add(r.route.cluster);
      for (const wc of r.route?.weighted_clusters?.clusters ?? []) if (wc.name) out.add(wc.name);
    }
  }
  return [...out];
}

interface WeightedRoutes {
  virtual_hosts?: {
    domains?: string[];
    routes?: { route?: { cluster?: string; weighted_clusters?: { clusters?: { name?: string; weight?: { value?: number } }[] } } }[];
  }[];
}

/** `v1=90,v2=10` for each route's weighted clusters (cluster subsets), `|` between routes. */
function weightsSummary(value: Uint8Array): string {
  return routesSummary((routeConfigType.decode(value) as unknown as WeightedRoutes).virtual_hosts ?? []);
}

/** The same for the one virtual host that serves `host` (an Envoy sidecar's per-port route configuration). */
function vhostWeightsSummary(value: Uint8Array, host: string): string {
  const vhs = (routeConfigType.decode(value) as unknown as WeightedRoutes).virtual_hosts ?? [];
  return routesSummary(vhs.filter((vh) => vh.domains?.includes(host)));
}

function routesSummary(vhs: NonNullable<WeightedRoutes['virtual_hosts']>): string {
  const parts: string[] = [];
  for (const vh of vhs) {
    for (const r of vh.routes ?? []) {
      const wcs = r.route?.weighted_clusters?.clusters;
      if (wcs) parts.push(wcs.map((c) => `${(c.name ?? '').split('|')[2] ?? ''}=${c.weight?.value ?? 0}`).join(','));
      else if (r.route?.cluster) parts.push(`${r.route.cluster.split('|')[2] ?? ''}=100`);
    }
  }
  return parts.join('|');
}

/** What a DestinationRule edit changes in a Cluster, compactly: lb policy, circuit breakers, outlier detection. */
function clusterDigest(value: Uint8Array): string {
  const c = clusterType.toObject(clusterType.decode(value), { enums: String, longs: String }) as {
    lb_policy?: string;
    circuit_breakers?: { thresholds?: { max_requests?: { value?: number } }[] };
    outlier_detection?: unknown;
  };
  const maxReq = c.circuit_breakers?.thresholds?.[0]?.max_requests?.value;
  return `lb=${c.lb_policy ?? 'ROUND_ROBIN'},max_requests=${maxReq ?? '-'}${c.outlier_detection ? ',outlier' : ''}`;
}

function trackSummary(spec: TrackSpec, value: Uint8Array): string {
  switch (spec.kind) {
    case 'route-weights':
      return weightsSummary(value);
    case 'vhost-weights':
      return vhostWeightsSummary(value, spec.host);
    case 'eds-endpoints':
      return endpointCount(value);
    case 'cluster-digest':
      return clusterDigest(value);
  }
}

function endpointCount(value: Uint8Array): string {
  const cla = claType.decode(value) as unknown as { endpoints?: { lb_endpoints?: unknown[] }[] };
  let n = 0;
  for (const g of cla.endpoints ?? []) n += g.lb_endpoints?.length ?? 0;
  return String(n);
}

// ------------------------------------------------------------------------------- simulated proxy

interface Sub {
  names: string[];
  set: Set<string>;
  block: Uint8Array;
  /** names that have arrived at least once */
  received: Set<string>;
  version: string;
  nonce: string;
  started: boolean;
}

function newSub(): Sub {
  return { names: [], set: new Set(), block: new Uint8Array(0), received: new Set(), version: '', nonce: '', started: false };
}

const ORDER = [TYPE.LDS, TYPE.RDS, TYPE.CDS, TYPE.EDS] as const;
const SHORT: Record<string, string> = { [TYPE.LDS]: 'LDS', [TYPE.RDS]: 'RDS', [TYPE.CDS]: 'CDS', [TYPE.EDS]: 'EDS' };

const clientOptions: grpc.ChannelOptions = {
  // one HTTP/2 connection per proxy, as real proxies have (grpc-js would otherwise share one subchannel)
  'grpc.use_local_subchannel_pool': 1,
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
};

class SimProxy {
  private readonly client: grpc.Client;
  private readonly stream: grpc.ClientDuplexStream<Uint8Array, Buffer>;
  private readonly subs = new Map<string, Sub>(ORDER.map((t) => [t, newSub()]));
  /** listener → route names (LDS is state-of-the-world: replaced per response) */
  private listeners = new Map<string, readonly string[]>();
  /** route config → clusters (RDS: updated per resource) */
  private readonly routes = new Map<string, readonly string[]>();
  /** cluster → EDS names (CDS: state-of-the-world) */
  private clusters = new Map<string, readonly string[]>();
  /** tracked resource id → last reported summary */
  private readonly trackState = new Map<string, string>();
  private node: Uint8Array | undefined;
  synced = false;
  failed = false;
  /** when the first response of each type arrived (LDS, RDS, CDS, EDS): where the chain spends its time */
  private readonly firstResponseAt: Record<string, number> = {};
  bytes = 0;
  msgs = 0;
  sizes: number[] = [];
  requests = 0;
  requestBytes = 0;

  constructor(
    addr: string,
    private readonly spec: ProxySpec,
    private readonly listenerNames: readonly string[],
    private readonly tracks: readonly TrackSpec[],
  ) {
    this.client = new grpc.Client(addr, grpc.credentials.createInsecure(), clientOptions);
    this.stream = this.client.makeBidiStreamRequest(ADS_PATH, (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength), (b: Buffer) => b);
    this.stream.on('data', (b: Buffer) => this.onResponse(b));
    this.stream.on('error', (err: grpc.ServiceError) => {
      if (this.closing) return;
      this.failed = true;
      send({ ev: 'stream-error', index: spec.index, message: `${err.code} ${err.details || err.message}`, t: now() });
    });
    this.stream.on('end', () => {
      if (!this.closing && !this.failed) {
        this.failed = true;
        send({ ev: 'stream-error', index: spec.index, message: 'server ended the stream', t: now() });
      }
    });
    this.node = nodeType
      .encode(
        nodeType.fromObject({
          id: spec.id,
          locality: {},
          metadata: jsonToStruct({ GENERATOR: 'grpc', NAMESPACE: spec.namespace }),
        }),
      )
      .finish();
    this.subscribe(TYPE.LDS, spec.watch.map((i) => listenerNames[i]!));
  }

  private closing = false;

  close(): void {
    this.closing = true;
    this.stream.cancel();
    this.client.close();
  }

  /** Sets a type's subscription; sends a request if it changed (or this is the first). */
  private subscribe(typeUrl: string, names: string[]): void {
    const sub = this.subs.get(typeUrl)!;
    const set = new Set(names);
    if (sub.started && set.size === sub.set.size && names.every((n) => sub.set.has(n))) return;
    sub.names = [...set];
    sub.set = set;
    sub.block = encodeNamesBlock(sub.names);
    sub.started = true;
    this.write(sub, typeUrl);
  }

  private write(sub: Sub, typeUrl: string): void {
    const bytes = encodeRequest(sub.version, this.node, sub.block, typeUrl, sub.nonce);
    this.node = undefined; // the node goes on the first request of the stream only
    this.requests++;
    this.requestBytes += bytes.length;
    this.stream.write(bytes);
  }

  private onResponse(buf: Buffer): void {
    this.bytes += buf.length;
    this.msgs++;
    this.sizes.push(buf.length);
    const env = readEnvelope(buf);
    const sub = this.subs.get(env.typeUrl);
    if (!sub) return;
    this.firstResponseAt[SHORT[env.typeUrl]!] ??= now();
    const tracked: [TrackSpec, Uint8Array][] = [];
    switch (env.typeUrl) {
      case TYPE.LDS: {
        const next = new Map<string, readonly string[]>();
        for (const [name, value] of env.resources) next.set(name, decodeRefs(env.typeUrl, value, name).refs);
        this.listeners = next;
        break;
      }
      case TYPE.RDS:
        for (const [name, value] of env.resources) this.routes.set(name, decodeRefs(env.typeUrl, value, name).refs);
        break;
      case TYPE.CDS: {
        const next = new Map<string, readonly string[]>();
        for (const [name, value] of env.resources) next.set(name, decodeRefs(env.typeUrl, value, name).refs);
        this.clusters = next;
        break;
      }
      default:
        break;
    }
    for (const [name] of env.resources) sub.received.add(name);
    for (const t of this.tracks) {
      const hit = this.trackedResource(t, env);
      if (hit) tracked.push([t, hit]);
    }
    // ACK with the names subscribed for this type, then follow the chain.
    sub.version = env.version;
    sub.nonce = env.nonce;
    this.write(sub, env.typeUrl);
    this.followChain(env.typeUrl);
    const t = now();
    for (const [spec, value] of tracked) {
      const summary = trackSummary(spec, value);
      if (this.trackState.get(spec.id) !== summary) {
        this.trackState.set(spec.id, summary);
        send({ ev: 'tracked', track: spec.id, index: this.spec.index, summary, t });
      }
    }
    if (!this.synced && this.isSynced()) {
      this.synced = true;
      send({ ev: 'synced', index: this.spec.index, t, firstResponseAt: this.firstResponseAt });
    }
  }

  private trackedResource(t: TrackSpec, env: Envelope): Uint8Array | undefined {
    if (t.kind === 'vhost-weights') return undefined; // sidecars only
    if (t.kind === 'route-weights') {
      if (env.typeUrl !== TYPE.RDS) return undefined;
      const routeName = this.listeners.get(t.listener)?.[0];
      return routeName === undefined ? undefined : env.resources.find(([n]) => n === routeName)?.[1];
    }
    if (t.kind === 'cluster-digest') {
      return env.typeUrl === TYPE.CDS ? env.resources.find(([n]) => n === t.cluster)?.[1] : undefined;
    }
    if (env.typeUrl !== TYPE.EDS) return undefined;
    const edsName = this.clusters.get(t.cluster)?.[0];
    return edsName === undefined ? undefined : env.resources.find(([n]) => n === edsName)?.[1];
  }

  /** clusters named inline by listeners (HCM route_config instead of rds) */
  private inlineClusters: readonly string[] = [];

  /**
   * Recomputes the subscriptions downstream of the type that just changed (LDS → RDS → CDS → EDS) and
   * subscribes where they differ. EDS responses change nothing downstream.
   */
  private followChain(from: string): void {
    if (from === TYPE.EDS) return;
    if (from === TYPE.LDS) {
      const routeNames = new Set<string>();
      const inline = new Set<string>();
      for (const l of this.subs.get(TYPE.LDS)!.names) {
        for (const r of this.listeners.get(l) ?? []) (r.startsWith('cds:') ? inline.add(r.slice(4)) : routeNames.add(r));
      }
      this.inlineClusters = [...inline];
      if (routeNames.size > 0) this.subscribe(TYPE.RDS, [...routeNames]);
    }
    if (from === TYPE.LDS || from === TYPE.RDS) {
      const clusterNames = new Set(this.inlineClusters);
      for (const r of this.subs.get(TYPE.RDS)!.names) for (const c of this.routes.get(r) ?? []) clusterNames.add(c);
      this.expandAggregates(clusterNames);
      if (clusterNames.size > 0) this.subscribe(TYPE.CDS, [...clusterNames]);
    } else if (from === TYPE.CDS) {
      // a CDS update can only add aggregate children
      const clusterNames = new Set(this.subs.get(TYPE.CDS)!.names);
      if (this.expandAggregates(clusterNames)) this.subscribe(TYPE.CDS, [...clusterNames]);
    }
    const edsNames = new Set<string>();
    for (const c of this.subs.get(TYPE.CDS)!.names) for (const e of this.clusters.get(c) ?? []) if (!e.startsWith('cds:')) edsNames.add(e);
    if (edsNames.size > 0) this.subscribe(TYPE.EDS, [...edsNames]);
  }

  /** Adds aggregate clusters' children (bounded depth); returns whether any were added. */
  private expandAggregates(clusterNames: Set<string>): boolean {
    let added = false;
    for (let depth = 0, grew = true; grew && depth < 8; depth++) {
      grew = false;
      for (const c of [...clusterNames]) {
        for (const ref of this.clusters.get(c) ?? []) {
          if (ref.startsWith('cds:') && !clusterNames.has(ref.slice(4))) {
            clusterNames.add(ref.slice(4));
            grew = added = true;
          }
        }
      }
    }
    return added;
  }

  private isSynced(): boolean {
    for (const t of ORDER) {
      const s = this.subs.get(t)!;
      if (!s.started || s.names.length === 0) return false;
      for (const n of s.names) if (!s.received.has(n)) return false;
    }
    return true;
  }

  waitingFor(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const t of ORDER) {
      const s = this.subs.get(t)!;
      if (!s.started) out[SHORT[t]!] = ['(not subscribed yet)'];
      else {
        const missing = s.names.filter((n) => !s.received.has(n));
        if (missing.length > 0) out[SHORT[t]!] = missing.slice(0, 5);
      }
    }
    return out;
  }

  takeStats(): ProxyStats {
    const s: ProxyStats = { index: this.spec.index, bytes: this.bytes, msgs: this.msgs, sizes: this.sizes, requests: this.requests, requestBytes: this.requestBytes };
    this.bytes = 0;
    this.msgs = 0;
    this.sizes = [];
    this.requests = 0;
    this.requestBytes = 0;
    return s;
  }
}

// ------------------------------------------------------------------------------- simulated sidecar

/** A DeltaDiscoveryResponse (or a SotW response in the same shape): what a client applies. */
interface Update {
  typeUrl: string;
  version: string;
  nonce: string;
  resources: [string, Uint8Array][];
  removed: string[];
}

/** DeltaDiscoveryResponse: system_version_info=1 resources=2 (Resource: version=1 resource=2 name=3) type_url=4 nonce=5 removed_resources=6. */
function readDeltaResponse(buf: Uint8Array): Update {
  const r = protobuf.Reader.create(buf);
  const u: Update = { typeUrl: '', version: '', nonce: '', resources: [], removed: [] };
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        u.version = r.string();
        break;
      case 2: {
        const res = protobuf.Reader.create(r.bytes());
        let name = '';
        let value: Uint8Array = new Uint8Array(0);
        while (res.pos < res.len) {
          const t = res.uint32();
          if (t >>> 3 === 3) name = res.string();
          else if (t >>> 3 === 2) value = anyValue(res.bytes());
          else res.skipType(t & 7);
        }
        u.resources.push([name, value]);
        break;
      }
      case 4:
        u.typeUrl = r.string();
        break;
      case 5:
        u.nonce = r.string();
        break;
      case 6:
        u.removed.push(r.string());
        break;
      default:
        r.skipType(tag & 7);
    }
  }
  return u;
}

/** DeltaDiscoveryRequest, hand-assembled: node=1 type_url=2 resource_names_subscribe=3 resource_names_unsubscribe=4 response_nonce=6. */
function encodeDeltaRequest(node: Uint8Array | undefined, typeUrl: string, subscribe: readonly string[], unsubscribe: readonly string[], nonce: string): Uint8Array {
  const w = protobuf.Writer.create();
  if (node) w.uint32((1 << 3) | 2).bytes(node);
  w.uint32((2 << 3) | 2).string(typeUrl);
  for (const n of subscribe) w.uint32((3 << 3) | 2).string(n);
  for (const n of unsubscribe) w.uint32((4 << 3) | 2).string(n);
  if (nonce) w.uint32((6 << 3) | 2).string(nonce);
  return w.finish();
}

const NO_REFS: readonly string[] = [];

interface SidecarSub {
  /** CDS and LDS: everything the server has for this proxy */
  readonly wildcard: boolean;
  names: Set<string>;
  /**
   * name → what the proxy holds of it: the references of a CDS/LDS resource (decoded once per distinct
   * body per worker), nothing for RDS/EDS (received and counted; only tracked ones are decoded)
   */
  readonly held: Map<string, readonly string[]>;
  responded: boolean;
  started: boolean;
  version: string;
  nonce: string;
}

/**
 * An Envoy sidecar as istio-proxy runs it: CDS and LDS by wildcard; EDS for the EDS clusters and RDS for
 * the route names of the listeners it holds, subscribed and dropped as those change. SotW or Delta.
 */
class SidecarProxy {
  private readonly client: grpc.Client;
  private readonly stream: grpc.ClientDuplexStream<Uint8Array, Buffer>;
  private readonly delta: boolean;
  private readonly subs = new Map<string, SidecarSub>(
    ORDER.map((t) => [t, { wildcard: t === TYPE.CDS || t === TYPE.LDS, names: new Set(), held: new Map(), responded: false, started: false, version: '', nonce: '' }]),
  );
  private readonly trackState = new Map<string, string>();
  private readonly firstResponseAt: Record<string, number> = {};
  private node: Uint8Array | undefined;
  private closing = false;
  synced = false;
  failed = false;
  bytes = 0;
  msgs = 0;
  sizes: number[] = [];
  requests = 0;
  requestBytes = 0;

  constructor(
    addr: string,
    private readonly spec: ProxySpec,
    private readonly tracks: readonly TrackSpec[],
  ) {
    this.delta = spec.protocol === 'delta';
    this.client = new grpc.Client(addr, grpc.credentials.createInsecure(), clientOptions);
    this.stream = this.client.makeBidiStreamRequest(this.delta ? DELTA_ADS_PATH : ADS_PATH, (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength), (b: Buffer) => b);
    this.stream.on('data', (b: Buffer) => this.onResponse(b));
    this.stream.on('error', (err: grpc.ServiceError) => {
      if (this.closing) return;
      this.failed = true;
      send({ ev: 'stream-error', index: spec.index, message: `${err.code} ${err.details || err.message}`, t: now() });
    });
    this.stream.on('end', () => {
      if (!this.closing && !this.failed) {
        this.failed = true;
        send({ ev: 'stream-error', index: spec.index, message: 'server ended the stream', t: now() });
      }
    });
    this.node = nodeType.encode(nodeType.fromObject({ id: spec.id, locality: {}, metadata: jsonToStruct({ ...spec.metadata }) })).finish();
    this.start(TYPE.CDS);
    this.start(TYPE.LDS);
  }

  close(): void {
    this.closing = true;
    this.stream.cancel();
    this.client.close();
  }

  private start(typeUrl: string): void {
    const sub = this.subs.get(typeUrl)!;
    sub.started = true;
    if (this.delta) this.writeDelta(typeUrl, [], [], '');
    else this.writeSotw(typeUrl, sub);
  }

  private writeSotw(typeUrl: string, sub: SidecarSub): void {
    const bytes = encodeRequest(sub.version, this.node, encodeNamesBlock(sub.wildcard ? [] : [...sub.names]), typeUrl, sub.nonce);
    this.sent(bytes);
  }

  private writeDelta(typeUrl: string, subscribe: readonly string[], unsubscribe: readonly string[], nonce: string): void {
    this.sent(encodeDeltaRequest(this.node, typeUrl, subscribe, unsubscribe, nonce));
  }

  private sent(bytes: Uint8Array): void {
    this.node = undefined; // the node goes on the first request of the stream only
    this.requests++;
    this.requestBytes += bytes.length;
    this.stream.write(bytes);
  }

  /** Subscribes to exactly `names` for an RDS/EDS type (SotW: the whole list; Delta: the difference). */
  private subscribe(typeUrl: string, names: Set<string>): void {
    const sub = this.subs.get(typeUrl)!;
    const added = [...names].filter((n) => !sub.names.has(n));
    const removed = [...sub.names].filter((n) => !names.has(n));
    if (sub.started && added.length === 0 && removed.length === 0) return;
    sub.names = names;
    sub.started = true;
    for (const n of removed) sub.held.delete(n);
    if (this.delta) this.writeDelta(typeUrl, added, removed, '');
    else this.writeSotw(typeUrl, sub);
  }

  private onResponse(buf: Buffer): void {
    this.bytes += buf.length;
    this.msgs++;
    this.sizes.push(buf.length);
    const u = this.delta ? readDeltaResponse(buf) : sotwUpdate(readEnvelope(buf));
    const sub = this.subs.get(u.typeUrl);
    if (!sub) return;
    this.firstResponseAt[SHORT[u.typeUrl]!] ??= now();
    // SotW CDS/LDS responses are the whole set: what is not in one is gone.
    if (!this.delta && sub.wildcard) sub.held.clear();
    const follows = u.typeUrl === TYPE.CDS || u.typeUrl === TYPE.LDS;
    for (const [name, value] of u.resources) {
      if (sub.wildcard || sub.names.has(name)) sub.held.set(name, follows ? decodeRefs(u.typeUrl, value, name).refs : NO_REFS);
    }
    for (const name of u.removed) sub.held.delete(name);
    sub.responded = true;
    sub.version = u.version;
    sub.nonce = u.nonce;
    if (this.delta) this.writeDelta(u.typeUrl, [], [], u.nonce);
    else this.writeSotw(u.typeUrl, sub);
    // follow references from what is held now
    if (follows) {
      const refs = new Set<string>();
      for (const held of sub.held.values()) for (const r of held) if (!r.startsWith('cds:')) refs.add(r);
      this.subscribe(u.typeUrl === TYPE.CDS ? TYPE.EDS : TYPE.RDS, refs);
    }
    const t = now();
    for (const spec of this.tracks) {
      const value = this.trackedResource(spec, u);
      if (!value) continue;
      const summary = trackSummary(spec, value);
      if (this.trackState.get(spec.id) !== summary) {
        this.trackState.set(spec.id, summary);
        send({ ev: 'tracked', track: spec.id, index: this.spec.index, summary, t });
      }
    }
    if (!this.synced && this.isSynced()) {
      this.synced = true;
      send({ ev: 'synced', index: this.spec.index, t, firstResponseAt: this.firstResponseAt });
    }
  }

  private trackedResource(t: TrackSpec, u: Update): Uint8Array | undefined {
    const named = (type: string, name: string) => (u.typeUrl === type ? u.resources.find(([n]) => n === name)?.[1] : undefined);
    switch (t.kind) {
      case 'vhost-weights':
        return named(TYPE.RDS, t.route);
      case 'cluster-digest':
        return named(TYPE.CDS, t.cluster);
      case 'eds-endpoints': {
        const edsName = this.subs.get(TYPE.CDS)!.held.get(t.cluster)?.[0];
        return edsName ? named(TYPE.EDS, edsName) : undefined;
      }
      default:
        return undefined;
    }
  }

  private isSynced(): boolean {
    for (const t of ORDER) {
      const s = this.subs.get(t)!;
      if (!s.started || !s.responded) return false;
      if (!s.wildcard) for (const n of s.names) if (!s.held.has(n)) return false;
    }
    return true;
  }

  waitingFor(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const t of ORDER) {
      const s = this.subs.get(t)!;
      if (!s.started) out[SHORT[t]!] = ['(not subscribed yet)'];
      else if (!s.responded) out[SHORT[t]!] = ['(no response yet)'];
      else if (!s.wildcard) {
        const missing = [...s.names].filter((n) => !s.held.has(n));
        if (missing.length > 0) out[SHORT[t]!] = missing.slice(0, 5);
      }
    }
    return out;
  }

  takeStats(): ProxyStats {
    const s: ProxyStats = { index: this.spec.index, bytes: this.bytes, msgs: this.msgs, sizes: this.sizes, requests: this.requests, requestBytes: this.requestBytes };
    this.bytes = 0;
    this.msgs = 0;
    this.sizes = [];
    this.requests = 0;
    this.requestBytes = 0;
    return s;
  }
}

function sotwUpdate(env: Envelope): Update {
  return { typeUrl: env.typeUrl, version: env.version, nonce: env.nonce, resources: env.resources, removed: [] };
}

// ----------------------------------------------------------------------------- baseline client

class BaselineClient {
  private readonly client: grpc.Client;
  private readonly stream: grpc.ClientDuplexStream<Uint8Array, Buffer>;
  private bytes = 0;
  private msgs = 0;
  private done = false;

  constructor(addr: string, index: number, expectBytes: number, expectMsgs: number) {
    this.client = new grpc.Client(addr, grpc.credentials.createInsecure(), clientOptions);
    this.stream = this.client.makeBidiStreamRequest(BASELINE_PATH, (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength), (b: Buffer) => b);
    this.stream.on('data', (b: Buffer) => {
      this.bytes += b.length;
      this.msgs++;
      if (!this.done && this.bytes >= expectBytes && this.msgs >= expectMsgs) {
        this.done = true;
        send({ ev: 'baseline-done', index, t: now(), bytes: this.bytes, msgs: this.msgs });
      }
    });
    this.stream.on('error', (err: grpc.ServiceError) => {
      if (!this.done) send({ ev: 'baseline-error', index, message: err.message });
    });
    const hello = Buffer.alloc(4);
    hello.writeUInt32BE(index);
    this.stream.write(hello);
  }

  close(): void {
    this.done = true;
    this.stream.cancel();
    this.client.close();
  }
}

// ------------------------------------------------------------------------------------------ main

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function main(): void {
  let proxies: (SimProxy | SidecarProxy)[] = [];
  let baseline: BaselineClient[] = [];
  const timers: NodeJS.Timeout[] = [];
  process.on('message', (m: WorkerCommand) => {
    switch (m.cmd) {
      case 'start': {
        // Spread connection starts over `connectSpreadMs` in small batches (0 = all at once).
        const batch = 25;
        const batches = Math.ceil(m.proxies.length / batch);
        for (let b = 0; b < batches; b++) {
          const start = () => {
            for (const spec of m.proxies.slice(b * batch, (b + 1) * batch)) {
              proxies.push(spec.kind === 'sidecar' ? new SidecarProxy(m.addr, spec, m.tracks) : new SimProxy(m.addr, spec, m.listeners, m.tracks));
            }
          };
          if (m.connectSpreadMs <= 0) start();
          else timers.push(setTimeout(start, (m.connectSpreadMs * b) / batches));
        }
        break;
      }
      case 'stats': {
        const mem = process.memoryUsage();
        send({ ev: 'stats', proxies: proxies.map((p) => p.takeStats()), cpuMs: cpuMs(), rssBytes: mem.rss, decodes, memoHits });
        break;
      }
      case 'status':
        send({
          ev: 'status',
          total: proxies.length,
          synced: proxies.filter((p) => p.synced).length,
          errors: proxies.filter((p) => p.failed).length,
          unsynced: proxies
            .map((p, i) => ({ p, i }))
            .filter(({ p }) => !p.synced)
            .slice(0, 5)
            .map(({ p, i }) => ({ index: i, waitingFor: p.waitingFor() })),
        });
        break;
      case 'close':
        for (const t of timers.splice(0)) clearTimeout(t);
        for (const p of proxies) p.close();
        for (const b of baseline) b.close();
        proxies = [];
        baseline = [];
        memo.clear();
        send({ ev: 'closed' });
        break;
      case 'baseline':
        for (const p of m.proxies) baseline.push(new BaselineClient(m.addr, p.index, p.expectBytes, p.expectMsgs));
        break;
      case 'exit':
        for (const p of proxies) p.close();
        for (const b of baseline) b.close();
        process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ ev: 'ready', pid: process.pid });
}

// Runs only when forked as a worker (not when another bench file imports a constant or a type from here).
if (process.send && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
