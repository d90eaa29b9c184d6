import { z } from 'zod';

// The simulator's inputs: one proxy's xDS resources (proto-JSON bodies as meshd's generators emit them:
// snake_case fields, nested Anys as `{'@type': …}`) and the request to route. Both are checked with zod
// at the edge; inside, resources are read as the loose JSON they are (Envoy's protos are far wider than
// what the simulator interprets, and unknown fields must pass through untouched).

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;

const namedResource = z.looseObject({ name: z.string().min(1) });
const loadAssignment = z.looseObject({ cluster_name: z.string().min(1) });

export const resourceSetSchema = z.object({
  listeners: z.array(namedResource).default([]),
  routes: z.array(namedResource).default([]),
  clusters: z.array(namedResource).default([]),
  /** ClusterLoadAssignments (EDS), optional: without one a cluster's facts just have no localities. */
  endpoints: z.array(loadAssignment).default([]),
});
export type ResourceSetInput = z.input<typeof resourceSetSchema>;

/** One proxy's resources indexed by name, as Envoy holds them after LDS/RDS/CDS (and EDS, if given). */
export class ResourceSet {
  readonly listeners: readonly Json[];
  readonly routes: ReadonlyMap<string, Json>;
  readonly clusters: ReadonlyMap<string, Json>;
  /** ClusterLoadAssignments by cluster_name (the EDS service name). */
  readonly endpoints: ReadonlyMap<string, Json>;

  constructor(input: ResourceSetInput) {
    const parsed = resourceSetSchema.safeParse(input);
    if (!parsed.success) throw new Error(`simulator resources: ${z.prettifyError(parsed.error)}`);
    this.listeners = parsed.data.listeners;
    this.routes = byName(parsed.data.routes, 'RouteConfiguration');
    this.clusters = byName(parsed.data.clusters, 'Cluster');
    this.endpoints = byName(parsed.data.endpoints, 'ClusterLoadAssignment', 'cluster_name');
    byName(parsed.data.listeners, 'Listener');
  }

  /**
   * From an Envoy admin /config_dump (ListenersConfigDump, RoutesConfigDump, ClustersConfigDump entries:
   * static and dynamic, active state; EndpointsConfigDump when dumped with `?include_eds`) or a
   * `{listeners, routes, clusters, endpoints}` object.
   */
  static fromDump(dump: unknown): ResourceSet {
    const d = z.looseObject({ configs: z.array(z.looseObject({ '@type': z.string() })) }).safeParse(dump);
    if (!d.success) return new ResourceSet(dump as ResourceSetInput);
    const out = { listeners: [] as Json[], routes: [] as Json[], clusters: [] as Json[], endpoints: [] as Json[] };
    for (const c of d.data.configs as Json[]) {
      const t = String(c['@type']);
      if (t.endsWith('ListenersConfigDump')) {
        for (const s of c.static_listeners ?? []) out.listeners.push(s.listener);
        for (const s of c.dynamic_listeners ?? []) if (s.active_state?.listener) out.listeners.push(s.active_state.listener);
      } else if (t.endsWith('RoutesConfigDump')) {
        for (const s of c.static_route_configs ?? []) out.routes.push(s.route_config);
        for (const s of c.dynamic_route_configs ?? []) out.routes.push(s.route_config);
      } else if (t.endsWith('ClustersConfigDump')) {
        for (const s of c.static_clusters ?? []) out.clusters.push(s.cluster);
        for (const s of c.dynamic_active_clusters ?? []) out.clusters.push(s.cluster);
      } else if (t.endsWith('EndpointsConfigDump')) {
        for (const s of c.static_endpoint_configs ?? []) out.endpoints.push(s.endpoint_config);
        for (const s of c.dynamic_endpoint_configs ?? []) out.endpoints.push(s.endpoint_config);
      }
    }
    return new ResourceSet(out as ResourceSetInput);
  }
}

function byName(items: readonly Json[], kind: string, key = 'name'): Map<string, Json> {
  const out = new Map<string, Json>();
  for (const item of items) {
    const name = String(item[key]);
    if (out.has(name)) throw new Error(`simulator resources: two ${kind}s named ${JSON.stringify(name)}`);
    out.set(name, item);
  }
  return out;
}

/** google.protobuf wrapper (UInt32Value, BoolValue …) as proto-JSON writes it: bare value or `{value}`. */
export function wrapped<T>(v: unknown): T | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object' && 'value' in (v as object)) return (v as { value: T }).value;
  return v as T;
}

/** The last segment of an Any's type URL (`envoy.config.route.v3.RouteConfiguration`). */
export function anyType(v: Json | undefined): string {
  const t = String(v?.['@type'] ?? '');
  return t.slice(t.lastIndexOf('/') + 1);
}

const headerValues = z.union([z.string(), z.array(z.string())]);

export const requestSchema = z.object({
  /** Where iptables sends the connection: 15001 (virtualOutbound) for outbound, 15006 for inbound. */
  entryPort: z.number().int().min(0).max(65535).default(15001),
  /** The original destination the application connected to. */
  destinationIp: z.string().default('0.0.0.0'),
  port: z.number().int().min(1).max(65535),
  /** `http` (default) runs HTTP routing after an HCM; `tcp` only selects the filter chain. */
  protocol: z.enum(['http', 'tcp']).default('http'),
  /** HTTP version the plaintext client speaks, as http_inspector reports it in ALPN terms. */
  httpVersion: z.enum(['http/1.0', 'http/1.1', 'h2c']).default('http/1.1'),
  /** `:authority` / Host. */
  host: z.string().optional(),
  /** `:path`, with query string if any. */
  path: z.string().default('/'),
  method: z.string().default('GET'),
  scheme: z.enum(['http', 'https']).default('http'),
  headers: z.record(z.string(), headerValues).default({}),
  /** Query parameters appended to `path`. */
  query: z.record(z.string(), z.string()).default({}),
  source: z.object({
    ip: z.string().default('10.1.0.20'),
    port: z.number().int().min(0).max(65535).default(40000),
    /** Peer identity (SPIFFE URI) when the connection is mTLS; informational for RBAC. */
    principal: z.string().optional(),
  }).default({ ip: '10.1.0.20', port: 40000 }),
  /** Present when the client speaks TLS: SNI and ALPN for tls_inspector. */
  tls: z.object({ sni: z.string().optional(), alpn: z.array(z.string()).default([]) }).optional(),
  /** The random value runtime_fraction and fault percentages are sampled against (Envoy: random per request). */
  random: z.number().int().min(0).default(0),
});
export type SimRequest = z.output<typeof requestSchema>;
export type SimRequestInput = z.input<typeof requestSchema>;
