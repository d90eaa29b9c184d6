import type { Problem } from '../origin.js';
import type { ServiceEntry, WorkloadEntry, WorkloadEntrySpec, WorkloadGroup } from '../schemas/service-entry.js';
import { istioProtocol, isHttpProtocol, isTlsProtocol } from './protocol.js';
import {
  Problems,
  at,
  checkExportTo,
  checkLabels,
  fqdnError,
  ipOrCidrError,
  isDNS1123Label,
  isIPAddress,
  portError,
  wildcardDomainError,
} from './util.js';

// istiod's webhook rules (pkg/config/validation ValidateServiceEntry, ValidateWorkloadEntry,
// ValidateWorkloadGroup) for what the CRD schema and its CEL rules do not already refuse. They also run on
// documents the schema refused (to report every problem at once), so they read fields defensively.

const UNIX_PREFIX = 'unix://';

const list = <T>(v: readonly T[] | undefined): readonly T[] => (Array.isArray(v) ? v : []);
const record = <T>(v: Readonly<Record<string, T>> | undefined): Readonly<Record<string, T>> =>
  v && typeof v === 'object' && !Array.isArray(v) ? v : {};

/** istio ValidateUnixAddress (without the `unix://` prefix). */
export function unixAddressError(addr: string): string | undefined {
  if (addr === '') return 'unix address must not be empty';
  if (addr.startsWith('@')) return undefined;
  if (!addr.startsWith('/') || addr.endsWith('/')) return `${addr} is not an absolute path to a file`;
  return undefined;
}

export function checkPortName(out: Problems, path: string, name: string): void {
  if (!isDNS1123Label(name)) out.add(path, `invalid port name: ${name}`);
}

export function checkProtocol(out: Problems, path: string, protocol: string | undefined): void {
  if (protocol && istioProtocol(protocol) === 'UNSUPPORTED') out.add(path, `unsupported protocol: ${protocol}`);
}

/** ServiceEntry / Sidecar `workloadSelector.labels` (istio ValidateAlphaWorkloadSelector). */
export function checkAlphaSelector(out: Problems, path: string, labels: Readonly<Record<string, string>> | undefined): void {
  for (const [k, v] of Object.entries(record(labels))) {
    if (k === '') out.add(at(path, 'labels'), `empty key is not supported in selector: "${k}=${v}"`);
    else if (k.includes('*') || String(v).includes('*')) out.add(at(at(path, 'labels'), k), `wildcard is not supported in selector: "${k}=${v}"`);
  }
}

function checkWorkloadEntrySpec(out: Problems, path: string, we: WorkloadEntrySpec, servicePorts: ReadonlySet<string> | undefined, allowFqdn: boolean): void {
  const addr = typeof we.address === 'string' ? we.address : '';
  if (addr === '' && !we.network) {
    out.add(at(path, 'address'), 'address is required');
    return;
  }
  let unix = false;
  if (addr.startsWith(UNIX_PREFIX)) {
    unix = true;
    const err = unixAddressError(addr.slice(UNIX_PREFIX.length));
    if (err) out.add(at(path, 'address'), err);
    if (Object.keys(record(we.ports)).length > 0) out.add(at(path, 'ports'), `unix endpoint ${addr} must not include ports`);
  } else if (addr !== '' && !isIPAddress(addr)) {
    if (!allowFqdn) out.add(at(path, 'address'), `endpoint address "${addr}" is not a valid IP address`);
    else if (fqdnError(addr)) out.add(at(path, 'address'), `endpoint address "${addr}" is not a valid FQDN or an IP address`);
  }
  for (const [name, port] of Object.entries(record(we.ports))) {
    const p = at(at(path, 'ports'), name);
    if (servicePorts && !servicePorts.has(name)) out.add(p, `endpoint port ${port} is not defined by the service entry`);
    checkPortName(out, p, name);
    const err = typeof port === 'number' ? portError(port) : undefined;
    if (err) out.add(p, err);
  }
  checkLabels(out, at(path, 'labels'), we.labels as Record<string, string> | undefined);
  if (unix && servicePorts && servicePorts.size !== 1) out.add(path, 'exactly 1 service port required for unix endpoints');
}

export function checkWorkloadEntry(we: WorkloadEntry): Problem[] {
  const out = new Problems();
  checkWorkloadEntrySpec(out, 'spec', we.spec ?? {}, undefined, true);
  return out.list;
}

export function checkWorkloadGroup(wg: WorkloadGroup): Problem[] {
  const out = new Problems();
  const spec = wg.spec ?? ({} as WorkloadGroup['spec']);
  if (!spec.template) out.add('spec.template', 'template is required');
  checkLabels(out, 'spec.metadata.labels', spec.metadata?.labels as Record<string, string> | undefined);
  const probe = spec.probe;
  if (probe) {
    for (const f of ['periodSeconds', 'initialDelaySeconds', 'timeoutSeconds', 'successThreshold', 'failureThreshold'] as const) {
      const v = probe[f];
      if (typeof v === 'number' && v < 0) out.add(at('spec.probe', f), `${f} must be non-negative`);
    }
    const methods = [probe.httpGet, probe.tcpSocket, probe.exec, probe.grpc].filter((m) => m !== undefined);
    if (methods.length === 0) out.add('spec.probe', 'unknown health check method: set one of httpGet, tcpSocket, exec, grpc');
    if (probe.httpGet) {
      const err = portError(probe.httpGet.port);
      if (err) out.add('spec.probe.httpGet.port', err);
      const scheme = probe.httpGet.scheme;
      if (scheme && scheme !== 'HTTP' && scheme !== 'HTTPS') out.add('spec.probe.httpGet.scheme', 'httpGet.scheme must be one of "HTTPS", "HTTP"');
    }
    if (probe.tcpSocket) {
      const err = portError(probe.tcpSocket.port);
      if (err) out.add('spec.probe.tcpSocket.port', err);
    }
    if (probe.exec && list(probe.exec.command).length === 0) out.add('spec.probe.exec.command', 'exec.command is required');
  }
  return out.list;
}

