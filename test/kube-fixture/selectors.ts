// `labelSelector` and `fieldSelector` query parameters as the API server parses them:
//   labels: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, comma-separated (AND)
//   fields: `metadata.name=x`, `metadata.namespace!=y` (the fields every resource supports), and a Secret's `type`

export type Labels = Readonly<Record<string, string>>;
type Requirement = (labels: Labels) => boolean;

export class SelectorError extends Error {}

function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur);
  return out.map((x) => x.trim()).filter(Boolean);
}

export function parseLabelSelector(selector: string | null | undefined): (labels: Labels | undefined) => boolean {
  const reqs: Requirement[] = [];
  for (const term of splitTopLevel(selector ?? '')) {
    let m: RegExpMatchArray | null;
    if ((m = term.match(/^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
      const [, key, op, list] = m as unknown as [string, string, string, string];
      const values = new Set(list.split(',').map((v) => v.trim()).filter(Boolean));
      reqs.push(op === 'in' ? (l) => key in l && values.has(l[key]!) : (l) => !(key in l) || !values.has(l[key]!));
    } else if ((m = term.match(/^([^\s!=]+)\s*(==|=|!=)\s*([^\s,]*)$/))) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      reqs.push(op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value);
    } else if ((m = term.match(/^!\s*([^\s!=]+)$/))) {
      const key = m[1]!;
      reqs.push((l) => !(key in l));
    } else if ((m = term.match(/^([^\s!=()]+)$/))) {
      const key = m[1]!;
      reqs.push((l) => key in l);
    } else {
      throw new SelectorError(`unable to parse requirement: ${JSON.stringify(term)}`);
    }
  }
  return (labels) => reqs.every((r) => r(labels ?? {}));
}

type FieldObject = { metadata?: { name?: string; namespace?: string }; type?: unknown };

export function parseFieldSelector(selector: string | null | undefined): (obj: FieldObject) => boolean {
  const reqs: ((o: FieldObject) => boolean)[] = [];
  for (const term of splitTopLevel(selector ?? '')) {
    const m = term.match(/^([\w.]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw new SelectorError(`invalid field selector: ${JSON.stringify(term)}`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    const get =
      field === 'metadata.name' ? (o: { metadata?: { name?: string } }) => o.metadata?.name ?? ''
      : field === 'metadata.namespace' ? (o: { metadata?: { namespace?: string } }) => o.metadata?.namespace ?? ''
      : field === 'type' ? (o: FieldObject) => (typeof o.type === 'string' ? o.type : '')
      : undefined;
    if (!get) throw new SelectorError(`field label not supported: ${field}`);
    reqs.push(op === '!=' ? (o) => get(o) !== value : (o) => get(o) === value);
  }
  return (o) => reqs.every((r) => r(o));
}
