// The project's one regular-expression module: Istio and Envoy speak RE2, and both the validator (is this
// expression one Envoy's RE2 and Istio's webhook accept?) and the simulator (does this path match?) use it.
//
// The engine is re2js, a pure-JavaScript port of RE2 (via RE2/J, itself a port of Go's regexp): it parses
// exactly Go's grammar with Go's messages (istiod's webhook compiles every regex with Go's regexp), it
// enforces RE2's repeat limits (a count above 1000, or nested counts whose product exceeds 1000), and it
// matches in time linear in the input, so no expression a user writes can stall `meshd simulate`.
// JavaScript's RegExp is no substitute: it backtracks (`(a+)+$` takes exponential time), accepts
// lookarounds and backreferences, and rejects RE2-only syntax (`(?P<n>…)`, `\pL`, `[[:alpha:]]`, `\Q…\E`).

import { RE2JS } from 're2js';

/**
 * Envoy refuses a regex whose compiled program is larger than this; Istio's sidecar bootstrap sets it
 * (runtime `re2.max_program_size.error_level`). re2js counts instructions as RE2 does, closely but not
 * to the instruction, so an expression right at the limit may be judged differently by Envoy.
 */
export const MAX_PROGRAM_SIZE = 32768;

export class InvalidRegexError extends Error {
  constructor(readonly regex: string, readonly reason: string) {
    super(`regex ${JSON.stringify(regex)}: ${reason}`);
  }
}

const GO_PREFIX = 'error parsing regexp: ';
/** compiled expressions by source; bounded, so a stream of distinct expressions cannot grow memory */
const compiled = new Map<string, RE2JS | InvalidRegexError>();
const MAX_CACHED = 1024;

/** What Go's parser says (without its "error parsing regexp: " prefix), with a hint where RE2 differs from Perl. */
function reasonOf(re: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  let reason = message.startsWith(GO_PREFIX) ? message.slice(GO_PREFIX.length) : message;
  if (/\(\?(?:=|!|<=|<!)/.test(re) && /Perl syntax|named capture/.test(reason)) reason += ' (lookahead/lookbehind assertions are not supported)';
  else if (/invalid escape sequence: `\\[1-9]`/.test(reason)) reason += ' (backreferences are not supported)';
  return reason;
}

function compile(re: string): RE2JS | InvalidRegexError {
  const hit = compiled.get(re);
  if (hit) return hit;
  let result: RE2JS | InvalidRegexError;
  try {
    const rx = RE2JS.compile(re);
    const size = rx.programSize();
    result = size > MAX_PROGRAM_SIZE
      ? new InvalidRegexError(re, `expression too large: program size ${size} exceeds ${MAX_PROGRAM_SIZE} (Envoy's re2.max_program_size.error_level in Istio's bootstrap)`)
      : rx;
  } catch (err) {
    result = new InvalidRegexError(re, reasonOf(re, err));
  }
  if (compiled.size >= MAX_CACHED) compiled.delete(compiled.keys().next().value as string);
  compiled.set(re, result);
  return result;
}

function compileOrThrow(re: string): RE2JS {
  const rx = compile(re);
  if (rx instanceof InvalidRegexError) throw rx;
  return rx;
}

/** undefined when RE2 (and so Envoy and Istio's webhook) accepts the expression, else Go's reason. */
export function re2SyntaxError(re: string): string | undefined {
  const rx = compile(re);
  return rx instanceof InvalidRegexError ? rx.reason : undefined;
}

/** RE2::FullMatch, as Envoy's RegexMatcher (route paths, header and query matchers, StringMatcher.safe_regex). Throws InvalidRegexError. */
export function re2FullMatch(re: string, input: string): boolean {
  return compileOrThrow(re).matches(input);
}

/**
 * RE2::GlobalReplace with Envoy's substitution syntax (regex_rewrite): `\N` inserts capture group N
 * (`\0` the whole match), `\\` a backslash; everything else is literal. Throws InvalidRegexError.
 */
export function re2GlobalReplace(re: string, input: string, substitution: string): string {
  const m = compileOrThrow(re).matcher(input);
  let out = '';
  let copied = 0;
  let previousEnd = -1;
  // find() moves one past an empty match by itself; RE2 also skips an empty match right where the
  // previous match ended (`a*` on `baaac` gives `-b-c-`, not JavaScript's `-b--c-`)
  while (m.find()) {
    const start = m.start();
    const end = m.end();
    if (start === end && start === previousEnd) continue;
    out += input.slice(copied, start);
    out += substitution.replace(/\\(\d|\\)/g, (_, g: string) => (g === '\\' ? '\\' : Number(g) <= m.groupCount() ? (m.group(Number(g)) ?? '') : ''));
    copied = end;
    previousEnd = end;
  }
  return out + input.slice(copied);
}
