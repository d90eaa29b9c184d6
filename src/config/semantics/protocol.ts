// Istio's protocol names as a config field spells them (ServiceEntry / Sidecar `port.protocol`), read
// case-insensitively like istio's protocol.Parse. Anything else is unsupported.

export type IstioProtocol =
  | 'HTTP' | 'HTTP_PROXY' | 'HTTP2' | 'HTTPS' | 'GRPC' | 'GRPC-Web' | 'TCP' | 'TLS' | 'UDP'
  | 'Mongo' | 'Redis' | 'MySQL' | 'UNSUPPORTED';

const BY_NAME: Record<string, IstioProtocol> = {
  tcp: 'TCP', udp: 'UDP', grpc: 'GRPC', 'grpc-web': 'GRPC-Web', http: 'HTTP', http_proxy: 'HTTP_PROXY',
  http2: 'HTTP2', https: 'HTTPS', tls: 'TLS', mongo: 'Mongo', redis: 'Redis', mysql: 'MySQL',
};

export function istioProtocol(name: string): IstioProtocol {
  return BY_NAME[name.toLowerCase()] ?? 'UNSUPPORTED';
}

export function isHttpProtocol(p: IstioProtocol): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-Web' || p === 'HTTP_PROXY';
}

export function isTlsProtocol(p: IstioProtocol): boolean {
  return p === 'HTTPS' || p === 'TLS';
}
