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
