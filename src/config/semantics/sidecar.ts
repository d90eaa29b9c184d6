import { isIP } from 'node:net';
import type { Problem } from '../origin.js';
import type { Sidecar, SidecarPortSpec } from '../schemas/sidecar.js';
import { istioProtocol, isTlsProtocol } from './protocol.js';
import { checkAlphaSelector, checkPortName, checkProtocol, unixAddressError } from './service-entry.js';
import { Problems, at, fqdnError, isDNS1123Label, portError, wildcardDomainError } from './util.js';

// istiod's ValidateSidecar (pkg/config/validation) beyond the CRD schema: listener ports and binds, egress
// host syntax (`ns/host`), the catch-all egress listener, defaultEndpoint form, ingress TLS limits and the
// outbound traffic policy's egress proxy. Runs defensively (also on schema-refused documents).

const UNIX_PREFIX = 'unix://';
const list = <T>(v: readonly T[] | undefined): readonly T[] => (Array.isArray(v) ? v : []);

function checkPortAndBind(out: Problems, path: string, port: SidecarPortSpec, bind: string | undefined): void {
  if (port.name) checkPortName(out, at(path, 'port.name'), port.name);
  checkProtocol(out, at(path, 'port.protocol'), port.protocol);
  const err = portError(port.number);
  if (err) out.add(at(path, 'port.number'), err);
  if (bind && !isIP(bind)) out.add(at(path, 'bind'), `${bind} is not a valid IP`);
}

/** istio validateSidecarOrGatewayHostnamePart + ValidateNamespaceSlashWildcardHostname (sidecar form). */
function checkEgressHost(out: Problems, path: string, host: string): void {
  const slash = host.indexOf('/');
  if (slash < 0) {
    out.add(path, 'host must be of form namespace/dnsName');
    return;
  }
  const ns = host.slice(0, slash);
  const name = host.slice(slash + 1);
  if (ns === '' || name === '') out.add(path, 'config namespace and dnsName in host entry cannot be empty');
  const bareNs = ns.replace(/^~/, '');
  if (bareNs !== '' && bareNs !== '*' && bareNs !== '.' && !isDNS1123Label(bareNs)) {
    out.add(path, `invalid namespace value "${ns}" in sidecar`);
  }
  if (name !== '*' && !name.includes('.')) out.add(path, 'short names (non FQDN) are not allowed');
  const err = wildcardDomainError(name);
  if (err && name !== '') out.add(path, err);
  if (name.includes('*') && name.length !== 1 && !name.startsWith('*.')) out.add(path, `partial wildcard "${name}" not allowed`);
}

