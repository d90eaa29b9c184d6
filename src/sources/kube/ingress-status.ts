// Kubernetes Ingress `status.loadBalancer` write-back, as istiod's ingress status syncer does it
// (pilot/pkg/config/kube/ingress SupportedIngresses / runningAddresses): every Ingress istiod would handle
// (the same class rules as the conversion, src/config/ingress/convert.ts handledByIstio) gets the
// addresses of the mesh's ingress Service — mesh config `ingressService` (default istio-ingressgateway) in
// the ingress namespace (meshd's root namespace, where the converted Gateways go): an ExternalName
// Service's externalName, else its `status.loadBalancer.ingress` IPs/hostnames followed by its
// `spec.externalIPs`; each written as `{ip}` or `{hostname}`, sorted by hostname then IP. No such Service:
// the list is cleared. Ingresses meshd does not handle are left alone. So `kubectl get ingress` shows the
// ADDRESS to reach, and tools that wait for it (cert-manager, external-dns, Argo CD health) work.
//
// Only the replica holding the leader Lease writes; writes are JSON merge patches of the status
// subresource with the observed resourceVersion as precondition (409/404: a newer version or the deletion
// is on its way through the informer, which triggers the next check). Failures are retried.
//
// Not done: with `ingressService: ""` istiod publishes the external IPs of the Nodes running pods matched
// by `ingressSelector`; meshd watches no Nodes, so it leaves the status alone then and logs it once.

import { isIP } from 'node:net';
import { handledByIstio, type IngressObject } from '../../config/ingress/convert.js';
import type { MeshConfig } from '../../config/mesh-config.js';
import type { Logger } from '../../telemetry/log.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { KubeApiError, type KubeHttp } from './client.js';
import type { KubeObject } from './normalize.js';
import { resourceOf, resourcePath } from './resources.js';

export const DEFAULT_INGRESS_SERVICE = 'istio-ingressgateway';

export interface LoadBalancerIngress {
  readonly ip?: string;
  readonly hostname?: string;
}

interface ServiceShape {
  spec?: { type?: string; externalName?: string; externalIPs?: string[] };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}

/** istiod runningAddresses for an ingress Service (undefined: the Service does not exist). */
export function ingressServiceAddresses(service: KubeObject | undefined): string[] {
  if (!service) return [];
  const s = service as unknown as ServiceShape;
  if (s.spec?.type === 'ExternalName') return s.spec.externalName ? [s.spec.externalName] : [];
  const out: string[] = [];
  for (const lb of s.status?.loadBalancer?.ingress ?? []) {
    const addr = lb.ip ? lb.ip : lb.hostname;
    if (addr) out.push(addr);
  }
  return [...out, ...(s.spec?.externalIPs ?? [])];
}

/** istiod sliceToStatus: IPs as `ip`, anything else as `hostname`, sorted by hostname, then IP. */
export function loadBalancerIngress(addresses: readonly string[]): LoadBalancerIngress[] {
  const out = addresses.map((a) => (isIP(a) ? { ip: a } : { hostname: a }));
  return out.sort((a, b) => {
    const ha = a.hostname ?? '';
    const hb = b.hostname ?? '';
    if (ha !== hb) return ha < hb ? -1 : 1;
    const ia = a.ip ?? '';
    const ib = b.ip ?? '';
    return ia < ib ? -1 : ia > ib ? 1 : 0;
  });
}

/** The status patch an Ingress needs to show `want`, or undefined when it already does. */
export function ingressStatusPatch(ingress: KubeObject, want: readonly LoadBalancerIngress[]): Record<string, unknown> | undefined {
  const current = ((ingress.status as { loadBalancer?: { ingress?: LoadBalancerIngress[] } } | undefined)?.loadBalancer?.ingress ?? [])
    .map((e) => (e.ip ? { ip: e.ip } : { hostname: e.hostname ?? '' }));
  if (JSON.stringify(current) === JSON.stringify(want)) return undefined;
  // merge patch: null removes the list, as istiod's empty status (omitempty) leaves none
  return { loadBalancer: { ingress: want.length > 0 ? want : null } };
}

