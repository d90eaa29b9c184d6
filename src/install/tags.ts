// Revision tags, as `istioctl tag`: a stable name (prod, canary) that namespaces select with
// `istio.io/rev=TAG`, pointing at one installed revision. A tag is one MutatingWebhookConfiguration,
// istio-revision-tag-TAG, labelled istio.io/tag=TAG and istio.io/rev=REVISION, whose two webhooks send
// the pods of TAG's namespaces to that revision's istiod Service. Moving the tag (tag set --overwrite)
// rewrites that one object, and every namespace labelled with the tag follows without being touched.
// The caBundle is copied from the revision's own injector at `tag set`; the revision's meshd keeps it
// current after that (CaBundlePatcher.tagsOfRevision).

import { ApiException, KubernetesObjectApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { PART_OF_LABEL } from './labels.js';
import { INJECTOR_WEBHOOK, ISTIOD, REV_LABEL, revisioned, revisionOf, TAG_LABEL, tagWebhookName } from './names.js';
import { injectionWebhooks, type KObject } from './objects.js';
import { applyObjects } from './installer.js';

const ADMISSION = 'admissionregistration.k8s.io/v1';
const MUTATING = 'MutatingWebhookConfiguration';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

interface WebhookConfiguration extends KubernetesObject {
  metadata: { name: string; labels?: Record<string, string> };
  webhooks?: { name: string; clientConfig?: { caBundle?: string } }[];
}

/** The tag's webhook configuration: the revision's two `istio.io/rev` webhooks, selecting `istio.io/rev=TAG`. */
export function tagWebhook(tag: string, revision: string, namespace: string, caBundle: string | undefined): KObject {
  const rev = revisionOf(revision) || 'default';
  const hooks = injectionWebhooks(tag, { name: revisioned(ISTIOD, revision), namespace }, () => undefined);
  return {
    apiVersion: ADMISSION,
    kind: MUTATING,
    metadata: { name: tagWebhookName(tag), labels: { app: 'sidecar-injector', [REV_LABEL]: rev, [TAG_LABEL]: tag, ...PART_OF_LABEL } },
    webhooks: hooks.map((h) => ({ ...h, clientConfig: { ...h.clientConfig, ...(caBundle ? { caBundle } : {}) } })),
  };
}

export interface TagInfo {
  readonly tag: string;
  readonly revision: string;
  /** namespaces labelled istio.io/rev=TAG */
  readonly namespaces: readonly string[];
}

async function read(client: KubernetesObjectApi, kind: string, apiVersion: string, name: string): Promise<WebhookConfiguration | undefined> {
  try {
    return (await client.read({ apiVersion, kind, metadata: { name } })) as WebhookConfiguration;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  }
}

async function namespacesLabelled(client: KubernetesObjectApi, value: string): Promise<string[]> {
  const list = await client.list('v1', 'Namespace', undefined, undefined, undefined, undefined, undefined, `${REV_LABEL}=${value}`);
  return list.items.map((n) => n.metadata?.name ?? '').filter(Boolean).sort();
}

export interface TagSetOptions {
  readonly namespace: string;
  readonly overwrite: boolean;
  readonly log: (line: string) => void;
}

/** Points TAG at REVISION; refuses an unknown revision, a tag named like a revision, and a silent move. */
export async function setTag(kc: KubeConfig, tag: string, revision: string, { namespace, overwrite, log }: TagSetOptions): Promise<TagInfo> {
  if (!DNS_LABEL.test(tag)) throw new Error(`tag ${JSON.stringify(tag)}: must be a lowercase RFC 1123 label`);
  if (tag === 'default') {
    throw new Error('tag "default": the default revision is the one installed without --set revision; meshd has no "default" tag (istio-injection=enabled namespaces always go to that revision)');
  }
  const client = KubernetesObjectApi.makeApiClient(kc);
  const injector = await read(client, MUTATING, ADMISSION, revisioned(INJECTOR_WEBHOOK, revision));
  if (!injector) throw new Error(`revision ${JSON.stringify(revisionOf(revision) || 'default')} is not installed: no MutatingWebhookConfiguration ${revisioned(INJECTOR_WEBHOOK, revision)} (meshd install --set revision=NAME installs one)`);
  if (await read(client, MUTATING, ADMISSION, revisioned(INJECTOR_WEBHOOK, tag))) {
    throw new Error(`tag ${JSON.stringify(tag)}: a revision of that name is installed; a tag must not shadow a revision`);
  }
  const current = await read(client, MUTATING, ADMISSION, tagWebhookName(tag));
  const rev = revisionOf(revision) || 'default';
  const was = current?.metadata.labels?.[REV_LABEL];
  if (current && was !== rev && !overwrite) {
    throw new Error(`tag ${JSON.stringify(tag)} points at revision ${JSON.stringify(was)}: pass --overwrite to move it (and every namespace labelled istio.io/rev=${tag}) to ${JSON.stringify(rev)}`);
  }
  const caBundle = injector.webhooks?.find((w) => w.clientConfig?.caBundle)?.clientConfig?.caBundle;
  await applyObjects(kc, [tagWebhook(tag, revision, namespace, caBundle)], { log });
  const namespaces = await namespacesLabelled(client, tag);
  return { tag, revision: rev, namespaces };
}

export async function listTags(kc: KubeConfig): Promise<TagInfo[]> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  const list = await client.list(ADMISSION, MUTATING, undefined, undefined, undefined, undefined, undefined, TAG_LABEL);
  const out: TagInfo[] = [];
  for (const item of list.items as WebhookConfiguration[]) {
    const tag = item.metadata.labels?.[TAG_LABEL];
    if (!tag) continue;
    out.push({ tag, revision: item.metadata.labels?.[REV_LABEL] ?? '', namespaces: await namespacesLabelled(client, tag) });
  }
  return out.sort((a, b) => a.tag.localeCompare(b.tag));
}

/** Removes TAG; refuses while namespaces use it unless `force` (their new pods then get no sidecar). */
export async function removeTag(kc: KubeConfig, tag: string, { force, log }: { force: boolean; log: (line: string) => void }): Promise<TagInfo> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  const current = await read(client, MUTATING, ADMISSION, tagWebhookName(tag));
  if (!current?.metadata.labels?.[TAG_LABEL]) throw new Error(`tag ${JSON.stringify(tag)} does not exist (meshd tag list shows the tags)`);
  const namespaces = await namespacesLabelled(client, tag);
  if (namespaces.length && !force) {
    throw new Error(`tag ${JSON.stringify(tag)} is used by namespace${namespaces.length > 1 ? 's' : ''} ${namespaces.join(', ')}: relabel them first, or pass -y to remove it anyway (their new pods then get no sidecar)`);
  }
  await client.delete({ apiVersion: ADMISSION, kind: MUTATING, metadata: { name: tagWebhookName(tag) } });
  log(`  removed ${MUTATING} ${tagWebhookName(tag)}`);
  return { tag, revision: current.metadata.labels[REV_LABEL] ?? '', namespaces };
}
