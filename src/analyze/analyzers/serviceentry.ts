// Istio's serviceentry.* analyzers: TCP ports without addresses (no VIP to match on), and one host+port
// declared with different protocols by ServiceEntries visible in the same namespace.

import { EXPORT_ALL, EXPORT_LOCAL, exportsToAll, fullName, specOf, type Analyzer } from '../context.js';
import { message } from '../message.js';
import type { Resource } from '../resource.js';
import type { ServiceEntrySpec } from './service-lookup.js';

const PROTOCOL_ADDRESSES = 'serviceentry.Analyzer';

export const protocolAddressesAnalyzer: Analyzer = {
  name: PROTOCOL_ADDRESSES,
  description: 'Checks the validity of ServiceEntry',
  analyze(ctx) {
    const meta = ctx.mesh.defaultConfig?.proxyMetadata ?? {};
    const autoAllocated = meta['ISTIO_META_DNS_CAPTURE'] === 'true' && (meta['ISTIO_META_DNS_AUTO_ALLOCATE'] === 'true' || meta['PILOT_ENABLE_IP_AUTOALLOCATE'] === 'true');
    for (const r of ctx.all('ServiceEntry')) {
      const se = specOf<ServiceEntrySpec>(r);
      const status = (r.object as { status?: { addresses?: unknown[] } }).status;
      const allocated = (status?.addresses?.length ?? 0) > 0;
      if (se.addresses !== undefined || allocated || autoAllocated) continue;
      for (const port of se.ports ?? []) {
        if (!port.protocol || port.protocol.toUpperCase() === 'TCP') ctx.report(message('ServiceEntryAddressesRequired', r, PROTOCOL_ADDRESSES));
      }
    }
  },
};

const CONFLICTING_PROTOCOL = 'serviceentry.ConflictingServiceEntryProtocolAnalyzer';

export const conflictingProtocolAnalyzer: Analyzer = {
  name: CONFLICTING_PROTOCOL,
  description: 'Checks if multiple ServiceEntries define the same host and port with different protocols',
  analyze(ctx) {
    const index = new Map<string, { scope: string; host: string; port: number; entries: { protocol: string; r: Resource }[] }>();
    for (const r of ctx.all('ServiceEntry')) {
      const se = specOf<ServiceEntrySpec>(r);
      const scopes = exportsToAll(se.exportTo) ? [EXPORT_ALL] : [...new Set(se.exportTo!.map((e) => (e === EXPORT_LOCAL ? r.namespace : e)))];
      for (const scope of scopes) {
        for (const host of se.hosts ?? []) {
          for (const p of se.ports ?? []) {
            const key = `${scope}\u0000${host}\u0000${p.number}`;
            let e = index.get(key);
            if (!e) index.set(key, (e = { scope, host, port: p.number, entries: [] }));
            e.entries.push({ protocol: p.protocol ?? '', r });
          }
        }
      }
    }
    const reported = new Set<string>();
    for (const { scope, host, port, entries: own } of index.values()) {
      const entries = scope === EXPORT_ALL ? own : [...own, ...(index.get(`${EXPORT_ALL}\u0000${host}\u0000${port}`)?.entries ?? [])];
      const protocols = [...new Set(entries.map((e) => e.protocol.toUpperCase()))].sort();
      if (protocols.length < 2) continue;
      const names = [...new Set(entries.map((e) => fullName(e.r)))].sort().join(', ');
      for (const e of entries) {
        if (reported.has(fullName(e.r))) continue;
        reported.add(fullName(e.r));
        ctx.report(message('ConflictingServiceEntryProtocol', e.r, CONFLICTING_PROTOCOL, names, host, port, protocols.join(', ')));
      }
    }
  },
};

export const SERVICE_ENTRY_ANALYZERS: readonly Analyzer[] = [conflictingProtocolAnalyzer, protocolAddressesAnalyzer];