export interface IngressStatusOptions {
  readonly http: KubeHttp;
  readonly log: Logger;
  readonly metrics?: Metrics | undefined;
  readonly isLeader: () => boolean;
  /** the Ingresses in the mesh (discoverySelectors applied), as the informer holds them (status included) */
  readonly ingresses: () => readonly KubeObject[];
  readonly ingressClass: (name: string) => KubeObject | undefined;
  readonly service: (namespace: string, name: string) => KubeObject | undefined;
  readonly mesh: () => MeshConfig;
  readonly retryMs?: number;
}

export class IngressStatusSyncer {
  private scheduled = false;
  private running = false;
  private rerun = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private warnedNodeMode = false;

  constructor(private readonly opts: IngressStatusOptions) {}

  /** Where the addresses come from: the ingress Service's namespace and name (undefined: Node mode). */
  private serviceRef(): { namespace: string; name: string } | undefined {
    const mesh = this.opts.mesh();
    const name = mesh.ingress?.ingressService ?? DEFAULT_INGRESS_SERVICE;
    return name === '' ? undefined : { namespace: mesh.rootNamespace, name };
  }

  /** A Service changed: only the ingress Service matters. */
  serviceChanged(namespace: string | undefined, name: string): void {
    const ref = this.serviceRef();
    if (ref && ref.namespace === namespace && ref.name === name) this.sync();
  }

  /** Re-checks every Ingress (coalesced: many calls in one turn are one pass). */
  sync(): void {
    if (this.stopped || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.pass();
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  private desired(): { ingress: KubeObject; patch: Record<string, unknown> }[] {
    const mesh = this.opts.mesh();
    const ref = this.serviceRef();
    if (!ref) {
      if (!this.warnedNodeMode) {
        this.warnedNodeMode = true;
        this.opts.log.info('mesh config ingressService is empty: istiod would publish the external IPs of the nodes running the ingress gateway pods; meshd watches no Nodes, so Ingress status is left alone');
      }
      return [];
    }
    const want = loadBalancerIngress(ingressServiceAddresses(this.opts.service(ref.namespace, ref.name)));
    const out: { ingress: KubeObject; patch: Record<string, unknown> }[] = [];
    for (const ingress of this.opts.ingresses()) {
      const o = ingress as unknown as IngressObject;
      const className = o.spec?.ingressClassName;
      const controller = className ? (((this.opts.ingressClass(className)?.spec as { controller?: string } | undefined)?.controller) ?? '') : undefined;
      if (!handledByIstio(o, controller, mesh.ingress ?? {})) continue;
      const patch = ingressStatusPatch(ingress, want);
      if (patch) out.push({ ingress, patch });
    }
    return out;
  }

  private async pass(): Promise<void> {
    if (this.running) {
      this.rerun = true;
      return;
    }
    if (this.stopped || !this.opts.isLeader()) return;
    this.running = true;
    let failed = false;
    try {
      const r = resourceOf('Ingress');
      for (const { ingress, patch } of this.desired()) {
        if (this.stopped || !this.opts.isLeader()) break;
        const key = `${ingress.metadata.namespace}/${ingress.metadata.name}`;
        const url = resourcePath(r, 'v1', { namespace: ingress.metadata.namespace, name: ingress.metadata.name, subresource: 'status' });
        try {
          await this.opts.http.request('PATCH', url, {
            contentType: 'application/merge-patch+json',
            body: { metadata: { resourceVersion: ingress.metadata.resourceVersion }, status: patch },
          });
          this.opts.metrics?.kubeStatusWrites.inc({ result: 'ok' });
          this.opts.log.info({ ingress: key, loadBalancer: (patch.loadBalancer as { ingress: unknown }).ingress }, 'wrote Ingress status');
        } catch (err) {
          if (err instanceof KubeApiError && (err.statusCode === 409 || err.statusCode === 404)) {
            this.opts.metrics?.kubeStatusWrites.inc({ result: 'stale' });
            continue; // the informer brings the newer version (or the deletion), and with it another pass
          }
          this.opts.metrics?.kubeStatusWrites.inc({ result: 'error' });
          this.opts.log.warn({ ingress: key, err: (err as Error).message }, 'Ingress status write failed; will retry');
          failed = true;
          break;
        }
      }
    } finally {
      this.running = false;
    }
    if (this.rerun) {
      this.rerun = false;
      this.sync();
    } else if (failed && !this.stopped && !this.retryTimer) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.sync();
      }, this.opts.retryMs ?? 2000);
      this.retryTimer.unref?.();
    }
  }
}
