// Envoy evaluates every `safe_regex` with RE2. This module translates RE2 syntax to an equivalent
// JavaScript RegExp and offers the two operations Envoy performs: a full match (RE2::FullMatch, used by
// RegexMatcher everywhere: route paths, header and query matchers, StringMatcher.safe_regex) and a global
// replace (RE2::GlobalReplace, used by regex_rewrite). Constructs RE2 rejects (lookaround, backreferences)
// are rejected here too, because Envoy would NACK the resource rather than match anything.

export class UnsupportedRegexError extends Error {
  constructor(readonly regex: string, why: string) {
    super(`regex ${JSON.stringify(regex)}: ${why}`);
  }
}

// Characters JavaScript lets a `\` escape under the `u` flag outside classes; RE2 lets `\` escape any
// ASCII punctuation, so the others are written as `\xHH` (valid inside and outside classes).
const JS_SYNTAX = new Set('^$\\.*+?()[]{}|/'.split(''));

// RE2's POSIX classes ([[:alpha:]] …) are ASCII-only.
const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alnum: '0-9A-Za-z', alpha: 'A-Za-z', ascii: '\\x00-\\x7f', blank: '\\t ', cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9', graph: '!-~', lower: 'a-z', print: ' -~', punct: '!-\\/:-@\\[-`{-~', space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z', word: '0-9A-Za-z_', xdigit: '0-9A-Fa-f',
};

// RE2's \s is [\t\n\f\r ] (no \v, no Unicode spaces), unlike JavaScript's.
const RE2_SPACE = '\\t\\n\\f\\r ';

interface Translated {
  readonly source: string;
  readonly flags: string;
}

function hex(c: string): string {
  return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
}

function escapeLiteral(text: string): string {
  let out = '';
  for (const c of text) out += /[0-9A-Za-z_]/.test(c) || c.charCodeAt(0) > 0x7f ? c : hex(c);
  return out;
}

function translate(re: string): Translated {
  let flags = 'u';
  let i = 0;
  // Leading flag groups `(?i)`, `(?s)`, `(?is)`: the whole expression takes them.
  for (let m = /^\(\?([imsU]+)\)/.exec(re.slice(i)); m; m = /^\(\?([imsU]+)\)/.exec(re.slice(i))) {
    for (const f of m[1]!) {
      if (f === 'U') throw new UnsupportedRegexError(re, '(?U) non-greedy mode has no JavaScript equivalent');
      if (!flags.includes(f)) flags += f;
    }
    i += m[0].length;
  }
  let out = '';
  let inClass = false;
  while (i < re.length) {
    const c = re[i]!;
    if (c === '\\') {
      const n = re[i + 1];
      if (n === undefined) throw new UnsupportedRegexError(re, 'trailing backslash');
      if (n === 'Q') {
        const end = re.indexOf('\\E', i + 2);
        const literal = end < 0 ? re.slice(i + 2) : re.slice(i + 2, end);
        out += escapeLiteral(literal);
        i = end < 0 ? re.length : end + 2;
        continue;
      }
      if (/[1-9]/.test(n)) throw new UnsupportedRegexError(re, 'backreferences are not RE2');
      if (n === 'C') throw new UnsupportedRegexError(re, '\\C (any byte) has no JavaScript equivalent');
      if (n === 'x' && re[i + 2] === '{') {
        // RE2 \x{10FFFF} is JavaScript's \u{10FFFF} under the u flag.
        const end = re.indexOf('}', i + 3);
        if (end < 0) throw new UnsupportedRegexError(re, 'unterminated \\x{');
        out += `\\u{${re.slice(i + 3, end)}}`;
        i = end + 1;
        continue;
      }
      if (n === 'A' && !inClass) { out += '(?<![\\s\\S])'; i += 2; continue; }
      if (n === 'z' && !inClass) { out += '(?![\\s\\S])'; i += 2; continue; }
      if (n === 's') { out += inClass ? RE2_SPACE : `[${RE2_SPACE}]`; i += 2; continue; }
      if (n === 'S' && !inClass) { out += `[^${RE2_SPACE}]`; i += 2; continue; }
      if ((n === 'p' || n === 'P') && re[i + 2] !== '{') {
        out += `\\${n}{${re[i + 2] ?? ''}}`;
        i += 3;
        continue;
      }
      if (/[!-/:-@[-`{-~]/.test(n) && !JS_SYNTAX.has(n) && !(inClass && n === '-')) {
        out += hex(n);
        i += 2;
        continue;
      }
      out += c + n;
      i += 2;
      continue;
    }
    if (inClass) {
      if (c === '[' && re[i + 1] === ':') {
        const end = re.indexOf(':]', i + 2);
        const name = end < 0 ? '' : re.slice(i + 2, end);
        const negated = name.startsWith('^');
        const cls = POSIX_CLASSES[negated ? name.slice(1) : name];
        if (cls === undefined) throw new UnsupportedRegexError(re, `unknown POSIX class [:${name}:]`);
        if (negated) throw new UnsupportedRegexError(re, `negated POSIX class [:${name}:] is not supported by the simulator`);
        out += cls;
        i = end + 2;
        continue;
      }
      if (c === ']') inClass = false;
      else if (c === '[') { out += '\\['; i += 1; continue; }
      out += c;
      i += 1;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      i += 1;
      // A `]` right after `[` or `[^` is a literal in RE2.
      if (re[i] === '^') { out += '^'; i += 1; }
      if (re[i] === ']') { out += '\\]'; i += 1; }
      continue;
    }
    if (c === '{' || c === '}') {
      // RE2 reads a brace that does not open a valid repetition ({n}, {n,}, {n,m}) as a literal;
      // JavaScript's u mode rejects it.
      const rep = c === '{' ? /^\{\d+(,\d*)?\}/.exec(re.slice(i)) : null;
      if (rep) { out += rep[0]; i += rep[0].length; continue; }
      out += `\\${c}`;
      i += 1;
      continue;
    }
    if (c === '(' && re[i + 1] === '?') {
      const rest = re.slice(i + 2);
      if (/^(=|!|<=|<!)/.test(rest)) throw new UnsupportedRegexError(re, 'lookaround is not RE2');
      if (rest.startsWith('P<')) { out += '(?<'; i += 4; continue; }
      if (rest.startsWith(':') || rest.startsWith('<')) { out += '(?'; i += 2; continue; }
      throw new UnsupportedRegexError(re, 'inline flags are supported only at the start of the expression');
    }
    out += c;
    i += 1;
  }
  return { source: out, flags };
}

