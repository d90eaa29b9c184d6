import type { Problem } from '../origin.js';
import type {
  ClientTLSSettings,
  ConnectionPoolSettings,
  DestinationRule,
  LoadBalancerSettings,
  LocalityLoadBalancerSetting,
  OutlierDetection,
  PortTrafficPolicy,
  TrafficPolicy,
  TunnelSettings,
} from '../schemas/destination-rule.js';
import {
  Problems,
  at,
  checkDuration,
  checkExportTo,
  checkLabels,
  checkWorkloadSelector,
  fqdnError,
  isDNS1123Label,
  isIPAddress,
  portError,
  wildcardDomainError,
} from './util.js';

// DestinationRule rules of istiod's validating webhook (ValidateDestinationRule, validateTrafficPolicy,
// validateLoadBalancer, ValidateLocalityLbSetting, ValidateTLS, …), with messages that say why.

const TOPOLOGY_LABELS = new Set(['topology.kubernetes.io/region', 'topology.kubernetes.io/zone', 'topology.istio.io/subzone']);

export function checkDestinationRule(dr: DestinationRule): Problem[] {
  const out = new Problems();
  const spec = dr.spec;
  const ns = dr.metadata.namespace;
  const hostErr = spec.host === '' ? 'host is required (the service this rule applies to)' : wildcardDomainError(spec.host);
  if (hostErr) out.add('spec.host', hostErr);
  if (spec.trafficPolicy) checkTrafficPolicy(out, 'spec.trafficPolicy', ns, spec.trafficPolicy);

  const names = new Set<string>();
  (spec.subsets ?? []).forEach((subset, i) => {
    const p = at('spec.subsets', i);
    if (names.has(subset.name)) out.add(at(p, 'name'), `duplicate subset names: ${subset.name}`);
    names.add(subset.name);
    if (subset.name === '') out.add(at(p, 'name'), 'subset name cannot be empty');
    else if (!isDNS1123Label(subset.name)) out.add(at(p, 'name'), `subset name is invalid: ${subset.name} (must be a DNS-1123 label)`);
    checkLabels(out, at(p, 'labels'), subset.labels);
    if (subset.trafficPolicy) checkTrafficPolicy(out, at(p, 'trafficPolicy'), ns, subset.trafficPolicy);
  });

  checkExportTo(out, 'spec.exportTo', ns, spec.exportTo, spec.workloadSelector !== undefined);
  if (spec.workloadSelector) checkWorkloadSelector(out, 'spec.workloadSelector', spec.workloadSelector.matchLabels);
  return out.list;
}

function checkTrafficPolicy(out: Problems, path: string, ns: string | undefined, tp: TrafficPolicy): void {
  if (
    !tp.outlierDetection && !tp.connectionPool && !tp.loadBalancer && !tp.tls && !tp.portLevelSettings &&
    !tp.tunnel && !tp.proxyProtocol && !tp.retryBudget
  ) {
    out.add(path, 'traffic policy must have at least one field');
    return;
  }
  if (tp.tunnel && tp.proxyProtocol) {
    out.add(path, 'tunnel and proxyProtocol must not be set together');
    return;
  }
  if (tp.outlierDetection) checkOutlierDetection(out, at(path, 'outlierDetection'), tp.outlierDetection);
  if (tp.connectionPool) checkConnectionPool(out, at(path, 'connectionPool'), tp.connectionPool);
  if (tp.loadBalancer) checkLoadBalancer(out, at(path, 'loadBalancer'), tp.loadBalancer);
  if (tp.tls) checkClientTLS(out, at(path, 'tls'), ns, tp.tls);
  if (tp.portLevelSettings) checkPortTrafficPolicies(out, at(path, 'portLevelSettings'), ns, tp.portLevelSettings);
  if (tp.tunnel) checkTunnel(out, at(path, 'tunnel'), tp.tunnel);
}

function checkPortTrafficPolicies(out: Problems, path: string, ns: string | undefined, list: readonly PortTrafficPolicy[]): void {
  const seen = new Map<number, number>();
  list.forEach((pl, i) => {
    const p = at(path, i);
    if (!pl.port) out.add(at(p, 'port'), 'port traffic policy must have a port (port.number)');
    else {
      const n = pl.port.number ?? 0;
      const err = portError(n);
      if (err) out.add(at(at(p, 'port'), 'number'), err);
      else if (seen.has(n)) out.add(at(at(p, 'port'), 'number'), `port ${n} already has a port traffic policy (portLevelSettings[${seen.get(n)}])`);
      else seen.set(n, i);
    }
    if (!pl.outlierDetection && !pl.connectionPool && !pl.loadBalancer && !pl.tls) {
      out.add(p, 'port traffic policy must have at least one field besides port');
      return;
    }
    if (pl.outlierDetection) checkOutlierDetection(out, at(p, 'outlierDetection'), pl.outlierDetection);
    if (pl.connectionPool) checkConnectionPool(out, at(p, 'connectionPool'), pl.connectionPool);
    if (pl.loadBalancer) checkLoadBalancer(out, at(p, 'loadBalancer'), pl.loadBalancer);
    if (pl.tls) checkClientTLS(out, at(p, 'tls'), ns, pl.tls);
  });
}

