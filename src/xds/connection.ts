import type * as grpc from '@grpc/grpc-js';
import type { Proxy } from '../model/proxy.js';
import type { TypeUrl } from './resource-types.js';
import type { DiscoveryRequest } from './wire.js';

export interface Nack {
  readonly nonce: string;
  readonly version: string;
  readonly message: string;
  readonly at: Date;
}

/** One type's subscription on one stream: what the client asked for, what it was sent, what it said. */
export class Watch {
  /** null = wildcard (LDS/CDS with no names) */
  names: ReadonlySet<string> | null = null;
  sentNonce = '';
  sentVersion = '';
  sentAt: Date | undefined;
  ackedNonce = '';
  ackedVersion = '';
  ackedAt: Date | undefined;
  lastNack: Nack | undefined;
  /** resource name → content hash of what this client was last sent */
  sent = new Map<string, string>();
  /** a response the client has not answered yet (ACK or NACK) */
  get awaitingAck(): boolean {
    return this.sentNonce !== '' && this.sentNonce !== this.ackedNonce && this.sentNonce !== this.lastNack?.nonce;
  }
}

export type AdsCall = grpc.ServerDuplexStream<DiscoveryRequest, Uint8Array>;

export class Connection {
  readonly watches = new Map<TypeUrl, Watch>();
  readonly connectedAt = new Date();
  private nonceSeq = 0;
  /** set while a push for this connection waits in the queue: later snapshots coalesce into it */
  queued = false;
  closed = false;

  constructor(
    readonly id: string,
    readonly proxy: Proxy,
    readonly peer: string,
    readonly call: AdsCall,
  ) {}

  nextNonce(): string {
    return `${this.id}-${++this.nonceSeq}`;
  }

  watch(type: TypeUrl): Watch {
    let w = this.watches.get(type);
    if (!w) this.watches.set(type, (w = new Watch()));
    return w;
  }
}
