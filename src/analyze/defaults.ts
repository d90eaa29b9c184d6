// What istioctl adds when it analyzes files without a cluster (IstiodAnalyzer.AddDefaultResources): unless
// the mesh's ingressControllerMode is OFF, the default ingress gateway — a Pod labelled istio=ingressgateway
// and its Service with ports 80/443/31400/15443 — so Gateways selecting it are not reported as selecting
// nothing.

import { loadObject, type AnalysisMeshConfig, type LoadResult } from './resource.js';

export const DEFAULT_INGRESS_SOURCE = 'internal-ingress';

export function addDefaultResources(mesh: AnalysisMeshConfig, istioNamespace: string, out: LoadResult): void {
  if ((mesh.ingressControllerMode ?? 'STRICT').toUpperCase() === 'OFF') return;
  const service = mesh.ingressService || 'istio-ingressgateway';
  const port = (name: string, p: number, nodePort: number) => ({ name, nodePort, port: p, protocol: 'TCP', targetPort: p });
  const objects = [
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { labels: { istio: 'ingressgateway' }, name: `${service}-dummypod`, namespace: istioNamespace },
      spec: { containers: [{ name: 'istio-proxy' }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: service, namespace: istioNamespace },
      spec: {
        ports: [port('http2', 80, 31380), port('https', 443, 31390), port('tcp', 31400, 31400), port('tls', 15443, 31447)],
        selector: { istio: 'ingressgateway' },
      },
    },
  ];
  objects.forEach((o, i) => loadObject(o, { file: DEFAULT_INGRESS_SOURCE }, { defaultNamespace: istioNamespace }, out, `${DEFAULT_INGRESS_SOURCE}#${i}`));
}
