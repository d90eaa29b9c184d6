// Istio's gateway.* analyzers: selectors that match no gateway pod, server ports the gateway's Service
// does not expose, servers conflicting with another gateway's, credentials that are missing or invalid,
// certificates shared between gateways.

import { X509Certificate } from 'node:crypto';
import { extractCertInfo, type SecretData } from '../../config/credentials.js';
import { fullName, selectorString, selects, shortOrFullName, specOf, type AnalysisContext, type Analyzer } from '../context.js';
import { message } from '../message.js';
import type { Resource } from '../resource.js';
import type { ServiceSpec } from './service-lookup.js';

interface ServerTls {
  credentialName?: string;
  serverCertificate?: string;
  privateKey?: string;
}
interface GatewaySpec {
  selector?: Record<string, string>;
  servers?: { port?: { number?: number }; hosts?: string[]; bind?: string; tls?: ServerTls }[];
}

const gatewayOf = (r: Resource) => specOf<GatewaySpec>(r);

const INGRESS_PORT = 'gateway.IngressGatewayPortAnalyzer';

export const ingressGatewayPortAnalyzer: Analyzer = {
  name: INGRESS_PORT,
  description: "Checks a gateway's ports against the gateway's Kubernetes service ports",
  analyze(ctx) {
    for (const r of ctx.all('Gateway')) {
      const gw = gatewayOf(r);
      const servicePorts = new Set<number>();
      const portMapping = new Map<number, number>();
      let matches = 0;
      for (const pod of ctx.all('Pod')) {
        if (!selects(gw.selector, pod.labels)) continue;
        matches++;
        for (const svcR of ctx.all('Service')) {
          if (svcR.namespace !== pod.namespace) continue;
          const svc = specOf<ServiceSpec>(svcR);
          if (!selects(svc.selector, pod.labels)) continue;
          for (const port of svc.ports ?? []) {
            if ((port.protocol ?? 'TCP') !== 'TCP') continue;
            // intstr.IntValue(): a number, or a string parsed as one (0 when it is a name)
            const tp = typeof port.targetPort === 'number' ? port.targetPort : Number.parseInt(port.targetPort ?? '', 10) || 0;
            if (tp !== 0) {
              servicePorts.add(tp);
              if (!portMapping.has(port.port)) portMapping.set(port.port, tp);
            } else servicePorts.add(port.port);
          }
        }
      }
      if (matches === 0) {
        ctx.report(message('ReferencedResourceNotFound', r, INGRESS_PORT, 'selector', selectorString(gw.selector)));
        continue;
      }
      for (const server of gw.servers ?? []) {
        if (!server.port) continue;
        const n = server.port.number ?? 0;
        if (!servicePorts.has(n) && !portMapping.has(n)) {
          ctx.report(message('GatewayPortNotDefinedOnService', r, INGRESS_PORT, n, selectorString(gw.selector)));
        }
      }
    }
  },
};

const CONFLICTING = 'gateway.ConflictingGatewayAnalyzer';

/** pilot/pkg/model.CheckDuplicates — including its side effect: hosts with no duplicate join `known`. */
function checkDuplicates(hosts: readonly string[], bind: string, known: Map<string, string>): string[] {
  const duplicates = hosts.filter((h) => known.has(h) && known.get(h) === bind);
  if (duplicates.length === 0) for (const h of hosts) known.set(h, bind);
  return duplicates;
}

function parseSelector(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const kv = pair.split('=');
    if (kv.length === 2) out[kv[0]!] = kv[1]!;
  }
  return out;
}

export const conflictingGatewayAnalyzer: Analyzer = {
  name: CONFLICTING,
  description: "Checks a gateway's selector, port number and hosts",
  analyze(ctx) {
    // `selector~port` → gateway full name → host → bind
    const map = new Map<string, Map<string, Map<string, string>>>();
    for (const r of ctx.all('Gateway')) {
      const gw = gatewayOf(r);
      const sel = selectorString(gw.selector);
      for (const server of gw.servers ?? []) {
        const key = `${sel}~${server.port?.number ?? 0}`;
        let byGateway = map.get(key);
        if (!byGateway) map.set(key, (byGateway = new Map()));
        byGateway.set(fullName(r), new Map((server.hosts ?? []).map((h) => [h, server.bind ?? ''])));
      }
    }
    for (const r of ctx.all('Gateway')) {
      const gw = gatewayOf(r);
      const name = fullName(r);
      const sel = selectorString(gw.selector);
      const hit = new Map<string, Map<string, Map<string, string>>>();
      for (const [key, value] of map) {
        const otherSel = key.split('~')[0] ?? '';
        let matched = sel === otherSel;
        if (!matched && (otherSel.includes(sel) || sel.includes(otherSel))) {
          const other = parseSelector(otherSel);
          matched = ctx.all('Pod').some((p) => selects(gw.selector, p.labels) && selects(other, p.labels));
        }
        if (matched) hit.set(key, value);
      }
      if (sel !== '' && hit.size === 0) {
        ctx.report(message('ReferencedResourceNotFound', r, CONFLICTING, 'selector', sel));
        continue;
      }
      for (const server of gw.servers ?? []) {
        const port = String(server.port?.number ?? 0);
        const conflicting: string[] = [];
        for (const [key, values] of hit) {
          if (key.split('~')[1] !== port) continue;
          for (const [otherName, hostsBind] of values) {
            if (otherName !== name && checkDuplicates(server.hosts ?? [], server.bind ?? '', hostsBind).length > 0) conflicting.push(otherName);
          }
        }
        if (conflicting.length > 0) {
          ctx.report(message('ConflictingGateways', r, CONFLICTING, conflicting.sort().join(','), sel, port, (server.hosts ?? []).join(',')));
        }
      }
    }
  },
};

