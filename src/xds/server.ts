import { once } from 'node:events';
import { setImmediate as nextTurn } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../telemetry/log.js';
import type { Metrics, XdsShortType } from '../telemetry/metrics.js';
import type { PushContext } from '../model/push-context.js';
import { nodeSchema, parseProxy, type GeneratorName, type Proxy } from '../model/proxy.js';
import { ResourceCache, resourceSetOf, type EncodedResource, type ResourceSet } from './cache.js';
import { Connection, type AdsCall, type Watch } from './connection.js';
import type { Generator } from './generators/generator.js';
import { PushQueue } from './push-queue.js';
import { PUSH_ORDER, SHORT_TYPE, STATE_OF_THE_WORLD_FULL, isKnownType, type TypeUrl } from './resource-types.js';
import { decodeDiscoveryRequest, encodeDiscoveryResponse, type DiscoveryRequest } from './wire.js';

const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/** The ADS service with hand-rolled (de)serializers: responses arrive here already encoded. */
export const ADS_SERVICE_DEFINITION: grpc.ServiceDefinition = {
  StreamAggregatedResources: {
    path: `/${ADS_SERVICE}/StreamAggregatedResources`,
    requestStream: true,
    responseStream: true,
    requestSerialize: () => {
      throw new Error('meshd does not send DiscoveryRequests');
    },
    requestDeserialize: (bytes: Buffer) => decodeDiscoveryRequest(bytes),
    responseSerialize: (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    responseDeserialize: (bytes: Buffer) => bytes,
  },
};

export interface DiscoveryServerOptions {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly generators: Partial<Record<GeneratorName, Generator>>;
  /** concurrent pushes (istiod's PILOT_PUSH_THROTTLE) */
  readonly pushConcurrency?: number;
  readonly controlPlaneId?: string;
}

type RequestKind = 'initial' | 'ack' | 'nack' | 'stale';

/** A reason to refuse the proxy a stream announces, or undefined to accept it. */
export type ProxyCheck = (proxy: Proxy) => string | undefined;
/** Authenticates a stream (rejects with an Error carrying a gRPC `code` to refuse it) and returns its proxy check. */
export type StreamGuard = (call: AdsCall) => Promise<ProxyCheck>;

/**
 * State-of-the-world ADS. Holds the current snapshot and its encode cache, one Connection per stream,
 * and a push queue. Generators are called through the cache only.
 */
export class DiscoveryServer {
  private ctx: PushContext | undefined;
  private readonly cache = new ResourceCache();
  private pushStartedAt = 0;
  private readonly conns = new Map<string, Connection>();
  private readonly queue: PushQueue<Connection>;
  private connSeq = 0;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly controlPlaneId: string;

  constructor(private readonly options: DiscoveryServerOptions) {
    this.log = options.log.child({ scope: 'ads' });
    this.metrics = options.metrics;
    this.controlPlaneId = options.controlPlaneId ?? 'meshd';
    this.queue = new PushQueue(options.pushConcurrency ?? 100, (c) => this.pushConnection(c), (c, err) =>
      this.log.error({ err, proxy: c.proxy.id }, 'push failed'),
    );
  }

  get snapshot(): PushContext | undefined {
    return this.ctx;
  }

  get connections(): readonly Connection[] {
    return [...this.conns.values()];
  }

  get cacheStats(): { hits: number; reused: number; built: number; size: number } {
    return { ...this.cache.stats, size: this.cache.size };
  }

  /**
   * Adds ADS to `server`. With a `guard` (the TLS port, 15012) every stream is authenticated before its
   * first request is read, and each proxy it announces must pass the check the guard returns.
   */
  register(server: grpc.Server, guard?: StreamGuard): void {
    server.addService(ADS_SERVICE_DEFINITION, {
      StreamAggregatedResources: (call: AdsCall) => (guard ? this.onGuardedStream(call, guard) : this.onStream(call)),
    });
  }

  private onGuardedStream(call: AdsCall, guard: StreamGuard): void {
    guard(call).then(
      (check) => this.onStream(call, check),
      (err: Error & { code?: grpc.status }) => {
        this.log.warn({ peer: call.getPeer(), details: err.message }, 'refusing unauthenticated xDS stream');
        call.emit('error', { code: err.code ?? grpc.status.UNAUTHENTICATED, details: err.message });
      },
    );
  }

  /** Installs a new snapshot and queues a push to every connected proxy. */
  push(ctx: PushContext, triggeredAt: number = Date.now()): void {
    this.ctx = ctx;
    this.recordCacheReads();
    this.cache.beginSnapshot(ctx);
    this.pushStartedAt = triggeredAt;
    for (const c of this.conns.values()) this.queue.enqueue(c);
  }

  private readonly cacheReadsSeen = { hit: 0, miss: 0 };

  /** istiod's pilot_xds_cache_reads{type=hit|miss}: a reuse across snapshots counts as a hit. */
  private recordCacheReads(): void {
    const { hits, reused, built } = this.cache.stats;
    this.metrics.cacheReads.inc({ type: 'hit' }, hits + reused - this.cacheReadsSeen.hit);
    this.metrics.cacheReads.inc({ type: 'miss' }, built - this.cacheReadsSeen.miss);
    this.cacheReadsSeen.hit = hits + reused;
    this.cacheReadsSeen.miss = built;
  }

  /** Resolves once every queued push has been written. */
  settled(): Promise<void> {
    return this.queue.idle();
  }

  closeAll(): void {
    for (const c of this.conns.values()) c.call.end();
  }

  private onStream(call: AdsCall, check?: ProxyCheck): void {
    let conn: Connection | undefined;
    const peer = call.getPeer();
    const close = () => {
      if (!conn || conn.closed) return;
      conn.closed = true;
      this.conns.delete(conn.id);
      this.queue.remove(conn);
      this.metrics.xdsClients.dec({ version: conn.proxy.istioVersion || 'unknown' });
      this.log.info({ proxy: conn.proxy.id, conn: conn.id }, 'proxy disconnected');
    };
    call.on('data', (req: DiscoveryRequest) => {
      try {
        if (!conn) {
          conn = this.connect(call, req, peer, check);
          if (!conn) return;
        }
        this.onRequest(conn, req);
      } catch (err) {
        this.log.error({ err, peer }, 'failed to handle discovery request');
        call.emit('error', { code: grpc.status.INTERNAL, details: (err as Error).message });
      }
    });
    call.on('end', () => {
      close();
      call.end();
    });
    call.on('error', (err) => {
      this.log.debug({ err: err.message, peer }, 'stream error');
      close();
    });
    call.on('cancelled', close);
  }

  private connect(call: AdsCall, req: DiscoveryRequest, peer: string, check?: ProxyCheck): Connection | undefined {
    const node = nodeSchema.safeParse(req.node ?? {});
    const fail = (details: string) => {
      this.log.warn({ peer, details }, 'refusing xDS stream');
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details });
      return undefined;
    };
    if (!node.success) return fail('first DiscoveryRequest on a stream must carry node.id');
    let proxy;
    try {
      proxy = parseProxy(node.data);
    } catch (err) {
      return fail((err as Error).message);
    }
    const denied = check?.(proxy);
    if (denied) {
      this.log.warn({ peer, proxy: proxy.id, details: denied }, 'refusing xDS stream');
      call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: denied });
      return undefined;
    }
    if (!this.options.generators[proxy.generator]) {
      return fail(
        `node ${proxy.id}: no ${proxy.generator} generator in this meshd; proxyless gRPC clients must set node metadata GENERATOR=grpc`,
      );
    }
    const conn = new Connection(`${proxy.podName || 'proxy'}-${++this.connSeq}`, proxy, peer, call);
    this.conns.set(conn.id, conn);
    this.metrics.xdsClients.inc({ version: proxy.istioVersion || 'unknown' });
    this.log.info({ proxy: proxy.id, conn: conn.id, peer, generator: proxy.generator }, 'proxy connected');
    return conn;
  }

  private classify(watch: Watch | undefined, req: DiscoveryRequest): RequestKind {
    if (!req.response_nonce || !watch) return 'initial';
    if (req.response_nonce !== watch.sentNonce) return 'stale';
    return req.error_detail && req.error_detail.message !== '' ? 'nack' : req.error_detail?.code ? 'nack' : 'ack';
  }

  private onRequest(conn: Connection, req: DiscoveryRequest): void {
    const type = req.type_url;
    if (!isKnownType(type)) {
      this.log.warn({ proxy: conn.proxy.id, type }, 'unsupported type_url requested; ignoring');
      return;
    }
    const existing = conn.watches.get(type);
    const kind = this.classify(existing, req);
    const watch = conn.watch(type);
    const short = SHORT_TYPE[type]!.toLowerCase() as XdsShortType;
    if (kind === 'stale') {
      this.log.debug({ proxy: conn.proxy.id, type: short, nonce: req.response_nonce }, 'stale nonce; ignoring');
      return;
    }
    if (kind === 'nack') {
      const message = req.error_detail?.message ?? '';
      watch.lastNack = { nonce: req.response_nonce, version: req.version_info, message, at: new Date() };
      this.metrics.totalRejects.inc({ type: short });
      this.metrics.rejects[short].set({ node: conn.proxy.id, err: message.slice(0, 200) }, 1);
      this.log.warn({ proxy: conn.proxy.id, type: short, nonce: req.response_nonce, error: message }, 'proxy rejected config (NACK)');
    } else if (kind === 'ack') {
      watch.ackedNonce = req.response_nonce;
      watch.ackedVersion = req.version_info;
      watch.ackedAt = new Date();
    }
    const wildcardable = STATE_OF_THE_WORLD_FULL.has(type);
    const names = req.resource_names.length === 0 && wildcardable ? null : new Set(req.resource_names);
    const changed = kind === 'initial' || !sameNames(watch.names, names);
    if (changed) watch.names = names;
    // Always answer the first request of a stream, even when the client claims a version: after a
    // control-plane restart clients come back with their old version_info and an empty nonce.
    if (changed && this.ctx) this.respond(conn, type, watch, kind === 'initial' ? 'full' : 'names');
  }

  /** Pushes the current snapshot to one connection, type by type, honouring write back-pressure. */
  private async pushConnection(conn: Connection): Promise<void> {
    if (!this.ctx || conn.closed) return;
    const startedAt = this.pushStartedAt;
    let wroteAny = false;
    for (const type of PUSH_ORDER) {
      const watch = conn.watches.get(type);
      if (!watch || conn.closed) continue;
      // Give the event loop a turn between responses: ACKs, new streams and /metrics keep flowing
      // while a large push is under way.
      await nextTurn();
      if (conn.closed || !this.ctx) return;
      const wrote = this.respond(conn, type, watch, 'push');
      wroteAny ||= wrote;
      if (wrote && conn.call.writableNeedDrain) await waitDrain(conn.call);
    }
    if (wroteAny) this.metrics.convergence.observe((Date.now() - startedAt) / 1000);
  }

  /**
   * Builds and writes one response. `full`: every requested resource. `names`: the subscription changed.
   * `push`: a new snapshot; LDS/CDS go out whole if anything in them changed, RDS/EDS carry only the
   * resources whose content changed. Returns whether anything was written.
   */
  private respond(conn: Connection, type: TypeUrl, watch: Watch, mode: 'full' | 'names' | 'push'): boolean {
    const ctx = this.ctx!;
    const set = this.resolve(conn, type, watch);
    const full = STATE_OF_THE_WORLD_FULL.has(type);
    let toSend = set.resources;
    const prev = watch.syncedTo;
    if (mode === 'push' && prev) {
      if (prev.digest === set.digest) return false;
      if (!full) {
        toSend = set.resources.filter((r) => prev.byName.get(r.name) !== r.hash);
        if (toSend.length === 0) {
          watch.syncedTo = set;
          return false;
        }
      }
    }
    const nonce = conn.nextNonce();
    const bytes = encodeDiscoveryResponse({
      versionInfo: ctx.version, typeUrl: type, nonce, resources: toSend, controlPlane: this.controlPlaneId,
    });
    watch.syncedTo = set;
    watch.sentNonce = nonce;
    watch.sentVersion = ctx.version;
    watch.sentAt = new Date();
    const t0 = performance.now();
    conn.call.write(bytes);
    this.metrics.xdsSendTime.observe((performance.now() - t0) / 1000);
    this.metrics.pushes.inc({ type: SHORT_TYPE[type]!.toLowerCase() });
    this.log.debug({ proxy: conn.proxy.id, type: SHORT_TYPE[type], version: ctx.version, nonce, resources: toSend.length, mode }, 'sent');
    return true;
  }

  /**
   * What a subscription resolves to in the current snapshot: built once per (proxy class, type, name
   * set) and shared by every proxy of that class watching the same names; each resource encoded once
   * per class. The generator contract makes this safe: output depends only on snapshot, class key and name.
   */
  private resolve(conn: Connection, type: TypeUrl, watch: Watch): ResourceSet {
    const ctx = this.ctx!;
    const cache = this.cache;
    const generator = this.options.generators[conn.proxy.generator]!;
    const classId = `${generator.name}\u0000${generator.classKey(ctx, conn.proxy)}`;
    return cache.resourceSet(classId, type, watch.signature, () => {
      const names = watch.names ?? [...generator.wildcardNames(type, ctx, conn.proxy)].sort();
      const resources: EncodedResource[] = [];
      for (const name of names) {
        const r = cache.resource(classId, type, name, () => generator.generate(type, ctx, conn.proxy, name));
        if (r) resources.push(r);
      }
      return resourceSetOf(resources);
    });
  }
}

function sameNames(a: readonly string[] | null, b: ReadonlySet<string> | null): boolean {
  if (a === null || b === null) return a === null && b === null;
  if (a.length !== b.size) return false;
  return a.every((n) => b.has(n));
}

async function waitDrain(call: AdsCall): Promise<void> {
  await Promise.race([once(call, 'drain'), once(call, 'close'), once(call, 'error').catch(() => undefined)]);
}
