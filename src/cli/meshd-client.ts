// Requests of the operator commands to a running meshd's /debug pages (--meshd-addr or a port-forward,
// meshd-target.ts).

/** A refusal or failure of the running meshd, worded for the command line. */
export class MeshdRequestError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

/** One meshd's monitoring port as the commands reach it. */
export interface MeshdEndpoint {
  /** host:port (or URL) the requests go to: meshd itself, or a local port-forward to its pod */
  readonly addr: string;
  /** for messages: `meshd at ADDR`, `meshd pod NS/NAME` */
  readonly name: string;
  /** what the pod side of a port-forward said when its connection failed, if anything */
  readonly forwardError?: () => string | undefined;
}

/** GET /debug/PAGE as JSON, with meshd's own message when it refuses. */
export async function getDebugJson<T>(endpoint: MeshdEndpoint | string, page: string, query: Record<string, string> = {}): Promise<T> {
  const ep: MeshdEndpoint = typeof endpoint === 'string' ? { addr: endpoint, name: `meshd at ${endpoint}` } : endpoint;
  const base = /^https?:\/\//.test(ep.addr) ? ep.addr : `http://${ep.addr}`;
  const url = new URL(`/debug/${page}`, base);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
    text = await res.text();
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const forward = ep.forwardError?.();
    if (forward) throw new MeshdRequestError(`cannot reach ${ep.name}: ${forward}`);
    throw new MeshdRequestError(`cannot reach ${ep.name} (${cause?.code ?? cause?.message ?? (err as Error).message}): is \`meshd serve\` running there (--meshd-addr)?`);
  }
  if (!res.ok) throw new MeshdRequestError(`${ep.name} answered ${res.status} for ${url.pathname}: ${text.trim()}`, res.status);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new MeshdRequestError(`${ep.name}: ${url.pathname} did not answer JSON`);
  }
}

/**
 * A page about one proxy (config_dump?proxyID=…) from whichever meshd replica has it connected: each
 * endpoint in turn until one does not answer 404; the last 404 when none has it.
 */
export async function getFromReplicaOf<T>(endpoints: readonly MeshdEndpoint[], page: string, query: Record<string, string>): Promise<T> {
  let notFound: MeshdRequestError | undefined;
  for (const ep of endpoints) {
    try {
      return await getDebugJson<T>(ep, page, query);
    } catch (err) {
      if (err instanceof MeshdRequestError && err.status === 404) notFound = err;
      else throw err;
    }
  }
  throw notFound ?? new MeshdRequestError('no meshd to ask');
}

/** A list page (syncz, adsz connections) from every replica, concatenated. */
export async function getFromEveryReplica<T>(endpoints: readonly MeshdEndpoint[], page: string): Promise<T[]> {
  return (await Promise.all(endpoints.map((ep) => getDebugJson<T>(ep, page))));
}
