import net from 'node:net';
import YAML from 'yaml';
import type { InjectionConfig } from './config.js';

// The pod annotations that steer injection (istio/api annotations.yaml), read and checked the way
// istiod's injector does: a bad traffic annotation fails the injection with a message naming the
// annotation and Istio's parameter name (e.g. includeIPRanges), never a half-configured sidecar.

export const A = {
  inject: 'sidecar.istio.io/inject',
  status: 'sidecar.istio.io/status',
  proxyOverrides: 'proxy.istio.io/overrides',
  templates: 'inject.istio.io/templates',
  proxyConfig: 'proxy.istio.io/config',
  proxyImage: 'sidecar.istio.io/proxyImage',
  proxyCPU: 'sidecar.istio.io/proxyCPU',
  proxyMemory: 'sidecar.istio.io/proxyMemory',
  proxyCPULimit: 'sidecar.istio.io/proxyCPULimit',
  proxyMemoryLimit: 'sidecar.istio.io/proxyMemoryLimit',
  logLevel: 'sidecar.istio.io/logLevel',
  componentLogLevel: 'sidecar.istio.io/componentLogLevel',
  agentLogLevel: 'sidecar.istio.io/agentLogLevel',
  interceptionMode: 'sidecar.istio.io/interceptionMode',
  statusPort: 'status.sidecar.istio.io/port',
  readinessInitialDelay: 'readiness.status.sidecar.istio.io/initialDelaySeconds',
  readinessPeriod: 'readiness.status.sidecar.istio.io/periodSeconds',
  readinessFailureThreshold: 'readiness.status.sidecar.istio.io/failureThreshold',
  rewriteAppHTTPProbers: 'sidecar.istio.io/rewriteAppHTTPProbers',
  enablePrometheusMerge: 'prometheus.istio.io/merge-metrics',
  statsInclusionPrefixes: 'sidecar.istio.io/statsInclusionPrefixes',
  statsInclusionSuffixes: 'sidecar.istio.io/statsInclusionSuffixes',
  statsInclusionRegexps: 'sidecar.istio.io/statsInclusionRegexps',
  nativeSidecar: 'sidecar.istio.io/nativeSidecar',
  userVolume: 'sidecar.istio.io/userVolume',
  userVolumeMount: 'sidecar.istio.io/userVolumeMount',
  includeOutboundIPRanges: 'traffic.sidecar.istio.io/includeOutboundIPRanges',
  excludeOutboundIPRanges: 'traffic.sidecar.istio.io/excludeOutboundIPRanges',
  includeInboundPorts: 'traffic.sidecar.istio.io/includeInboundPorts',
  excludeInboundPorts: 'traffic.sidecar.istio.io/excludeInboundPorts',
  includeOutboundPorts: 'traffic.sidecar.istio.io/includeOutboundPorts',
  excludeOutboundPorts: 'traffic.sidecar.istio.io/excludeOutboundPorts',
  excludeInterfaces: 'traffic.sidecar.istio.io/excludeInterfaces',
  kubevirtInterfaces: 'traffic.sidecar.istio.io/kubevirtInterfaces',
  rerouteVirtualInterfaces: 'istio.io/reroute-virtual-interfaces',
  defaultContainer: 'kubectl.kubernetes.io/default-container',
  defaultLogsContainer: 'kubectl.kubernetes.io/default-logs-container',
  rev: 'istio.io/rev',
} as const;

export class InjectionError extends Error {}

const isPort = (s: string) => /^\d+$/.test(s) && Number(s) > 0 && Number(s) <= 65535;

function isCidr(s: string): boolean {
  const [ip, bits, ...rest] = s.split('/');
  if (rest.length || !ip || bits === undefined || !/^\d+$/.test(bits)) return false;
  const family = net.isIP(ip);
  return family !== 0 && Number(bits) <= (family === 4 ? 32 : 128);
}

function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

function checkPorts(name: string, param: string, value: string, wildcard: boolean): void {
  if (wildcard && value.trim() === '*') return;
  for (const p of list(value)) {
    if (!isPort(p)) throw new InjectionError(`annotation ${name} (${param}): ${JSON.stringify(p)} is not a port number${wildcard ? ' or *' : ''}`);
  }
}

function checkCidrs(name: string, param: string, value: string, wildcard: boolean): void {
  if (wildcard && value.trim() === '*') return;
  for (const c of list(value)) {
    if (!isCidr(c)) throw new InjectionError(`annotation ${name} (${param}): ${JSON.stringify(c)} is not a CIDR${wildcard ? ' or *' : ''}`);
  }
}

