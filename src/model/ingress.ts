import type { StoredObject } from '../config/store.js';
import type { Gateway, VirtualService } from '../config/schemas/index.js';
import { validateDocument } from '../config/validate.js';
import { convertIngresses, handledByIstio, type IngressObject } from '../config/ingress/convert.js';
import type { MeshConfig } from '../config/mesh-config.js';
import type { MeshService } from './types.js';

// Kubernetes Ingresses in the model, where istiod's ingress controller puts them: the Ingresses istiod
// would handle (class `istio` by annotation or IngressClass controller, per ingressControllerMode) become
// one Istio Gateway each in the ingress namespace (meshd's root namespace, istiod's own) and one
// VirtualService per host, bound to those Gateways (src/config/ingress/convert.ts). The results are read
// exactly like user-written Gateways and VirtualServices; they are validated like them too, so a
// conversion that produced something invalid is reported, never served half-formed.

export interface IngressDerived {
  readonly gateways: readonly Gateway[];
  readonly virtualServices: readonly { readonly config: VirtualService; readonly revision: number }[];
}

const EMPTY: IngressDerived = { gateways: [], virtualServices: [] };

export function ingressDerivedConfig(
  ingresses: readonly StoredObject<'Ingress'>[],
  ingressClasses: readonly StoredObject<'IngressClass'>[],
  services: readonly MeshService[],
  mesh: MeshConfig,
  onWarning?: (message: string) => void,
): IngressDerived {
  if (ingresses.length === 0) return EMPTY;
  const controllers = new Map(ingressClasses.map((c) => [c.object.metadata.name, c.object.spec?.controller]));
  const opts = mesh.ingress ?? {};
  const handled = ingresses.filter((i) => {
    const className = i.object.spec?.ingressClassName;
    return handledByIstio(i.object as unknown as IngressObject, className ? (controllers.get(className) ?? '') : undefined, opts);
  });
  if (handled.length === 0) return EMPTY;
  const byHost = new Map(services.map((s) => [s.hostname, s]));
  const revision = Math.max(...handled.map((i) => i.revision));
  const converted = convertIngresses(handled.map((i) => i.object as unknown as IngressObject), {
    domainSuffix: mesh.domainSuffix,
    ingressNamespace: mesh.rootNamespace,
    ...(opts.ingressService ? { ingressService: opts.ingressService } : {}),
    ...(opts.ingressSelector ? { ingressSelector: opts.ingressSelector } : {}),
    namedPort: (namespace, service, name) =>
      byHost.get(`${service}.${namespace}.svc.${mesh.domainSuffix}`)?.ports.find((p) => p.name === name)?.port,
  });
  const gateways: Gateway[] = [];
  const virtualServices: { config: VirtualService; revision: number }[] = [];
  for (const doc of converted) {
    const r = validateDocument(doc);
    if (!r.ok) {
      onWarning?.(`Ingress conversion: ${doc.kind} ${doc.metadata.namespace}/${doc.metadata.name} is not valid, left out: ${r.problems.map((p) => `${p.path}: ${p.reason}`).join('; ')}`);
      continue;
    }
    if (r.value.kind === 'Gateway') gateways.push(r.value.object as Gateway);
    else if (r.value.kind === 'VirtualService') virtualServices.push({ config: r.value.object as VirtualService, revision });
  }
  return { gateways, virtualServices };
}
