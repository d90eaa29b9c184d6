// Connection to the API server: which kubeconfig (flag, $KUBECONFIG, in-cluster service account,
// ~/.kube/config) and a small JSON request helper that reuses client-node's own HTTP stack (TLS, tokens,
// exec/OIDC auth plugins) for the calls the generated clients do not fit (raw LIST, status, Lease).

import { HttpMethod, IsomorphicFetchHttpLibrary, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { kubeconfigSource, SERVICE_ACCOUNT_DIR, type KubeconfigSourceOptions } from './kubeconfig-source.js';

export { SERVICE_ACCOUNT_DIR };

export interface KubeConnection {
  readonly kc: KubeConfig;
  /** where the configuration came from, for logs */
  readonly from: string;
  readonly server: string;
}

export interface ResolveOptions extends KubeconfigSourceOptions {
  /** --context: a context of the kubeconfig file other than its current-context */
  readonly context?: string | undefined;
}

/**
 * The cluster connection, in istiod's order (kubeconfig-source.ts): an explicit kubeconfig, then the
 * in-cluster service account, then $KUBECONFIG / ~/.kube/config when allowed; `context` picks a context
 * of a kubeconfig file. Returns undefined when there is no cluster to talk to.
 */
export function resolveKubeConnection(options: ResolveOptions): KubeConnection | undefined {
  const source = kubeconfigSource(options);
  if (!source) return undefined;
  const kc = new KubeConfig();
  if (source.kind === 'file') {
    kc.loadFromFile(source.file);
    if (options.context) {
      if (!kc.getContextObject(options.context)) throw new Error(`--context ${options.context}: no such context in ${source.file} (has ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
      kc.setCurrentContext(options.context);
    }
    return finish(kc, source.from);
  }
  const env = options.env ?? process.env;
  const serviceAccountDir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  // loadFromCluster reads token, ca.crt and namespace from `${prefix}/var/run/secrets/...`
  const prefix = serviceAccountDir.endsWith(SERVICE_ACCOUNT_DIR) ? serviceAccountDir.slice(0, -SERVICE_ACCOUNT_DIR.length) : undefined;
  if (prefix === undefined) throw new Error(`service account dir ${serviceAccountDir} must end with ${SERVICE_ACCOUNT_DIR}`);
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  process.env.KUBERNETES_SERVICE_HOST = env.KUBERNETES_SERVICE_HOST;
  process.env.KUBERNETES_SERVICE_PORT = env.KUBERNETES_SERVICE_PORT ?? '443';
  try {
    kc.loadFromCluster(prefix);
  } finally {
    restoreEnv('KUBERNETES_SERVICE_HOST', saved.host);
    restoreEnv('KUBERNETES_SERVICE_PORT', saved.port);
  }
  return finish(kc, source.from);
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

function finish(kc: KubeConfig, from: string): KubeConnection {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`${from}: no current cluster (set current-context)`);
  return { kc, from, server: cluster.server };
}

export class KubeApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly reason: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export interface RequestOptions {
  readonly query?: Record<string, string | undefined>;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly timeoutMs?: number;
}

/** JSON requests through client-node's HTTP library and authentication. */
export class KubeHttp {
  private readonly lib = new IsomorphicFetchHttpLibrary();
  constructor(readonly kc: KubeConfig) {}

  get server(): string {
    return this.kc.getCurrentCluster()?.server ?? '';
  }

  async request<T = unknown>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', urlPath: string, { query, body, contentType = 'application/json', timeoutMs = 30_000 }: RequestOptions = {}): Promise<T> {
    const url = new URL(this.server.replace(/\/$/, '') + urlPath);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const ctx = new RequestContext(url.toString(), HttpMethod[method]);
    ctx.setHeaderParam('Accept', 'application/json');
    if (body !== undefined) {
      ctx.setHeaderParam('Content-Type', contentType);
      ctx.setBody(JSON.stringify(body));
    }
    ctx.setSignal(AbortSignal.timeout(timeoutMs));
    await this.kc.applySecurityAuthentication(ctx);
    const res = await this.lib.send(ctx).toPromise();
    const text = await res.body.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (res.httpStatusCode < 200 || res.httpStatusCode >= 300) {
      const st = (json ?? {}) as { reason?: string; message?: string; details?: { retryAfterSeconds?: number } };
      const retryAfter = Number(res.headers['retry-after']) || st.details?.retryAfterSeconds;
      throw new KubeApiError(res.httpStatusCode, st.reason ?? 'Unknown', `${method} ${urlPath}: ${res.httpStatusCode} ${st.message ?? text.slice(0, 200)}`, retryAfter || undefined);
    }
    return json as T;
  }
}
