import type { Protocol } from '../../../model/types.js';

/**
 * How a sidecar listener treats a service port's protocol (istiod ModelProtocolToListenerProtocol):
 * HTTP-family ports get an HttpConnectionManager, TCP-family ports (TCP, TLS, HTTPS, Mongo, Redis, MySQL)
 * tcp_proxy, ports without a declared protocol both behind protocol sniffing (AUTO), UDP nothing.
 */
export type ListenerProtocol = 'HTTP' | 'TCP' | 'AUTO' | 'NONE';

export function listenerProtocol(p: Protocol): ListenerProtocol {
  switch (p) {
    case 'HTTP':
    case 'HTTP2':
    case 'GRPC':
    case 'GRPC-Web':
      return 'HTTP';
    case 'TCP':
    case 'TLS':
    case 'HTTPS':
    case 'Mongo':
    case 'Redis':
    case 'MySQL':
      return 'TCP';
    case 'UNSUPPORTED':
      return 'AUTO';
    default:
      return 'NONE';
  }
}

/** Ports whose codec must be HTTP/2 from the first byte (istiod Protocol.IsHTTP2). */
export function isHttp2(p: Protocol): boolean {
  return p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-Web';
}

export function isGrpc(p: Protocol): boolean {
  return p === 'GRPC' || p === 'GRPC-Web';
}