const fullCache = new Map<string, RegExp>();
const globalCache = new Map<string, RegExp>();

function compile(re: string, wrap: (src: string) => string, extraFlags: string, cache: Map<string, RegExp>): RegExp {
  const hit = cache.get(re);
  if (hit) return hit;
  const t = translate(re);
  let compiled: RegExp;
  try {
    compiled = new RegExp(wrap(t.source), t.flags + extraFlags);
  } catch (e) {
    throw new UnsupportedRegexError(re, `does not compile: ${(e as Error).message}`);
  }
  cache.set(re, compiled);
  return compiled;
}

/** RE2::FullMatch: the whole input must match (not just a substring). */
export function re2FullMatch(re: string, input: string): boolean {
  // Sticky at 0 plus "nothing follows" is exact whatever flags (m, s) the expression carries.
  const rx = compile(re, (s) => `(?:${s})(?![\\s\\S])`, 'y', fullCache);
  rx.lastIndex = 0;
  return rx.test(input);
}

/** Throws UnsupportedRegexError when Envoy (RE2) would reject the expression. */
export function checkRe2(re: string): void {
  compile(re, (s) => `(?:${s})(?![\\s\\S])`, 'y', fullCache);
}

/**
 * RE2::GlobalReplace with Envoy's substitution syntax: `\N` inserts capture group N, `\\` a backslash;
 * everything else is literal.
 */
export function re2GlobalReplace(re: string, input: string, substitution: string): string {
  const rx = compile(re, (s) => s, 'g', globalCache);
  rx.lastIndex = 0;
  return input.replace(rx, (...args: unknown[]) => {
    const match = args[0] as string;
    const groups: (string | undefined)[] = [];
    // (match, group 1…N, offset, input[, named groups]): the groups are the strings/undefineds before offset.
    for (let k = 1; k < args.length && typeof args[k] !== 'number'; k++) groups.push(args[k] as string | undefined);
    return substitution.replace(/\\(\d|\\)/g, (_, g: string) => (g === '\\' ? '\\' : g === '0' ? match : (groups[Number(g) - 1] ?? '')));
  });
}
