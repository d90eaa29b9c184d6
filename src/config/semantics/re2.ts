// A syntax checker for RE2 regular expressions as Go's regexp (Perl flags) parses them: the yardstick of
// Istio's webhook, and close to what Envoy's RE2 accepts. JavaScript's RegExp is not a substitute: it
// accepts lookarounds and backreferences (RE2 has neither) and rejects RE2-only syntax such as
// `(?P<name>…)`, `(?i)`, `\pL`, `[[:alpha:]]`, `\Q…\E`, `\z`.
//
// Returns undefined when the expression is valid, otherwise a short reason naming the offending piece.

const ASCII_CLASSES = new Set([
  'alnum', 'alpha', 'ascii', 'blank', 'cntrl', 'digit', 'graph', 'lower', 'print', 'punct', 'space', 'upper',
  'word', 'xdigit',
]);

const isOctal = (c: string | undefined) => c !== undefined && c >= '0' && c <= '7';
const isHex = (c: string | undefined) => c !== undefined && /^[0-9a-fA-F]$/.test(c);
const isAlnum = (c: string) => /^[A-Za-z0-9]$/.test(c);

interface Cursor {
  s: string;
  i: number;
}

/** Parses an escape at `c.i` (pointing at the backslash) that denotes one character; returns its code point. */
function parseCharEscape(c: Cursor): number | string {
  const start = c.i;
  const ch = c.s[c.i + 1];
  if (ch === undefined) return 'trailing backslash at end of expression';
  c.i += 2;
  if (ch >= '1' && ch <= '7' && !isOctal(c.s[c.i])) {
    // a lone non-zero digit would be a backreference, which RE2 does not support
    return `invalid escape sequence: \`\\${ch}\` (backreferences are not supported)`;
  }
  switch (ch) {
    case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
      // octal escape: up to two more octal digits
      let n = 0;
      while (n < 2 && isOctal(c.s[c.i])) {
        c.i++;
        n++;
      }
      return parseInt(c.s.slice(start + 1, c.i), 8);
    }
    case 'x': {
      if (c.s[c.i] === '{') {
        const close = c.s.indexOf('}', c.i);
        const hex = close < 0 ? '' : c.s.slice(c.i + 1, close);
        if (close < 0 || hex === '' || !/^[0-9a-fA-F]+$/.test(hex) || parseInt(hex, 16) > 0x10ffff) {
          return `invalid escape sequence: \`${c.s.slice(start, close < 0 ? c.s.length : close + 1)}\``;
        }
        c.i = close + 1;
        return parseInt(hex, 16);
      }
      if (!isHex(c.s[c.i]) || !isHex(c.s[c.i + 1])) return `invalid escape sequence: \`${c.s.slice(start, c.i + 2)}\``;
      c.i += 2;
      return parseInt(c.s.slice(c.i - 2, c.i), 16);
    }
    case 'a': return 7;
    case 'f': return 12;
    case 'n': return 10;
    case 'r': return 13;
    case 't': return 9;
    case 'v': return 11;
    default:
      if ((ch.codePointAt(0) ?? 0) < 0x80 && !isAlnum(ch)) return ch.codePointAt(0) ?? 0;
      return `invalid escape sequence: \`\\${ch}\``;
  }
}

/** `\d \D \s \S \w \W` */
const PERL_CLASS = /^\\[dDsSwW]/;
/** `\pL`, `\p{Greek}`, `\P{^Greek}` */
function parseUnicodeClass(c: Cursor): boolean | string {
  const m = /^\\[pP](?:([A-Za-z])|\{(\^?[A-Za-z_][A-Za-z0-9_]*)\})/.exec(c.s.slice(c.i));
  if (!m) {
    if (/^\\[pP]/.test(c.s.slice(c.i))) return `invalid character class range: \`${c.s.slice(c.i, c.i + 3)}\``;
    return false;
  }
  c.i += m[0].length;
  return true;
}

function parseClass(c: Cursor): string | undefined {
  const start = c.i;
  c.i++; // [
  if (c.s[c.i] === '^') c.i++;
  let first = true;
  while (c.i < c.s.length && (c.s[c.i] !== ']' || first)) {
    first = false;
    // POSIX class [:alpha:] / [:^alpha:]
    if (c.s.startsWith('[:', c.i)) {
      const end = c.s.indexOf(':]', c.i + 2);
      if (end >= 0) {
        const name = c.s.slice(c.i + 2, end).replace(/^\^/, '');
        if (!ASCII_CLASSES.has(name)) return `invalid character class range: \`${c.s.slice(c.i, end + 2)}\``;
        c.i = end + 2;
        continue;
      }
    }
    const uni = parseUnicodeClass(c);
    if (typeof uni === 'string') return uni;
    if (uni) continue;
    if (PERL_CLASS.test(c.s.slice(c.i))) {
      c.i += 2;
      continue;
    }
    const lo = parseClassChar(c);
    if (typeof lo === 'string') return lo;
    if (c.s[c.i] === '-' && c.s[c.i + 1] !== ']' && c.i + 1 < c.s.length) {
      const rangeStart = c.i;
      c.i++;
      const hi = parseClassChar(c);
      if (typeof hi === 'string') return hi;
      if (hi < lo) return `invalid character class range: \`${c.s.slice(rangeStart - 1, c.i)}\``;
    }
  }
  if (c.i >= c.s.length) return `missing closing ]: \`${c.s.slice(start)}\``;
  c.i++; // ]
  return undefined;
}

