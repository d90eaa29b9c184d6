import { writeFormatted } from './output.js';
import { getDebugJson } from './meshd-client.js';
import type { MeshdAddrFlags } from './meshd-flags.js';
import { formatTable } from './table.js';

// `meshd proxy-status`: istioctl's sync table from a running meshd's /debug/syncz — per proxy and xDS
// type whether what meshd last sent was ACKed (SYNCED), not answered yet (STALE), refused (STALE with the
// NACK text: the proxy keeps its older config), never sent (NOT SENT), or not subscribed at all (IGNORED:
// meshd serves no ECDS).

/** One stream as /debug/syncz shows it (src/xds/debug.ts). */
export interface SynczEntry {
  readonly proxy: string;
  readonly connection: string;
  readonly mode?: string;
  readonly namespace?: string;
  readonly cluster?: string;
  readonly istioVersion?: string;
  readonly controlPlane?: string;
  readonly types?: Record<string, SynczType>;
  /** set for a stream meshd cut (not connected any more) */
  readonly cut?: { reason: string; at: string };
}
export interface SynczType {
  readonly sent: { version: string; nonce: string; at?: string; resources: number };
  readonly acked: { version: string; nonce: string; at?: string };
  readonly synced: boolean;
  readonly lastNack?: { nonce: string; version: string; message: string; at: string };
}

export const STATUS_TYPES = ['CDS', 'LDS', 'EDS', 'RDS', 'ECDS'] as const;
type StatusType = (typeof STATUS_TYPES)[number];

export interface TypeStatus {
  readonly status: 'SYNCED' | 'NOT SENT' | 'STALE' | 'IGNORED';
  readonly nack?: string;
  readonly sentVersion?: string;
  readonly ackedVersion?: string;
}

export interface ProxyStatusRow {
  /** POD.NAMESPACE, as istioctl names proxies */
  readonly name: string;
  readonly proxy: string;
  readonly cluster: string;
  readonly istiod: string;
  readonly version: string;
  readonly types: Record<StatusType, TypeStatus>;
}

/** `sidecar~IP~POD.NS~NS.svc.DOMAIN` → `POD.NS` */
export function proxyName(nodeId: string): string {
  return nodeId.split('~')[2] ?? nodeId;
}

export function typeStatus(t: SynczType | undefined): TypeStatus {
  if (!t) return { status: 'IGNORED' };
  const versions = { sentVersion: t.sent.version, ackedVersion: t.acked.version };
  if (t.sent.nonce === '') return { status: 'NOT SENT' };
  if (t.lastNack && t.lastNack.nonce === t.sent.nonce) return { status: 'STALE', nack: t.lastNack.message, ...versions };
  return { status: t.acked.nonce === t.sent.nonce ? 'SYNCED' : 'STALE', ...versions };
}

export function proxyStatusRows(entries: readonly SynczEntry[], filter: { proxy?: string; namespace?: string } = {}): ProxyStatusRow[] {
  return entries
    .filter((e) => !e.cut)
    .map((e) => ({
      name: proxyName(e.proxy),
      proxy: e.proxy,
      cluster: e.cluster ?? '',
      istiod: e.controlPlane ?? '',
      version: e.istioVersion ?? '',
      types: Object.fromEntries(STATUS_TYPES.map((t) => [t, typeStatus(e.types?.[t])])) as Record<StatusType, TypeStatus>,
      namespace: e.namespace ?? proxyName(e.proxy).split('.').slice(1).join('.'),
    }))
    .filter((r) => !filter.namespace || r.namespace === filter.namespace)
    .filter((r) => !filter.proxy || r.name === filter.proxy || r.proxy === filter.proxy || (!filter.proxy.includes('.') && r.name === `${filter.proxy}.${filter.namespace ?? 'default'}`))
    .map(({ namespace: _ns, ...r }) => r)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** A NACK as one table cell: its first line, at most 80 characters. */
function nackCell(message: string): string {
  const line = message.split('\n')[0]!.trim();
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
}

export function formatProxyStatus(rows: readonly ProxyStatusRow[]): string {
  return formatTable(
    ['NAME', 'CLUSTER', ...STATUS_TYPES, 'ISTIOD', 'VERSION'],
    rows.map((r) => [
      r.name,
      r.cluster,
      ...STATUS_TYPES.map((t) => {
        const s = r.types[t];
        return s.nack !== undefined ? `${s.status} (NACK: ${nackCell(s.nack)})` : s.status;
      }),
      r.istiod,
      r.version,
    ]),
  );
}

export interface ProxyStatusFlags extends MeshdAddrFlags {
  readonly namespace?: string;
  readonly output: 'table' | 'json' | 'yaml';
}

export interface CommandIO {
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: { write(chunk: string): unknown };
}

/** Exit 0; 1 when a named proxy is not connected; 2 when meshd cannot be asked. */
export async function runProxyStatus(proxy: string | undefined, flags: ProxyStatusFlags, io: CommandIO): Promise<number> {
  let entries: SynczEntry[];
  try {
    entries = await getDebugJson<SynczEntry[]>(flags.meshdAddr, 'syncz');
  } catch (err) {
    io.stderr.write(`meshd proxy-status: ${(err as Error).message}\n`);
    return 2;
  }
  const rows = proxyStatusRows(entries, { ...(proxy ? { proxy } : {}), ...(flags.namespace ? { namespace: flags.namespace } : {}) });
  if (proxy && rows.length === 0) {
    io.stderr.write(`meshd proxy-status: proxy ${JSON.stringify(proxy)} is not connected to meshd at ${flags.meshdAddr}\n`);
    return 1;
  }
  await writeFormatted(io.stdout, flags.output, rows, () => formatProxyStatus(rows));
  return 0;
}
