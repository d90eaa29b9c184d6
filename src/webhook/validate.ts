import { CONFIG_KINDS, KINDS, type Kind, type KindInfo } from '../config/kinds.js';
import { validateDocument } from '../config/validate.js';
import { allow, deny, type AdmissionRequest, type AdmissionReviewOut } from './admission.js';
import type { WebhookMetrics } from './metrics.js';
import { virtualServiceRuleWarnings } from '../analyze/analyzers/unreachable-rules.js';

// `/validate` (Galley's validating webhook): the same schemas and semantic checks as `meshd validate`
// and the config sources, so nothing the API server admits is later refused by meshd. As istiod: DELETE
// is always allowed (there is nothing to validate); kinds meshd has no schema for are allowed with a
// warning rather than refused. Every Istio kind has a schema (Istio's own CRD schema where meshd has no
// hand-written one); a valid object of a kind meshd does not serve is admitted with a warning saying so.
// Gateway API kinds are checked too (by group+kind: the Gateway API's Gateway is not Istio's), against
// their CRDs' schemas and CEL rules, when the webhook configuration sends them here.
// As istiod, a valid VirtualService with rules that can never match is admitted with its validation warnings
// (IST0130 unreachable rule, IST0131 ineffective match: kubectl prints them as `Warning: …`).

const VALIDATED = new Map<string, Kind>(CONFIG_KINDS.map((k) => [`${KINDS[k].group}/${KINDS[k].kind}`, k]));

export function validateAdmission(req: AdmissionRequest, metrics?: WebhookMetrics): AdmissionReviewOut {
  const gvk = req.kind;
  const labels = { group: gvk.group, version: gvk.version, resource: req.resource?.resource ?? gvk.kind.toLowerCase() };
  if (req.operation === 'DELETE' || req.operation === 'CONNECT') return allow(req.uid);
  const kind = VALIDATED.get(`${gvk.group}/${gvk.kind}`);
  if (!kind) {
    return allow(req.uid, { warnings: [`meshd does not validate ${gvk.kind}.${gvk.group}/${gvk.version}; admitted unchecked`] });
  }
  const obj = req.object;
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
    metrics?.validationFailed.inc({ ...labels, reason: 'no_object' });
    return deny(req.uid, `${gvk.kind} ${req.namespace ?? ''}/${req.name ?? ''}: the request carries no object`);
  }
  // The API server may omit the namespace in the object on create; the request carries it.
  const meta = (obj as { metadata?: Record<string, unknown> }).metadata ?? {};
  const doc = { ...obj, metadata: { ...meta, ...(req.namespace && !meta.namespace ? { namespace: req.namespace } : {}) } };
  const result = validateDocument(doc);
  if (result.ok) {
    metrics?.validationPassed.inc(labels);
    if (!(KINDS[kind] as KindInfo).served) {
      return allow(req.uid, { warnings: [`${gvk.kind} is validated but not served by meshd: it has no effect on the proxies meshd configures`] });
    }
    const warnings = kind === 'VirtualService' ? virtualServiceRuleWarnings((result.value.object as { spec?: unknown }).spec) : [];
    return allow(req.uid, warnings.length > 0 ? { warnings } : {});
  }
  metrics?.validationFailed.inc({ ...labels, reason: 'invalid_resource' });
  const who = `${gvk.kind} ${result.ref.namespace ?? req.namespace ?? ''}/${result.ref.name ?? req.name ?? ''}`;
  const message = result.problems.map((p) => (p.path ? `${p.path}: ${p.reason}` : p.reason)).join('; ');
  // The API server prefixes `admission webhook "rev.validation.istio.io" denied the request: `.
  return deny(req.uid, `configuration is invalid: ${who}: ${message}`);
}
