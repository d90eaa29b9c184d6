import { isIP } from 'node:net';
import type { Problem } from '../origin.js';
import { parseDuration, type PolicyTargetReference } from '../schemas/common.js';
import { re2SyntaxError } from '../../regex/re2.js';

// Helpers shared by the per-kind semantic rules. The rules follow istiod's validating webhook
// (pkg/config/validation in istio/istio); messages say what is wrong and why.

/** Collects problems; paths are the dotted form used everywhere (`spec.http[0].route[1].weight`). */
export class Problems {
  readonly list: Problem[] = [];
  add(path: string, reason: string): void {
    this.list.push({ path, reason });
  }
}

export const at = (base: string, key: string | number): string =>
  typeof key === 'number' ? `${base}[${key}]` : base ? `${base}.${key}` : key;

// --- DNS names -----------------------------------------------------------------------------------------------

// Istio's label grammar allows upper case (hostnames are case-insensitive).
const DNS1123_LABEL = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const WILDCARD_LABEL = /^(?:\*|(?:\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)$/;
const LOWER_DNS1123_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;

export function isDNS1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

/** Kubernetes-style lowercase DNS-1123 label (subset names, namespaces). */
export function isLowerDNS1123Label(s: string): boolean {
  return s.length <= 63 && LOWER_DNS1123_LABEL.test(s);
}

function dnsPreconditions(name: string): string | undefined {
  if (name.length > 255) return `domain name "${name}" too long (max 255)`;
  if (name.length === 0) return 'empty domain name not allowed';
  return undefined;
}

function dns1123Labels(domain: string, full = domain): string | undefined {
  const parts = domain.split('.');
  const tld = parts[parts.length - 1] ?? '';
  if (/^[-+]?\d+$/.test(tld)) {
    return `domain name "${full}" invalid (top level domain "${tld}" cannot be all-numeric)`;
  }
  for (let i = 0; i < parts.length; i++) {
    const label = parts[i] ?? '';
    if (i === parts.length - 1 && label === '') return undefined; // `istio.io.`
    if (!isDNS1123Label(label)) {
      return label.includes('*')
        ? `domain name "${full}" invalid (a wildcard is only allowed as the whole first label, e.g. "*.example.com")`
        : `domain name "${full}" invalid (label "${label}" invalid)`;
    }
  }
  return undefined;
}

/** A fully-qualified (or short) DNS name without wildcards. */
export function fqdnError(name: string): string | undefined {
  return dnsPreconditions(name) ?? dns1123Labels(name);
}

/** A DNS name that may start with a wildcard label (`*`, `*.foo.com`, `*-foo.com`); `*` elsewhere is invalid. */
export function wildcardDomainError(domain: string): string | undefined {
  const pre = dnsPreconditions(domain);
  if (pre) return pre;
  const dot = domain.indexOf('.');
  const first = dot < 0 ? domain : domain.slice(0, dot);
  if (!(first.length <= 63 && WILDCARD_LABEL.test(first))) {
    return first.includes('*')
      ? `domain name "${domain}" invalid (a wildcard is only allowed as the whole first label, e.g. "*.example.com")`
      : `domain name "${domain}" invalid (label "${first}" invalid)`;
  }
  return dot < 0 ? undefined : dns1123Labels(domain.slice(dot + 1), domain);
}

// --- host name matching (istio pkg/config/host) -----------------------------------------------------------

const isWild = (h: string) => h.startsWith('*');

/** Two hosts overlap: one of them matches the other. */
export function hostsMatch(a: string, b: string): boolean {
  if (isWild(a)) {
    if (isWild(b)) return a.length < b.length ? b.slice(1).endsWith(a.slice(1)) : a.slice(1).endsWith(b.slice(1));
    return b.endsWith(a.slice(1));
  }
  if (isWild(b)) return a.endsWith(b.slice(1));
  return a === b;
}

/** Every name matched by `a` is also matched by `b`. */
export function hostSubsetOf(a: string, b: string): boolean {
  if (isWild(b)) {
    if (b === '*') return true;
    return isWild(a) ? a.slice(1).endsWith(b.slice(1)) : a.endsWith(b.slice(1));
  }
  return !isWild(a) && a === b;
}

// --- IP addresses ------------------------------------------------------------------------------------------

export function isIPAddress(s: string): boolean {
  return isIP(s) !== 0;
}

/** `1.2.3.4`, `10.0.0.0/8`, `2001:db8::/32` */
export function ipOrCidrError(s: string): string | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return isIP(s) ? undefined : `"${s}" is not a valid IP address`;
  const addr = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const family = isIP(addr);
  const max = family === 4 ? 32 : 128;
  if (!family || !/^\d{1,3}$/.test(bits) || Number(bits) > max) return `"${s}" is not a valid CIDR block`;
  return undefined;
}

