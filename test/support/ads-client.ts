import * as grpc from '@grpc/grpc-js';
import { lookupType, jsonToStruct } from '../../src/envoy/protos.js';
import { TYPE_NAMES } from './type-names.js';
import { hangGuardMs } from './hang-guard.js';

// Bare ADS clients speaking the wire protocol directly (no grpc-js-xds), state of the world and Delta:
// they let tests send exact nonces/versions/subscriptions/NACKs.

export interface Response {
  version_info: string;
  type_url: string;
  nonce: string;
  resources: { type_url: string; value: Uint8Array }[];
}

export interface RequestInit {
  type_url: string;
  resource_names?: string[];
  version_info?: string;
  response_nonce?: string;
  error_detail?: { code: number; message: string };
  node?: { id: string; metadata?: Record<string, unknown>; locality?: object };
}

const SERVICE = '/envoy.service.discovery.v3.AggregatedDiscoveryService';

/** Stream options: call metadata (e.g. a bearer token), and TLS credentials for the TLS port (plaintext by default). */
export interface StreamClientOptions {
  readonly metadata?: grpc.Metadata;
  readonly credentials?: grpc.ChannelCredentials;
  readonly channelOptions?: grpc.ChannelOptions;
}

/** One bidi stream with "wait for the next matching response" on top; shared by both protocols. */
abstract class RawStreamClient<Req extends { type_url: string }, Res extends { type_url: string; nonce: string }> {
  private readonly client: grpc.Client;
  protected readonly stream: grpc.ClientDuplexStream<Req, Res>;
  readonly responses: Res[] = [];
  private waiters: { pred: (r: Res) => boolean; resolve: (r: Res) => void; reject: (e: Error) => void }[] = [];
  error: grpc.ServiceError | undefined;
  ended = false;
  /** encoded size of every response received */
  bytesReceived = 0;

  constructor(addr: string, method: string, requestType: string, responseType: string, options: StreamClientOptions = {}) {
    this.client = new grpc.Client(addr, options.credentials ?? grpc.credentials.createInsecure(), options.channelOptions ?? {});
    const reqType = lookupType(requestType);
    const resType = lookupType(responseType);
    this.stream = this.client.makeBidiStreamRequest(
      `${SERVICE}/${method}`,
      (r: Req) => {
        const node = (r as { node?: RequestInit['node'] }).node;
        const msg = { ...r, node: node && { ...node, metadata: node.metadata && jsonToStruct(node.metadata) } };
        return Buffer.from(reqType.encode(reqType.fromObject(msg)).finish());
      },
      (b: Buffer) => {
        this.bytesReceived += b.length;
        return resType.toObject(resType.decode(b), { longs: String, defaults: true }) as Res;
      },
      options.metadata ?? new grpc.Metadata(),
    );
    this.stream.on('data', (r: Res) => {
      this.responses.push(r);
      for (const w of [...this.waiters]) {
        if (w.pred(r)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(r);
        }
      }
    });
    this.stream.on('error', (e: grpc.ServiceError) => {
      this.error = e;
      for (const w of this.waiters.splice(0)) w.reject(e);
    });
    this.stream.on('end', () => (this.ended = true));
  }

  /**
   * The next response (after those already received) matching `pred`. `timeoutMs` only catches a hang: it
   * is raised to the hang-guard floor (a 5 s deadline failed a Delta test beside a second suite at load 22).
   */
  next(pred: (r: Res) => boolean = () => true, requestedTimeoutMs = 5000): Promise<Res> {
    const timeoutMs = hangGuardMs(requestedTimeoutMs);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== wrapped);
        reject(new Error(`no matching response within ${timeoutMs} ms`));
      }, timeoutMs);
      const wrapped = (r: Res) => {
        clearTimeout(timer);
        resolve(r);
      };
      const failed = (e: Error) => {
        clearTimeout(timer);
        reject(e);
      };
      if (this.error) return failed(this.error);
      this.waiters.push({ pred, resolve: wrapped, reject: failed });
    });
  }

  /** Resolves with nothing if no response of `type` arrives within `ms`; rejects if one does. */
  async quiet(type: string, ms: number): Promise<void> {
    const before = this.responses.length;
    await new Promise((r) => setTimeout(r, ms));
    const late = this.responses.slice(before).filter((r) => r.type_url === type);
    if (late.length > 0) throw new Error(`unexpected ${type} response(s): ${late.map((r) => r.nonce).join(', ')}`);
  }

  /** Also calls `listener` with every response (after the client's own bookkeeping). */
  onResponse(listener: (r: Res) => void): void {
    this.stream.on('data', listener);
  }

  close(): void {
    this.stream.end();
    this.client.close();
  }
}