export function checkServiceEntry(se: ServiceEntry): Problem[] {
  const out = new Problems();
  const spec = se.spec ?? ({} as ServiceEntry['spec']);
  const resolution = spec.resolution ?? 'NONE';
  const hosts = list(spec.hosts);
  const endpoints = list(spec.endpoints);
  const ports = list(spec.ports);
  const addresses = list(spec.addresses);

  checkAlphaSelector(out, 'spec.workloadSelector', spec.workloadSelector?.labels);
  if (spec.workloadSelector && spec.endpoints) {
    out.add('spec', 'only one of WorkloadSelector or Endpoints is allowed in Service Entry');
  }
  if (hosts.length === 0) out.add('spec.hosts', 'service entry must have at least one host');
  hosts.forEach((h, i) => {
    if (typeof h !== 'string') return;
    if (h === '*') out.add(at('spec.hosts', i), `invalid host ${h}`);
    else {
      const err = wildcardDomainError(h);
      if (err) out.add(at('spec.hosts', i), err);
    }
  });
  let cidr = false;
  addresses.forEach((a, i) => {
    if (typeof a !== 'string') return;
    cidr ||= a.includes('/');
    const err = ipOrCidrError(a);
    if (err) out.add(at('spec.addresses', i), err);
  });
  if (cidr && resolution !== 'NONE' && resolution !== 'STATIC') {
    out.add('spec.resolution', 'CIDR addresses are allowed only for NONE/STATIC resolution types');
  }

  const names = new Set<string>();
  const numbers = new Set<number>();
  ports.forEach((port, i) => {
    const p = at('spec.ports', i);
    if (!port || typeof port !== 'object') {
      out.add(p, 'service entry port may not be null');
      return;
    }
    if (names.has(port.name)) out.add(at(p, 'name'), `service entry port name "${port.name}" already defined`);
    names.add(port.name);
    if (numbers.has(port.number)) out.add(at(p, 'number'), `service entry port ${port.number} already defined`);
    numbers.add(port.number);
    if (port.targetPort) {
      const err = portError(port.targetPort);
      if (err) out.add(at(p, 'targetPort'), err);
    }
    if (typeof port.name === 'string') checkPortName(out, at(p, 'name'), port.name);
    checkProtocol(out, at(p, 'protocol'), port.protocol);
    const err = typeof port.number === 'number' ? portError(port.number) : undefined;
    if (err) out.add(at(p, 'number'), err);
  });

  switch (resolution) {
    case 'NONE':
      if (endpoints.length > 0) out.add('spec.endpoints', 'no endpoints should be provided for resolution type none');
      break;
    case 'STATIC':
      endpoints.forEach((ep, i) => {
        if (!ep || typeof ep !== 'object') out.add(at('spec.endpoints', i), 'endpoint cannot be nil');
        else checkWorkloadEntrySpec(out, at('spec.endpoints', i), ep, names, false);
      });
      break;
    case 'DNS':
    case 'DNS_ROUND_ROBIN':
      if (endpoints.length === 0) {
        const bad = hosts.find((h) => typeof h === 'string' && fqdnError(h.startsWith('*.') ? h.slice(2) : h) !== undefined);
        if (bad !== undefined) {
          const err = fqdnError(bad.startsWith('*.') ? bad.slice(2) : bad);
          out.add('spec.hosts', `hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode ${resolution}, ${err}`);
        }
      }
      if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1) {
        out.add('spec.endpoints', `there must only be 0 or 1 endpoint for resolution mode ${resolution}`);
      }
      endpoints.forEach((ep, i) => {
        const p = at('spec.endpoints', i);
        if (!ep || typeof ep !== 'object') {
          out.add(p, 'endpoint cannot be nil');
          return;
        }
        const addr = typeof ep.address === 'string' ? ep.address : '';
        if (!isIPAddress(addr) && fqdnError(addr)) out.add(at(p, 'address'), `endpoint address "${addr}" is not a valid FQDN or an IP address`);
        checkLabels(out, at(p, 'labels'), ep.labels as Record<string, string> | undefined);
        for (const [name, port] of Object.entries(record(ep.ports))) {
          const pp = at(at(p, 'ports'), name);
          if (!names.has(name)) out.add(pp, `endpoint port ${port} is not defined by the service entry`);
          checkPortName(out, pp, name);
          const err = typeof port === 'number' ? portError(port) : undefined;
          if (err) out.add(pp, err);
        }
      });
      break;
  }

  // Plain TCP cannot tell hosts apart: several hosts need HTTP or TLS ports unless resolution is NONE.
  if (resolution !== 'NONE' && hosts.length > 1) {
    const opaque = ports.find((port) => port && typeof port === 'object' && !isHttpProtocol(istioProtocol(port.protocol ?? '')) && !isTlsProtocol(istioProtocol(port.protocol ?? '')));
    if (opaque) out.add('spec.ports', 'multiple hosts provided with non-HTTP, non-TLS ports');
  }
  checkExportTo(out, 'spec.exportTo', se.metadata?.namespace, list(spec.exportTo), false, true);
  return out.list;
}
