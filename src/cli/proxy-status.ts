import { writeFormatted } from './output.js';
import { getFromEveryReplica } from './meshd-client.js';
import type { MeshdTargetFlags } from './meshd-flags.js';
import { withMeshdTarget } from './meshd-target.js';
import { formatTable } from './table.js';
import { humanDuration } from './duration.js';
import type { SyncStatus } from '../xds/debug.js';

// `meshd proxy-status`: istioctl's sync table from a running meshd's /debug/syncz (istiod's SyncStatus
// shape) — per proxy and xDS type whether what meshd last sent was ACKed (SYNCED), not answered yet
// (STALE), refused (STALE with the NACK text: the proxy keeps its older config), never sent (NOT SENT), or
// not subscribed at all (IGNORED: meshd serves no ECDS); with how long ago the last response was sent.

export type { SyncStatus as SynczEntry } from '../xds/debug.js';

export const STATUS_TYPES = ['CDS', 'LDS', 'EDS', 'RDS', 'ECDS'] as const;
type StatusType = (typeof STATUS_TYPES)[number];

/** istiod's SyncStatus field prefix and type URL of each column. */
const COLUMN: Readonly<Record<StatusType, { field: string; typeUrl: string }>> = {
  CDS: { field: 'cluster', typeUrl: 'type.googleapis.com/envoy.config.cluster.v3.Cluster' },
  LDS: { field: 'listener', typeUrl: 'type.googleapis.com/envoy.config.listener.v3.Listener' },
  EDS: { field: 'endpoint', typeUrl: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment' },
  RDS: { field: 'route', typeUrl: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration' },
  ECDS: { field: 'extensionconfig', typeUrl: 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig' },
};

export interface TypeStatus {
  readonly status: 'SYNCED' | 'NOT SENT' | 'STALE' | 'IGNORED';
  readonly nack?: string;
  readonly sentVersion?: string;
  readonly ackedVersion?: string;
  /** when the last response of this type was sent (the table's age suffix) */
  readonly sentAt?: string;
}

export interface ProxyStatusRow {
  /** POD.NAMESPACE, as istioctl names proxies */
  readonly name: string;
  /** the node id */
  readonly proxy: string;
  readonly cluster: string;
  readonly istiod: string;
  readonly version: string;
  readonly types: Record<StatusType, TypeStatus>;
}

/**
 * One column from istiod's fields (nonce sent vs nonce ACKed, as istioctl and Kiali compare them), with
 * meshd's detail for the NACK text and versions. A type the proxy never subscribed to is IGNORED.
 */
export function typeStatus(e: SyncStatus, type: StatusType): TypeStatus {
  const { field, typeUrl } = COLUMN[type];
  const fields = e as unknown as Record<string, string | undefined>;
  const detail = e.types?.[type];
  const resource = e.resources?.[typeUrl];
  if (!detail && !resource) return { status: 'IGNORED' };
  const sent = fields[`${field}_sent`] ?? '';
  const acked = fields[`${field}_acked`] ?? '';
  if (sent === '') return { status: 'NOT SENT' };
  const extra = {
    ...(detail ? { sentVersion: detail.sent.version, ackedVersion: detail.acked.version } : {}),
    ...(detail?.sent.at ?? resource?.sentTime ? { sentAt: detail?.sent.at ?? resource?.sentTime } : {}),
  };
  const nack = detail?.lastNack && detail.lastNack.nonce === sent ? detail.lastNack.message : undefined;
  if (nack !== undefined) return { status: 'STALE', nack, ...extra };
  return { status: sent === acked ? 'SYNCED' : 'STALE', ...extra };
}

export function proxyStatusRows(entries: readonly SyncStatus[], filter: { proxy?: string; namespace?: string } = {}): ProxyStatusRow[] {
  return entries
    .map((e) => ({
      name: e.proxy,
      proxy: e.nodeId ?? e.proxy,
      cluster: e.cluster_id ?? '',
      istiod: e.controlPlane ?? '',
      version: e.istio_version ?? (e.proxy_version ? `${e.proxy_version}*` : ''),
      types: Object.fromEntries(STATUS_TYPES.map((t) => [t, typeStatus(e, t)])) as Record<StatusType, TypeStatus>,
      namespace: e.namespace ?? e.proxy.split('.').slice(1).join('.'),
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

/** A cell as istioctl prints it: the state, how long ago the last response was sent, and a NACK's text. */
function statusCell(s: TypeStatus, now: number): string {
  const age = s.sentAt && s.status !== 'NOT SENT' ? ` (${humanDuration(now - Date.parse(s.sentAt))})` : '';
  return s.nack !== undefined ? `${s.status}${age} (NACK: ${nackCell(s.nack)})` : `${s.status}${age}`;
}

export function formatProxyStatus(rows: readonly ProxyStatusRow[], now = Date.now()): string {
  return formatTable(
    ['NAME', 'CLUSTER', ...STATUS_TYPES, 'ISTIOD', 'VERSION'],
    rows.map((r) => [r.name, r.cluster, ...STATUS_TYPES.map((t) => statusCell(r.types[t], now)), r.istiod, r.version]),
  );
}

export interface ProxyStatusFlags extends MeshdTargetFlags {
  readonly namespace?: string;
  readonly output: 'table' | 'json' | 'yaml';
}

export interface CommandIO {
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: { write(chunk: string): unknown };
}

/** Exit 0; 1 when a named proxy is not connected; 2 when meshd cannot be asked. */
export async function runProxyStatus(proxy: string | undefined, flags: ProxyStatusFlags, io: CommandIO): Promise<number> {
  let entries: SyncStatus[];
  let describe = '';
  try {
    // every replica's connected proxies (Kubernetes mode: each meshd pod has its own)
    entries = await withMeshdTarget(flags, async (target) => {
      describe = target.describe;
      return (await getFromEveryReplica<SyncStatus[]>(target.endpoints, 'syncz')).flat();
    });
  } catch (err) {
    io.stderr.write(`meshd proxy-status: ${(err as Error).message}\n`);
    return 2;
  }
  const rows = proxyStatusRows(entries, { ...(proxy ? { proxy } : {}), ...(flags.namespace ? { namespace: flags.namespace } : {}) });
  if (proxy && rows.length === 0) {
    io.stderr.write(`meshd proxy-status: proxy ${JSON.stringify(proxy)} is not connected to ${describe}\n`);
    return 1;
  }
  await writeFormatted(io.stdout, flags.output, rows, () => formatProxyStatus(rows));
  return 0;
}
