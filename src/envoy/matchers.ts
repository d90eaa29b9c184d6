import type { StringMatch } from '../config/schemas/common.js';

// Istio StringMatch → Envoy matchers (route.RouteMatch path specifiers, route.HeaderMatcher).

/**
 * How header matchers are spelled:
 * - `legacy`: the deprecated `exact_match` / `prefix_match` / `safe_regex_match` / `present_match` fields.
 *   Every gRPC xDS client understands them; gRPC C-core 1.51 NACKs the newer `string_match`
 *   ("Invalid route header matcher specified"), so proxyless gRPC always gets this form.
 * - `string_match`: what current istiod emits for Envoy (`string_match: {exact|prefix|safe_regex}`).
 */
export type HeaderMatchStyle = 'legacy' | 'string_match';

export function regexMatcher(regex: string): Record<string, unknown> {
  // google_re2 is deprecated in Envoy (RE2 is the only engine) but older gRPC clients look for it.
  return { google_re2: {}, regex };
}

function isSet(v: string | undefined): v is string {
  return v !== undefined;
}

/**
 * Istio turns an empty StringMatch, or `regex: "*"` (not RE2: a glob users write to mean "any value"),
 * into a presence check (route.canBeConvertedToPresentMatch).
 */
export function isPresenceMatch(m: StringMatch | undefined): boolean {
  if (!m) return true;
  if (isSet(m.exact) || isSet(m.prefix)) return false;
  if (isSet(m.regex)) return m.regex === '*';
  return true;
}

/** envoy.type.matcher.v3.StringMatcher (for `string_match` style and other StringMatcher fields). */
export function stringMatcher(m: StringMatch, ignoreCase = false): Record<string, unknown> | undefined {
  const ic = ignoreCase ? { ignore_case: true } : {};
  if (isSet(m.exact)) return { exact: m.exact, ...ic };
  if (isSet(m.prefix)) return { prefix: m.prefix, ...ic };
  if (isSet(m.regex)) return { safe_regex: regexMatcher(m.regex) };
  return undefined;
}

export interface HeaderMatcherOptions {
  readonly style: HeaderMatchStyle;
  /** `withoutHeaders`: the route matches when this matcher does not */
  readonly invert?: boolean;
}

/** route.v3.HeaderMatcher for header `name` matching Istio StringMatch `m` (translateHeaderMatch). */
export function headerMatcher(name: string, m: StringMatch | undefined, opts: HeaderMatcherOptions): Record<string, unknown> {
  const out: Record<string, unknown> = { name };
  const present = isPresenceMatch(m);
  if (present) {
    out.present_match = true;
  } else if (opts.style === 'legacy') {
    const sm = m as StringMatch;
    if (isSet(sm.exact)) out.exact_match = sm.exact;
    else if (isSet(sm.prefix)) out.prefix_match = sm.prefix;
    else if (isSet(sm.regex)) out.safe_regex_match = regexMatcher(sm.regex);
  } else {
    out.string_match = stringMatcher(m as StringMatch);
  }
  if (opts.invert) {
    out.invert_match = true;
    // Envoy: a missing header compared against a value must count as "" for `withoutHeaders` to mean
    // "absent or different" (istiod sets this for everything but present_match).
    if (!present) out.treat_missing_header_as_empty = true;
  }
  return out;
}

/** The path part of a RouteMatch: exact → path, prefix → prefix, regex → safe_regex; none → prefix "/". */
export function pathSpecifier(uri: StringMatch | undefined): Record<string, unknown> {
  if (uri) {
    if (isSet(uri.exact)) return { path: uri.exact };
    if (isSet(uri.prefix)) return { prefix: uri.prefix };
    if (isSet(uri.regex)) return { safe_regex: regexMatcher(uri.regex) };
  }
  return { prefix: '/' };
}