// --- ports, percentages, labels ----------------------------------------------------------------------------

export function portError(port: number): string | undefined {
  return port >= 1 && port <= 65535 ? undefined : `port number ${port} must be in the range 1..65535`;
}

const LABEL_NAME = /^(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_PREFIX = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)*$/;
const LABEL_VALUE = /^(?:(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Kubernetes label keys (`[prefix/]name`) and values, as istio's labels.Instance.Validate checks them. */
export function checkLabels(out: Problems, path: string, labels: Record<string, string> | undefined): void {
  if (!labels) return;
  for (const [key, value] of Object.entries(labels)) {
    const slash = key.lastIndexOf('/');
    const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    if (prefix !== undefined && (!LABEL_PREFIX.test(prefix) || prefix.length > 253)) {
      out.add(at(path, key), `invalid label key "${key}": the prefix must be a DNS subdomain of at most 253 characters`);
    } else if (!LABEL_NAME.test(name) || name.length > 63) {
      out.add(at(path, key), `invalid label key "${key}": must be at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`);
    }
    if (!LABEL_VALUE.test(value) || value.length > 63) {
      out.add(at(path, key), `invalid label value "${value}": must be empty or at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`);
    }
  }
}

/** WorkloadSelector.matchLabels: the webhook's selector rules (the CRD's CEL rules are in the schema). */
export function checkWorkloadSelector(out: Problems, path: string, matchLabels: Record<string, string> | undefined): void {
  for (const [k, v] of Object.entries(matchLabels ?? {})) {
    if (k === '') out.add(at(path, 'matchLabels'), `empty key is not supported in selector: "${k}=${v}"`);
    if (k.includes('*') || v.includes('*')) {
      out.add(at(path, 'matchLabels'), `wildcard is not supported in selector: "${k}=${v}"`);
    }
  }
}

// --- durations ---------------------------------------------------------------------------------------------

const NS_PER_MS = 1e6;

/** istio agent.ValidateDuration: at least 1ms, millisecond precision. The string already parsed (schema). */
export function checkDuration(out: Problems, path: string, value: string | undefined): void {
  if (value === undefined) return;
  const ns = parseDuration(value);
  if (ns === undefined) return; // the schema reported it
  if (ns < NS_PER_MS) out.add(path, `duration "${value}" must be at least 1ms`);
  else if (Math.abs(ns - Math.round(ns / NS_PER_MS) * NS_PER_MS) > 1e-3) {
    out.add(path, `duration "${value}" has sub-millisecond precision; only durations to ms precision are supported`);
  }
}

// --- regular expressions -----------------------------------------------------------------------------------

/** Istio matches with RE2 (Envoy's safe_regex); Go's regexp is the webhook's yardstick. */
export function checkRegex(out: Problems, path: string, re: string): void {
  if (re === '') {
    out.add(path, 'regex must not be empty');
    return;
  }
  if (re.length > 1024) {
    out.add(path, `regex is too large (${re.length} characters, max length allowed is 1024)`);
    return;
  }
  const err = re2SyntaxError(re);
  if (err) {
    out.add(path, `invalid regex ${JSON.stringify(re)}: ${err}; Istio uses RE2 syntax (https://github.com/google/re2/wiki/Syntax)`);
  }
}

// --- HTTP headers ------------------------------------------------------------------------------------------

/** RFC 7230 token characters. */
export const HEADER_NAME = /^[!#$%&'*+\-.^_`|~A-Za-z0-9]+$/;

const CONTROL_CHARS = /[\u0000-\u0008\u000A-\u001F\u007F]/;

/** Envoy's header value grammar: `%VAR%`, `%VAR(args)%`, `%%` escapes (istio header_value_validator). */
export function headerValueError(value: string): string | undefined {
  if (CONTROL_CHARS.test(value)) return `header value ${JSON.stringify(value)} contains control characters`;
  type State = 'lit' | 'var' | 'arr' | 'str?' | 'str' | 'delim' | 'args)' | 'end%';
  let state: State = 'lit';
  for (let pos = 0; pos < value.length; pos++) {
    const ch = value[pos];
    const hasNext = pos + 1 < value.length;
    switch (state) {
      case 'lit':
        if (ch !== '%') break;
        if (!hasNext) return `header value ${JSON.stringify(value)}: un-escaped % (write %% for a literal %)`;
        if (value[pos + 1] === '%') pos++;
        else state = 'var';
        break;
      case 'var':
        if (ch === '%') state = 'lit';
        else if (ch === '(') state = 'arr';
        break;
      case 'arr':
        if (ch === '[') state = 'str?';
        else if (ch !== ' ') state = 'str';
        break;
      case 'delim':
        if (ch === ',') state = 'str?';
        else if (ch === ']') state = 'args)';
        else if (ch !== ' ') return `header value ${JSON.stringify(value)}: expecting ',', ']' or whitespace`;
        break;
      case 'str?':
        if (ch === '"') state = 'str';
        else if (ch !== ' ') return `header value ${JSON.stringify(value)}: expecting '"'`;
        break;
      case 'str':
        if (ch === '\\') {
          if (!hasNext) return `header value ${JSON.stringify(value)}: un-terminated backslash in JSON string`;
          pos++;
        } else if (ch === ')') state = 'end%';
        else if (ch === '"') state = 'delim';
        break;
      case 'args)':
        if (ch === ')') state = 'end%';
        else if (ch !== ' ') return `header value ${JSON.stringify(value)}: expecting ')' or whitespace`;
        break;
      case 'end%':
        if (ch === '%') state = 'lit';
        else if (ch !== ' ') return `header value ${JSON.stringify(value)}: expecting '%' or whitespace`;
        break;
    }
  }
  if (state !== 'lit') return `header value ${JSON.stringify(value)}: un-terminated variable expression`;
  return undefined;
}

// --- exportTo ----------------------------------------------------------------------------------------------

/** istio validateExportTo; `~` (exported to no one) is a ServiceEntry-only value. */
export function checkExportTo(
  out: Problems,
  path: string,
  namespace: string | undefined,
  exportTo: readonly string[] | undefined,
  destinationRuleWithSelector = false,
  serviceEntry = false,
): void {
  if (!exportTo || exportTo.length === 0) return;
  const ns = namespace ?? '.';
  const seen = new Set<string>();
  exportTo.forEach((e, i) => {
    const key = e === '.' ? ns : e;
    if (seen.has(key)) {
      out.add(at(path, i), key !== e ? `duplicate entries in exportTo: . and current namespace ${ns}` : `duplicate entries in exportTo for entry ${e}`);
      return;
    }
    if (key === '~') {
      if (serviceEntry) seen.add(key);
      else out.add(at(path, i), 'exportTo ~ (none) is only allowed for ServiceEntry');
      return;
    }
    if (key !== '.' && key !== '*' && !isLowerDNS1123Label(key)) {
      out.add(at(path, i), `invalid exportTo entry "${e}": only ".", "*" or a namespace name (DNS-1123 label) is allowed`);
      return;
    }
    seen.add(key);
  });
  if (destinationRuleWithSelector && seen.size > 0) {
    if (seen.has(ns)) {
      if (seen.size > 1) out.add(path, 'destination rule with workload selector cannot have multiple entries in exportTo');
    } else {
      out.add(path, 'destination rule with workload selector cannot have exportTo beyond current namespace');
    }
  }
  if (seen.has('*') && exportTo.length > 1) {
    out.add(path, 'cannot have both public (*) and non-public exportTo values for a resource');
  }
  if (seen.has('~') && exportTo.length > 1) out.add(path, 'cannot export service entry to no one (~) and someone');
}

// --- policy target references (istiod validatePolicyTargetReference) -----------------------------------------

/** Kinds a policy (AuthorizationPolicy, Telemetry…) may target: [group, kind] (the core group is ''). */
const TARGET_KINDS: ReadonlyArray<readonly [string, string]> = [
  ['', 'Service'],
  ['networking.istio.io', 'ServiceEntry'],
  ['gateway.networking.k8s.io', 'Gateway'],
  ['gateway.networking.k8s.io', 'GatewayClass'],
];

export function checkTargetRef(out: Problems, path: string, ref: PolicyTargetReference): void {
  if (!ref.name) out.add(at(path, 'name'), 'targetRef name must be set');
  if (ref.namespace) out.add(at(path, 'namespace'), 'targetRef namespace must not be set; cross namespace referencing is not supported');
  const group = ref.group ?? '';
  if (!TARGET_KINDS.some(([g, k]) => g === group && k === ref.kind)) {
    out.add(path, `targetRef must be to one of ${TARGET_KINDS.map(([g, k]) => `${g || 'core'}/${k}`).join(', ')} but was ${group}/${ref.kind}`);
  }
}
