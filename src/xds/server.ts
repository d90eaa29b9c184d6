import * as grpc from '@grpc/grpc-js';
import { connectionBytesWritten, peerIpOf, resetServerCall } from '../net/grpc-server.js';
import { isLoopback } from '../net/debug-http.js';
import type { Logger } from '../telemetry/log.js';
import type { Metrics, XdsShortType } from '../telemetry/metrics.js';
import type { PushContext } from '../model/push-context.js';
import { nodeSchema, parseProxy, type GeneratorName, type Proxy } from '../model/proxy.js';
import type { ResourceSet } from './cache.js';
import type { StreamConnection, Subscription, TypeWatch, XdsCall, XdsMode } from './connection.js';
import { DeltaProtocol, type DeltaConnection } from './delta.js';
import { decodeDeltaDiscoveryRequest } from './delta-wire.js';
import type { Generator } from './generators/generator.js';
import type { NackDetail, ProtocolHost, XdsProtocol } from './protocol.js';
import { DEFAULT_PUSH_SCHEDULER_OPTIONS, PushScheduler, YIELD, type PushSchedulerOptions, type PushSchedulerStats } from './push-scheduler.js';
import { Resolver, type ResolverStats } from './resolve.js';
import { PUSH_ORDER, SHORT_TYPE, type TypeUrl } from './resource-types.js';
import { SotwProtocol, type SotwConnection } from './sotw.js';
import { decodeDiscoveryRequest, type DiscoveryRequest } from './wire.js';
import { DEBUG_TYPE_PREFIX, debugResponse } from './debug-xds.js';
import { DEFAULT_SUBSCRIPTION_LIMITS, type SubscriptionLimits } from './subscription-limits.js';
import { subscriptionOf } from './connection.js';
import { filterSecretNames, SAME_NAMESPACE_ONLY, type SecretReadAuthorizer, type VerifiedIdentity } from './secret-access.js';
import { TYPE } from './resource-types.js';

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
  /** how responses are scheduled and bounded (concurrency = istiod's PILOT_PUSH_THROTTLE, send timeout) */
  readonly push?: Partial<PushSchedulerOptions>;
  readonly limits?: Partial<SubscriptionLimits>;
  readonly controlPlaneId?: string;
  /**
   * whether a verified identity may read its namespace's Secrets over SDS (Kubernetes mode: a
   * SubjectAccessReview); default: every verified identity may (config-dir mode)
   */
  readonly secretAccess?: SecretReadAuthorizer;
  /** told of every proxy stream that opens and closes (WorkloadEntry auto-registration) */
  readonly connectionObserver?: ConnectionObserver;
}

/**
 * Told when a proxy's stream opens (with the identity it authenticated as on the TLS port; none on the
 * plaintext port) and when it closes. A rejected onConnect ends the stream with the error's gRPC `code`
 * (istiod: initConnection fails when OnConnect does).
 */
export interface ConnectionObserver {
  onConnect(proxy: Proxy, identity: VerifiedIdentity | undefined, connectedAt: Date): Promise<void>;
  onDisconnect(proxy: Proxy, connectedAt: Date): void;
}

export { DEFAULT_SUBSCRIPTION_LIMITS, type SubscriptionLimits };

/** A stream meshd cut because its writes did not complete: kept for /debug/syncz. */
export interface CutStream {
  readonly connection: string;
  readonly proxy: string;
  readonly peer: string;
  readonly reason: string;
  readonly at: Date;
}

const RECENT_CUTS = 100;

/** A reason to refuse the proxy a stream announces, or undefined to accept it. */
export type ProxyCheck = (proxy: Proxy) => string | undefined;
/** What authenticating a stream established: the caller, and the check each proxy it announces must pass. */
export interface GuardedStream {
  readonly identity: VerifiedIdentity;
  readonly check: ProxyCheck;
}
/** Authenticates a stream (rejects with an Error carrying a gRPC `code` to refuse it). */
export type StreamGuard = (call: XdsCall<unknown>) => Promise<GuardedStream>;

