import { createHash } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import type { ResourceSet } from './cache.js';
import type { Proxy } from '../model/proxy.js';
import type { TypeUrl } from './resource-types.js';
import type { VerifiedIdentity } from './secret-access.js';

export interface Nack {
  readonly nonce: string;
  readonly version: string;
  readonly message: string;
  readonly at: Date;
}

/**
 * What a subscription asks the generator for: the wildcard set (LDS/CDS), explicit names, or both
 * (Delta lets a client mix them). `signature` identifies it, so proxies of one class asking for the same
 * thing share one resolved ResourceSet whatever protocol they speak. Subscriptions are interned: every
 * stream subscribing to the same names holds the same object (one copy of the names, not one per proxy).
 */
export interface Subscription {
  readonly wildcard: boolean;
  /** explicit names, sorted */
  readonly names: readonly string[];
  readonly signature: string;
  /** whether `name` is one of the explicit names */
  has(name: string): boolean;
}

class InternedSubscription implements Subscription {
  private index: Set<string> | undefined;

  constructor(
    readonly wildcard: boolean,
    readonly names: readonly string[],
    readonly signature: string,
  ) {}

  has(name: string): boolean {
    if (this.names.length <= 8) return this.names.includes(name);
    return (this.index ??= new Set(this.names)).has(name);
  }
}

export const WILDCARD_ONLY: Subscription = new InternedSubscription(true, [], '*');
export const NO_NAMES: Subscription = new InternedSubscription(false, [], '');

/** Live subscriptions by signature; an entry goes when no stream holds its subscription any more. */
const interned = new Map<string, WeakRef<InternedSubscription>>();
const released = new FinalizationRegistry<string>((signature) => {
  if (interned.get(signature)?.deref() === undefined) interned.delete(signature);
});

export function subscriptionOf(wildcard: boolean, names: Iterable<string>): Subscription {
  const sorted = [...new Set(names)].sort();
  if (sorted.length === 0) return wildcard ? WILDCARD_ONLY : NO_NAMES;
  const digest = createHash('sha1').update(sorted.join('\n')).digest('base64url');
  const signature = wildcard ? `*+${digest}` : digest;
  const existing = interned.get(signature)?.deref();
  if (existing) return existing;
  const sub = new InternedSubscription(wildcard, sorted, signature);
  interned.set(signature, new WeakRef(sub));
  released.register(sub, signature);
  return sub;
}

/** One type's exchange on one stream, either protocol: what was sent, what the client said back. */
export abstract class TypeWatch {
  sentNonce = '';
  sentVersion = '';
  sentAt: Date | undefined;
  ackedNonce = '';
  ackedVersion = '';
  ackedAt: Date | undefined;
  lastNack: Nack | undefined;
  /** what this client was last brought up to date with (shared with other proxies of its class) */
  syncedTo: ResourceSet | undefined;

  abstract get subscription(): Subscription;

  /** a response the client has not answered yet (ACK or NACK) */
  get awaitingAck(): boolean {
    return this.sentNonce !== '' && this.sentNonce !== this.ackedNonce && this.sentNonce !== this.lastNack?.nonce;
  }
}

/** The bidirectional stream of either ADS method, as the server sees it. */
export type XdsCall<Req> = grpc.ServerDuplexStream<Req, Uint8Array>;

export type XdsMode = 'sotw' | 'delta';

/** One proxy's ADS stream: its watches by type, its nonce sequence, and what it waits for. */
export abstract class StreamConnection<W extends TypeWatch = TypeWatch> {
  abstract readonly mode: XdsMode;
  readonly watches = new Map<TypeUrl, W>();
  readonly connectedAt = new Date();
  private nonceSeq = 0;
  closed = false;
  /** types that want a response when the stream's turn comes (requests and snapshots coalesce here) */
  readonly pending = new Set<TypeUrl>();
  /** when the config change behind the push this stream has not finished yet was first seen */
  pushTriggeredAt: number | undefined;
  wroteSincePush = false;
  /** resource names subscribed on all types, as last counted against the limits */
  subscribedNames = 0;
  /** requests read from the stream */
  requests = 0;
  /** who authenticated the stream (TLS xDS port only): what SDS authorization reads */
  verifiedIdentity: VerifiedIdentity | undefined;
  /** SDS names last refused on this stream (so a refusal is logged once, not on every push) */
  sdsDeniedSignature = '';
  /** a secret-read authorization check is in flight for this stream */
  sdsAuthorizing = false;

  constructor(
    readonly id: string,
    readonly proxy: Proxy,
    readonly peer: string,
    readonly call: XdsCall<unknown>,
  ) {}

  nextNonce(): string {
    return `${this.id}-${++this.nonceSeq}`;
  }

  protected abstract newWatch(type: TypeUrl): W;

  watch(type: TypeUrl): W {
    let w = this.watches.get(type);
    if (!w) this.watches.set(type, (w = this.newWatch(type)));
    return w;
  }
}
