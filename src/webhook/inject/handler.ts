import { allow, deny, type AdmissionRequest, type AdmissionReviewOut } from '../admission.js';
import type { WebhookMetrics } from '../metrics.js';
import type { Logger } from '../../telemetry/log.js';
import { InjectionError } from './annotations.js';
import type { InjectionConfig } from './config.js';
import { decide, type PodLike } from './decision.js';
import { injectPod } from './inject.js';

// `/inject`: AdmissionReview for a Pod CREATE → the pod unchanged (allowed, no patch) or a JSONPatch
// adding the sidecar. The namespace's labels come from meshd's model (the Kubernetes source watches
// Namespaces), so the decision is istiod's whatever selectors the webhook configuration was given.

export interface InjectHandlerDeps {
  readonly cfg: InjectionConfig;
  /** labels of a namespace, from the model; undefined when meshd does not know it */
  readonly namespaceLabels: (ns: string) => Record<string, string> | undefined;
  readonly metrics?: WebhookMetrics;
  readonly log: Logger;
}

export function injectAdmission(req: AdmissionRequest, deps: InjectHandlerDeps): AdmissionReviewOut {
  deps.metrics?.injectionRequests.inc();
  if (req.kind.kind !== 'Pod' || req.kind.group !== '' || req.operation !== 'CREATE') {
    deps.metrics?.injectionSkipped.inc();
    return allow(req.uid);
  }
  const pod = req.object;
  if (!pod || typeof pod !== 'object' || Array.isArray(pod)) {
    deps.metrics?.injectionFailures.inc({ type: 'bad_request' });
    return deny(req.uid, 'sidecar injection: the request carries no pod object');
  }
  const p = pod as PodLike;
  const namespace = req.namespace || p.metadata?.namespace || 'default';
  const podName = p.metadata?.name || `${p.metadata?.generateName ?? ''}*`;
  const decision = decide(p, namespace, deps.namespaceLabels(namespace) ?? {}, deps.cfg);
  if (!decision.inject) {
    deps.metrics?.injectionSkipped.inc();
    deps.log.debug({ pod: `${namespace}/${podName}`, reason: decision.reason }, 'sidecar injection skipped');
    return allow(req.uid);
  }
  try {
    const { patch } = injectPod(pod as Record<string, unknown>, { namespace, cfg: deps.cfg });
    deps.metrics?.injectionSuccess.inc();
    deps.log.info({ pod: `${namespace}/${podName}`, reason: decision.reason, operations: patch.length }, 'sidecar injected');
    return allow(req.uid, { patch: Buffer.from(JSON.stringify(patch)).toString('base64'), patchType: 'JSONPatch' });
  } catch (err) {
    const message = err instanceof InjectionError ? err.message : `internal error: ${(err as Error).message}`;
    deps.metrics?.injectionFailures.inc({ type: err instanceof InjectionError ? 'annotation' : 'internal' });
    deps.log.warn({ pod: `${namespace}/${podName}`, err: message }, 'sidecar injection failed');
    return deny(req.uid, `sidecar injection into Pod ${namespace}/${podName} failed: ${message}`);
  }
}