function checkOutlierDetection(out: Problems, path: string, od: OutlierDetection): void {
  checkDuration(out, at(path, 'baseEjectionTime'), od.baseEjectionTime);
  checkDuration(out, at(path, 'interval'), od.interval);
  if (!od.splitExternalLocalOriginErrors && (od.consecutiveLocalOriginFailures ?? 0) > 0) {
    out.add(at(path, 'consecutiveLocalOriginFailures'), 'consecutive local origin failures is specified, but splitExternalLocalOriginErrors is not true');
  }
  for (const field of ['maxEjectionPercent', 'minHealthPercent'] as const) {
    const v = od[field];
    if (v !== undefined && (v < 0 || v > 100)) out.add(at(path, field), `percentage ${v} is not in range 0..100`);
  }
}

function checkConnectionPool(out: Problems, path: string, cp: ConnectionPoolSettings): void {
  if (!cp.http && !cp.tcp) {
    out.add(path, 'connection pool must have at least one field (http or tcp)');
    return;
  }
  const http = cp.http;
  if (http) {
    const p = at(path, 'http');
    const nonNegative = [
      ['http1MaxPendingRequests', 'http1 max pending requests'],
      ['http2MaxRequests', 'http2 max requests'],
      ['maxRequestsPerConnection', 'max requests per connection'],
      ['maxRetries', 'max retries'],
      ['maxConcurrentStreams', 'max concurrent streams'],
    ] as const;
    for (const [field, what] of nonNegative) {
      if ((http[field] ?? 0) < 0) out.add(at(p, field), `${what} must be non-negative`);
    }
    checkDuration(out, at(p, 'idleTimeout'), http.idleTimeout);
    if (http.h2UpgradePolicy === 'UPGRADE' && http.useClientProtocol) {
      out.add(at(p, 'useClientProtocol'), 'useClientProtocol must not be true when h2UpgradePolicy is UPGRADE');
    }
  }
  const tcp = cp.tcp;
  if (tcp) {
    const p = at(path, 'tcp');
    if ((tcp.maxConnections ?? 0) < 0) out.add(at(p, 'maxConnections'), 'max connections must be non-negative');
    checkDuration(out, at(p, 'connectTimeout'), tcp.connectTimeout);
    checkDuration(out, at(p, 'maxConnectionDuration'), tcp.maxConnectionDuration);
    // an idle timeout of 0 disables it
    if (tcp.idleTimeout !== undefined && !/^[-+]?0+(\.0*)?(h|m|s|ms|us|µs|μs|ns)?$/.test(tcp.idleTimeout)) {
      checkDuration(out, at(p, 'idleTimeout'), tcp.idleTimeout);
    }
    checkDuration(out, at(at(p, 'tcpKeepalive'), 'time'), tcp.tcpKeepalive?.time);
    checkDuration(out, at(at(p, 'tcpKeepalive'), 'interval'), tcp.tcpKeepalive?.interval);
  }
}

function isPrime(x: number): boolean {
  if (x !== 0 && x < 4) return true;
  if (x % 2 === 0) return false;
  const limit = Math.floor(Math.sqrt(x));
  for (let f = 3; f <= limit; f += 2) if (x % f === 0) return false;
  return true;
}