function decodeAny(a: { type_url: string; value: Uint8Array }): Record<string, unknown> {
  const t = lookupType(TYPE_NAMES[a.type_url] ?? a.type_url.slice(a.type_url.lastIndexOf('/') + 1));
  return t.toObject(t.decode(a.value), { longs: String, enums: String });
}

export class RawAdsClient extends RawStreamClient<RequestInit, Response> {
  constructor(addr: string, options: StreamClientOptions = {}) {
    super(addr, 'StreamAggregatedResources', 'envoy.service.discovery.v3.DiscoveryRequest', 'envoy.service.discovery.v3.DiscoveryResponse', options);
  }

  /** the names last requested per type: ACKs repeat them, as real clients do */
  private readonly subscribed = new Map<string, string[]>();

  send(r: RequestInit): void {
    this.subscribed.set(r.type_url, r.resource_names ?? []);
    this.stream.write(r);
  }

  ack(r: Response, names?: string[]): void {
    const resource_names = names ?? this.subscribed.get(r.type_url) ?? [];
    this.send({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, resource_names });
  }

  decode(r: Response): Record<string, unknown>[] {
    return r.resources.map(decodeAny);
  }
}

// ------------------------------------------------------------------------------------------ Delta

export interface DeltaResource {
  name: string;
  version: string;
  resource?: { type_url: string; value: Uint8Array } | null;
}

export interface DeltaResponse {
  system_version_info: string;
  type_url: string;
  nonce: string;
  resources: DeltaResource[];
  removed_resources: string[];
}

export interface DeltaRequestInit {
  type_url: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: { code: number; message: string };
  node?: RequestInit['node'];
}

/**
 * A bare DeltaAggregatedResources client. `state` applies every response as Envoy does: resources
 * replace what was held by name, removed_resources delete; so a test can compare the client's final
 * holdings with a SotW client's.
 */
export class RawDeltaClient extends RawStreamClient<DeltaRequestInit, DeltaResponse> {
  /** type → name → { version, Any bytes } as the client holds them */
  readonly state = new Map<string, Map<string, { version: string; value: Uint8Array }>>();

  constructor(addr: string, options: { metadata?: grpc.Metadata } = {}) {
    super(addr, 'DeltaAggregatedResources', 'envoy.service.discovery.v3.DeltaDiscoveryRequest', 'envoy.service.discovery.v3.DeltaDiscoveryResponse', options);
    this.stream.on('data', (r: DeltaResponse) => {
      let held = this.state.get(r.type_url);
      if (!held) this.state.set(r.type_url, (held = new Map()));
      for (const res of r.resources) {
        if (res.resource?.value) held.set(res.name, { version: res.version, value: res.resource.value });
      }
      for (const name of r.removed_resources) held.delete(name);
    });
  }

  send(r: DeltaRequestInit): void {
    this.stream.write(r);
  }

  /** ACK, optionally carrying subscription changes as Envoy batches them. */
  ack(r: DeltaResponse, change: { subscribe?: string[]; unsubscribe?: string[] } = {}): void {
    this.send({ type_url: r.type_url, response_nonce: r.nonce, resource_names_subscribe: change.subscribe, resource_names_unsubscribe: change.unsubscribe });
  }

  nack(r: DeltaResponse, message: string): void {
    this.send({ type_url: r.type_url, response_nonce: r.nonce, error_detail: { code: 3, message } });
  }

  /** the versions held for a type, as a reconnecting client sends them in initial_resource_versions */
  versions(type: string): Record<string, string> {
    return Object.fromEntries([...(this.state.get(type) ?? [])].map(([name, { version }]) => [name, version]));
  }

  names(r: DeltaResponse): string[] {
    return r.resources.map((x) => x.name);
  }

  decode(r: DeltaResponse): Record<string, unknown>[] {
    return r.resources.flatMap((x) => (x.resource ? [decodeAny(x.resource)] : []));
  }
}
