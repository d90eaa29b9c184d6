import type { KubeRequester } from '../ca/root-publisher.js';
import { PeriodicSync } from '../sources/kube/periodic-sync.js';
import type { Logger } from '../telemetry/log.js';

// Kubernetes mode: the API server must trust the webhooks' serving certificate, so meshd writes the
// mesh root into `clientConfig.caBundle` of every webhook of its two configurations (istiod's webhook
// cert patcher). Done at start, on a CA rotation, and by a periodic re-check that also catches a
// configuration (re)applied by `kubectl apply` / Helm with an empty or stale bundle. A configuration
// that does not exist yet is looked for again at the next re-check. Only the leader writes.

export const MUTATING_WEBHOOK_CONFIGURATION = 'istio-sidecar-injector';
export const VALIDATING_WEBHOOK_CONFIGURATION = 'istio-validator-istio-system';

const ADMISSION_V1 = '/apis/admissionregistration.k8s.io/v1';

export interface WebhookConfigurationRef {
  readonly kind: 'MutatingWebhookConfiguration' | 'ValidatingWebhookConfiguration';
  readonly name: string;
}

export const DEFAULT_WEBHOOK_CONFIGURATIONS: readonly WebhookConfigurationRef[] = [
  { kind: 'MutatingWebhookConfiguration', name: MUTATING_WEBHOOK_CONFIGURATION },
  { kind: 'ValidatingWebhookConfiguration', name: VALIDATING_WEBHOOK_CONFIGURATION },
];

const pathOf = (ref: WebhookConfigurationRef) =>
  `${ADMISSION_V1}/${ref.kind === 'MutatingWebhookConfiguration' ? 'mutatingwebhookconfigurations' : 'validatingwebhookconfigurations'}/${encodeURIComponent(ref.name)}`;

interface WebhookConfiguration {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; resourceVersion?: string };
  webhooks?: { name: string; clientConfig?: { caBundle?: string } & Record<string, unknown> }[];
}

export interface CaBundlePatcherOptions {
  readonly http: KubeRequester;
  readonly rootPem: () => string;
  readonly isLeader: () => boolean;
  readonly log: Logger;
  readonly configurations?: readonly WebhookConfigurationRef[];
  /**
   * Also keep the bundle of the revision tags pointing at this revision (`meshd tag set`): the
   * MutatingWebhookConfigurations labelled istio.io/tag and istio.io/rev=REVISION, listed on each pass.
   */
  readonly tagsOfRevision?: string;
  /** re-check interval (default 30 s) */
  readonly resyncMs?: number;
}

export type PatchOutcome = 'patched' | 'current' | 'missing';

export class CaBundlePatcher {
  private readonly loop: PeriodicSync;
  private readonly log: Logger;
  /** outcome of the last pass per configuration, for tests and /debug */
  readonly lastOutcome = new Map<string, PatchOutcome>();

  constructor(private readonly opts: CaBundlePatcherOptions) {
    this.log = opts.log.child({ scope: 'webhook-cabundle' });
    this.loop = new PeriodicSync(() => this.pass(), opts.resyncMs ?? 30_000);
  }

  start(): void {
    this.loop.start();
  }

  stop(): void {
    this.loop.stop();
  }

  /** The root or leadership changed: patch now. */
  trigger(): void {
    this.loop.trigger();
  }

  /** One pass over both configurations; concurrent calls coalesce into one more pass. */
  sync(): Promise<void> {
    return this.loop.sync();
  }

  private async pass(): Promise<void> {
    if (!this.opts.isLeader()) return;
    const bundle = Buffer.from(this.opts.rootPem()).toString('base64');
    for (const ref of [...(this.opts.configurations ?? DEFAULT_WEBHOOK_CONFIGURATIONS), ...(await this.tagConfigurations())]) {
      if (this.loop.stopped) return;
      try {
        const outcome = await this.ensure(ref, bundle);
        if (outcome === 'patched') this.log.info({ kind: ref.kind, name: ref.name }, 'wrote the mesh root into the webhook caBundle');
        if (outcome === 'missing' && this.lastOutcome.get(ref.name) !== 'missing') {
          this.log.info({ kind: ref.kind, name: ref.name }, 'webhook configuration not found; will look again');
        }
        this.lastOutcome.set(ref.name, outcome);
      } catch (err) {
        this.log.warn({ kind: ref.kind, name: ref.name, err: (err as Error).message }, 'could not patch the webhook caBundle');
      }
    }
  }

  private async tagConfigurations(): Promise<WebhookConfigurationRef[]> {
    const revision = this.opts.tagsOfRevision;
    if (!revision) return [];
    const selector = encodeURIComponent(`istio.io/tag,istio.io/rev=${revision}`);
    try {
      const list = await this.opts.http.request<{ items?: { metadata: { name: string } }[] }>('GET', `${ADMISSION_V1}/mutatingwebhookconfigurations?labelSelector=${selector}`, { timeoutMs: 10_000 });
      return (list.items ?? []).map((i) => ({ kind: 'MutatingWebhookConfiguration', name: i.metadata.name }));
    } catch (err) {
      this.log.warn({ revision, err: (err as Error).message }, 'could not list the revision tags');
      return [];
    }
  }

  private async ensure(ref: WebhookConfigurationRef, bundle: string): Promise<PatchOutcome> {
    let current: WebhookConfiguration;
    try {
      current = await this.opts.http.request<WebhookConfiguration>('GET', pathOf(ref), { timeoutMs: 10_000 });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return 'missing';
      throw err;
    }
    const webhooks = current.webhooks ?? [];
    if (webhooks.every((w) => w.clientConfig?.caBundle === bundle)) return 'current';
    // PUT with the resourceVersion we read: a concurrent writer makes it fail with 409 and the next
    // pass starts from the fresh object instead of overwriting its change.
    await this.opts.http.request('PUT', pathOf(ref), {
      body: {
        ...current,
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: ref.kind,
        webhooks: webhooks.map((w) => ({ ...w, clientConfig: { ...(w.clientConfig ?? {}), caBundle: bundle } })),
      },
      timeoutMs: 10_000,
    });
    return 'patched';
  }
}
