import type { AuthorizationPolicy } from '../config/schemas/authorization-policy.js';
import type { PushContext } from '../model/push-context.js';
import { ANY_TYPE } from '../envoy/type-urls.js';
import { RuleModel, type RbacAction, type TrustDomainBundle } from './authz-model.js';
import { EXT_AUTHZ_MATCH_PREFIX, EXT_AUTHZ_SHADOW_STAT_PREFIX, filterEnabledMetadata, type ResolvedProvider } from './ext-authz.js';
import type { J } from '../envoy/json.js';
import { policyAttaches, type PolicyWorkload } from '../model/policy-attachment.js';

// AuthorizationPolicy → Envoy RBAC filters (istiod pilot/pkg/security/authz/builder).
//
// Scope: a workload gets the policies of the mesh root namespace and of its own namespace that attach to it
// (model/policy-attachment.ts: by selector; targetRef(s) only to the Gateway API gateway they name).
//
// Precedence (Istio): CUSTOM, then DENY, then ALLOW, each its own RBAC filter in that order; a request
// denied by one never reaches the next. No ALLOW policy → no ALLOW filter → allowed. ALLOW policies exist
// but none matches → the ALLOW filter denies. `spec: {}` (ALLOW, no rules) → a rule that never matches
// → deny all. AUDIT becomes an RBAC filter with action LOG (first, it never denies). Dry-run policies
// (annotation istio.io/dry-run: "true") go to shadow_rules.
//
// CUSTOM (ext_authz.ts): per provider, an RBAC filter that only evaluates the policies' rules (shadow
// rules) and an ext_authz filter that asks the provider about the requests they matched. One provider per
// workload, as in istiod. A provider that is missing, invalid, or unusable (proxyless gRPC has no ext_authz;
// several providers on one workload) turns the policies into a DENY of what their rules match, named
// `…-deny-due-to-bad-CUSTOM-action` (fail closed), and a warning says why. Dry-run CUSTOM policies are not
// evaluated: an RBAC filter cannot run ext_authz without its decision counting.

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