/**
 * ADS, state of the world (StreamAggregatedResources, sotw.ts) and incremental (DeltaAggregatedResources,
 * delta.ts). Holds the current snapshot and its encode cache, one connection per stream, the push queue
 * and the metrics; the protocols say what requests mean and what to answer, and resolve subscriptions
 * through the same shared ResourceSets (resolve.ts). Generators are called through the resolver only.
 */
export class DiscoveryServer implements ProtocolHost {
  private ctx: PushContext | undefined;
  private readonly resolver: Resolver;
  private readonly conns = new Map<string, AnyConnection>();
  /** when each stream opened, for the connection observer (auto-registration compares it with the entry's) */
  private readonly connectedAt = new WeakMap<AnyConnection, Date>();
  private readonly scheduler: PushScheduler<AnyConnection>;
  private readonly limits: SubscriptionLimits;
  private namesTotal = 0;
  private readonly cuts: CutStream[] = [];
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
    this.limits = { ...DEFAULT_SUBSCRIPTION_LIMITS, ...options.limits };
    this.scheduler = new PushScheduler(
      {
        sendNext: (c, done, deadline) => this.sendNext(c, done, deadline),
        cut: (c, ms, bytes) => this.cutStalled(c, ms, bytes),
        progress: (c) => connectionBytesWritten(c.call),
        onWriteDone: (_c, _bytes, ms) => this.metrics.xdsSendTime.observe(ms / 1000),
      },
      { ...DEFAULT_PUSH_SCHEDULER_OPTIONS, ...options.push },
    );
    this.metrics.xdsPushStats = () => this.pushStats;
  }

  /** the scheduler's view: streams waiting for a turn, writes in progress, bytes in flight, streams cut */
  get pushStats(): PushSchedulerStats {
    return this.scheduler.stats;
  }

  /** the streams cut for not taking their writes, newest last (bounded) */
  get recentCuts(): readonly CutStream[] {
    return this.cuts;
  }

  /** the write in progress on a stream, if any: how long it has been pending, its size, whether slow */
  pendingWrite(conn: AnyConnection): { ms: number; bytes: number; slow: boolean } | undefined {
    return this.scheduler.pendingWrite(conn);
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
      (guarded) => this.onStream(call, mode, guarded),
      (err: Error & { code?: grpc.status }) => {
        this.log.warn({ peer: call.getPeer(), details: err.message }, 'refusing unauthenticated xDS stream');
        call.emit('error', { code: err.code ?? grpc.status.UNAUTHENTICATED, details: err.message });
      },
    );
  }

  /**
   * Installs a new snapshot: every type every connected proxy watches wants a response (coalescing with
   * any still pending), produced when the proxy's turn comes.
   */
  push(ctx: PushContext, triggeredAt: number = Date.now()): void {
    this.ctx = ctx;
    this.recordCacheReads();
    this.resolver.beginSnapshot(ctx);
    for (const c of this.conns.values()) {
      c.pushTriggeredAt ??= triggeredAt;
      for (const type of c.watches.keys()) c.pending.add(type);
      this.scheduler.wake(c);
    }
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

  /** Resolves once no stream waits for a response and every write is done. */
  settled(): Promise<void> {
    return this.scheduler.idle();
  }

  closeAll(): void {
    this.scheduler.stop();
    for (const c of this.conns.values()) {
      if (this.scheduler.writing(c)) resetServerCall(c.call);
      else c.call.end();
    }
  }

  private onStream(call: XdsCall<unknown>, mode: XdsMode, guarded?: GuardedStream): void {
    let conn: AnyConnection | undefined;
    const peer = call.getPeer();
    const close = () => {
      if (conn) this.forget(conn);
    };
    const protocol = this.protocols[mode];
    let debugWrite = false;
    call.on('data', (req: { node?: unknown; type_url?: string }) => {
      try {
        if (mode === 'sotw' && req.type_url?.startsWith(DEBUG_TYPE_PREFIX)) {
          // istioctl's debug requests: answered from the current state, never as a proxy's subscription
          if (!debugWrite) debugWrite = this.answerDebug(call, req as DiscoveryRequest, peer, () => (debugWrite = false));
          return;
        }
        if (!conn) {
          conn = this.connect(call, protocol, req.node, peer, guarded);
          if (!conn) return;
        }
        if (conn.closed) return;
        conn.requests++;
        // Only record what the client wants: responses are produced when the scheduler gives this
        // stream its turn, never here in the data callback.
        const type = protocol.onRequest(conn, req);
        if (!type) return;
        if (!this.withinLimits(conn)) return;
        conn.pending.add(type);
        if (this.ctx) this.scheduler.wake(conn);
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

  private connect(call: XdsCall<unknown>, protocol: XdsProtocol, rawNode: unknown, peer: string, guarded?: GuardedStream): AnyConnection | undefined {
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
    const denied = guarded?.check(proxy);
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
    conn.verifiedIdentity = guarded?.identity;
    this.conns.set(conn.id, conn);
    this.metrics.proxyConnected(proxy.id, proxy.istioVersion);
    this.log.info({ proxy: proxy.id, conn: conn.id, peer, generator: proxy.generator, mode }, 'proxy connected');
    const observer = this.options.connectionObserver;
    if (observer) {
      const connectedAt = new Date();
      this.connectedAt.set(conn, connectedAt);
      observer.onConnect(proxy, guarded?.identity, connectedAt).catch((err: Error & { code?: grpc.status }) => {
        this.log.warn({ proxy: proxy.id, conn: conn.id, details: err.message }, 'refusing xDS stream');
        if (conn.closed) return;
        call.emit('error', { code: err.code ?? grpc.status.INTERNAL, details: err.message });
        this.forget(conn);
      });
    }
    return conn;
  }

  /**
   * A debug request (debug-xds.ts): answered after the data callback returns, one at a time per stream
   * (a request arriving while the previous answer is being written is dropped, and logged), to loopback
   * peers only. ACKs of debug responses are not answered. Returns whether a write was started.
   */
  private answerDebug(call: XdsCall<unknown>, req: DiscoveryRequest, peer: string, written: () => void): boolean {
    if (req.response_nonce) return false;
    if (!isLoopback(peerIpOf(peer))) {
      this.log.warn({ peer, type: req.type_url }, 'refusing xDS debug request from a non-local peer');
      call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: 'xDS debug types answer local callers only: use `kubectl port-forward` to this port' });
      return false;
    }
    setImmediate(() => {
      if (call.cancelled || call.destroyed) return written();
      const answer = debugResponse(this, req.type_url, req.resource_names, `debug-${++this.connSeq}`);
      if ('error' in answer) {
        this.log.info({ peer, type: req.type_url, names: req.resource_names }, answer.error);
        call.emit('error', { code: grpc.status.NOT_FOUND, details: answer.error });
        return written();
      }
      call.write(answer.bytes, () => written());
    });
    return true;
  }

  /** A NACK, either protocol: kept on the watch for /debug/syncz and counted like istiod does. */
  recordNack(conn: StreamConnection, type: TypeUrl, watch: TypeWatch, nonce: string, detail: NackDetail, version = watch.sentVersion): void {
    const short = SHORT_TYPE[type]!.toLowerCase() as XdsShortType;
    const message = detail.message;
    watch.lastNack = { nonce, version, message, at: new Date() };
    this.metrics.recordReject(short, conn.proxy.id, detail.code);
    this.log.warn({ proxy: conn.proxy.id, type: short, nonce, error: message.length > 4096 ? `${message.slice(0, 4096)}…` : message, mode: conn.mode }, 'proxy rejected config (NACK)');
  }

  /** An ACK, either protocol: Delta's acknowledges the version sent with that nonce. */
  recordAck(_conn: StreamConnection, _type: TypeUrl, watch: TypeWatch, nonce: string, version = watch.sentVersion): void {
    watch.ackedNonce = nonce;
    watch.ackedVersion = version;
    watch.ackedAt = new Date();
  }

  /**
   * The stream's turn: the next type that wants an answer, in make-before-break order, gets the
   * response its protocol builds from the current snapshot. Returns the bytes written, or undefined when
   * the stream needs nothing (then a pending push to it has converged).
   */
  private sendNext(conn: AnyConnection, done: (err?: Error | null) => void, deadline: number): number | undefined | typeof YIELD {
    const ctx = this.ctx;
    if (!ctx || conn.closed) return undefined;
    const protocol = this.protocols[conn.mode];
    for (const type of PUSH_ORDER) {
      if (!conn.pending.has(type)) continue;
      const t0 = performance.now();
      let response: ReturnType<typeof protocol.respond>;
      try {
        // what the response needs is built in slices (resolve.ts prepare): the event loop runs in between
        const watch = conn.watches.get(type);
        if (type === TYPE.SDS && !this.secretAccessKnown(conn)) {
          conn.pending.delete(type); // asked again once the authorizer answers
          continue;
        }
        if (watch && !this.resolver.prepare(conn.proxy, type, this.subscriptionFor(conn, type, watch.subscription), deadline)) return YIELD;
        conn.pending.delete(type);
        response = protocol.respond(conn, type);
      } catch (err) {
        // a generator bug: counted as istiod does (pilot_total_xds_internal_errors), the other types still go out
        conn.pending.delete(type);
        this.metrics.totalInternalErrors.inc();
        this.log.error({ err, proxy: conn.proxy.id, type: SHORT_TYPE[type] }, 'failed to generate xDS response');
        continue;
      }
      if (!response) continue;
      const watch = conn.watch(type);
      watch.sentNonce = response.nonce;
      watch.sentVersion = ctx.version;
      watch.sentAt = new Date();
      conn.wroteSincePush = true;
      conn.call.write(response.bytes, done);
      this.metrics.pushes.inc({ type: SHORT_TYPE[type]!.toLowerCase() });
      this.metrics.pushTime.observe({ type: SHORT_TYPE[type]!.toLowerCase() }, (performance.now() - t0) / 1000);
      this.metrics.configSizeBytes.observe({ type }, response.bytes.byteLength);
      this.log.debug({ proxy: conn.proxy.id, type: SHORT_TYPE[type], version: ctx.version, nonce: response.nonce, resources: response.resources, mode: conn.mode }, 'sent');
      return response.bytes.byteLength;
    }
    conn.pending.clear();
    if (conn.pushTriggeredAt !== undefined) {
      if (conn.wroteSincePush) this.metrics.convergence.observe((Date.now() - conn.pushTriggeredAt) / 1000);
      conn.pushTriggeredAt = undefined;
      conn.wroteSincePush = false;
    }
    return undefined;
  }

  /** A stream whose write did not complete within the send timeout: cut, logged, counted, kept for syncz. */
  private cutStalled(conn: AnyConnection, pendingMs: number, bytes: number): void {
    const reason = `send did not complete within ${Math.round(pendingMs)} ms, the stream taking no data for the send timeout (${bytes} bytes pending)`;
    this.metrics.writeTimeouts.inc();
    this.log.warn({ proxy: conn.proxy.id, conn: conn.id, peer: conn.peer, pendingMs: Math.round(pendingMs), bytes }, 'cutting xDS stream: send timed out');
    this.cuts.push({ connection: conn.id, proxy: conn.proxy.id, peer: conn.peer, reason, at: new Date() });
    if (this.cuts.length > RECENT_CUTS) this.cuts.shift();
    resetServerCall(conn.call);
    this.forget(conn);
  }

  /**
   * Enforces the subscription limits after a request changed what the stream subscribes to: a stream
   * over them is refused with RESOURCE_EXHAUSTED (and logged); other streams are unaffected.
   */
  private withinLimits(conn: AnyConnection): boolean {
    let names = 0;
    for (const w of conn.watches.values()) names += w.subscription.names.length;
    this.namesTotal += names - conn.subscribedNames;
    conn.subscribedNames = names;
    const over =
      names > this.limits.namesPerConnection
        ? `subscribes to ${names} resource names, more than the ${this.limits.namesPerConnection} allowed per stream`
        : this.namesTotal > this.limits.namesTotal
          ? `subscriptions of all streams would hold ${this.namesTotal} resource names, more than the ${this.limits.namesTotal} allowed`
          : undefined;
    if (!over) return true;
    this.metrics.subscriptionRefusals.inc();
    this.log.warn({ proxy: conn.proxy.id, conn: conn.id, peer: conn.peer, names, total: this.namesTotal }, `refusing xDS stream: ${over}`);
    const details = `node ${conn.proxy.id} ${over}`;
    if (this.scheduler.writing(conn)) resetServerCall(conn.call);
    else conn.call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details });
    this.forget(conn);
    return false;
  }

  /** Drops a closed (or cut, or refused) stream from every account. */
  private forget(conn: AnyConnection): void {
    if (conn.closed) return;
    conn.closed = true;
    this.conns.delete(conn.id);
    this.scheduler.remove(conn);
    this.namesTotal -= conn.subscribedNames;
    conn.subscribedNames = 0;
    this.metrics.proxyLeft(conn.proxy.id, conn.proxy.istioVersion);
    this.log.info({ proxy: conn.proxy.id, conn: conn.id, mode: conn.mode }, 'proxy disconnected');
    const connectedAt = this.connectedAt.get(conn);
    if (connectedAt) this.options.connectionObserver?.onDisconnect(conn.proxy, connectedAt);
  }

  /**
   * What a subscription resolves to in the current snapshot (resolve.ts): shared segments of the
   * proxy's outbound view and of its class, the same object across snapshots while nothing in it changed.
   */
  resolve(conn: StreamConnection, type: TypeUrl, sub: Subscription): ResourceSet {
    return this.resolver.resolve(conn.proxy, type, this.subscriptionFor(conn, type, sub));
  }

  /**
   * What a subscription may resolve to on this stream: for SDS only the Secrets the stream's verified
   * identity may read (secret-access.ts); every other type as subscribed.
   */
  private subscriptionFor(conn: StreamConnection, type: TypeUrl, sub: Subscription): Subscription {
    if (type !== TYPE.SDS) return sub;
    const f = filterSecretNames(sub.names, conn.verifiedIdentity, this.options.secretAccess ?? SAME_NAMESPACE_ONLY);
    if (f.state === 'ask') return subscriptionOf(false, []);
    const signature = f.denied.join('\n');
    if (f.denied.length > 0 && signature !== conn.sdsDeniedSignature) {
      this.metrics.sdsCertificateErrors.inc();
      const names = f.denied.length > 3 ? `${f.denied.slice(0, 3).join(', ')} and ${f.denied.length - 3} more` : f.denied.join(', ');
      this.log.warn({ proxy: conn.proxy.id, peer: conn.peer, identity: conn.verifiedIdentity?.identity, denied: f.denied.length },
        `proxy ${conn.proxy.id} attempted to access unauthorized certificates ${names}: ${f.reason ?? 'not allowed'}`);
    }
    conn.sdsDeniedSignature = signature;
    return f.allowed.length === sub.names.length ? sub : subscriptionOf(false, f.allowed);
  }

  /**
   * Whether SDS names of this stream can be filtered now; if the authorizer must be asked first, asks (once
   * at a time per stream) and brings SDS back to the stream's turn when the answer is in.
   */
  private secretAccessKnown(conn: AnyConnection): boolean {
    const watch = conn.watches.get(TYPE.SDS);
    const identity = conn.verifiedIdentity;
    if (!watch || !identity) return true;
    const authorizer = this.options.secretAccess ?? SAME_NAMESPACE_ONLY;
    if (filterSecretNames(watch.subscription.names, identity, authorizer).state === 'ready') return true;
    if (conn.sdsAuthorizing) return false;
    conn.sdsAuthorizing = true;
    void authorizer.check(identity).then(() => {
      conn.sdsAuthorizing = false;
      if (conn.closed) return;
      conn.pending.add(TYPE.SDS);
      this.scheduler.wake(conn);
    });
    return false;
  }
}
