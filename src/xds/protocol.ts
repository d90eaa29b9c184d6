import type { Logger } from '../telemetry/log.js';
import type { PushContext } from '../model/push-context.js';
import type { Proxy } from '../model/proxy.js';
import type { ResourceSet } from './cache.js';
import type { StreamConnection, Subscription, TypeWatch, XdsCall, XdsMode } from './connection.js';
import type { TypeUrl } from './resource-types.js';

// The two ADS protocols (state of the world in sotw.ts, incremental in delta.ts) behind one pair of
// role-named interfaces. The DiscoveryServer owns streams, the snapshot, scheduling, sending and
// metrics; a protocol owns what its messages mean: what a request asks for, and what response brings a
// client's watch of one type up to date with the snapshot.

/** One ADS protocol, as the server drives it. */
export interface XdsProtocol<C extends StreamConnection = StreamConnection, Req = unknown> {
  readonly mode: XdsMode;
  /** A connection for a new stream of this protocol. */
  open(id: string, proxy: Proxy, peer: string, call: XdsCall<unknown>): C;
  /**
   * Records what one request says (ACK, NACK, subscription change). Returns the type it wants answered,
   * or undefined. Writes nothing: responses are the server's to schedule.
   */
  onRequest(conn: C, req: Req): TypeUrl | undefined;
  /**
   * The encoded response that brings `conn`'s watch of `type` up to date with the current snapshot,
   * recorded on the watch as sent (nonce, version, what the client now holds); undefined when the client
   * needs nothing.
   */
  respond(conn: C, type: TypeUrl): OutgoingResponse | undefined;
}

export interface OutgoingResponse {
  readonly nonce: string;
  readonly bytes: Uint8Array;
  /** resources carried (for logs and /debug) */
  readonly resources: number;
}

/** What a protocol needs from the server both protocols share. */
export interface ProtocolHost {
  readonly snapshot: PushContext | undefined;
  readonly log: Logger;
  readonly controlPlaneId: string;
  /** what a subscription resolves to in the current snapshot (shared by every proxy of its class) */
  resolve(conn: StreamConnection, type: TypeUrl, subscription: Subscription): ResourceSet;
  recordAck(conn: StreamConnection, type: TypeUrl, watch: TypeWatch, nonce: string, version?: string): void;
  recordNack(conn: StreamConnection, type: TypeUrl, watch: TypeWatch, nonce: string, detail: NackDetail, version?: string): void;
}

/** A request's error_detail (google.rpc.Status): the gRPC code labels the reject metric, the message is shown. */
export interface NackDetail {
  readonly code: number;
  readonly message: string;
}
