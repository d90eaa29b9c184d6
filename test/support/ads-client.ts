import * as grpc from '@grpc/grpc-js';
import { lookupType, jsonToStruct } from '../../src/xds/protos.js';
import { TYPE_NAMES } from './type-names.js';

// A bare ADS client speaking the wire protocol directly (no grpc-js-xds): lets tests send exact
// nonces/versions/NACKs, and lets the benchmark simulate hundreds of cheap proxies.

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

const PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

export class RawAdsClient {
  private readonly client: grpc.Client;
  private readonly stream: grpc.ClientDuplexStream<RequestInit, Response>;
  readonly responses: Response[] = [];
  private waiters: { pred: (r: Response) => boolean; resolve: (r: Response) => void; reject: (e: Error) => void }[] = [];
  error: grpc.ServiceError | undefined;
  ended = false;

  constructor(addr: string) {
    this.client = new grpc.Client(addr, grpc.credentials.createInsecure());
    const reqType = lookupType('envoy.service.discovery.v3.DiscoveryRequest');
    const resType = lookupType('envoy.service.discovery.v3.DiscoveryResponse');
    this.stream = this.client.makeBidiStreamRequest(
      PATH,
      (r: RequestInit) => {
        const msg = { ...r, node: r.node && { ...r.node, metadata: r.node.metadata && jsonToStruct(r.node.metadata) } };
        return Buffer.from(reqType.encode(reqType.fromObject(msg)).finish());
      },
      (b: Buffer) => resType.toObject(resType.decode(b), { longs: String, defaults: true }) as Response,
    );
    this.stream.on('data', (r: Response) => {
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

  /** the names last requested per type: ACKs repeat them, as real clients do */
  private readonly subscribed = new Map<string, string[]>();

  send(r: RequestInit): void {
    this.subscribed.set(r.type_url, r.resource_names ?? []);
    this.stream.write(r);
  }

  /** The next response (after those already received) matching `pred`. */
  next(pred: (r: Response) => boolean = () => true, timeoutMs = 5000): Promise<Response> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== wrapped);
        reject(new Error(`no matching response within ${timeoutMs} ms`));
      }, timeoutMs);
      const wrapped = (r: Response) => {
        clearTimeout(timer);
        resolve(r);
      };
      if (this.error) reject(this.error);
      this.waiters.push({ pred, resolve: wrapped, reject });
    });
  }

  /** Resolves with nothing if no response of `type` arrives within `ms`; rejects if one does. */
  async quiet(type: string, ms: number): Promise<void> {
    const before = this.responses.length;
    await new Promise((r) => setTimeout(r, ms));
    const late = this.responses.slice(before).filter((r) => r.type_url === type);
    if (late.length > 0) throw new Error(`unexpected ${type} response(s): ${late.map((r) => r.nonce).join(', ')}`);
  }

  ack(r: Response, names?: string[]): void {
    const resource_names = names ?? this.subscribed.get(r.type_url) ?? [];
    this.send({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, resource_names });
  }

  decode(r: Response): Record<string, unknown>[] {
    return r.resources.map((a) => {
      const t = lookupType(TYPE_NAMES[a.type_url] ?? a.type_url.slice(a.type_url.lastIndexOf('/') + 1));
      return t.toObject(t.decode(a.value), { longs: String, enums: String });
    });
  }

  close(): void {
    this.stream.end();
    this.client.close();
  }
}
