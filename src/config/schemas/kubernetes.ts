import { z } from 'zod';
import { envelope, stringMap } from './meta.js';

// Only the fields a mesh needs are typed; everything else passes through (loose objects), because these
// objects are owned by Kubernetes, not by the mesh user, and must never be rejected for fields we ignore.

const port = z.number().int().min(1, 'must be between 1 and 65535').max(65535, 'must be between 1 and 65535');
const protocol = z.enum(['TCP', 'UDP', 'SCTP']);

export const servicePort = z.looseObject({
  name: z.string().optional(),
  port,
  targetPort: z.union([z.number().int().min(1).max(65535), z.string().min(1)]).optional(),
  protocol: protocol.optional(),
  appProtocol: z.string().optional(),
  nodePort: z.number().int().optional(),
});

export const service = envelope('Service', {
  spec: z.looseObject({
    type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']).optional(),
    clusterIP: z.string().optional(),
    clusterIPs: z.array(z.string()).optional(),
    selector: stringMap.optional(),
    ports: z.array(servicePort).optional(),
    externalName: z.string().optional(),
  }),
});

export const endpointSlice = envelope('EndpointSlice', {
  addressType: z.enum(['IPv4', 'IPv6', 'FQDN']),
  endpoints: z
    .array(
      z.looseObject({
        addresses: z.array(z.string().min(1)).min(1, 'must have at least one address'),
        conditions: z
          .looseObject({
            ready: z.boolean().nullish(),
            serving: z.boolean().nullish(),
            terminating: z.boolean().nullish(),
          })
          .optional(),
        hostname: z.string().optional(),
        nodeName: z.string().optional(),
        zone: z.string().optional(),
        targetRef: z
          .looseObject({ kind: z.string().optional(), name: z.string().optional(), namespace: z.string().optional() })
          .optional(),
      }),
    )
    .nullish(),
  ports: z
    .array(
      z.looseObject({
        name: z.string().nullish(),
        port: port.nullish(),
        protocol: protocol.nullish(),
        appProtocol: z.string().nullish(),
      }),
    )
    .nullish(),
});

export const pod = envelope('Pod', {
  spec: z
    .looseObject({
      serviceAccountName: z.string().optional(),
      nodeName: z.string().optional(),
      hostNetwork: z.boolean().optional(),
      containers: z.array(z.looseObject({ name: z.string() })).optional(),
    })
    .optional(),
  status: z
    .looseObject({
      podIP: z.string().optional(),
      podIPs: z.array(z.looseObject({ ip: z.string() })).optional(),
      phase: z.string().optional(),
    })
    .optional(),
});

export const namespace = envelope('Namespace', {
  spec: z.looseObject({}).optional(),
  status: z.looseObject({}).optional(),
});

// networking.k8s.io/v1 Ingress: what istiod's conversion reads (src/config/ingress/convert.ts)
const ingressBackend = z.looseObject({
  service: z
    .looseObject({
      name: z.string().min(1),
      port: z.looseObject({ number: z.number().int().min(0).max(65535).optional(), name: z.string().optional() }).optional(),
    })
    .optional(),
  resource: z.looseObject({}).optional(),
});

export const ingress = envelope('Ingress', {
  spec: z
    .looseObject({
      ingressClassName: z.string().optional(),
      defaultBackend: ingressBackend.optional(),
      tls: z.array(z.looseObject({ hosts: z.array(z.string()).optional(), secretName: z.string().optional() })).optional(),
      rules: z
        .array(
          z.looseObject({
            host: z.string().optional(),
            http: z
              .looseObject({
                paths: z.array(
                  z.looseObject({
                    path: z.string().optional(),
                    pathType: z.enum(['Exact', 'Prefix', 'ImplementationSpecific']).optional(),
                    backend: ingressBackend,
                  }),
                ),
              })
              .optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});

export const ingressClass = envelope('IngressClass', {
  spec: z.looseObject({ controller: z.string().optional() }).optional(),
});

export type Service = z.infer<typeof service>;
export type EndpointSlice = z.infer<typeof endpointSlice>;
export type Pod = z.infer<typeof pod>;
export type Namespace = z.infer<typeof namespace>;
export type Ingress = z.infer<typeof ingress>;
export type IngressClass = z.infer<typeof ingressClass>;
