import type { AuthorizationPolicy } from '../config/schemas/authorization-policy.js';
import type { PushContext } from '../model/push-context.js';
import { ANY_TYPE } from '../xds/envoy/type-urls.js';
import { RuleModel, type RbacAction, type TrustDomainBundle } from './authz-model.js';

// AuthorizationPolicy → Envoy RBAC filters (istiod pilot/pkg/security/authz/builder).
//
// Scope: a workload gets the policies of the mesh root namespace and of its own namespace whose selector
// matches its labels (no selector = every workload there). Policies with targetRef(s) attach to gateways
// and waypoints, not to sidecars or proxyless servers, and are left out.
//
// Precedence (Istio): CUSTOM, then DENY, then ALLOW, each its own RBAC filter in that order; a request
// denied by one never reaches the next. No ALLOW policy → no ALLOW filter → allowed. ALLOW policies exist
// but none matches → the ALLOW filter denies. `spec: {}` (ALLOW, no rules) → a rule that never matches
// → deny all. AUDIT becomes an RBAC filter with action LOG (first, it never denies). Dry-run policies
// (annotation istio.io/dry-run: "true") go to shadow_rules.
//
// CUSTOM needs an extension provider (ext_authz), which meshd does not implement: a CUSTOM policy is
// turned into a DENY of the requests its rules match, named `…-deny-due-to-bad-CUSTOM-action` — exactly
// what istiod does when a CUSTOM policy's provider is missing or invalid (fail closed) — and a warning
// says why.

type J = Record<string, unknown>;

export interface ScopedPolicy {
  readonly name: string;
  readonly namespace: string;
  readonly spec: AuthorizationPolicy['spec'];
  readonly dryRun: boolean;
}

export interface SelectedPolicies {
  readonly allow: ScopedPolicy[];
  readonly deny: ScopedPolicy[];
  readonly audit: ScopedPolicy[];
  readonly custom: ScopedPolicy[];
}

export function scopedPolicy(p: AuthorizationPolicy): ScopedPolicy {
  return {
    name: p.metadata.name,
    namespace: p.metadata.namespace ?? 'default',
    spec: p.spec,
    dryRun: (p.metadata.annotations?.['istio.io/dry-run'] ?? '').toLowerCase() === 'true',
  };
}

