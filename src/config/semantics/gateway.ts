import type { Problem } from '../origin.js';
import type { Gateway, Server, ServerTLSSettings } from '../schemas/gateway.js';
import { Problems, at, isDNS1123Label, isIPAddress, portError, wildcardDomainError } from './util.js';

// Gateway rules of istiod's validating webhook (ValidateGateway, validateServer, validateTLSOptions).
// Warnings istiod only logs (ciphers it ignores, certificates PASSTHROUGH ignores, httpsRedirect on a
// non-HTTP server) do not reject the object and are not reported here.

/** istio pkg/config/protocol: the names a Gateway server port may carry (case-insensitive). */
const PROTOCOLS = new Set(['TCP', 'UDP', 'GRPC', 'GRPC-WEB', 'HTTP', 'HTTP_PROXY', 'HTTP2', 'HTTPS', 'TLS', 'MONGO', 'REDIS', 'MYSQL', 'HBONE']);
const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'HTTP_PROXY', 'GRPC', 'GRPC-WEB']);

export const parseProtocol = (p: string): string | undefined => (PROTOCOLS.has(p.toUpperCase()) ? p.toUpperCase() : undefined);
export const isTLSProtocol = (p: string | undefined) => p === 'HTTPS' || p === 'TLS';
export const isHTTPProtocol = (p: string | undefined) => p !== undefined && HTTP_PROTOCOLS.has(p);

/** Gateway API conversions mark their Gateways; those may use the `~` namespace and longer names. */
const GATEWAY_SEMANTICS = 'internal.istio.io/gateway-semantics';

export function checkGateway(gw: Gateway): Problem[] {
  const out = new Problems();
  const gatewaySemantics = gw.metadata.annotations?.[GATEWAY_SEMANTICS] === 'gateway';
  if (!isDNS1123Label(gw.metadata.name) && !gatewaySemantics) out.add('metadata.name', `invalid gateway name: "${gw.metadata.name}"`);
  const servers = gw.spec.servers ?? [];
  if (servers.length === 0) out.add('spec.servers', 'gateway must have at least one server');
  const portNames = new Set<string>();
  servers.forEach((s, i) => {
    const path = at('spec.servers', i);
    checkServer(out, path, s, gatewaySemantics);
    if (portNames.has(s.port.name)) out.add(at(path, 'port.name'), `port names in servers must be unique: duplicate name ${s.port.name}`);
    portNames.add(s.port.name);
  });
  return out.list;
}

function checkHost(out: Problems, path: string, hostname: string, gatewaySemantics: boolean): void {
  const slash = hostname.indexOf('/');
  let host = hostname;
  if (slash >= 0) {
    const ns = hostname.slice(0, slash);
    host = hostname.slice(slash + 1);
    if (ns === '' || host === '') out.add(path, 'config namespace and dnsName in host entry cannot be empty');
    if (ns !== '*' && ns !== '.' && (ns !== '~' || !gatewaySemantics) && !isDNS1123Label(ns)) {
      out.add(path, `invalid namespace value "${ns}" in gateway`);
    }
  }
  if (host !== '*' && !host.includes('.')) out.add(path, 'short names (non FQDN) are not allowed');
  const bad = wildcardDomainError(host);
  if (bad && !isIPAddress(host)) out.add(path, bad);
  if (host.includes('*') && host.length !== 1 && !host.startsWith('*.')) out.add(path, `partial wildcard "${host}" not allowed`);
}

