import { createHash } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import type { ResourceSet } from './cache.js';
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
  private watched: readonly string[] | null = null;
  /** identifies the name set, so proxies watching the same names share one resolved ResourceSet */
  signature = '*';
  sentNonce = '';
  sentVersion = '';
  sentAt: Date | undefined;
  ackedNonce = '';
  ackedVersion = '';
  ackedAt: Date | undefined;
  lastNack: Nack | undefined;
  /** what this client was last brought up to date with (shared with other proxies of its class) */
  syncedTo: ResourceSet | undefined;

  /** null = wildcard (LDS/CDS with no names); otherwise the names, sorted */
  get names(): readonly string[] | null {
    return this.watched;
  }

  set names(names: Iterable<string> | null) {
    if (names === null) {
      this.watched = null;
      this.signature = '*';
      return;
    }
    const sorted = [...new Set(names)].sort();
    this.watched = sorted;
    this.signature = createHash('sha1').update(sorted.join('\n')).digest('base64url');
  }

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
