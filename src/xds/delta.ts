import type { Proxy } from '../model/proxy.js';
import { StreamConnection, type XdsCall } from './connection.js';
import { DeltaWatch } from './delta-watch.js';
import { encodeDeltaDiscoveryResponse, type DeltaDiscoveryRequest } from './delta-wire.js';
import type { OutgoingResponse, ProtocolHost, XdsProtocol } from './protocol.js';
import { SHORT_TYPE, STATE_OF_THE_WORLD_FULL, isKnownType, type TypeUrl } from './resource-types.js';

// Incremental ADS (DeltaAggregatedResources), the protocol istio-proxy speaks by default since Istio
// 1.22. The DiscoveryServer owns streams, snapshot, scheduling and metrics for both protocols (sotw.ts
// is the other); this module owns what is Delta-specific: subscription deltas, per-resource versions,
// removals.

/** A DeltaAggregatedResources stream. */
export class DeltaConnection extends StreamConnection<DeltaWatch> {
  readonly mode = 'delta' as const;

  /** LDS/CDS accept the legacy wildcard (a first request naming nothing); other types do not. */
  protected newWatch(type: TypeUrl): DeltaWatch {
    return new DeltaWatch(STATE_OF_THE_WORLD_FULL.has(type));
  }
}

export class DeltaProtocol implements XdsProtocol<DeltaConnection, DeltaDiscoveryRequest> {
  readonly mode = 'delta' as const;

  constructor(private readonly host: ProtocolHost) {}

  open(id: string, proxy: Proxy, peer: string, call: XdsCall<unknown>): DeltaConnection {
    return new DeltaConnection(id, proxy, peer, call);
  }

  onRequest(conn: DeltaConnection, req: DeltaDiscoveryRequest): TypeUrl | undefined {
    const type = req.type_url;
    if (!isKnownType(type)) {
      this.host.log.warn({ proxy: conn.proxy.id, type }, 'unsupported type_url requested on a delta stream; ignoring');
      return undefined;
    }
    const watch = conn.watch(type);
    if (req.response_nonce) {
      const short = SHORT_TYPE[type];
      if (req.response_nonce !== watch.sentNonce) {
        this.host.log.debug({ proxy: conn.proxy.id, type: short, nonce: req.response_nonce }, 'stale nonce on delta stream');
      } else if (req.error_detail && (req.error_detail.message !== '' || req.error_detail.code !== 0)) {
        this.host.recordNack(conn, type, watch, req.response_nonce, req.error_detail);
      } else {
        this.host.recordAck(conn, type, watch, req.response_nonce);
      }
    }
    // Subscription changes ride on ACKs, NACKs and even stale-nonce requests (Envoy batches them): each
    // arrives once and is never repeated, so it is applied whatever the nonce says.
    const changed = watch.apply({
      subscribe: req.resource_names_subscribe,
      unsubscribe: req.resource_names_unsubscribe,
      initialVersions: req.initial_resource_versions,
    });
    return changed ? type : undefined;
  }

  /** What the client lacks of its subscription in the current snapshot: changed resources and removals. */
  respond(conn: DeltaConnection, type: TypeUrl): OutgoingResponse | undefined {
    const ctx = this.host.snapshot!;
    const watch = conn.watch(type);
    const set = this.host.resolve(conn, type, watch.subscription);
    const diff = watch.diff(set);
    // Until a type has been answered once, answer even with nothing: a client with nothing to receive
    // must still finish warming.
    if (watch.sentNonce !== '' && diff.upserts.length === 0 && diff.removed.length === 0) {
      watch.commit(set, diff);
      return undefined;
    }
    const nonce = conn.nextNonce();
    const bytes = encodeDeltaDiscoveryResponse({
      systemVersionInfo: ctx.version, typeUrl: type, nonce, resources: diff.upserts, ...(diff.sharedLists ? { sharedLists: diff.sharedLists } : {}), removed: diff.removed,
      controlPlane: this.host.controlPlaneId,
    });
    watch.commit(set, diff);
    return { nonce, bytes, resources: diff.upserts.length + diff.removed.length };
  }
}
