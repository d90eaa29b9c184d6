// Istio's service.PortNameAnalyzer: Service ports whose protocol Istio cannot tell from the name or
// appProtocol (so it sniffs), and ExternalName Services with `tcp` ports.

import { specOf, type Analyzer } from '../context.js';
import { message } from '../message.js';
import type { ServiceSpec } from './service-lookup.js';

const NAME = 'service.PortNameAnalyzer';
/** protocol.Parse's names */
const KNOWN = new Set(['tcp', 'udp', 'grpc', 'grpc-web', 'http', 'http_proxy', 'http2', 'https', 'tls', 'mongo', 'redis', 'mysql']);
/** SMTP, DNS, MySQL, MongoDB: never sniffed, taken as TCP */
const WELL_KNOWN_PORTS = new Set([25, 53, 3306, 27017]);
const MANAGED_GATEWAY_VALUES = new Set(['istio.io-gateway-controller', 'istio.io-mesh-controller', 'istio.io-eastwest-controller']);

/** kube.ConvertProtocol(...).IsUnsupported() */
function unsupported(port: number, name: string, protocol: string | undefined, appProtocol: string | undefined): boolean {
  if (protocol === 'UDP') return false;
  let n = appProtocol ?? name;
  if (appProtocol === 'kubernetes.io/h2c' || appProtocol === 'kubernetes.io/ws' || appProtocol === 'kubernetes.io/wss') return false;
  if (n.length >= 8 && n.slice(0, 8).toLowerCase() === 'grpc-web') return false;
  const dash = n.indexOf('-');
  if (dash >= 0) n = n.slice(0, dash);
  if (KNOWN.has(n.toLowerCase())) return false;
  return !WELL_KNOWN_PORTS.has(port);
}

export const portNameAnalyzer: Analyzer = {
  name: NAME,
  description: 'Checks the port names associated with each service',
  analyze(ctx) {
    for (const r of ctx.all('Service')) {
      // util.IsIstioControlPlane
      if ('istio' in r.labels || r.labels['release'] === 'istio') continue;
      if (MANAGED_GATEWAY_VALUES.has(r.labels['gateway.istio.io/managed'] ?? '')) continue;
      const svc = specOf<ServiceSpec>(r);
      for (const port of svc.ports ?? []) {
        const name = port.name ?? '';
        if (unsupported(port.port, name, port.protocol, port.appProtocol) || (name === 'tcp' && svc.type === 'ExternalName')) {
          if (svc.type === 'ExternalName') ctx.report(message('ExternalNameServiceTypeInvalidPortName', r, NAME));
          else ctx.report(message('PortNameIsNotUnderNamingConvention', r, NAME, name, port.port, port.targetPort === undefined ? '0' : String(port.targetPort)));
        }
      }
    }
  },
};
