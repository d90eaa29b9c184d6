import type { Protocol } from './types.js';

// Istio's protocol selection: appProtocol wins, then the port name's prefix before '-' (or the whole name).
const BY_NAME: Record<string, Protocol> = {
  http: 'HTTP', http2: 'HTTP2', https: 'HTTPS', grpc: 'GRPC', 'grpc-web': 'GRPC-Web', tcp: 'TCP', tls: 'TLS',
  udp: 'UDP', mongo: 'Mongo', redis: 'Redis', mysql: 'MySQL', h2c: 'HTTP2',
};

const BY_APP_PROTOCOL: Record<string, Protocol> = {
  ...BY_NAME,
  'kubernetes.io/h2c': 'HTTP2',
  'kubernetes.io/ws': 'HTTP',
  'kubernetes.io/wss': 'HTTPS',
};

export function protocolOf(portName: string | undefined, appProtocol: string | undefined, l4: string | undefined): Protocol {
  if (l4 === 'UDP') return 'UDP';
  if (appProtocol) {
    const p = BY_APP_PROTOCOL[appProtocol.toLowerCase()];
    if (p) return p;
  }
  if (portName) {
    const lower = portName.toLowerCase();
    const exact = BY_NAME[lower];
    if (exact) return exact;
    if (lower.startsWith('grpc-web')) return 'GRPC-Web';
    const prefix = BY_NAME[lower.split('-')[0] ?? ''];
    if (prefix) return prefix;
  }
  return 'UNSUPPORTED';
}

export function isHttpLike(p: Protocol): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-Web';
}

/**
 * A protocol named in Istio config itself (Sidecar ports; istiod protocol.Parse): exact names only, case
 * insensitive; anything else (and nothing) is UNSUPPORTED, i.e. sniffed. `http_proxy` gives undefined: no
 * service protocol; a Sidecar egress port with it is an HTTP proxy listener (sidecar/egress.ts).
 */
export function parseIstioProtocol(text: string | undefined): Protocol | undefined {
  const lower = (text ?? '').toLowerCase();
  if (lower === 'http_proxy') return undefined;
  if (lower === 'h2c') return 'UNSUPPORTED';
  return BY_NAME[lower] ?? 'UNSUPPORTED';
}
