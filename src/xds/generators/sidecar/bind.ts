import { isIP } from 'node:net';
import type { Proxy } from '../../../model/proxy.js';

/**
 * The wildcard address a sidecar's listeners bind (istiod getActualWildcardAndLocalHost): `::` for an
 * IPv6-only pod, else `0.0.0.0` (dual-stack pods keep IPv4 as istiod does without ISTIO_DUAL_STACK).
 * Listener and chain names are `BIND_PORT`, so they follow it (`::_9080`).
 */
export function wildcardFor(proxy: Proxy): string {
  return proxy.ips.length > 0 && proxy.ips.every((ip) => isIP(ip) === 6) ? '::' : '0.0.0.0';
}

/**
 * The loopback address a sidecar without traffic capture (interception mode NONE) binds its outbound
 * listeners to (istiod getWildcardsAndLocalHost): `::1` for an IPv6-only pod, else `127.0.0.1`.
 */
export function localhostFor(proxy: Proxy): string {
  return wildcardFor(proxy) === '::' ? '::1' : '127.0.0.1';
}
