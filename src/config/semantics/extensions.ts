import type { Problem } from '../origin.js';
import type { KindMap } from '../schemas/index.js';
import { checkAlphaSelector } from './service-entry.js';
import { Problems, at, checkWorkloadSelector, portError } from './util.js';

// istiod's webhook rules for the kinds meshd validates without serving them (EnvoyFilter, ProxyConfig,
// WasmPlugin, TrafficExtension): what pkg/config/validation checks beyond the CRD schema and CEL rules
// (which crd-derived.ts already applies). Defensive: they also run on schema-refused documents.

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

const HCM = 'envoy.filters.network.http_connection_manager';

export function checkEnvoyFilter(ef: KindMap['EnvoyFilter']): Problem[] {
  const out = new Problems();
  const spec = obj(ef.spec);
  checkAlphaSelector(out, 'spec.workloadSelector', obj(spec['workloadSelector'])['labels'] as Record<string, string> | undefined);
  arr(spec['configPatches']).forEach((raw, i) => {
    const p = at('spec.configPatches', i);
    if (raw === null || typeof raw !== 'object') {
      out.add(p, 'Envoy filter: null config patch');
      return;
    }
    const cp = obj(raw);
    const match = cp['match'] === undefined ? undefined : obj(cp['match']);
    if (match?.['context'] === 'WAYPOINT') return;
    const applyTo = str(cp['applyTo']);
    if (applyTo === '' || applyTo === 'INVALID') return out.add(at(p, 'applyTo'), 'Envoy filter: missing applyTo');
    if (cp['patch'] === undefined) return out.add(at(p, 'patch'), 'Envoy filter: missing patch');
    const patch = obj(cp['patch']);
    const operation = str(patch['operation']);
    if (operation === '' || operation === 'INVALID') return out.add(at(p, 'patch.operation'), 'Envoy filter: missing patch operation');
    if (operation !== 'REMOVE' && patch['value'] === undefined) {
      return out.add(at(p, 'patch.value'), 'Envoy filter: missing patch value for non-remove operation');
    }
    const proxyVersion = str(obj(match?.['proxy'])['proxyVersion']);
    if (proxyVersion && proxyVersion.length <= 1024) {
      try {
        new RegExp(proxyVersion, 'u');
      } catch (err) {
        return out.add(at(p, 'match.proxy.proxyVersion'), `Envoy filter: invalid regex for proxy version, [${(err as Error).message}]`);
      }
    }
    if (!match) return;
    const objectTypes = ['listener', 'routeConfiguration', 'cluster'].filter((k) => match[k] !== undefined);
    if (['LISTENER', 'FILTER_CHAIN', 'NETWORK_FILTER', 'HTTP_FILTER', 'LISTENER_FILTER'].includes(applyTo) && objectTypes.length > 0) {
      if (match['listener'] === undefined) return out.add(at(p, 'match'), 'Envoy filter: applyTo for listener class objects cannot have non listener match');
      const filter = obj(obj(obj(match['listener'])['filterChain'])['filter']);
      if (Object.keys(filter).length > 0 || obj(obj(match['listener'])['filterChain'])['filter'] !== undefined) {
        const name = str(filter['name']);
        if (name === '') return out.add(at(p, 'match.listener.filterChain.filter.name'), 'Envoy filter: filter match has no name to match on');
        if (filter['subFilter'] !== undefined) {
          if (applyTo !== 'HTTP_FILTER') return out.add(at(p, 'match.listener.filterChain.filter.subFilter'), 'Envoy filter: subfilter match can be used with applyTo HTTP_FILTER only');
          if (name !== HCM && name !== 'envoy.http_connection_manager') {
            return out.add(at(p, 'match.listener.filterChain.filter.subFilter'), `Envoy filter: subfilter match requires filter match with ${HCM}`);
          }
          if (str(obj(filter['subFilter'])['name']) === '') {
            return out.add(at(p, 'match.listener.filterChain.filter.subFilter.name'), 'Envoy filter: subfilter match has no name to match on');
          }
        }
      }
    } else if (['ROUTE_CONFIGURATION', 'VIRTUAL_HOST', 'HTTP_ROUTE'].includes(applyTo) && objectTypes.length > 0) {
      if (match['routeConfiguration'] === undefined) {
        out.add(at(p, 'match'), 'Envoy filter: applyTo for http route class objects cannot have non route configuration match');
      }
    } else if (applyTo === 'CLUSTER' && objectTypes.length > 0 && match['cluster'] === undefined) {
      out.add(at(p, 'match'), 'Envoy filter: applyTo for cluster class objects cannot have non cluster match');
    }
    return undefined;
  });
  return out.list;
}

export function checkProxyConfig(pc: KindMap['ProxyConfig']): Problem[] {
  const out = new Problems();
  const spec = obj(pc.spec);
  checkWorkloadSelector(out, 'spec.selector', obj(spec['selector'])['matchLabels'] as Record<string, string> | undefined);
  const concurrency = spec['concurrency'];
  if (typeof concurrency === 'number' && concurrency < 0) out.add('spec.concurrency', 'concurrency must be greater than or equal to 0');
  return out.list;
}

function checkMatchPorts(out: Problems, matches: unknown): void {
  arr(matches).forEach((m, i) => {
    arr(obj(m)['ports']).forEach((port, j) => {
      const n = obj(port)['number'];
      if (typeof n === 'number' && portError(n)) out.add(`spec.match[${i}].ports[${j}].number`, `spec.Match[${i}].Ports[${j}] is out of range: ${n}`);
    });
  });
}

function checkVmEnv(out: Problems, path: string, vmConfig: unknown): void {
  const seen = new Set<string>();
  arr(obj(vmConfig)['env']).forEach((e, i) => {
    const name = str(obj(e)['name']);
    if (name === '') out.add(`${path}.env[${i}].name`, 'spec.vmConfig.env invalid');
    else if (seen.has(name)) out.add(`${path}.env[${i}].name`, 'duplicate env');
    seen.add(name);
  });
}

export function checkWasmPlugin(wp: KindMap['WasmPlugin']): Problem[] {
  const out = new Problems();
  const spec = obj(wp.spec);
  if (spec['selector'] !== undefined) checkWorkloadSelector(out, 'spec.selector', obj(spec['selector'])['matchLabels'] as Record<string, string> | undefined);
  if (str(spec['url']) === '' && spec['url'] !== null) out.add('spec.url', 'url field needs to be set');
  checkVmEnv(out, 'spec.vmConfig', spec['vmConfig']);
  checkMatchPorts(out, spec['match']);
  return out.list;
}

export function checkTrafficExtension(te: KindMap['TrafficExtension']): Problem[] {
  const out = new Problems();
  const spec = obj(te.spec);
  if ((spec['wasm'] === undefined) === (spec['lua'] === undefined)) out.add('spec', 'exactly one of wasm or lua must be set');
  if (spec['selector'] !== undefined) checkWorkloadSelector(out, 'spec.selector', obj(spec['selector'])['matchLabels'] as Record<string, string> | undefined);
  if (spec['lua'] !== undefined && str(obj(spec['lua'])['inlineCode']) === '') out.add('spec.lua.inlineCode', 'lua.inlineCode cannot be empty');
  if (spec['wasm'] !== undefined) {
    if (str(obj(spec['wasm'])['url']) === '') out.add('spec.wasm.url', 'url field needs to be set');
    checkVmEnv(out, 'spec.wasm.vmConfig', obj(spec['wasm'])['vmConfig']);
  }
  checkMatchPorts(out, spec['match']);
  return out.list;
}
