// Type URLs and their short names: the one place they are spelled.

export const TYPE = {
  LDS: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  RDS: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  CDS: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  EDS: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  /** gateway certificates (`credentialName` → `kubernetes://NAME`), served on the gateway's own ADS stream */
  SDS: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

export type TypeUrl = (typeof TYPE)[keyof typeof TYPE];
export type ShortType = keyof typeof TYPE;

export const SHORT_TYPE: Record<string, ShortType> = Object.fromEntries(
  Object.entries(TYPE).map(([k, v]) => [v, k as ShortType]),
);

/** LDS and CDS are "all resources required" in SotW: a name missing from a response means deleted. */
export const STATE_OF_THE_WORLD_FULL = new Set<string>([TYPE.LDS, TYPE.CDS]);

/**
 * Order in which a push sends types, so a client never sees a reference before its target (make-before-break);
 * secrets last, as istiod's PushOrder (Envoy asks for them only once a listener names them).
 */
export const PUSH_ORDER: readonly TypeUrl[] = [TYPE.CDS, TYPE.EDS, TYPE.LDS, TYPE.RDS, TYPE.SDS];

export function isKnownType(typeUrl: string): typeUrl is TypeUrl {
  return typeUrl in SHORT_TYPE;
}

export function typeName(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}
