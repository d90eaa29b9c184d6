// Names of a meshd control plane's objects, shared by the installer (objects.ts), the tag commands and the
// daemon's caBundle upkeep. A revision's objects carry its name as a suffix (istio-discovery's naming:
// istiod-canary, istio-sidecar-injector-canary, ConfigMap istio-canary); the default revision's do not.
// No imports: the command line loads this module to define its flags.

export const ISTIOD = 'istiod';
export const SERVICE_ACCOUNT = 'istiod';
export const CLUSTER_ROLE = 'meshd';
export const MESH_CONFIGMAP = 'istio';
export const INJECTOR_WEBHOOK = 'istio-sidecar-injector';
export const VALIDATOR_WEBHOOK = 'istio-validator';
export const TAG_WEBHOOK_PREFIX = 'istio-revision-tag-';
export const REV_LABEL = 'istio.io/rev';
export const TAG_LABEL = 'istio.io/tag';

/** '' and 'default' both name the default revision */
export function revisionOf(revision: string | undefined): string {
  return revision && revision !== 'default' ? revision : '';
}

/** `name`, or `name-REVISION` */
export function revisioned(name: string, revision: string | undefined): string {
  const rev = revisionOf(revision);
  return rev ? `${name}-${rev}` : name;
}

/** `istio-validator[-REVISION]-NAMESPACE` */
export function validatorName(revision: string | undefined, namespace: string): string {
  return `${revisioned(VALIDATOR_WEBHOOK, revision)}-${namespace}`;
}

export function tagWebhookName(tag: string): string {
  return `${TAG_WEBHOOK_PREFIX}${tag}`;
}