function checkServer(out: Problems, path: string, s: Server, gatewaySemantics: boolean): void {
  if (s.hosts.length === 0) out.add(at(path, 'hosts'), 'server config must contain at least one host');
  s.hosts.forEach((h, i) => checkHost(out, at(at(path, 'hosts'), i), h, gatewaySemantics));
  const protocol = parseProtocol(s.port.protocol);
  let portOk = true;
  if (!protocol) {
    portOk = false;
    out.add(
      at(path, 'port.protocol'),
      `invalid protocol "${s.port.protocol}", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP`,
    );
  }
  const bind = s.bind ?? '';
  if (s.port.number > 0 || !bind.startsWith('unix://')) {
    const bad = portError(s.port.number);
    if (bad) {
      portOk = false;
      out.add(at(path, 'port.number'), bad);
    }
  }
  if ((s.port.targetPort ?? 0) > 0) {
    portOk = false;
    out.add(at(path, 'port.targetPort'), 'targetPort has no impact on Gateways');
  }
  if (s.port.name === '') {
    portOk = false;
    out.add(at(path, 'port.name'), 'port name must be set');
  }
  if (bind.startsWith('unix://')) {
    if (bind.length === 'unix://'.length) out.add(at(path, 'bind'), 'unix address must not be empty');
    if (s.port.number !== 0) out.add(at(path, 'bind'), 'port number must be 0 for unix domain socket');
  } else if (bind !== '' && !isIPAddress(bind)) {
    out.add(at(path, 'bind'), `${bind} is not a valid IP`);
  }
  if (s.tls) checkTLS(out, at(path, 'tls'), s.tls);
  if (portOk) {
    if (isTLSProtocol(protocol) && !s.tls) out.add(path, 'server must have TLS settings for HTTPS/TLS protocols');
    else if (!isTLSProtocol(protocol) && s.tls) {
      if (isHTTPProtocol(protocol)) {
        // plain HTTP may only carry httpsRedirect
        const passThrough = (s.tls.mode ?? 'PASSTHROUGH') === 'PASSTHROUGH';
        if (!passThrough || s.tls.caCertificates || s.tls.privateKey || s.tls.serverCertificate) {
          out.add(at(path, 'tls'), 'server cannot have TLS settings for plain text HTTP ports');
        }
      } else {
        out.add(at(path, 'tls'), 'server cannot have TLS settings for non HTTPS/TLS ports');
      }
    }
  }
}

function checkTLS(out: Problems, path: string, tls: ServerTLSSettings): void {
  const mode = tls.mode ?? 'PASSTHROUGH';
  if (mode === 'ISTIO_MUTUAL') {
    if (tls.serverCertificate) out.add(path, 'ISTIO_MUTUAL TLS cannot have associated server certificate');
    if (tls.privateKey) out.add(path, 'ISTIO_MUTUAL TLS cannot have associated private key');
    if (tls.caCertificates) out.add(path, 'ISTIO_MUTUAL TLS cannot have associated CA bundle');
    if ((tls.tlsCertificates ?? []).length > 0) out.add(path, 'ISTIO_MUTUAL TLS cannot have associated tlsCertificates');
    if (tls.credentialName) out.add(path, 'ISTIO_MUTUAL TLS cannot have associated credentialName');
    if ((tls.credentialNames ?? []).length > 0) out.add(path, 'ISTIO_MUTUAL TLS cannot have associated credentialNames');
    return;
  }
  let sources = 0;
  if (tls.serverCertificate && tls.privateKey) sources++;
  if (tls.credentialName) sources++;
  if ((tls.credentialNames ?? []).length > 0) sources++;
  if ((tls.tlsCertificates ?? []).length > 0) sources++;
  if (sources > 1) out.add(path, 'only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified');
  const terminating = mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL';
  const remote = !!tls.credentialName || (tls.credentialNames ?? []).length > 0;
  if (!(terminating && remote) && terminating) {
    const prefix = mode === 'SIMPLE' ? 'SIMPLE TLS' : 'MUTUAL TLS';
    if (prefix === 'MUTUAL TLS' && !tls.caCertificates) out.add(path, `${prefix} requires a client CA bundle`);
    const certs = (tls.tlsCertificates ?? []).length > 0 ? tls.tlsCertificates! : [{ serverCertificate: tls.serverCertificate, privateKey: tls.privateKey }];
    for (const c of certs) {
      if (!c.serverCertificate) out.add(path, `${prefix} requires a server certificate`);
      if (!c.privateKey) out.add(path, `${prefix} requires a private key`);
    }
  }
  if (!(terminating && remote) && tls.caCrl) {
    if (tls.credentialName) out.add(path, 'CRL is not supported with credentialName. CRL has to be specified in the credential');
    if (mode === 'SIMPLE') out.add(path, 'CRL is not supported with SIMPLE TLS');
  }


}