function checkLoadBalancer(out: Problems, path: string, lb: LoadBalancerSettings): void {
  const ch = lb.consistentHash;
  if (ch) {
    const p = at(path, 'consistentHash');
    const keys = (['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'] as const).filter((k) => ch[k] !== undefined);
    if (keys.length === 0) {
      out.add(p, 'consistentHash needs a hash key: one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName');
    } else if (keys.length > 1) {
      out.add(p, `only one hash key may be set (got ${keys.join(', ')})`);
    }
    if (ch.httpHeaderName === '') out.add(at(p, 'httpHeaderName'), 'header name cannot be empty');
    if (ch.httpQueryParameterName === '') out.add(at(p, 'httpQueryParameterName'), 'query parameter name cannot be empty');
    if (ch.httpCookie && ch.httpCookie.name === '') out.add(at(at(p, 'httpCookie'), 'name'), 'name required for httpCookie');
    if (ch.ringHash && ch.maglev) out.add(p, 'only one of ringHash or maglev may be set');
    if (ch.minimumRingSize !== undefined && ch.minimumRingSize !== 0 && (ch.ringHash || ch.maglev)) {
      out.add(at(p, 'minimumRingSize'), 'only one of minimumRingSize (deprecated) or maglev/ringHash can be specified');
    }
    if (ch.maglev) {
      const size = ch.maglev.tableSize ?? 0;
      const mp = at(at(p, 'maglev'), 'tableSize');
      if (size === 0) out.add(mp, 'tableSize must be set for maglev');
      else if (size >= 5000011) out.add(mp, `tableSize ${size} must be less than 5000011 for maglev`);
      else if (!isPrime(size)) out.add(mp, `tableSize ${size} must be a prime number for maglev (e.g. 65537)`);
    }
  }
  if (lb.localityLbSetting) {
    checkLocalityLb(out, at(path, 'localityLbSetting'), lb.localityLbSetting);
    if (lb.zoneAwareLbSetting) out.add(path, 'only one of localityLbSetting and zoneAwareLbSetting can be set');
  }
  const z = lb.zoneAwareLbSetting;
  if (z) {
    (z.failover ?? []).forEach((f, i) => checkFailover(out, at(at(at(path, 'zoneAwareLbSetting'), 'failover'), i), f));
  }
  const warm = lb.warmup;
  if (warm) {
    const p = at(path, 'warmup');
    checkDuration(out, at(p, 'duration'), warm.duration);
    if (warm.aggression !== undefined && warm.aggression !== null && warm.aggression < 1) {
      out.add(at(p, 'aggression'), `aggression ${warm.aggression} should be greater than or equal to 1`);
    }
  }
}

function checkFailover(out: Problems, path: string, f: { from?: string | undefined; to?: string | undefined }): void {
  const from = f.from ?? '';
  const to = f.to ?? '';
  if (from === to) out.add(path, `locality lb failover settings must specify different regions (from and to are both "${from}")`);
  if (from.includes('/') || to.includes('/')) out.add(path, 'locality lb failover only specifies regions (no zone/subzone "/")');
  if (from.includes('*') || to.includes('*')) out.add(path, "locality lb failover region should not contain '*' wildcard");
}

function checkLocalityLb(out: Problems, path: string, lb: LocalityLoadBalancerSetting): void {
  const distribute = lb.distribute ?? [];
  const failover = lb.failover ?? [];
  if (distribute.length > 0 && failover.length > 0) {
    out.add(path, "can not simultaneously specify 'distribute' and 'failover'");
    return;
  }
  if (failover.length > 0) {
    for (const label of lb.failoverPriority ?? []) {
      if (TOPOLOGY_LABELS.has(label)) {
        out.add(at(path, 'failoverPriority'), `can not simultaneously set 'failover' and topology label '${label}' in 'failoverPriority'`);
        return;
      }
    }
  }
  const sources: string[] = [];
  for (let i = 0; i < distribute.length; i++) {
    const d = distribute[i];
    if (!d) continue;
    const p = at(at(path, 'distribute'), i);
    sources.push(d.from ?? '');
    let total = 0;
    for (const [loc, weight] of Object.entries(d.to ?? {})) {
      if (weight <= 0 || weight > 100) {
        out.add(at(at(p, 'to'), loc), `locality weight ${weight} must be in range [1, 100]`);
        return;
      }
      total += weight;
    }
    if (total !== 100) {
      out.add(at(p, 'to'), `total locality weight ${total} != 100`);
      return;
    }
    const err = localitiesError(Object.keys(d.to ?? {}));
    if (err) out.add(at(p, 'to'), err);
  }
  const err = localitiesError(sources);
  if (err) out.add(at(path, 'distribute'), err);
  failover.forEach((f, i) => checkFailover(out, at(at(path, 'failover'), i), f));
}