function selectorMatches(selector: { matchLabels?: Record<string, string> } | undefined, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

/** Groups `policies` (already in precedence order: root namespace first) by action, keeping those that select the workload. */
export function selectPolicies(policies: readonly AuthorizationPolicy[], labels: Readonly<Record<string, string>>): SelectedPolicies {
  const out: SelectedPolicies = { allow: [], deny: [], audit: [], custom: [] };
  for (const p of policies) {
    if (p.spec.targetRef || (p.spec.targetRefs && p.spec.targetRefs.length > 0)) continue;
    if (!selectorMatches(p.spec.selector, labels)) continue;
    const s = scopedPolicy(p);
    switch (p.spec.action ?? 'ALLOW') {
      case 'DENY':
        out.deny.push(s);
        break;
      case 'AUDIT':
        out.audit.push(s);
        break;
      case 'CUSTOM':
        out.custom.push(s);
        break;
      default:
        out.allow.push(s);
    }
  }
  return out;
}

/** The policies that apply to a workload in `namespace` with `labels` (root namespace, then its own). */
export function policiesForWorkload(ctx: PushContext, namespace: string, labels: Readonly<Record<string, string>>): SelectedPolicies {
  const root = ctx.mesh.rootNamespace;
  const list = [...ctx.authorizationPoliciesIn(root), ...(namespace !== root ? ctx.authorizationPoliciesIn(namespace) : [])];
  return selectPolicies(list, labels);
}

export interface BuildOptions {
  readonly trustDomainBundle?: TrustDomainBundle;
}

export interface BuildResult {
  readonly filters: J[];
  /** the action of each filter: CUSTOM, AUDIT, DENY or ALLOW */
  readonly actions: string[];
  /** rules left out and why (logged by the caller; never silently) */
  readonly warnings: string[];
}

const RBAC_HTTP_FILTER = 'envoy.filters.http.rbac';
const RBAC_NETWORK_FILTER = 'envoy.filters.network.rbac';
const NETWORK_RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';
const MATCH_NEVER: J = { permissions: [{ not_rule: { any: true } }], principals: [{ not_id: { any: true } }] };

interface Built {
  rules?: J;
  shadowRules?: J;
}

function policyName(p: ScopedPolicy, i: number, custom: boolean): string {
  const base = `ns[${p.namespace}]-policy[${p.name}]-rule[${i}]`;
  return custom ? `istio-ext-authz-${p.spec.provider?.name ?? ''}-${base}-deny-due-to-bad-CUSTOM-action` : base;
}

function build(policies: readonly ScopedPolicy[], action: RbacAction, forTCP: boolean, opts: BuildOptions, warnings: string[], custom = false): Built | undefined {
  if (policies.length === 0) return undefined;
  const enforce: J = {};
  const shadow: J = {};
  let hasEnforce = false;
  let hasShadow = false;
  for (const p of policies) {
    const target = p.dryRun ? shadow : enforce;
    if (p.dryRun) hasShadow = true;
    else hasEnforce = true;
    if (custom) {
      warnings.push(`${p.namespace}/${p.name}: action CUSTOM needs an extension provider (ext_authz), which meshd does not support; requests matching its rules are denied`);
    }
    const rules = p.spec.rules ?? [];
    rules.forEach((rule, i) => {
      const name = policyName(p, i, custom);
      try {
        // a CUSTOM rule that cannot be evaluated (HTTP-only on TCP) is skipped, as istiod's ext_authz path does
        target[name] = new RuleModel(rule, { namespace: p.namespace, trustDomainBundle: opts.trustDomainBundle }).generate(forTCP, custom ? 'ALLOW' : action);
      } catch (err) {
        warnings.push(`${name}: skipped on ${forTCP ? 'TCP' : 'HTTP'}: ${(err as Error).message}`);
      }
    });
    if (rules.length === 0 && !custom) target[policyName(p, 0, false)] = MATCH_NEVER;
  }
  if (custom && Object.keys(enforce).length === 0 && Object.keys(shadow).length === 0) return undefined;
  // an empty policies map encodes as no field at all
  const rbac = (policiesMap: J): J => ({ ...(action !== 'ALLOW' ? { action } : {}), ...(Object.keys(policiesMap).length > 0 ? { policies: policiesMap } : {}) });
  return { ...(hasEnforce ? { rules: rbac(enforce) } : {}), ...(hasShadow ? { shadowRules: rbac(shadow) } : {}) };
}

/** istiod shadowRuleStatPrefix (a missing shadow config reads as action ALLOW, as in Go). */
function shadowPrefix(shadow: J | undefined): string {
  const action = (shadow?.action as string | undefined) ?? 'ALLOW';
  return action === 'ALLOW' ? 'istio_dry_run_allow_' : action === 'DENY' ? 'istio_dry_run_deny_' : '';
}

function httpFilter(b: Built, custom = false): J {
  return {
    name: RBAC_HTTP_FILTER,
    typed_config: {
      '@type': ANY_TYPE.HTTP_RBAC,
      ...(b.rules ? { rules: b.rules } : {}),
      ...(b.shadowRules ? { shadow_rules: b.shadowRules } : {}),
      // istiod's CUSTOM builder sets no stat prefix
      ...(custom ? {} : { shadow_rules_stat_prefix: shadowPrefix(b.shadowRules) }),
    },
  };
}

function tcpFilter(b: Built): J {
  return {
    name: RBAC_NETWORK_FILTER,
    typed_config: {
      '@type': NETWORK_RBAC_TYPE,
      ...(b.rules ? { rules: b.rules } : {}),
      stat_prefix: 'tcp.',
      ...(b.shadowRules ? { shadow_rules: b.shadowRules } : {}),
      shadow_rules_stat_prefix: shadowPrefix(b.shadowRules),
    },
  };
}

/** HTTP RBAC filters in Istio's order: CUSTOM (as DENY), AUDIT (LOG), DENY, ALLOW. */
export function buildHttpFilters(sel: SelectedPolicies, opts: BuildOptions = {}): BuildResult {
  const warnings: string[] = [];
  const filters: J[] = [];
  const actions: string[] = [];
  const add = (action: string, b: Built | undefined, custom = false) => {
    if (!b) return;
    filters.push(httpFilter(b, custom));
    actions.push(action);
  };
  add('CUSTOM', build(sel.custom, 'DENY', false, opts, warnings, true), true);
  add('AUDIT', build(sel.audit, 'LOG', false, opts, warnings));
  add('DENY', build(sel.deny, 'DENY', false, opts, warnings));
  add('ALLOW', build(sel.allow, 'ALLOW', false, opts, warnings));
  return { filters, actions, warnings };
}

/** Network RBAC filters for TCP ports (HTTP-only conditions: ALLOW rules dropped, DENY conditions widened). */
export function buildTcpFilters(sel: SelectedPolicies, opts: BuildOptions = {}): BuildResult {
  const warnings: string[] = [];
  const filters: J[] = [];
  const actions: string[] = [];
  const add = (action: string, b: Built | undefined) => {
    if (!b) return;
    filters.push(tcpFilter(b));
    actions.push(action);
  };
  add('CUSTOM', build(sel.custom, 'DENY', true, opts, warnings, true));
  add('AUDIT', build(sel.audit, 'LOG', true, opts, warnings));
  add('DENY', build(sel.deny, 'DENY', true, opts, warnings));
  add('ALLOW', build(sel.allow, 'ALLOW', true, opts, warnings));
  return { filters, actions, warnings };
}
