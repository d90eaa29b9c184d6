// Istio's destinationrule.* analyzers: TLS origination without server verification, hosts that match no
// service, subsets that select no pod.

import { fullName, selects, specOf, type Analyzer } from '../context.js';
import { message } from '../message.js';
import type { Resource } from '../resource.js';
import { destinationHost, serviceHostMap } from './service-lookup.js';

interface ClientTls {
  mode?: string;
  caCertificates?: string;
  credentialName?: string;
}
interface DestinationRuleSpec {
  host?: string;
  exportTo?: string[];
  workloadSelector?: unknown;
  subsets?: { name?: string; labels?: Record<string, string> }[];
  trafficPolicy?: { tls?: ClientTls; portLevelSettings?: { port?: { number?: number }; tls?: ClientTls }[] };
}

const CA_CERTIFICATE = 'destinationrule.CaCertificateAnalyzer';
const verifies = (tls: ClientTls | undefined, dr: DestinationRuleSpec) =>
  !!tls?.caCertificates || (!!tls?.credentialName && dr.workloadSelector !== undefined && dr.workloadSelector !== null);
const originates = (tls: ClientTls | undefined) => tls?.mode === 'SIMPLE' || tls?.mode === 'MUTUAL';

export const caCertificateAnalyzer: Analyzer = {
  name: CA_CERTIFICATE,
  description: 'Checks if caCertificates is set when TLS mode is SIMPLE/MUTUAL',
  analyze(ctx) {
    for (const r of ctx.all('DestinationRule')) {
      const dr = specOf<DestinationRuleSpec>(r);
      const tls = dr.trafficPolicy?.tls;
      if (originates(tls) && !verifies(tls, dr)) {
        ctx.report(message('NoServerCertificateVerificationDestinationLevel', r, CA_CERTIFICATE, fullName(r), r.namespace, tls!.mode, dr.host ?? ''));
      }
      for (const p of dr.trafficPolicy?.portLevelSettings ?? []) {
        if (originates(p.tls) && !verifies(p.tls, dr)) {
          // Go prints the PortSelector message: `number:9080`
          const port = p.port?.number !== undefined ? `number:${p.port.number}` : '';
          ctx.report(message('NoServerCertificateVerificationPortLevel', r, CA_CERTIFICATE, fullName(r), r.namespace, p.tls!.mode, dr.host ?? '', port));
        }
      }
    }
  },
};

const POD_NOT_SELECTED = 'destinationrule.SubsetSelectPodAnalyzer';
const TOPOLOGY = { region: 'topology.kubernetes.io/region', zone: 'topology.kubernetes.io/zone', subzone: 'topology.istio.io/subzone' };

export const podNotSelectedAnalyzer: Analyzer = {
  name: POD_NOT_SELECTED,
  description: 'Checks if pods are selected by subsets in destination rules.',
  analyze(ctx) {
    const hosts = serviceHostMap(ctx);
    const nodeLabels = new Map(ctx.all('Node').map((n) => [n.name, n.labels]));
    const subsets: { dr: Resource; name: string; selector: Record<string, string>; matched: boolean }[] = [];
    for (const r of ctx.all('DestinationRule')) {
      const dr = specOf<DestinationRuleSpec>(r);
      const se = destinationHost(r.namespace, dr.exportTo, dr.host ?? '', hosts);
      if (!se) {
        ctx.report(message('UnknownDestinationRuleHost', r, POD_NOT_SELECTED, dr.host ?? ''));
        continue;
      }
      for (const ss of dr.subsets ?? []) {
        subsets.push({ dr: r, name: ss.name ?? '', selector: { ...(se.workloadSelector?.labels ?? {}), ...(ss.labels ?? {}) }, matched: false });
      }
    }
    for (const pod of ctx.all('Pod')) {
      const nodeName = (pod.object as { spec?: { nodeName?: string } }).spec?.nodeName ?? '';
      const node = nodeLabels.get(nodeName);
      // label.AugmentLabels: the locality (from the node's topology labels) and the node name
      const labels: Record<string, string> = { ...pod.labels };
      if (node) {
        const locality = [node[TOPOLOGY.region] ?? '', node[TOPOLOGY.zone] ?? '', node[TOPOLOGY.subzone] ?? ''];
        if (locality.some((l) => l)) {
          if (locality[0]) labels[TOPOLOGY.region] = locality[0];
          if (locality[1]) labels[TOPOLOGY.zone] = locality[1];
          if (locality[2]) labels[TOPOLOGY.subzone] = locality[2];
        }
      }
      if (nodeName) labels['kubernetes.io/hostname'] = nodeName;
      for (const s of subsets) if (!s.matched && selects(s.selector, labels)) s.matched = true;
    }
    for (const s of subsets) if (!s.matched) ctx.report(message('DestinationRuleSubsetNotSelectPods', s.dr, POD_NOT_SELECTED, s.name));
  },
};

export const DESTINATION_RULE_ANALYZERS: readonly Analyzer[] = [caCertificateAnalyzer, podNotSelectedAnalyzer];
