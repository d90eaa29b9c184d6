// WorkloadEntry auto-registration, as istiod's pilot/pkg/autoregistration controller does it in Kubernetes
// mode: a proxy (istio-agent on a VM) connecting with node metadata AUTO_REGISTER_GROUP=<WorkloadGroup> gets
// a WorkloadEntry `<group>-<ip>[-<network>]` in its namespace, made from the group's template (address =
// the proxy's first IP; labels = template < group metadata < the proxy's LABELS; network from NETWORK;
// locality from the node), annotated `istio.io/autoRegistrationGroup` (+ the group's metadata
// annotations), `istio.io/workloadController` (this meshd) and `istio.io/connectedAt`, and owned by the
// WorkloadGroup (controller ownerReference, so deleting the group deletes its entries). A reconnect
// re-marks an existing entry connected. When the proxy's last stream ends the entry is marked
// `istio.io/disconnectedAt`; if it has not reconnected after the grace period
// (PILOT_WORKLOAD_ENTRY_GRACE_PERIOD, 10 s) it is deleted — on a timer, and by a sweep every 10 grace
// periods over the stored entries (what a restart or a lost timer leaves).
// Identity (istiod ISTIO_WORKLOAD_ENTRY_VALIDATE_IDENTITY, on): only a stream authenticated on the TLS port
// may register, for its own namespace, and as the template's serviceAccount when it names one; a refusal
// ends the stream with istiod's status (FAILED_PRECONDITION when the group does not exist).
// Not done: health checks (WorkloadGroup `probe`: istio-agent reports health over xDS and istiod writes the
// entry's Healthy condition; meshd reads no health reports, so it never sets
// `proxy.istio.io/health-checks-enabled`, which would leave the entry not ready forever), and istiod's
// max-connection-age rule for entries still marked connected (meshd has no maximum connection age).

import * as grpc from '@grpc/grpc-js';
import type { ConfigStore } from '../../config/store.js';
import type { Proxy } from '../../model/proxy.js';
import type { Logger } from '../../telemetry/log.js';
import { KubeApiError, type KubeHttp } from './client.js';
import { resourceOf, resourcePath } from './resources.js';

export const AUTO_REGISTRATION_GROUP = 'istio.io/autoRegistrationGroup';
export const WORKLOAD_CONTROLLER = 'istio.io/workloadController';
export const CONNECTED_AT = 'istio.io/connectedAt';
export const DISCONNECTED_AT = 'istio.io/disconnectedAt';
/** the label pilot-agent turns the node locality into; `/` is not allowed in a label value, so istiod drops it */
const LOCALITY_LABEL = 'istio-locality';
const MAX_NAME = 253;
const VERSION = 'v1';
const WORKLOAD_ENTRY = resourceOf('WorkloadEntry');
const WORKLOAD_GROUP = resourceOf('WorkloadGroup');

/** The identity a stream authenticated as (the TLS port's token or client certificate). */
export interface CallerIdentity {
  readonly namespace: string;
  readonly serviceAccount: string;
}

export interface AutoRegistrationOptions {
  readonly http: KubeHttp;
  readonly store: ConfigStore;
  readonly log: Logger;
  /** istio.io/workloadController: which meshd controls an entry */
  readonly instanceId: string;
  readonly gracePeriodMs: number;
  /** ISTIO_WORKLOAD_ENTRY_VALIDATE_IDENTITY (default true) */
  readonly validateIdentity?: boolean;
}

/** A refusal with the gRPC status istiod ends the stream with. */
export class RegistrationError extends Error {
  constructor(readonly code: grpc.status, message: string) {
    super(message);
  }
}

interface KubeMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface WorkloadGroupObject {
  apiVersion: string;
  metadata: KubeMeta;
  spec: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; template?: Record<string, unknown> & { labels?: Record<string, string>; serviceAccount?: string } };
}
interface WorkloadEntryObject {
  metadata: KubeMeta;
  spec?: { serviceAccount?: string };
}