function parseClassChar(c: Cursor): number | string {
  if (c.s[c.i] === '\\') return parseCharEscape(c);
  const cp = c.s.codePointAt(c.i) ?? 0;
  c.i += cp > 0xffff ? 2 : 1;
  return cp;
}

/** Parses `(?…` at c.i; returns whether it opened a group, or an error. */
function parseGroupOpen(c: Cursor): { opens: boolean } | string {
  const rest = c.s.slice(c.i);
  const named = /^\(\?P?<([^>]*)>/.exec(rest);
  if (named) {
    if (!/^[A-Za-z0-9_]+$/.test(named[1] ?? '')) return `invalid named capture: \`${named[0]}\``;
    c.i += named[0].length;
    return { opens: true };
  }
  if (/^\(\?(?:=|!|<=|<!|>|#|P=|P>|R|\d|\||\()/.test(rest)) {
    const what = /^\(\?(?:<=|<!|P=|P>|.)/.exec(rest)?.[0] ?? '(?';
    const why =
      what === '(?=' || what === '(?!' || what === '(?<=' || what === '(?<!'
        ? ' (lookahead/lookbehind assertions are not supported)'
        : '';
    return `invalid or unsupported Perl syntax: \`${what}\`${why}`;
  }
  // flags: (?i) (?i:...) (?-s) (?im-sU:...)
  let j = c.i + 2;
  let negated = false;
  let sawFlag = false;
  for (; j < c.s.length; j++) {
    const ch = c.s[j] as string;
    if ('imsU'.includes(ch)) {
      sawFlag = true;
      continue;
    }
    if (ch === '-') {
      if (negated) break;
      negated = true;
      sawFlag = false;
      continue;
    }
    if (ch === ':' || ch === ')') {
      if (negated && !sawFlag) break;
      c.i = j + 1;
      return { opens: ch === ':' };
    }
    break;
  }
  return `invalid or unsupported Perl syntax: \`${c.s.slice(c.i, Math.min(j + 1, c.s.length))}\``;
}

export function checkRE2(re: string): string | undefined {
  const c: Cursor = { s: re, i: 0 };
  let depth = 0;
  /** an operand precedes (a repetition operator may follow) */
  let operand = false;
  /** the previous token was a repetition operator (RE2 forbids stacking them: `a**`) */
  let lastRepeat: string | undefined;
  while (c.i < re.length) {
    const ch = re[c.i] as string;
    const tokenStart = c.i;
    let repeat: string | undefined;
    switch (ch) {
      case '(':
        if (re[c.i + 1] === '?') {
          const g = parseGroupOpen(c);
          if (typeof g === 'string') return g;
          if (g.opens) {
            depth++;
            operand = false;
          }
          // a bare flag group `(?i)` leaves `operand` as it was
        } else {
          c.i++;
          depth++;
          operand = false;
        }
        break;
      case ')':
        if (depth === 0) return `unexpected ): \`${re}\``;
        depth--;
        c.i++;
        operand = true;
        break;
      case '|':
        c.i++;
        operand = false;
        break;
      case '[': {
        const err = parseClass(c);
        if (err) return err;
        operand = true;
        break;
      }
      case '*':
      case '+':
      case '?': {
        c.i++;
        if (re[c.i] === '?') c.i++; // non-greedy
        repeat = re.slice(tokenStart, c.i);
        break;
      }
      case '{': {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(re.slice(c.i));
        if (!m) {
          c.i++; // a literal brace
          operand = true;
          break;
        }
        const min = Number(m[1]);
        const max = m[2] === undefined ? min : m[3] === '' ? -1 : Number(m[3]);
        if (min > 1000 || max > 1000 || (max >= 0 && max < min)) return `invalid repeat count: \`${m[0]}\``;
        c.i += m[0].length;
        if (re[c.i] === '?') c.i++;
        repeat = re.slice(tokenStart, c.i);
        break;
      }
      case '\\': {
        const next = re[c.i + 1];
        if (next === 'Q') {
          const end = re.indexOf('\\E', c.i + 2);
          const lit = end < 0 ? re.slice(c.i + 2) : re.slice(c.i + 2, end);
          c.i = end < 0 ? re.length : end + 2;
          if (lit.length > 0) operand = true;
          break;
        }
        if (next !== undefined && 'AzbB'.includes(next)) {
          c.i += 2;
          operand = true;
          break;
        }
        if (next === 'C') return 'invalid escape sequence: `\\C`';
        if (PERL_CLASS.test(re.slice(c.i))) {
          c.i += 2;
          operand = true;
          break;
        }
        const uni = parseUnicodeClass(c);
        if (typeof uni === 'string') return uni;
        if (uni) {
          operand = true;
          break;
        }
        const e = parseCharEscape(c);
        if (typeof e === 'string') return e;
        operand = true;
        break;
      }
      default:
        c.i += (re.codePointAt(c.i) ?? 0) > 0xffff ? 2 : 1;
        operand = true;
    }
    if (repeat !== undefined) {
      if (lastRepeat !== undefined) return `invalid nested repetition operator: \`${lastRepeat}${repeat}\``;
      if (!operand) return `missing argument to repetition operator: \`${repeat}\``;
      lastRepeat = repeat;
    } else {
      lastRepeat = undefined;
    }
  }
  if (depth > 0) return `missing closing ): \`${re}\``;
  return undefined;
}
