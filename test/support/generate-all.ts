import type { PushContext } from '../../src/model/push-context.js';
import type { Proxy } from '../../src/model/proxy.js';
import type { Generator } from '../../src/xds/generators/generator.js';
import { TYPE, type TypeUrl } from '../../src/xds/resource-types.js';

// Everything an Envoy fetches from one generator, as golden tests need it: CDS and LDS by wildcard, then
// EDS and RDS for the names those reference, and SDS for the secrets listeners ask the ADS stream for
// (gateway credentials; present only when there are some); each body passed through `check` (Envoy's
// protos + PGV).

export type XdsOutput = Record<'cds' | 'eds' | 'lds' | 'rds', Record<string, object>> & { sds?: Record<string, object> };

/** Names of SDS secrets fetched over ADS (`sds_config: {ads: {}}`) that resources reference, recursively. */
export function adsSecretNames(value: unknown, out: Set<string>): void {
  if (Array.isArray(value)) {
    for (const v of value) adsSecretNames(v, out);
  } else if (value && typeof value === 'object') {
    const o = value as { name?: unknown; sds_config?: { ads?: unknown } };
    if (typeof o.name === 'string' && o.sds_config?.ads !== undefined) out.add(o.name);
    for (const v of Object.values(value)) adsSecretNames(v, out);
  }
}

/** Names referenced inside resources (EDS service names of clusters, RDS names of HCMs), recursively. */
export function referenced(value: unknown, key: 'service_name' | 'route_config_name', out: Set<string>): void {
  if (Array.isArray(value)) {
    for (const v of value) referenced(v, key, out);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === key && typeof v === 'string') out.add(v);
      else referenced(v, key, out);
    }
  }
}

export function generateAll(
  gen: Generator,
  ctx: PushContext,
  proxy: Proxy,
  check: (type: TypeUrl, body: object) => string[],
): { output: XdsOutput; problems: string[] } {
  const problems: string[] = [];
  const build = (type: TypeUrl, names: Iterable<string>): Record<string, object> => {
    const out: Record<string, object> = {};
    for (const name of [...names].sort()) {
      const body = gen.generate(type, ctx, proxy, name);
      if (!body) {
        problems.push(`${type} ${name}: referenced but not generated`);
        continue;
      }
      for (const p of check(type, body)) problems.push(`${name}: ${p}`);
      out[name] = body;
    }
    return out;
  };
  const cds = build(TYPE.CDS, gen.wildcardNames(TYPE.CDS, ctx, proxy));
  const lds = build(TYPE.LDS, gen.wildcardNames(TYPE.LDS, ctx, proxy));
  const edsNames = new Set<string>();
  for (const c of Object.values(cds) as { type?: string; name: string; eds_cluster_config?: { service_name?: string } }[]) {
    if (c.type === 'EDS') edsNames.add(c.eds_cluster_config?.service_name ?? c.name);
  }
  const rdsNames = new Set<string>();
  referenced(lds, 'route_config_name', rdsNames);
  const sdsNames = new Set<string>();
  adsSecretNames(lds, sdsNames);
  const sds = sdsNames.size > 0 ? { sds: build(TYPE.SDS, sdsNames) } : {};
  return { output: { cds, eds: build(TYPE.EDS, edsNames), lds, rds: build(TYPE.RDS, rdsNames), ...sds }, problems };
}
