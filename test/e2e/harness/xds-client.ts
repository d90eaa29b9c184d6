import * as grpc from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { newGreeterClient, type GreeterClient, type GreeterMethod } from './greeter.js';

// A real grpc-js-xds client in the test process. Each XdsClient has its own bootstrap (per-channel
// option, so several clients with different node ids live in one process) and therefore its own ADS
// stream to meshd, under its own node id — /debug/syncz shows it as a separate proxy.

let registered = false;
/** `xds.register()` once per process (~0.7 s the first time). */
export function registerXds(): void {
  if (!registered) {
    xds.register();
    registered = true;
  }
}

const BOOTSTRAP_OPTION = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';

export interface NodeIdentity {
  /** pod name; the node id is `sidecar~IP~POD.NS~NS.svc.cluster.local` */
  readonly pod: string;
  readonly ip?: string;
  readonly namespace?: string;
}

export function nodeId({ pod, ip = '127.0.0.1', namespace = 'default' }: NodeIdentity): string {
  return `sidecar~${ip}~${pod}.${namespace}~${namespace}.svc.cluster.local`;
}

/** An Istio-style proxyless gRPC bootstrap (what istio-agent writes for `GENERATOR=grpc` pods). */
export function grpcBootstrap(xdsAddr: string, node: NodeIdentity, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const namespace = node.namespace ?? 'default';
  return {
    xds_servers: [{ server_uri: xdsAddr, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: {
      id: nodeId(node),
      cluster: `${node.pod}.${namespace}`,
      locality: {},
      metadata: { GENERATOR: 'grpc', NAMESPACE: namespace },
    },
    ...extra,
  };
}

export interface CallResult {
  /** numeric gRPC status; 0 = OK */
  readonly code: grpc.status;
  /** `OK`, `UNAVAILABLE`, … */
  readonly status: string;
  readonly details?: string;
  readonly backend?: string;
  readonly ms: number;
}

export interface CallOptions {
  readonly md?: Record<string, string>;
  readonly name?: string;
  readonly deadlineMs?: number;
  readonly method?: GreeterMethod;
  readonly waitForReady?: boolean;
}

export interface SplitOptions extends Omit<CallOptions, 'waitForReady'> {
  readonly concurrency?: number;
}

/** Where `n` calls went: backend name → count; failures counted under `STATUS: details`. */
export type Counts = Record<string, number>;

export class XdsClient {
  readonly client: GreeterClient;
  readonly nodeId: string;

  constructor(
    readonly xdsAddr: string,
    readonly target: string,
    node: NodeIdentity,
  ) {
    registerXds();
    const bootstrap = grpcBootstrap(xdsAddr, node);
    this.nodeId = nodeId(node);
    this.client = newGreeterClient(target, grpc.credentials.createInsecure(), { [BOOTSTRAP_OPTION]: JSON.stringify(bootstrap) });
  }

  call({ md = {}, name = 'x', deadlineMs = 5000, method = 'SayHello', waitForReady = false }: CallOptions = {}): Promise<CallResult> {
    // wait-for-ready is a metadata option in grpc-js
    const meta = new grpc.Metadata({ waitForReady });
    for (const [k, v] of Object.entries(md)) meta.set(k, v);
    const t0 = performance.now();
    return new Promise((resolve) => {
      this.client[method]({ name }, meta, { deadline: Date.now() + deadlineMs }, (err, reply) => {
        const ms = performance.now() - t0;
        if (err) resolve({ code: err.code, status: grpc.status[err.code] ?? String(err.code), details: err.details, ms });
        else resolve({ code: grpc.status.OK, status: 'OK', backend: reply?.backend, ms });
      });
    });
  }

  /** The first call waits for xDS resolution (listener, route, cluster, endpoints) instead of failing. */
  async waitReady(timeoutMs = 20_000): Promise<CallResult> {
    const r = await this.call({ waitForReady: true, deadlineMs: timeoutMs, name: 'ready' });
    if (r.code !== grpc.status.OK) {
      throw new Error(`xDS client ${this.nodeId} → ${this.target}: first call failed: ${r.status}: ${r.details}`);
    }
    return r;
  }

  /** `n` calls, `concurrency` at a time; returns where they went. */
  async split(n: number, opts: SplitOptions = {}): Promise<Counts> {
    const { concurrency = 10, ...callOpts } = opts;
    const counts: Counts = {};
    let issued = 0;
    const worker = async () => {
      while (issued < n) {
        issued++;
        const r = await this.call(callOpts);
        const key = r.code === grpc.status.OK ? (r.backend ?? '<no backend>') : `${r.status}: ${r.details}`;
        counts[key] = (counts[key] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
    return counts;
  }

  close(): void {
    this.client.close();
  }
}