const SECRET = 'gateway.SecretAnalyzer';

function secretData(secret: Resource): SecretData {
  const o = secret.object as { data?: Record<string, unknown>; stringData?: Record<string, unknown> };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.data ?? {})) if (typeof v === 'string') out[k] = Buffer.from(v, 'base64').toString('utf8');
  for (const [k, v] of Object.entries(o.stringData ?? {})) if (typeof v === 'string') out[k] = v;
  return out;
}

/** isValidSecret: cert + key present, and the first PEM block's certificates valid now (sds.ValidateCertificate). */
function validSecret(secret: Resource): boolean {
  const info = extractCertInfo(secretData(secret));
  if ('error' in info) return false;
  const block = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(info.cert);
  if (!block) return false;
  try {
    const cert = new X509Certificate(block[0]);
    const now = Date.now();
    return now <= Date.parse(cert.validTo) && now >= Date.parse(cert.validFrom);
  } catch {
    return false;
  }
}

function gatewayNamespace(ctx: AnalysisContext, gw: GatewaySpec): string {
  return ctx.all('Pod').find((p) => selects(gw.selector, p.labels))?.namespace ?? '';
}

export const secretAnalyzer: Analyzer = {
  name: SECRET,
  description: "Checks a gateway's referenced secrets for correctness",
  analyze(ctx) {
    for (const r of ctx.all('Gateway')) {
      const gw = gatewayOf(r);
      const ns = gatewayNamespace(ctx, gw);
      if (!ns) {
        ctx.report(message('ReferencedResourceNotFound', r, SECRET, 'selector', selectorString(gw.selector)));
        continue;
      }
      for (const server of gw.servers ?? []) {
        const cn = server.tls?.credentialName;
        if (!cn) continue;
        const ref = shortOrFullName(ns, cn);
        const secret = ctx.find('Secret', ref.namespace, ref.name);
        if (!secret) {
          ctx.report(message('ReferencedResourceNotFound', r, SECRET, 'credentialName', cn));
          continue;
        }
        if (!validSecret(secret)) ctx.report(message('InvalidGatewayCredential', r, SECRET, r.name, ns));
      }
    }
  },
};

const CERTIFICATE = 'gateway.CertificateAnalyzer';

function sameCertificate(a: ServerTls, b: ServerTls): boolean {
  if (a.credentialName && b.credentialName) return a.credentialName === b.credentialName;
  if (!a.credentialName && !b.credentialName && a.serverCertificate && b.serverCertificate && a.serverCertificate === b.serverCertificate) {
    return !!a.privateKey && !!b.privateKey && a.privateKey === b.privateKey;
  }
  return false;
}

/** every key of x is in y with the same value */
function selectorSubset(x: Record<string, string>, y: Record<string, string> | undefined): boolean {
  let count = 0;
  for (const [k, v] of Object.entries(x)) {
    if (y && k in y) {
      if (y[k] !== v) return false;
      count++;
    }
  }
  return count === Object.keys(x).length;
}

export function certificateAnalyzer(scopeGatewayToNamespace: boolean): Analyzer {
  return {
    name: CERTIFICATE,
    description: 'Checks a gateway certificate',
    analyze(ctx) {
      for (const r of ctx.all('Gateway')) {
        const gw = gatewayOf(r);
        const selector = gw.selector ?? {};
        for (const other of ctx.all('Gateway')) {
          if (other === r) continue;
          if (scopeGatewayToNamespace && other.namespace !== r.namespace) continue;
          if (Object.keys(selector).length > 0 && !selectorSubset(selector, gatewayOf(other).selector)) continue;
          for (const a of gw.servers ?? []) {
            for (const b of gatewayOf(other).servers ?? []) {
              if (!a.tls || !b.tls) continue;
              if (sameCertificate(a.tls, b.tls)) ctx.report(message('GatewayDuplicateCertificate', r, CERTIFICATE, [fullName(r), fullName(other)]));
            }
          }
        }
      }
    },
  };
}

/** `scopeGatewayToNamespace`: istiod's PILOT_SCOPE_GATEWAY_TO_NAMESPACE (gateways only pair within a namespace). */
export function gatewayAnalyzers(scopeGatewayToNamespace: boolean): Analyzer[] {
  return [certificateAnalyzer(scopeGatewayToNamespace), conflictingGatewayAnalyzer, ingressGatewayPortAnalyzer, secretAnalyzer];
}