/** The traffic-capture settings of one pod: annotations over chart values, validated. */
export interface TrafficSettings {
  interceptionMode: string;
  includeIPRanges: string;
  excludeIPRanges: string;
  includeInboundPorts: string;
  excludeInboundPorts: string;
  includeOutboundPorts?: string;
  excludeOutboundPorts?: string;
  statusPort: number;
  kubevirtInterfaces?: string;
  excludeInterfaces?: string;
}

export function trafficSettings(annotations: Record<string, string>, cfg: InjectionConfig, meshInterception?: string): TrafficSettings {
  const get = (k: string, d: string) => annotations[k] ?? d;
  const s: TrafficSettings = {
    interceptionMode: get(A.interceptionMode, meshInterception ?? cfg.interceptionMode),
    includeIPRanges: get(A.includeOutboundIPRanges, cfg.includeIPRanges),
    excludeIPRanges: get(A.excludeOutboundIPRanges, cfg.excludeIPRanges),
    includeInboundPorts: get(A.includeInboundPorts, cfg.includeInboundPorts),
    excludeInboundPorts: get(A.excludeInboundPorts, cfg.excludeInboundPorts),
    statusPort: cfg.statusPort,
  };
  if (A.includeOutboundPorts in annotations || cfg.includeOutboundPorts) s.includeOutboundPorts = get(A.includeOutboundPorts, cfg.includeOutboundPorts);
  if (A.excludeOutboundPorts in annotations || cfg.excludeOutboundPorts) s.excludeOutboundPorts = get(A.excludeOutboundPorts, cfg.excludeOutboundPorts);
  const kubevirt = annotations[A.rerouteVirtualInterfaces] ?? annotations[A.kubevirtInterfaces];
  if (kubevirt !== undefined) s.kubevirtInterfaces = kubevirt;
  if (annotations[A.excludeInterfaces] !== undefined) s.excludeInterfaces = annotations[A.excludeInterfaces];
  if (!['REDIRECT', 'TPROXY', 'NONE'].includes(s.interceptionMode)) {
    throw new InjectionError(`annotation ${A.interceptionMode}: ${JSON.stringify(s.interceptionMode)} is not REDIRECT, TPROXY or NONE`);
  }
  if (annotations[A.statusPort] !== undefined) {
    const p = annotations[A.statusPort]!;
    if (p !== '0' && !isPort(p)) throw new InjectionError(`annotation ${A.statusPort}: ${JSON.stringify(p)} is not a port number`);
    s.statusPort = Number(p);
  }
  checkCidrs(A.includeOutboundIPRanges, 'includeIPRanges', s.includeIPRanges, true);
  checkCidrs(A.excludeOutboundIPRanges, 'excludeIPRanges', s.excludeIPRanges, false);
  checkPorts(A.includeInboundPorts, 'includeInboundPorts', s.includeInboundPorts, true);
  checkPorts(A.excludeInboundPorts, 'excludeInboundPorts', s.excludeInboundPorts, false);
  if (s.includeOutboundPorts !== undefined) checkPorts(A.includeOutboundPorts, 'includeOutboundPorts', s.includeOutboundPorts, false);
  if (s.excludeOutboundPorts !== undefined) checkPorts(A.excludeOutboundPorts, 'excludeOutboundPorts', s.excludeOutboundPorts, false);
  return s;
}

/** `proxy.istio.io/config` (YAML or JSON ProxyConfig), as the object PROXY_CONFIG carries. */
export function proxyConfigOverride(annotations: Record<string, string>): Record<string, unknown> {
  const text = annotations[A.proxyConfig];
  if (text === undefined || text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = YAML.parse(text);
  } catch (err) {
    throw new InjectionError(`annotation ${A.proxyConfig}: not YAML/JSON (${(err as Error).message})`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new InjectionError(`annotation ${A.proxyConfig}: must be a ProxyConfig object`);
  return parsed as Record<string, unknown>;
}

/** Istio's boolean annotation values. */
export function truthy(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  const s = v.trim().toLowerCase();
  if (['y', 'yes', 'true', 'on', 'enabled'].includes(s)) return true;
  if (['n', 'no', 'false', 'off', 'disabled', ''].includes(s)) return false;
  return undefined;
}

/** A JSON object annotation (`sidecar.istio.io/userVolume`, `…/userVolumeMount`): name → object. */
export function jsonMapAnnotation(annotations: Record<string, string>, key: string): Record<string, Record<string, unknown>> {
  const text = annotations[key];
  if (text === undefined || text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InjectionError(`annotation ${key}: not JSON (${(err as Error).message})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some((v) => !v || typeof v !== 'object')) {
    throw new InjectionError(`annotation ${key}: must be a JSON object of name → object`);
  }
  return parsed as Record<string, Record<string, unknown>>;
}