/** Groups `policies` (already in precedence order: root namespace first) by action, keeping those that attach to the workload. */
export function selectPolicies(policies: readonly AuthorizationPolicy[], workload: PolicyWorkload): SelectedPolicies {
  const out: SelectedPolicies = { allow: [], deny: [], audit: [], custom: [] };
  for (const p of policies) {
    if (!policyAttaches(p.spec, p.metadata.namespace ?? 'default', workload)) continue;
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
  return selectPolicies(list, { namespace, labels });
}

/** The mesh's trust domain and its aliases (MeshConfig.trustDomainAliases): principals match under each. */
export function meshTrustDomainBundle(ctx: PushContext): TrustDomainBundle {
  return { trustDomains: [ctx.mesh.trustDomain, ...(ctx.mesh.trustDomainAliases ?? []).filter((t) => t !== ctx.mesh.trustDomain)] };
}

export interface BuildOptions {
  readonly trustDomainBundle?: TrustDomainBundle;
  /**
   * The mesh's ext_authz providers (resolveExtensionProviders) for a proxy that can run ext_authz (Envoy);
   * absent: CUSTOM policies fail closed
   */
  readonly extAuthz?: ReadonlyMap<string, ResolvedProvider>;
}

export interface BuildResult {
  readonly filters: J[];
  /** the action of each filter: CUSTOM, AUDIT, DENY or ALLOW */
  readonly actions: string[];
  /** what a user must hear about: config that could not be applied as written (the caller logs it) */
  readonly warnings: string[];
  /**
   * expected omissions, as istiod logs them at debug: an ALLOW rule with HTTP-only conditions is left out
   * of a TCP chain, where nothing could check them
   */
  readonly notes: string[];
}

interface Report {
  readonly warnings: string[];
  readonly notes: string[];
}

const RBAC_HTTP_FILTER = 'envoy.filters.http.rbac';
const RBAC_NETWORK_FILTER = 'envoy.filters.network.rbac';
const EXT_AUTHZ_HTTP_FILTER = 'envoy.filters.http.ext_authz';
const EXT_AUTHZ_NETWORK_FILTER = 'envoy.filters.network.ext_authz';
const NETWORK_RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';
const MATCH_NEVER: J = { permissions: [{ not_rule: { any: true } }], principals: [{ not_id: { any: true } }] };
const MATCH_ALL: J = { permissions: [{ any: true }], principals: [{ any: true }] };
const BAD_CUSTOM_SUFFIX = '-deny-due-to-bad-CUSTOM-action';

interface Built {
  rules?: J;
  shadowRules?: J;
}

function policyName(p: ScopedPolicy, i: number, provider?: string): string {
  const base = `ns[${p.namespace}]-policy[${p.name}]-rule[${i}]`;
  return provider !== undefined ? `${EXT_AUTHZ_MATCH_PREFIX}-${provider}-${base}` : base;
}

/** The rules of `policies` as RBAC policies by name, split into enforced and dry-run (shadow) ones. */
function rulesOf(policies: readonly ScopedPolicy[], action: RbacAction, forTCP: boolean, opts: BuildOptions, report: Report, provider?: string): { enforce: J; shadow: J; hasEnforce: boolean; hasShadow: boolean } {
  const enforce: J = {};
  const shadow: J = {};
  let hasEnforce = false;
  let hasShadow = false;
  for (const p of policies) {
    const target = p.dryRun ? shadow : enforce;
    if (p.dryRun) hasShadow = true;
    else hasEnforce = true;
    const rules = p.spec.rules ?? [];
    rules.forEach((rule, i) => {
      const name = policyName(p, i, provider);
      let model: RuleModel;
      try {
        model = new RuleModel(rule, { namespace: p.namespace, trustDomainBundle: opts.trustDomainBundle });
      } catch (err) {
        // validation admits only known attributes, so this is a defect; still never fail open: a DENY (or
        // CUSTOM) rule that cannot be read matches everything, an ALLOW or AUDIT one nothing
        if (action === 'DENY') target[name] = MATCH_ALL;
        report.warnings.push(`${name}: ${(err as Error).message}; ${action === 'DENY' ? 'the rule now matches every request' : 'the rule is left out'}`);
        return;
      }
      try {
        target[name] = model.generate(forTCP, action);
      } catch (err) {
        // an ALLOW condition a TCP filter cannot check (HTTP only): the rule is left out, which is stricter
        report.notes.push(`${name}: left out on ${forTCP ? 'TCP' : 'HTTP'} ports: ${(err as Error).message}`);
      }
    });
    if (rules.length === 0) target[policyName(p, 0, provider)] = MATCH_NEVER;
  }
  return { enforce, shadow, hasEnforce, hasShadow };
}

/** An RBAC config; an empty policies map encodes as no field at all. */
function rbac(action: RbacAction, policiesMap: J): J {
  return { ...(action !== 'ALLOW' ? { action } : {}), ...(Object.keys(policiesMap).length > 0 ? { policies: policiesMap } : {}) };
}

function build(policies: readonly ScopedPolicy[], action: RbacAction, forTCP: boolean, opts: BuildOptions, report: Report): Built | undefined {
  if (policies.length === 0) return undefined;
  const r = rulesOf(policies, action, forTCP, opts, report);
  return { ...(r.hasEnforce ? { rules: rbac(action, r.enforce) } : {}), ...(r.hasShadow ? { shadowRules: rbac(action, r.shadow) } : {}) };
}

/** istiod shadowRuleStatPrefix (a missing shadow config reads as action ALLOW, as in Go). */
function shadowPrefix(shadow: J | undefined): string {
  const action = (shadow?.action as string | undefined) ?? 'ALLOW';
  return action === 'ALLOW' ? 'istio_dry_run_allow_' : action === 'DENY' ? 'istio_dry_run_deny_' : '';
}

function httpFilter(b: Built): J {
  return {
    name: RBAC_HTTP_FILTER,
    typed_config: {
      '@type': ANY_TYPE.HTTP_RBAC,
      ...(b.rules ? { rules: b.rules } : {}),
      ...(b.shadowRules ? { shadow_rules: b.shadowRules } : {}),
      shadow_rules_stat_prefix: shadowPrefix(b.shadowRules),
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

/** CUSTOM policies → per provider (sorted) an RBAC shadow + ext_authz pair, or a fail-closed DENY. */
function customFilters(policies: readonly ScopedPolicy[], forTCP: boolean, opts: BuildOptions, report: Report): J[] {
  if (policies.length === 0) return [];
  const byProvider = new Map<string, ScopedPolicy[]>();
  for (const p of policies) {
    const provider = p.spec.provider?.name ?? '';
    if (p.dryRun) {
      report.warnings.push(`${p.namespace}/${p.name}: dry-run is not supported for action CUSTOM; the policy is not evaluated`);
      continue;
    }
    const list = byProvider.get(provider);
    if (list) list.push(p);
    else byProvider.set(provider, [p]);
  }
  const providers = [...byProvider.keys()].sort();
  const filters: J[] = [];
  for (const provider of providers) {
    const { enforce } = rulesOf(byProvider.get(provider)!, 'DENY', forTCP, opts, report, provider);
    const resolved = opts.extAuthz?.get(provider);
    let problem: string | undefined;
    if (providers.length > 1) problem = `only 1 provider can be used per workload, found multiple providers: ${providers.join(', ')}`;
    else if (!opts.extAuthz) problem = 'proxyless gRPC servers have no ext_authz filter';
    else if (!resolved) problem = `no extension provider ${JSON.stringify(provider)} in the mesh config (extensionProviders: ${[...opts.extAuthz.keys()].join(', ') || 'none'})`;
    else if (resolved.error) problem = resolved.error;
    if (problem !== undefined) {
      const names = byProvider.get(provider)!.map((p) => `${p.namespace}/${p.name}`).join(', ');
      report.warnings.push(`CUSTOM ${names}: ${problem}; requests its rules match are denied`);
      const denied = Object.fromEntries(Object.entries(enforce).map(([name, policy]) => [`${name}${BAD_CUSTOM_SUFFIX}`, policy]));
      filters.push(forTCP
        ? { name: RBAC_NETWORK_FILTER, typed_config: { '@type': NETWORK_RBAC_TYPE, rules: rbac('DENY', denied), stat_prefix: 'tcp.' } }
        : { name: RBAC_HTTP_FILTER, typed_config: { '@type': ANY_TYPE.HTTP_RBAC, rules: rbac('DENY', denied) } });
      continue;
    }
    const ext = forTCP ? resolved!.tcp : resolved!.http;
    if (!ext) continue; // an HTTP provider cannot check TCP connections (istiod ignores it there too)
    const shadow = rbac('DENY', enforce);
    if (forTCP) {
      filters.push(
        { name: RBAC_NETWORK_FILTER, typed_config: { '@type': NETWORK_RBAC_TYPE, shadow_rules: shadow, stat_prefix: 'tcp.', shadow_rules_stat_prefix: EXT_AUTHZ_SHADOW_STAT_PREFIX } },
        { name: EXT_AUTHZ_NETWORK_FILTER, typed_config: { '@type': ANY_TYPE.NETWORK_EXT_AUTHZ, ...ext, filter_enabled_metadata: filterEnabledMetadata(RBAC_NETWORK_FILTER, provider) } },
      );
    } else {
      filters.push(
        { name: RBAC_HTTP_FILTER, typed_config: { '@type': ANY_TYPE.HTTP_RBAC, shadow_rules: shadow, shadow_rules_stat_prefix: EXT_AUTHZ_SHADOW_STAT_PREFIX } },
        { name: EXT_AUTHZ_HTTP_FILTER, typed_config: { '@type': ANY_TYPE.HTTP_EXT_AUTHZ, ...ext, filter_enabled_metadata: filterEnabledMetadata(RBAC_HTTP_FILTER, provider) } },
      );
    }
  }
  return filters;
}

function buildFilters(sel: SelectedPolicies, opts: BuildOptions, forTCP: boolean): BuildResult {
  const report: Report = { warnings: [], notes: [] };
  const filters: J[] = [];
  const actions: string[] = [];
  for (const f of customFilters(sel.custom, forTCP, opts, report)) {
    filters.push(f);
    actions.push('CUSTOM');
  }
  const add = (action: string, b: Built | undefined) => {
    if (!b) return;
    filters.push(forTCP ? tcpFilter(b) : httpFilter(b));
    actions.push(action);
  };
  add('AUDIT', build(sel.audit, 'LOG', forTCP, opts, report));
  add('DENY', build(sel.deny, 'DENY', forTCP, opts, report));
  add('ALLOW', build(sel.allow, 'ALLOW', forTCP, opts, report));
  return { filters, actions, ...report };
}

/** HTTP filters in Istio's order: CUSTOM (RBAC shadow + ext_authz per provider), AUDIT (LOG), DENY, ALLOW. */
export function buildHttpFilters(sel: SelectedPolicies, opts: BuildOptions = {}): BuildResult {
  return buildFilters(sel, opts, false);
}

/** Network filters for TCP ports (HTTP-only conditions: ALLOW rules left out, DENY/CUSTOM conditions widened). */
export function buildTcpFilters(sel: SelectedPolicies, opts: BuildOptions = {}): BuildResult {
  return buildFilters(sel, opts, true);
}
