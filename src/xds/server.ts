import { once } from 'node:events';
import { setImmediate as nextTurn } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../telemetry/log.js';
import type { Metrics, XdsShortType } from '../telemetry/metrics.js';
import type { PushContext } from '../model/push-context.js';
import { nodeSchema, parseProxy, type GeneratorName, type Proxy } from '../model/proxy.js';
import type { ResourceSet } from './cache.js';
import type { StreamConnection, Subscription, TypeWatch, XdsCall, XdsMode } from './connection.js';
import { DeltaProtocol, type DeltaConnection } from './delta.js';
import { decodeDeltaDiscoveryRequest } from './delta-wire.js';
import type { Generator } from './generators/generator.js';
import type { ProtocolHost, XdsProtocol } from './protocol.js';
import { PushQueue } from './push-queue.js';
import { Resolver, type ResolverStats } from './resolve.js';
import { PUSH_ORDER, SHORT_TYPE, type TypeUrl } from './resource-types.js';
import { SotwProtocol, type SotwConnection } from './sotw.js';
import { decodeDiscoveryRequest } from './wire.js';

const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

function bidiMethod<Req>(method: string, decode: (bytes: Buffer) => Req): grpc.MethodDefinition<Req, Uint8Array> {
  return {
    path: `/${ADS_SERVICE}/${method}`,
    requestStream: true,
    responseStream: true,
    requestSerialize: () => {
      throw new Error('meshd does not send discovery requests');
    },
    requestDeserialize: decode,
    responseSerialize: (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    responseDeserialize: (bytes: Buffer) => bytes,
  };
}

/** The ADS service, both methods, with hand-rolled (de)serializers: responses arrive here already encoded. */
export const ADS_SERVICE_DEFINITION: grpc.ServiceDefinition = {
  StreamAggregatedResources: bidiMethod('StreamAggregatedResources', decodeDiscoveryRequest),
  DeltaAggregatedResources: bidiMethod('DeltaAggregatedResources', decodeDeltaDiscoveryRequest),
};

/** A connection of either protocol. */
export type AnyConnection = SotwConnection | DeltaConnection;

export interface DiscoveryServerOptions {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly generators: Partial<Record<GeneratorName, Generator>>;
  /** concurrent pushes (istiod's PILOT_PUSH_THROTTLE) */
  readonly pushConcurrency?: number;
  readonly controlPlaneId?: string;
}

/** A reason to refuse the proxy a stream announces, or undefined to accept it. */
export type ProxyCheck = (proxy: Proxy) => string | undefined;
/** Authenticates a stream (rejects with an Error carrying a gRPC `code` to refuse it) and returns its proxy check. */
export type StreamGuard = (call: XdsCall<unknown>) => Promise<ProxyCheck>;

/**
 * ADS, state of the world (StreamAggregatedResources, sotw.ts) and incremental (DeltaAggregatedResources,
 * delta.ts). Holds the current snapshot and its encode cache, one connection per stream, the push queue
 * and the metrics; the protocols say what requests mean and what to answer, and resolve subscriptions
 * through the same shared ResourceSets (resolve.ts). Generators are called through the resolver only.
 */
export class DiscoveryServer implements ProtocolHost {
  private ctx: PushContext | undefined;
  private readonly resolver: Resolver;
  private pushStartedAt = 0;
  private readonly conns = new Map<string, AnyConnection>();
  private readonly queue: PushQueue<AnyConnection>;
  private readonly protocols: { readonly [M in XdsMode]: XdsProtocol };
  private connSeq = 0;
  readonly log: Logger;
  private readonly metrics: Metrics;
  readonly controlPlaneId: string;

  constructor(private readonly options: DiscoveryServerOptions) {
    this.log = options.log.child({ scope: 'ads' });
    this.metrics = options.metrics;
    this.controlPlaneId = options.controlPlaneId ?? 'meshd';
    this.resolver = new Resolver(options.generators);
    this.protocols = { sotw: new SotwProtocol(this) as XdsProtocol, delta: new DeltaProtocol(this) as XdsProtocol };
    this.queue = new PushQueue(options.pushConcurrency ?? 100, (c) => this.pushConnection(c), (c, err) =>
      this.log.error({ err, proxy: c.proxy.id }, 'push failed'),
    );
  }

  get snapshot(): PushContext | undefined {
    return this.ctx;
  }

  get connections(): readonly AnyConnection[] {
    return [...this.conns.values()];
  }

  get cacheStats(): ResolverStats {
    return this.resolver.stats;
  }

  /**
   * Adds ADS (both methods) to `server`. With a `guard` (the TLS port, 15012) every stream is
   * authenticated before its first request is read, and each proxy it announces must pass the check the
   * guard returns.
   */
  register(server: grpc.Server, guard?: StreamGuard): void {
    const handle = (mode: XdsMode) => (call: XdsCall<unknown>) =>
      guard ? this.onGuardedStream(call, mode, guard) : this.onStream(call, mode);
    server.addService(ADS_SERVICE_DEFINITION, {
      StreamAggregatedResources: handle('sotw'),
      DeltaAggregatedResources: handle('delta'),
    });
  }

  private onGuardedStream(call: XdsCall<unknown>, mode: XdsMode, guard: StreamGuard): void {
    guard(call).then(
      (check) => this.onStream(call, mode, check),
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
    this.resolver.beginSnapshot(ctx);
    this.pushStartedAt = triggeredAt;
    for (const c of this.conns.values()) this.queue.enqueue(c);
  }

  private readonly cacheReadsSeen = { hit: 0, miss: 0 };

  /** istiod's pilot_xds_cache_reads{type=hit|miss}: a reuse across snapshots counts as a hit. */
  private recordCacheReads(): void {
    const { hits, reused, built } = this.resolver.stats;
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

  private onStream(call: XdsCall<unknown>, mode: XdsMode, check?: ProxyCheck): void {
    let conn: AnyConnection | undefined;
    const peer = call.getPeer();
    const close = () => {
      if (!conn || conn.closed) return;
      conn.closed = true;
      this.conns.delete(conn.id);
      this.queue.remove(conn);
      this.metrics.xdsClients.dec({ version: conn.proxy.istioVersion || 'unknown' });
      this.log.info({ proxy: conn.proxy.id, conn: conn.id, mode: conn.mode }, 'proxy disconnected');
    };
    const protocol = this.protocols[mode];
    call.on('data', (req: { node?: unknown }) => {
      try {
        if (!conn) {
          conn = this.connect(call, protocol, req.node, peer, check);
          if (!conn) return;
        }
        const type = protocol.onRequest(conn, req);
        if (type && this.ctx) this.answer(conn, type);
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

  private connect(call: XdsCall<unknown>, protocol: XdsProtocol, rawNode: unknown, peer: string, check?: ProxyCheck): AnyConnection | undefined {
    const mode = protocol.mode;
    const node = nodeSchema.safeParse(rawNode ?? {});
    const fail = (details: string) => {
      this.log.warn({ peer, details }, 'refusing xDS stream');
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details });
      return undefined;
    };
    if (!node.success) return fail(`first ${mode === 'delta' ? 'DeltaDiscoveryRequest' : 'DiscoveryRequest'} on a stream must carry node.id`);
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
    const id = `${proxy.podName || 'proxy'}-${++this.connSeq}`;
    const conn = protocol.open(id, proxy, peer, call) as AnyConnection;
    this.conns.set(conn.id, conn);
    this.metrics.xdsClients.inc({ version: proxy.istioVersion || 'unknown' });
    this.log.info({ proxy: proxy.id, conn: conn.id, peer, generator: proxy.generator, mode }, 'proxy connected');
    return conn;
  }

  /** A NACK, either protocol: kept on the watch for /debug/syncz and counted like istiod does. */
  recordNack(conn: StreamConnection, type: TypeUrl, watch: TypeWatch, nonce: string, message: string, version = watch.sentVersion): void {
    const short = SHORT_TYPE[type]!.toLowerCase() as XdsShortType;
    watch.lastNack = { nonce, version, message, at: new Date() };
    this.metrics.totalRejects.inc({ type: short });
    this.metrics.rejects[short].set({ node: conn.proxy.id, err: message.slice(0, 200) }, 1);
    this.log.warn({ proxy: conn.proxy.id, type: short, nonce, error: message, mode: conn.mode }, 'proxy rejected config (NACK)');
  }

  /** An ACK, either protocol: Delta's acknowledges the version sent with that nonce. */
  recordAck(_conn: StreamConnection, _type: TypeUrl, watch: TypeWatch, nonce: string, version = watch.sentVersion): void {
    watch.ackedNonce = nonce;
    watch.ackedVersion = version;
    watch.ackedAt = new Date();
  }

  /**
   * Asks the connection's protocol for the response that brings its watch of `type` up to date, writes
   * it and records it. Returns whether anything was written.
   */
  private answer(conn: AnyConnection, type: TypeUrl): boolean {
    const response = this.protocols[conn.mode].respond(conn, type);
    if (!response) return false;
    const watch = conn.watch(type);
    watch.sentNonce = response.nonce;
    watch.sentVersion = this.ctx!.version;
    watch.sentAt = new Date();
    const t0 = performance.now();
    conn.call.write(response.bytes);
    this.metrics.xdsSendTime.observe((performance.now() - t0) / 1000);
    this.metrics.pushes.inc({ type: SHORT_TYPE[type]!.toLowerCase() });
    this.log.debug({ proxy: conn.proxy.id, type: SHORT_TYPE[type], version: this.ctx!.version, nonce: response.nonce, resources: response.resources, mode: conn.mode }, 'sent');
    return true;
  }

  /** Pushes the current snapshot to one connection, type by type, honouring write back-pressure. */
  private async pushConnection(conn: AnyConnection): Promise<void> {
    if (!this.ctx || conn.closed) return;
    const startedAt = this.pushStartedAt;
    let wroteAny = false;
    for (const type of PUSH_ORDER) {
      if (!conn.watches.has(type) || conn.closed) continue;
      // Give the event loop a turn between responses: ACKs, new streams and /metrics keep flowing
      // while a large push is under way.
      await nextTurn();
      if (conn.closed || !this.ctx) return;
      const wrote = this.answer(conn, type);
      wroteAny ||= wrote;
      if (wrote && conn.call.writableNeedDrain) await waitDrain(conn.call);
    }
    if (wroteAny) this.metrics.convergence.observe((Date.now() - startedAt) / 1000);
  }

  /**
   * What a subscription resolves to in the current snapshot (resolve.ts): shared segments of the
   * proxy's outbound view and of its class, the same object across snapshots while nothing in it changed.
   */
  resolve(conn: StreamConnection, type: TypeUrl, sub: Subscription): ResourceSet {
    return this.resolver.resolve(conn.proxy, type, sub);
  }
}

async function waitDrain(call: XdsCall<unknown>): Promise<void> {
  await Promise.race([once(call, 'drain'), once(call, 'close'), once(call, 'error').catch(() => undefined)]);
}
