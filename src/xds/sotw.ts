import type { Proxy } from '../model/proxy.js';
import { diffSets, type EncodedResource } from './cache.js';
import { StreamConnection, TypeWatch, WILDCARD_ONLY, subscriptionOf, type Subscription, type XdsCall } from './connection.js';
import type { OutgoingResponse, ProtocolHost, XdsProtocol } from './protocol.js';
import { SHORT_TYPE, STATE_OF_THE_WORLD_FULL, isKnownType, type TypeUrl } from './resource-types.js';
import { encodeDiscoveryResponse, type DiscoveryRequest } from './wire.js';

// State-of-the-world ADS (StreamAggregatedResources): every request carries the whole name list of its
// type; LDS and CDS responses carry every resource, RDS and EDS the ones that changed. The server owns
// streams, scheduling and sending; this module owns what SotW requests mean and what to answer.

/** One type's state-of-the-world subscription: the whole name list, replaced by every request. */
export class SotwWatch extends TypeWatch {
  private watched: readonly string[] | null = null;
  private sub: Subscription = WILDCARD_ONLY;
  /** the client asked (first request, or new names): answer with everything it subscribes to */
  requested = false;

  /** null = wildcard (LDS/CDS with no names); otherwise the names, sorted */
  get names(): readonly string[] | null {
    return this.watched;
  }

  set names(names: Iterable<string> | null) {
    this.sub = names === null ? WILDCARD_ONLY : subscriptionOf(false, names);
    this.watched = names === null ? null : this.sub.names;
  }

  get subscription(): Subscription {
    return this.sub;
  }
}

/** A StreamAggregatedResources (state-of-the-world) stream. */
export class SotwConnection extends StreamConnection<SotwWatch> {
  readonly mode = 'sotw' as const;

  protected newWatch(): SotwWatch {
    return new SotwWatch();
  }
}

type RequestKind = 'initial' | 'ack' | 'nack' | 'stale';

export class SotwProtocol implements XdsProtocol<SotwConnection, DiscoveryRequest> {
  readonly mode = 'sotw' as const;

  constructor(private readonly host: ProtocolHost) {}

  open(id: string, proxy: Proxy, peer: string, call: XdsCall<unknown>): SotwConnection {
    return new SotwConnection(id, proxy, peer, call);
  }

  onRequest(conn: SotwConnection, req: DiscoveryRequest): TypeUrl | undefined {
    const type = req.type_url;
    if (!isKnownType(type)) {
      this.host.log.warn({ proxy: conn.proxy.id, type }, 'unsupported type_url requested; ignoring');
      return undefined;
    }
    const existing = conn.watches.get(type);
    const kind = classify(existing, req);
    const watch = conn.watch(type);
    if (kind === 'stale') {
      this.host.log.debug({ proxy: conn.proxy.id, type: SHORT_TYPE[type], nonce: req.response_nonce }, 'stale nonce; ignoring');
      return undefined;
    }
    if (kind === 'nack') {
      this.host.recordNack(conn, type, watch, req.response_nonce, req.error_detail ?? { code: 2, message: '' }, req.version_info);
    } else if (kind === 'ack') {
      this.host.recordAck(conn, type, watch, req.response_nonce, req.version_info);
    }
    const wildcardable = STATE_OF_THE_WORLD_FULL.has(type);
    const names = req.resource_names.length === 0 && wildcardable ? null : new Set(req.resource_names);
    const changed = kind === 'initial' || !sameNames(watch.names, names);
    if (!changed) return undefined;
    watch.names = names;
    // Always answer the first request of a stream, even when the client claims a version: after a
    // control-plane restart clients come back with their old version_info and an empty nonce.
    watch.requested = true;
    return type;
  }

  /**
   * After a request: every resource the client subscribes to. After a snapshot: LDS/CDS go out whole if
   * anything in them changed, RDS/EDS carry only the resources whose content changed.
   */
  respond(conn: SotwConnection, type: TypeUrl): OutgoingResponse | undefined {
    const ctx = this.host.snapshot!;
    const watch = conn.watch(type);
    const set = this.host.resolve(conn, type, watch.subscription);
    let toSend = set.resources;
    let lists: readonly (readonly EncodedResource[])[] = set.segments.map((s) => s.resources);
    const prev = watch.syncedTo;
    if (!watch.requested && prev) {
      if (prev.digest === set.digest) return undefined;
      if (!STATE_OF_THE_WORLD_FULL.has(type)) {
        // computed once per (previous, new) set pair and shared by every stream making that step
        toSend = diffSets(prev, set).changed;
        lists = [toSend];
        if (toSend.length === 0) {
          watch.syncedTo = set;
          return undefined;
        }
      }
    }
    watch.requested = false;
    const nonce = conn.nextNonce();
    const bytes = encodeDiscoveryResponse({
      versionInfo: ctx.version, typeUrl: type, nonce, resources: toSend, sharedLists: lists, controlPlane: this.host.controlPlaneId,
    });
    watch.syncedTo = set;
    return { nonce, bytes, resources: toSend.length };
  }
}

function classify(watch: SotwWatch | undefined, req: DiscoveryRequest): RequestKind {
  if (!req.response_nonce || !watch) return 'initial';
  if (req.response_nonce !== watch.sentNonce) return 'stale';
  return req.error_detail && req.error_detail.message !== '' ? 'nack' : req.error_detail?.code ? 'nack' : 'ack';
}

function sameNames(a: readonly string[] | null, b: ReadonlySet<string> | null): boolean {
  if (a === null || b === null) return a === null && b === null;
  if (a.length !== b.size) return false;
  return a.every((n) => b.has(n));
}