export function checkSidecar(sc: Sidecar): Problem[] {
  const out = new Problems();
  const spec = sc.spec ?? ({} as Sidecar['spec']);
  checkAlphaSelector(out, 'spec.workloadSelector', spec.workloadSelector?.labels);
  const ingress = list(spec.ingress);
  const egress = list(spec.egress);
  if (ingress.length === 0 && egress.length === 0 && !spec.outboundTrafficPolicy && !spec.inboundConnectionPool) {
    out.add('spec', 'sidecar: empty configuration provided');
    return out.list;
  }

  const ingressPorts = new Set<number>();
  ingress.forEach((l, i) => {
    const p = at('spec.ingress', i);
    if (!l || typeof l !== 'object') {
      out.add(p, 'sidecar: ingress may not be null');
      return;
    }
    if (!l.port || typeof l.port !== 'object') {
      out.add(at(p, 'port'), 'sidecar: port is required for ingress listeners');
      return;
    }
    if (l.port.targetPort) out.add(at(p, 'port.targetPort'), 'targetPort has no impact on Sidecars');
    checkPortAndBind(out, p, l.port, l.bind);
    if (ingressPorts.has(l.port.number)) out.add(at(p, 'port.number'), 'sidecar: ports on IP bound listeners must be unique');
    ingressPorts.add(l.port.number);
    const ep = l.defaultEndpoint;
    if (ep) {
      if (ep.startsWith(UNIX_PREFIX)) {
        const err = unixAddressError(ep.slice(UNIX_PREFIX.length));
        if (err) out.add(at(p, 'defaultEndpoint'), err);
      } else {
        const m = /^(?:\[([^\]]*)\]|([^:]*)):([^:]*)$/.exec(ep);
        if (!m) out.add(at(p, 'defaultEndpoint'), `address ${ep}: missing port in address`);
        else {
          const host = m[1] ?? m[2] ?? '';
          if (host !== '' && !['127.0.0.1', '0.0.0.0', '::1', '::'].includes(host)) {
            out.add(at(p, 'defaultEndpoint'), 'sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset');
          }
          const port = m[3] ?? '';
          if (!/^\d+$/.test(port)) out.add(at(p, 'defaultEndpoint'), `sidecar: defaultEndpoint port (${port}) is not a number`);
          else {
            const err = portError(Number(port));
            if (err) out.add(at(p, 'defaultEndpoint'), err);
          }
        }
      }
    }
    const tls = l.tls as Record<string, unknown> | undefined;
    if (tls) {
      const t = at(p, 'tls');
      if (list(tls['subjectAltNames'] as string[]).length > 0) out.add(t, 'sidecar: subjectAltNames is not supported in ingress tls');
      if (tls['httpsRedirect']) out.add(t, 'sidecar: httpsRedirect is not supported');
      if (tls['credentialName']) out.add(t, 'sidecar: credentialName is not currently supported');
      if (list(tls['credentialNames'] as string[]).length > 0) out.add(t, 'sidecar: credentialNames is not currently supported');
      if (list(tls['tlsCertificates'] as unknown[]).length > 0) out.add(t, 'sidecar: tls_certificates is not currently supported');
      if (tls['mode'] === 'ISTIO_MUTUAL' || tls['mode'] === 'AUTO_PASSTHROUGH') {
        out.add(at(t, 'mode'), `configuration is invalid: cannot set mode to ${String(tls['mode'])} in sidecar ingress tls`);
      }
      if (!isTlsProtocol(istioProtocol(l.port.protocol ?? ''))) out.add(t, 'server cannot have TLS settings for non HTTPS/TLS ports');
    }
  });

  const egressPorts = new Set<number>();
  const udsBinds = new Set<string>();
  let catchAll = false;
  egress.forEach((l, i) => {
    const p = at('spec.egress', i);
    if (!l || typeof l !== 'object') {
      out.add(p, 'egress listener may not be null');
      return;
    }
    if (!l.port) {
      if (catchAll) {
        out.add(p, 'sidecar: egress can have only one listener with empty port');
        return;
      }
      if (i === egress.length - 1) catchAll = true;
      else out.add(p, 'sidecar: the egress listener with empty port should be the last listener in the list');
    } else {
      if (l.port.targetPort) out.add(at(p, 'port.targetPort'), 'targetPort has no impact on Sidecars');
      const bind = l.bind ?? '';
      if (!l.port.number) {
        if (l.port.name) checkPortName(out, at(p, 'port.name'), l.port.name);
        checkProtocol(out, at(p, 'port.protocol'), l.port.protocol);
        if (!bind.startsWith(UNIX_PREFIX)) out.add(at(p, 'bind'), 'sidecar: ports with 0 value must have a unix domain socket bind address');
        else {
          const err = unixAddressError(bind.slice(UNIX_PREFIX.length));
          if (err) out.add(at(p, 'bind'), err);
        }
        if (l.captureMode && l.captureMode !== 'DEFAULT' && l.captureMode !== 'NONE') {
          out.add(at(p, 'captureMode'), 'sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners');
        }
        if (udsBinds.has(bind)) out.add(at(p, 'bind'), 'sidecar: unix domain socket values for listeners must be unique');
        udsBinds.add(bind);
      } else {
        checkPortAndBind(out, p, l.port, l.bind);
        if (egressPorts.has(l.port.number)) out.add(at(p, 'port.number'), 'sidecar: ports on IP bound listeners must be unique');
        egressPorts.add(l.port.number);
      }
    }
    const hosts = list(l.hosts);
    if (hosts.length === 0) out.add(at(p, 'hosts'), 'sidecar: egress listener must contain at least one host');
    hosts.forEach((h, j) => {
      if (typeof h === 'string') checkEgressHost(out, at(at(p, 'hosts'), j), h);
    });
  });

  const policy = spec.outboundTrafficPolicy;
  if (policy?.egressProxy) {
    const path = 'spec.outboundTrafficPolicy.egressProxy';
    if (policy.mode !== 'ALLOW_ANY') out.add(path, 'sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode');
    else {
      const err = fqdnError(policy.egressProxy.host ?? '');
      if (err) out.add(at(path, 'host'), err);
      if (!policy.egressProxy.port) out.add(at(path, 'port'), 'sidecar: egress_proxy port must be non-nil');
      else if (policy.egressProxy.port.number !== undefined) {
        const perr = portError(policy.egressProxy.port.number);
        if (perr) out.add(at(path, 'port.number'), perr);
      }
    }
  }
  return out.list;
}