/** region[/zone[/subzone]] with at most one trailing `*`, no overlaps (istio validateLocalities). */
function localitiesError(localities: readonly string[]): string | undefined {
  // region -> zone -> subzone ('*' marks "all")
  const seen = new Map<string, Map<string, Set<string>>>();
  for (const locality of localities) {
    const stars = locality.split('*').length - 1;
    if (stars > 0 && (stars > 1 || !locality.endsWith('*'))) {
      return `locality ${locality} wildcard '*' number can not exceed 1 and must be in the end`;
    }
    if (seen.has('*')) return `locality ${locality} overlap with previous specified ones`;
    const items = locality.split('/');
    const parts = [items[0], items[1], items.length > 2 ? items.slice(2).join('/') : undefined].slice(0, Math.min(items.length, 3));
    if (parts.some((x) => x === '')) return `locality ${locality} must not contain empty region/zone/subzone info`;
    const [region = '', zone = '', subzone = ''] = parts as string[];
    const overlap = `locality ${locality} overlap with previous specified ones`;
    if (parts.length === 1) {
      if (seen.has(region)) return overlap;
      seen.set(region, new Map([['*', new Set(['*'])]]));
    } else if (parts.length === 2) {
      const zones = seen.get(region);
      if (zones) {
        if (zones.has('*') || zones.has(zone)) return overlap;
        zones.set(zone, new Set(['*']));
      } else seen.set(region, new Map([[zone, new Set(['*'])]]));
    } else {
      const zones = seen.get(region);
      if (zones) {
        if (zones.has('*')) return overlap;
        const subs = zones.get(zone);
        if (subs) {
          if (subs.has('*') || subs.has(subzone)) return overlap;
          subs.add(subzone);
        } else zones.set(zone, new Set([subzone]));
      } else seen.set(region, new Map([[zone, new Set([subzone])]]));
    }
  }
  return undefined;
}

function checkClientTLS(out: Problems, path: string, ns: string | undefined, tls: ClientTLSSettings): void {
  const mode = tls.mode ?? 'DISABLE';
  const cred = tls.credentialName ?? '';
  if (cred.startsWith('configmap://')) {
    const ref = cred.slice('configmap://'.length);
    const parts = ref.split('/');
    const refNs = parts.length === 2 ? parts[0] : ns;
    if (ref === '' || parts.length > 2 || parts.some((x) => x === '')) {
      out.add(at(path, 'credentialName'), `invalid configmap:// credentialName "${cred}": expected configmap://[namespace/]name`);
    } else if (!ns || refNs !== ns) {
      out.add(at(path, 'credentialName'), `invalid configmap:// credentialName: namespace must match the configuration namespace "${ns ?? ''}"`);
    }
  }
  if (tls.insecureSkipVerify === true) {
    if (mode === 'SIMPLE' && (tls.caCertificates || cred || tls.subjectAltNames)) {
      out.add(path, 'cannot specify caCertificates or credentialName or subjectAltNames when insecureSkipVerify is set true');
    }
    if (mode === 'MUTUAL' && (tls.caCertificates || tls.subjectAltNames)) {
      out.add(path, 'cannot specify caCertificates or subjectAltNames when insecureSkipVerify is set true');
    }
  }
  if ((mode === 'SIMPLE' || mode === 'MUTUAL') && cred) {
    if (tls.clientCertificate || tls.caCertificates || tls.privateKey || tls.caCrl) {
      out.add(path, 'cannot specify client certificates or CA certificate or CA CRL if credentialName is set (the credential provides them)');
    }
    return;
  }
  if (mode === 'MUTUAL') {
    if (!tls.clientCertificate) out.add(at(path, 'clientCertificate'), 'client certificate required for mutual tls (or set credentialName)');
    if (!tls.privateKey) out.add(at(path, 'privateKey'), 'private key required for mutual tls (or set credentialName)');
  }
  if (mode === 'ISTIO_MUTUAL') {
    // Istio supplies the workload certificate and the mesh CA itself.
    for (const field of ['clientCertificate', 'privateKey', 'caCertificates', 'caCrl', 'credentialName'] as const) {
      if (tls[field]) out.add(at(path, field), `ISTIO_MUTUAL uses Istio's own certificates: ${field} must not be set (use mode MUTUAL to supply certificates)`);
    }
  }
}

function checkTunnel(out: Problems, path: string, t: TunnelSettings): void {
  if (t.protocol && t.protocol !== 'CONNECT' && t.protocol !== 'POST') {
    out.add(at(path, 'protocol'), 'tunnel protocol must be "CONNECT" or "POST"');
  }
  const fqdnErr = fqdnError(t.targetHost);
  if (fqdnErr && !isIPAddress(t.targetHost)) {
    out.add(at(path, 'targetHost'), `tunnel target host must be valid FQDN or IP address: ${fqdnErr}`);
  }
  const portErr = portError(t.targetPort);
  if (portErr) out.add(at(path, 'targetPort'), `tunnel target port is invalid: ${portErr}`);
}
