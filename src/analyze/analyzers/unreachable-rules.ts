// istiod's validation warnings for VirtualService rules that can never match (pkg/config/validation:
// analyzeUnreachableHTTPRules/TCP/TLS): a rule after a match-all rule, a rule whose matches all repeat earlier
// ones (IST0130 VirtualServiceUnreachableRule), and a match that repeats or is covered by an earlier prefix
// match (IST0131 VirtualServiceIneffectiveMatch). istioctl reports them through schema.ValidationAnalyzer;
// istiod's /validate webhook returns them as admission warnings (webhook/validate.ts), with the texts of
// `virtualServiceRuleWarnings`.

import { message, type AnalysisMessage } from '../message.js';
import type { Resource } from '../resource.js';
import { ANALYZER_NAME_SCHEMA } from '../resource.js';

type StringMatch = { exact?: string; prefix?: string; regex?: string } | undefined;
interface HttpMatch {
  name?: string;
  uri?: StringMatch;
  method?: StringMatch;
  authority?: StringMatch;
  port?: number;
  headers?: Record<string, StringMatch>;
  queryParams?: Record<string, StringMatch>;
  withoutHeaders?: Record<string, StringMatch>;
}
interface Rule {
  name?: string;
  match?: unknown[];
}

/** Canonical JSON (sorted keys), the match's name left out: equal strings ⇔ equal matches (Go's asJSON). */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

const matchKey = (m: unknown) => {
  if (m && typeof m === 'object' && 'name' in m) {
    const { name: _name, ...rest } = m as HttpMatch;
    return canonical(rest);
  }
  return canonical(m);
};

const routeName = (rule: Rule, n: number, http: boolean) => (http && rule.name ? JSON.stringify(rule.name) : `#${n}`);
const requestName = (m: unknown, n: number, http: boolean) => (http && (m as HttpMatch | null)?.name ? JSON.stringify((m as HttpMatch).name) : `#${n}`);
const exactOrPrefix = (m: StringMatch) => (m?.exact ? `exact:${m.exact}` : m?.prefix ? `prefix:${m.prefix}` : '');

interface PrefixMatch {
  route: string;
  match: string;
  prefix: string;
  port: number;
  method: string;
  authority: string;
  headers: Map<string, string>;
  queryParams: Map<string, string>;
  withoutHeaders: Map<string, string>;
}

function prefixMatch(m: HttpMatch, route: string, match: string): PrefixMatch | undefined {
  const prefix = m?.uri?.prefix;
  if (!prefix) return undefined;
  const fields = (r: Record<string, StringMatch> | undefined) => new Map(Object.entries(r ?? {}).map(([k, v]) => [k, exactOrPrefix(v)]));
  return {
    route, match, prefix, port: m.port ?? 0,
    method: exactOrPrefix(m.method) || 'exact:GET', // no method: GET
    authority: exactOrPrefix(m.authority),
    headers: fields(m.headers), queryParams: fields(m.queryParams), withoutHeaders: fields(m.withoutHeaders),
  };
}

/** coveredValidation: every request `b` matches is matched by the earlier `a` */
function covered(a: PrefixMatch, b: PrefixMatch): boolean {
  if (!b.prefix.startsWith(a.prefix) || a.port !== b.port) return false;
  if (a.method !== b.method && !a.method.startsWith(b.method)) return false;
  if (a.authority !== b.authority && !a.authority.startsWith(b.authority)) return false;
  for (const [am, bm] of [[a.headers, b.headers], [a.queryParams, b.queryParams], [a.withoutHeaders, b.withoutHeaders]] as const) {
    if (am.size !== bm.size) return false;
    for (const [k, v] of am) {
      const w = bm.get(k);
      if (w === undefined || (v !== w && !v.startsWith(w))) return false;
    }
  }
  return true;
}

/** What a rule check found: istiod's warnUnused(rule, reason) and warnIneffective(rule, match, dupRule). */
interface RuleReport {
  unreachable(rule: string, reason: string): void;
  ineffective(rule: string, match: string, dup: string): void;
}

function analyzeRules(rules: readonly (Rule | null)[] | undefined, http: boolean, { unreachable, ineffective }: RuleReport): void {
  const seen = new Map<string, number>();
  let emptyMatchAt = -1;
  const prefixes: PrefixMatch[] = [];
  (rules ?? []).forEach((rule, n) => {
    if (!rule) return;
    const name = routeName(rule, n, http);
    const matches = rule.match ?? [];
    if (matches.length === 0) {
      if (emptyMatchAt >= 0) unreachable(name, 'only the last rule can have no matches');
      emptyMatchAt = n;
      return;
    }
    let duplicates = 0;
    matches.forEach((m, mn) => {
      if (emptyMatchAt >= 0) {
        unreachable(name, 'route without matches defined before');
        return;
      }
      const key = matchKey(m);
      const dup = seen.get(key);
      if (dup !== undefined) {
        ineffective(name, requestName(m, mn, http), routeName(rules![dup]!, dup, http));
        duplicates++;
        return;
      }
      seen.set(key, n);
      if (http) {
        const p = prefixMatch(m as HttpMatch, name, requestName(m, mn, http));
        if (p) prefixes.push(p);
      }
    });
    if (duplicates === matches.length) unreachable(name, 'all matches used by prior rules');
  });
  for (let i = 0; i < prefixes.length; i++) {
    for (let j = i + 1; j < prefixes.length; j++) {
      const a = prefixes[i]!;
      const b = prefixes[j]!;
      if (a.prefix === b.prefix) continue;
      if (covered(a, b)) ineffective(b.route, `${b.match} of prefix ${b.prefix}`, `${a.match} of prefix ${a.prefix} on ${a.route}`);
    }
  }
}

type RuleSpec = { http?: (Rule | null)[]; tcp?: (Rule | null)[]; tls?: (Rule | null)[] };

function analyzeSpec(spec: RuleSpec, report: RuleReport): void {
  analyzeRules(spec.http, true, report);
  analyzeRules(spec.tcp, false, report);
  analyzeRules(spec.tls, false, report);
}

/** The unreachable-rule warnings of one VirtualService. */
export function unreachableRuleMessages(r: Resource): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  analyzeSpec(((r.object as { spec?: unknown }).spec ?? {}) as RuleSpec, {
    unreachable: (rule, reason) => out.push(message('VirtualServiceUnreachableRule', r, ANALYZER_NAME_SCHEMA, rule, reason)),
    ineffective: (rule, match, dup) => out.push(message('VirtualServiceIneffectiveMatch', r, ANALYZER_NAME_SCHEMA, rule, match, dup)),
  });
  return out;
}

/** The same findings as istiod's validation warnings word for word (what its webhook returns to kubectl). */
export function virtualServiceRuleWarnings(spec: unknown): string[] {
  const out: string[] = [];
  analyzeSpec((spec ?? {}) as RuleSpec, {
    unreachable: (rule, reason) => out.push(`virtualService rule ${rule} not used (${reason})`),
    ineffective: (rule, match, dup) => out.push(`virtualService rule ${rule} match ${match} is not used (duplicate/overlapping match in rule ${dup})`),
  });
  return out;
}