/** istiod autoregisteredWorkloadEntryName: `<group>-<first IP, ':' → '-'>[-<network>]`, the last 253 characters. */
export function autoRegisteredEntryName(proxy: Proxy): string | undefined {
  const group = autoRegisterGroupOf(proxy);
  if (!group || proxy.ips.length === 0 || !proxy.namespace) return undefined;
  const parts = [group, proxy.ips[0]!.replaceAll(':', '-')];
  const network = str(proxy.metadata.NETWORK);
  if (network) parts.push(network);
  const name = parts.join('-');
  return name.length > MAX_NAME ? name.slice(name.length - MAX_NAME) : name;
}

export function autoRegisterGroupOf(proxy: Proxy): string {
  return str(proxy.metadata.AUTO_REGISTER_GROUP);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** The WorkloadEntry istiod makes from a group for a proxy (workloadEntryFromGroup). */
export function workloadEntryFromGroup(name: string, proxy: Proxy, group: WorkloadGroupObject): Record<string, unknown> {
  const template = structuredClone(group.spec.template ?? {});
  const labels: Record<string, string> = { ...(template.labels ?? {}), ...(group.spec.metadata?.labels ?? {}) };
  const proxyLabels = proxy.metadata.LABELS;
  if (proxyLabels && typeof proxyLabels === 'object') {
    for (const [k, v] of Object.entries(proxyLabels)) if (typeof v === 'string') labels[k] = v;
    delete labels[LOCALITY_LABEL];
  }
  const spec: Record<string, unknown> = { ...template, address: proxy.ips[0] };
  if (Object.keys(labels).length > 0) spec.labels = labels;
  else delete spec.labels;
  const network = str(proxy.metadata.NETWORK);
  if (network) spec.network = network;
  const l = proxy.locality;
  // istiod LocalityToString: region[/zone[/subzone]]
  if (l.region || l.zone || l.subzone) spec.locality = !l.zone ? l.region : !l.subzone ? `${l.region}/${l.zone}` : `${l.region}/${l.zone}/${l.subzone}`;
  return {
    apiVersion: `${WORKLOAD_ENTRY.group}/${VERSION}`,
    kind: 'WorkloadEntry',
    metadata: {
      name,
      namespace: proxy.namespace,
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      annotations: { [AUTO_REGISTRATION_GROUP]: group.metadata.name, ...(group.spec.metadata?.annotations ?? {}) },
      ownerReferences: [{ apiVersion: group.apiVersion, kind: 'WorkloadGroup', name: group.metadata.name, uid: group.metadata.uid ?? '', controller: true }],
    },
    spec,
  };
}

interface Registered {
  readonly entry: string;
  readonly namespace: string;
  streams: number;
  connectedAt: Date;
}

export class WorkloadAutoRegistration {
  private readonly byEntry = new Map<string, Registered>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sweep: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly o: AutoRegistrationOptions) {
    this.sweep = setInterval(() => void this.sweepStored(), 10 * o.gracePeriodMs);
    this.sweep.unref();
  }

  /**
   * A proxy connected (istiod OnConnect): registers or re-marks its WorkloadEntry. Resolves when the entry
   * is written; rejects with a RegistrationError the stream must end with. Proxies without
   * AUTO_REGISTER_GROUP resolve at once.
   */
  async onConnect(proxy: Proxy, caller: CallerIdentity | undefined, connectedAt: Date): Promise<void> {
    if (!autoRegisterGroupOf(proxy)) return;
    const entry = autoRegisteredEntryName(proxy);
    if (!entry) throw new RegistrationError(grpc.status.INVALID_ARGUMENT, `auto-registration of ${proxy.id} failed: missing IP addresses or namespace`);
    const key = `${proxy.namespace}/${entry}`;
    const known = this.byEntry.get(key);
    if (known) {
      known.streams++;
      known.connectedAt = connectedAt;
    } else this.byEntry.set(key, { entry, namespace: proxy.namespace, streams: 1, connectedAt });
    try {
      await this.register(entry, proxy, caller, connectedAt);
    } catch (err) {
      this.release(key);
      throw err;
    }
  }

  /** A proxy's stream ended (istiod OnDisconnect): once its last stream is gone, mark the entry disconnected. */
  onDisconnect(proxy: Proxy, connectedAt: Date): void {
    const entry = autoRegisterGroupOf(proxy) ? autoRegisteredEntryName(proxy) : undefined;
    if (!entry || this.stopped) return;
    const key = `${proxy.namespace}/${entry}`;
    if (!this.byEntry.has(key) || this.release(key)) return;
    void this.unregister(entry, proxy.namespace, new Date(), connectedAt).catch((err: Error) => {
      this.o.log.warn({ entry: key, err: err.message }, 'could not mark the auto-registered WorkloadEntry disconnected');
    });
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.sweep);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** one stream fewer for the entry; true while others remain */
  private release(key: string): boolean {
    const r = this.byEntry.get(key);
    if (!r) return false;
    if (--r.streams > 0) return true;
    this.byEntry.delete(key);
    return false;
  }

  private path(resource: typeof WORKLOAD_ENTRY, namespace: string, name?: string): string {
    return resourcePath(resource, VERSION, { namespace, name });
  }

  private async getEntry(namespace: string, name: string): Promise<WorkloadEntryObject | undefined> {
    try {
      return await this.o.http.request<WorkloadEntryObject>('GET', this.path(WORKLOAD_ENTRY, namespace, name));
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 404) return undefined;
      throw err;
    }
  }

  /** istiod ensureProxyCanControlEntry */
  private checkIdentity(caller: CallerIdentity | undefined, namespace: string, serviceAccount: string | undefined): void {
    if (this.o.validateIdentity === false) return;
    if (!caller) throw new RegistrationError(grpc.status.PERMISSION_DENIED, 'registration of WorkloadEntry requires a verified identity');
    if (caller.namespace !== namespace) {
      throw new RegistrationError(grpc.status.PERMISSION_DENIED, `registration of WorkloadEntry namespace mismatch: "${caller.namespace}" vs "${namespace}"`);
    }
    if (serviceAccount && caller.serviceAccount !== serviceAccount) {
      throw new RegistrationError(grpc.status.PERMISSION_DENIED, `registration of WorkloadEntry service account mismatch: "${caller.serviceAccount}" vs "${serviceAccount}"`);
    }
  }

  private async register(entry: string, proxy: Proxy, caller: CallerIdentity | undefined, connectedAt: Date): Promise<void> {
    const ns = proxy.namespace;
    const existing = await this.getEntry(ns, entry);
    if (existing) {
      this.checkIdentity(caller, ns, existing.spec?.serviceAccount);
      await this.markConnected(existing, connectedAt);
      this.o.log.info({ entry: `${ns}/${entry}` }, 'updated auto-registered WorkloadEntry as connected');
      return;
    }
    const groupName = autoRegisterGroupOf(proxy);
    let group: WorkloadGroupObject;
    try {
      group = await this.o.http.request<WorkloadGroupObject>('GET', this.path(WORKLOAD_GROUP, ns, groupName));
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 404) {
        throw new RegistrationError(grpc.status.FAILED_PRECONDITION, `auto-registration WorkloadEntry of ${proxy.id} failed: cannot find WorkloadGroup ${ns}/${groupName}`);
      }
      throw err;
    }
    const body = workloadEntryFromGroup(entry, proxy, group);
    this.checkIdentity(caller, ns, (body.spec as { serviceAccount?: string }).serviceAccount);
    const annotations = (body.metadata as KubeMeta).annotations!;
    annotations[WORKLOAD_CONTROLLER] = this.o.instanceId;
    annotations[CONNECTED_AT] = connectedAt.toISOString();
    try {
      await this.o.http.request('POST', this.path(WORKLOAD_ENTRY, ns), { body });
    } catch (err) {
      throw new RegistrationError(grpc.status.INTERNAL, `auto-registration WorkloadEntry of ${proxy.id} failed: error creating WorkloadEntry: ${(err as Error).message}`);
    }
    this.o.log.info({ entry: `${ns}/${entry}`, group: groupName }, 'auto-registered WorkloadEntry');
  }

  /** istiod changeWorkloadEntryStateToConnected (a merge patch guarded by the resourceVersion read) */
  private async markConnected(wle: WorkloadEntryObject, connectedAt: Date): Promise<void> {
    const a = wle.metadata.annotations ?? {};
    const disconnected = a[DISCONNECTED_AT] ? Date.parse(a[DISCONNECTED_AT]) : NaN;
    if (connectedAt.getTime() < disconnected) return; // a slow connect already followed by its disconnect
    const last = a[CONNECTED_AT] ? Date.parse(a[CONNECTED_AT]) : NaN;
    if (connectedAt.getTime() < last) return; // reconnected elsewhere since
    if (a[WORKLOAD_CONTROLLER] === this.o.instanceId && !(connectedAt.getTime() > last)) return;
    await this.patchAnnotations(wle, { [WORKLOAD_CONTROLLER]: this.o.instanceId, [CONNECTED_AT]: connectedAt.toISOString(), [DISCONNECTED_AT]: null });
  }

  private patchAnnotations(wle: WorkloadEntryObject, annotations: Record<string, string | null>): Promise<unknown> {
    return this.o.http.request('PATCH', this.path(WORKLOAD_ENTRY, wle.metadata.namespace ?? '', wle.metadata.name), {
      contentType: 'application/merge-patch+json',
      body: { metadata: { resourceVersion: wle.metadata.resourceVersion, annotations } },
    });
  }

  /** istiod changeWorkloadEntryStateToDisconnected + the delayed cleanup */
  private async unregister(entry: string, namespace: string, disconnectedAt: Date, connectedAt: Date): Promise<void> {
    const wle = await this.getEntry(namespace, entry);
    if (!wle) return;
    const a = wle.metadata.annotations ?? {};
    const last = a[CONNECTED_AT] ? Date.parse(a[CONNECTED_AT]) : NaN;
    if (last > connectedAt.getTime()) return; // reconnected since this stream began
    if (a[WORKLOAD_CONTROLLER] !== this.o.instanceId) return; // another meshd controls it now
    if (disconnectedAt.getTime() < last) return;
    await this.patchAnnotations(wle, { [CONNECTED_AT]: null, [DISCONNECTED_AT]: disconnectedAt.toISOString() });
    this.o.log.info({ entry: `${namespace}/${entry}` }, 'updated auto-registered WorkloadEntry as disconnected');
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.cleanup(namespace, entry);
    }, this.o.gracePeriodMs);
    timer.unref();
    this.timers.add(timer);
  }

  private async cleanup(namespace: string, name: string): Promise<void> {
    if (this.stopped) return;
    try {
      const wle = await this.getEntry(namespace, name);
      if (wle && this.shouldCleanup(wle.metadata.annotations ?? {})) await this.delete(wle);
    } catch (err) {
      this.o.log.warn({ entry: `${namespace}/${name}`, err: (err as Error).message }, 'could not clean up the auto-registered WorkloadEntry');
    }
  }

  /** istiod shouldCleanupEntry for auto-registered entries: disconnected longer than the grace period */
  private shouldCleanup(a: Readonly<Record<string, string>>): boolean {
    if (!a[AUTO_REGISTRATION_GROUP] || a[CONNECTED_AT] || !a[DISCONNECTED_AT]) return false;
    const at = Date.parse(a[DISCONNECTED_AT]);
    return !(Date.now() - at < this.o.gracePeriodMs);
  }

  private async delete(wle: WorkloadEntryObject): Promise<void> {
    const ns = wle.metadata.namespace ?? '';
    try {
      await this.o.http.request('DELETE', this.path(WORKLOAD_ENTRY, ns, wle.metadata.name), {
        body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion: wle.metadata.resourceVersion } },
      });
      this.o.log.info({ entry: `${ns}/${wle.metadata.name}` }, 'cleaned up auto-registered WorkloadEntry');
    } catch (err) {
      if (!(err instanceof KubeApiError && (err.statusCode === 404 || err.statusCode === 409))) throw err;
    }
  }

  /** istiod periodicWorkloadEntryCleanup over the stored entries */
  private async sweepStored(): Promise<void> {
    if (this.stopped) return;
    for (const stored of this.o.store.list('WorkloadEntry')) {
      const meta = stored.object.metadata as { name: string; namespace?: string; annotations?: Record<string, string> };
      if (this.shouldCleanup(meta.annotations ?? {})) await this.cleanup(meta.namespace ?? 'default', meta.name);
    }
  }
}
