// Requests of the operator commands to a running meshd's /debug pages (--meshd-addr, meshd-flags.ts).

/** A refusal or failure of the running meshd, worded for the command line. */
export class MeshdRequestError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

/** GET http://ADDR/debug/PAGE as JSON, with meshd's own message when it refuses. */
export async function getDebugJson<T>(addr: string, page: string, query: Record<string, string> = {}): Promise<T> {
  const base = /^https?:\/\//.test(addr) ? addr : `http://${addr}`;
  const url = new URL(`/debug/${page}`, base);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new MeshdRequestError(`cannot reach meshd at ${addr} (${cause?.code ?? cause?.message ?? (err as Error).message}): is \`meshd serve\` running there (--meshd-addr)?`);
  }
  const text = await res.text();
  if (!res.ok) throw new MeshdRequestError(`meshd at ${addr} answered ${res.status} for ${url.pathname}: ${text.trim()}`, res.status);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new MeshdRequestError(`meshd at ${addr}: ${url.pathname} did not answer JSON`);
  }
}
