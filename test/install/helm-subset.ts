// A renderer for exactly the Go-template/Helm subset the meshd chart's templates use (src/install/render.ts
// emits nothing else). Helm cannot run on these machines; this lets a test render the chart with its
// default values and compare the result with `kubectl kustomize manifests/`. Anything outside the subset
// throws, so a template that drifts beyond it fails the test instead of rendering something Helm would not.
//
// Semantics copied from text/template and Helm: `{{-` trims the whitespace before the action (lexically),
// `-}}` the whitespace after; `if` uses template truthiness (false, 0, "", nil, empty map/list are false);
// `{{ x }}` prints numbers as Go's %v of a float64 (Helm reads values as JSON numbers); `toYaml` is Go's
// YAML marshaller (keys sorted) with the final newline removed; `indent N` prefixes every line;
// `nindent N` is a newline then `indent N`; `default D x` yields D when x is empty; an `if` condition may
// combine references with `and`/`or` (the first falsy / truthy argument, else the last), `not`, `gt` (numbers
// only, as Go refuses to compare others) and `int`, parenthesised.

import YAML from 'yaml';

export interface RenderContext {
  readonly Values: unknown;
  readonly Release: { readonly Namespace: string; readonly Name: string };
}

type Token = { text: string } | { action: string; line: number };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const re = /\{\{(-?)\s*(.*?)\s*(-?)\}\}/gs;
  let last = 0;
  let trimNext = false;
  for (let m = re.exec(source); m; m = re.exec(source)) {
    let text = source.slice(last, m.index);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (m[1] === '-') text = text.replace(/\s+$/, '');
    tokens.push({ text });
    tokens.push({ action: m[2]!, line: source.slice(0, m.index).split('\n').length });
    trimNext = m[3] === '-';
    last = m.index + m[0].length;
  }
  let tail = source.slice(last);
  if (trimNext) tail = tail.replace(/^\s+/, '');
  tokens.push({ text: tail });
  return tokens;
}

function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]));
  }
  return value;
}

function toYamlGo(v: unknown): string {
  return YAML.stringify(sortKeys(v), { lineWidth: 0 }).replace(/\n$/, '');
}

function printValue(v: unknown, where: string): string {
  if (v === undefined || v === null) return '<no value>';
  if (typeof v === 'number') {
    // Go prints float64 with %v: exponent form from 1e21 down… and for integers ≥ 1e6 (1e+06); refuse those
    if (Math.abs(v) >= 1e6) throw new Error(`${where}: Helm would print ${v} in exponent form`);
    return String(v);
  }
  if (typeof v === 'string' || typeof v === 'boolean') return String(v);
  throw new Error(`${where}: printing a ${Array.isArray(v) ? 'list' : 'map'} inline (Helm prints map[...]); use toYaml`);
}

const indentLines = (text: string, n: number) => text.split('\n').map((l) => ' '.repeat(n) + l).join('\n');

export function renderTemplate(source: string, ctx: RenderContext, file = 'template'): string {
  const lookup = (ref: string, where: string): unknown => {
    if (ref === '.Release.Namespace') return ctx.Release.Namespace;
    if (ref === '.Release.Name') return ctx.Release.Name;
    const m = /^\.Values((?:\.[A-Za-z_][\w]*)+)$/.exec(ref);
    if (!m) throw new Error(`${where}: unsupported reference ${ref}`);
    let node: unknown = ctx.Values;
    for (const part of m[1]!.slice(1).split('.')) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined;
    return node;
  };
  const operand = (text: string, where: string): unknown => {
    const lit = /^"((?:[^"\\]|\\.)*)"$/.exec(text);
    if (lit) return JSON.parse(`"${lit[1]}"`) as string;
    if (/^-?\d+$/.test(text)) return Number(text);
    return lookup(text, where);
  };
  const evaluate = (expr: string, where: string): string => {
    const stages = expr.split('|').map((s) => s.trim());
    const first = stages.shift()!;
    let value: unknown;
    let yamlText: string | undefined;
    const toYaml = /^toYaml\s+(\S+)$/.exec(first);
    if (toYaml) yamlText = toYamlGo(lookup(toYaml[1]!, where));
    else value = operand(first, where);
    for (const stage of stages) {
      const [fn, ...args] = stage.split(/\s+/);
      if (fn === 'default' && args.length === 1 && yamlText === undefined) {
        if (!truthy(value)) value = operand(args[0]!, where);
      } else if (fn === 'quote' && args.length === 0 && yamlText === undefined) {
        value = JSON.stringify(printValue(value, where));
      } else if ((fn === 'indent' || fn === 'nindent') && args.length === 1 && /^\d+$/.test(args[0]!)) {
        const text = yamlText ?? printValue(value, where);
        yamlText = (fn === 'nindent' ? '\n' : '') + indentLines(text, Number(args[0]));
      } else {
        throw new Error(`${where}: unsupported pipeline stage "${stage}"`);
      }
    }
    return yamlText ?? printValue(value, where);
  };

  const FUNCS: Record<string, (args: unknown[], where: string) => unknown> = {
    not: ([a]) => !truthy(a),
    and: (args) => args.find((a) => !truthy(a)) ?? args[args.length - 1],
    or: (args) => args.find((a) => truthy(a)) ?? args[args.length - 1],
    int: ([a]) => Math.trunc(Number(a ?? 0)),
    gt: ([a, b], where) => {
      if (typeof a !== 'number' || typeof b !== 'number') throw new Error(`${where}: gt of ${typeof a} and ${typeof b} (Go: incompatible types for comparison)`);
      return a > b;
    },
  };
  const condition = (text: string, where: string): unknown => {
    const tokens = text.match(/\(|\)|[^\s()]+/g) ?? [];
    let i = 0;
    const operandAt = (): unknown => {
      const t = tokens[i++];
      if (t === '(') {
        const v = call();
        if (tokens[i++] !== ')') throw new Error(`${where}: unbalanced parentheses in "${text}"`);
        return v;
      }
      if (t === undefined || t === ')' || t in FUNCS) throw new Error(`${where}: unexpected ${t ?? 'end'} in "${text}"`);
      return operand(t, where);
    };
    const call = (): unknown => {
      const fn = tokens[i];
      if (fn === undefined || !(fn in FUNCS)) return operandAt();
      i++;
      const args: unknown[] = [];
      while (i < tokens.length && tokens[i] !== ')') args.push(operandAt());
      return FUNCS[fn]!(args, where);
    };
    const value = call();
    if (i !== tokens.length) throw new Error(`${where}: unsupported condition "${text}"`);
    return value;
  };

  let out = '';
  const stack: boolean[] = [];
  const active = () => stack.every(Boolean);
  for (const token of tokenize(source)) {
    if ('text' in token) {
      if (active()) out += token.text;
      continue;
    }
    const where = `${file}:${token.line}`;
    const action = token.action;
    const cond = /^if\s+(.+)$/.exec(action);
    if (cond) {
      stack.push(truthy(condition(cond[1]!, where)));
    } else if (action === 'end') {
      if (stack.pop() === undefined) throw new Error(`${where}: {{ end }} without {{ if }}`);
    } else if (action.startsWith('/*') || action === '') {
      // comment
    } else if (active()) {
      out += evaluate(action, where);
    } else {
      evaluate(action, where); // still reject unsupported syntax in untaken branches
    }
  }
  if (stack.length) throw new Error(`${file}: unterminated {{ if }}`);
  return out;
}
