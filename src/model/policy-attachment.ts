import type { PolicyTargetReference } from '../config/schemas/common.js';
import { labelsMatch } from '../config/labels.js';

// Which workloads a policy (AuthorizationPolicy, RequestAuthentication, Telemetry) attaches to, as istiod's
// WorkloadPolicyMatcher.ShouldAttachPolicy (pilot/pkg/model/policyattachment.go) for sidecars and gateways
// (meshd serves no waypoints):
//
//   - a proxy that is not a Gateway API gateway (no `gateway.networking.k8s.io/gateway-name` label):
//     policies with targetRef(s) never attach; the others attach when their selector matches its labels
//     (no selector: every workload of the policy's namespace, or of the mesh for the root namespace);
//   - a Gateway API gateway: policies without targetRefs attach by selector too
//     (PILOT_ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY, on by default); a targetRef attaches when it names
//     the gateway — group gateway.networking.k8s.io, kind Gateway, the label's name — and the policy lives
//     in the gateway's namespace (a targetRef namespace, if given, must be that namespace too).
//
// The caller passes only the policies of the root namespace and of the proxy's namespace.

/** The label Gateway API deployments carry: the name of the Gateway they implement. */
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';
const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';

export interface TargetablePolicySpec {
  readonly selector?: { readonly matchLabels?: Readonly<Record<string, string>> };
  readonly targetRef?: PolicyTargetReference;
  readonly targetRefs?: readonly PolicyTargetReference[];
}

export interface PolicyWorkload {
  /** the proxy's (config) namespace */
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** targetRefs, or the single deprecated targetRef (istiod GetTargetRefs). */
export function targetRefsOf(spec: TargetablePolicySpec): readonly PolicyTargetReference[] {
  if ((spec.targetRefs ?? []).length > 0) return spec.targetRefs!;
  return spec.targetRef ? [spec.targetRef] : [];
}

export function policyAttaches(spec: TargetablePolicySpec, policyNamespace: string, workload: PolicyWorkload): boolean {
  const refs = targetRefsOf(spec);
  if (refs.length === 0) return labelsMatch(spec.selector?.matchLabels, workload.labels, 'selects-all');
  const gatewayName = workload.labels[GATEWAY_NAME_LABEL];
  if (gatewayName === undefined || policyNamespace !== workload.namespace) return false;
  return refs.some(
    (ref) =>
      (ref.group ?? '') === GATEWAY_API_GROUP &&
      ref.kind === 'Gateway' &&
      ref.name === gatewayName &&
      (!ref.namespace || ref.namespace === workload.namespace),
  );
}
