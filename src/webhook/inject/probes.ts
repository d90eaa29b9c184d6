import { A, truthy } from './annotations.js';

// rewriteAppHTTPProbers: the kubelet's HTTP/TCP probes and lifecycle hooks of app containers go to the
// agent's status port (`/app-health/<container>/<readyz|livez|startupz>`, `/app-lifecycle/<container>/
// <prestopz|poststartz>`), and the originals travel in ISTIO_KUBE_APP_PROBERS, so they still work when
// mTLS is STRICT (the kubelet has no mesh certificate). Named ports are resolved to numbers.

type Json = Record<string, unknown>;
export type Container = Json & { name: string; ports?: { name?: string; containerPort: number }[] };

const PROBES = [
  ['readinessProbe', 'readyz'],
  ['livenessProbe', 'livez'],
  ['startupProbe', 'startupz'],
] as const;
const HOOKS = [
  ['preStop', 'prestopz'],
  ['postStart', 'poststartz'],
] as const;

function resolvePort(c: Container, port: unknown): unknown {
  if (typeof port !== 'string' || /^\d+$/.test(port)) return typeof port === 'string' ? Number(port) : port;
  const named = c.ports?.find((p) => p.name === port);
  return named ? named.containerPort : port;
}

/** The original action, as the agent replays it. */
function original(c: Container, handler: Json, timeoutSeconds?: unknown): Json | undefined {
  if (handler.httpGet && typeof handler.httpGet === 'object') {
    const h = { ...(handler.httpGet as Json) };
    h.port = resolvePort(c, h.port);
    const out: Json = { httpGet: h };
    if (timeoutSeconds !== undefined) out.timeoutSeconds = timeoutSeconds;
    return out;
  }
  if (handler.tcpSocket && typeof handler.tcpSocket === 'object') {
    const t = { ...(handler.tcpSocket as Json) };
    t.port = resolvePort(c, t.port);
    const out: Json = { tcpSocket: t };
    if (timeoutSeconds !== undefined) out.timeoutSeconds = timeoutSeconds;
    return out;
  }
  if (handler.grpc && typeof handler.grpc === 'object') {
    const out: Json = { grpc: { ...(handler.grpc as Json) } };
    if (timeoutSeconds !== undefined) out.timeoutSeconds = timeoutSeconds;
    return out;
  }
  return undefined;
}

export function shouldRewriteProbes(annotations: Record<string, string>, defaultOn: boolean): boolean {
  return truthy(annotations[A.rewriteAppHTTPProbers]) ?? defaultOn;
}

/**
 * Rewrites the probes of `containers` in place (they are the injector's own copies) and returns the
 * ISTIO_KUBE_APP_PROBERS value, or undefined when nothing was rewritten.
 */
export function rewriteProbes(containers: Container[], statusPort: number): string | undefined {
  const probers: Record<string, Json> = {};
  for (const c of containers) {
    for (const [field, suffix] of PROBES) {
      const probe = c[field] as Json | undefined;
      if (!probe) continue;
      const orig = original(c, probe, probe.timeoutSeconds);
      if (!orig) continue;
      const path = `/app-health/${c.name}/${suffix}`;
      probers[path] = orig;
      const { httpGet: _h, tcpSocket: _t, grpc: _g, ...rest } = probe;
      // the kubelet speaks plain HTTP to the agent, which then calls an HTTPS app over HTTPS; the scheme
      // is written out as Istio does, so the probe no longer says HTTPS to a plaintext port
      const https = (probe.httpGet as Json | undefined)?.scheme === 'HTTPS';
      c[field] = { ...rest, httpGet: { path, port: statusPort, ...(https ? { scheme: 'HTTP' } : {}) } };
    }
    const lifecycle = c.lifecycle as Json | undefined;
    if (lifecycle) {
      const next: Json = { ...lifecycle };
      for (const [hook, suffix] of HOOKS) {
        const h = lifecycle[hook] as Json | undefined;
        if (!h) continue;
        const orig = original(c, h);
        if (!orig) continue;
        const path = `/app-lifecycle/${c.name}/${suffix}`;
        probers[path] = orig;
        next[hook] = { httpGet: { path, port: statusPort } };
      }
      c.lifecycle = next;
    }
  }
  const keys = Object.keys(probers).sort();
  if (keys.length === 0) return undefined;
  return JSON.stringify(Object.fromEntries(keys.map((k) => [k, probers[k]])));
}
