// One analyzer finding, rendered the way istioctl renders it:
//   Error [IST0101] (VirtualService reviews.default bookinfo.yaml:12) Referenced host not found: "reviews.bogus"
// Codes, levels and texts come from Istio's catalog (messages.gen.ts); the printf template is filled with
// Go's rules so the text is istioctl's word for word.

import { MESSAGE_TYPES, type MessageLevel, type MessageName, type MessageTypeInfo } from './messages.gen.js';
import type { Resource } from './resource.js';

export type { MessageLevel, MessageName };

/** Where istioctl links every message (url.ConfigAnalysis). */
export const CONFIG_ANALYSIS_URL = 'https://istio.io/latest/docs/reference/config/analysis';

export interface AnalysisMessage {
  readonly type: MessageTypeInfo;
  readonly args: readonly unknown[];
  /** the resource the message is about (undefined: the mesh as a whole) */
  readonly resource?: Resource | undefined;
  /** the analyzer that reported it */
  readonly analyzer: string;
}

export function message(name: MessageName, resource: Resource | undefined, analyzer: string, ...args: unknown[]): AnalysisMessage {
  return { type: MESSAGE_TYPES[name], args, resource, analyzer };
}

const LEVEL_ORDER: Record<MessageLevel, number> = { Error: 0, Warning: 1, Info: 2 };

/** diag.Level.IsWorseThanOrEqualTo */
export function atLeast(level: MessageLevel, threshold: MessageLevel): boolean {
  return LEVEL_ORDER[level] <= LEVEL_ORDER[threshold];
}

/** `Error`/`error`/`ERROR` → the level, else undefined (istioctl's flag accepts any case). */
export function parseLevel(text: string): MessageLevel | undefined {
  const t = text.toLowerCase();
  return (['Error', 'Warning', 'Info'] as const).find((l) => l.toLowerCase() === t);
}

/** Go's %v of a value: slices as `[a b]`, everything else as its string. */
function goValue(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(goValue).join(' ')}]`;
  if (v === undefined || v === null) return '<nil>';
  return String(v);
}

/** Fills a Go printf template (%s %v %q %d %%). */
export function goSprintf(template: string, args: readonly unknown[]): string {
  let i = 0;
  const out = template.replace(/%([%svqd])/g, (_, verb: string) => {
    if (verb === '%') return '%';
    if (i >= args.length) return `%!${verb}(MISSING)`;
    const v = args[i++];
    if (verb === 'q') return Array.isArray(v) ? `[${v.map((x) => JSON.stringify(String(x))).join(' ')}]` : JSON.stringify(goValue(v));
    return goValue(v);
  });
  return i < args.length ? `${out}%!(EXTRA ${args.slice(i).map(goValue).join(', ')})` : out;
}

export function messageText(m: AnalysisMessage): string {
  return goSprintf(m.type.template, m.args);
}

/** istioctl's friendly name of a resource: `Kind name.namespace`, or `Kind name` without a namespace. */
export function friendlyName(r: Resource): string {
  return r.namespace ? `${r.kind} ${r.name}.${r.namespace}` : `${r.kind} ${r.name}`;
}

/** `file.yaml:12` for a resource read from a file (its document's first line). */
export function referenceOf(r: Resource): string | undefined {
  return r.origin.file !== undefined ? `${r.origin.file}${r.origin.line ? `:${r.origin.line}` : ''}` : undefined;
}

/** istioctl's one-line rendering (formatting.render without colour). */
export function renderLine(m: AnalysisMessage, color = false): string {
  const ref = m.resource ? referenceOf(m.resource) : undefined;
  const origin = m.resource ? ` (${friendlyName(m.resource)}${ref ? ` ${ref}` : ''})` : '';
  const level = color ? `${COLORS[m.type.level]}${m.type.level}\x1b[0m` : m.type.level;
  return `${level} [${m.type.code}]${origin} ${messageText(m)}`;
}

const COLORS: Record<MessageLevel, string> = { Info: '', Warning: '\x1b[33m', Error: '\x1b[1;31m' };

export function documentationUrl(code: string, docRef?: string): string {
  return `${CONFIG_ANALYSIS_URL}/${code.toLowerCase()}/${docRef ? `?ref=${docRef}` : ''}`;
}

/** diag.Message.Unstructured: what `-o json|yaml` prints for each message (istioctl's keys). */
export function unstructured(m: AnalysisMessage, docRef?: string): Record<string, unknown> {
  const out: Record<string, unknown> = { code: m.type.code, documentationUrl: documentationUrl(m.type.code, docRef), level: m.type.level };
  out['message'] = messageText(m);
  if (m.resource) {
    out['origin'] = friendlyName(m.resource);
    const ref = referenceOf(m.resource);
    if (ref) out['reference'] = ref;
  }
  return out;
}

/** diag.Messages.SortedDedupedCopy: by level, code, origin, then text; equal renderings once. */
export function sortAndDedupe(messages: readonly AnalysisMessage[]): AnalysisMessage[] {
  const key = (m: AnalysisMessage) => (m.resource ? `${m.resource.origin.cluster ?? ''}\u0000${friendlyName(m.resource)}` : '');
  const sorted = [...messages].sort((a, b) => {
    const ca = a.resource?.origin.cluster ?? '';
    const cb = b.resource?.origin.cluster ?? '';
    if (a.resource && b.resource && ca !== cb) return ca < cb ? -1 : 1;
    if (a.type.level !== b.type.level) return LEVEL_ORDER[a.type.level] - LEVEL_ORDER[b.type.level];
    if (a.type.code !== b.type.code) return a.type.code < b.type.code ? -1 : 1;
    if (!a.resource !== !b.resource) return a.resource ? 1 : -1;
    const ka = key(a);
    const kb = key(b);
    if (ka !== kb) return ka < kb ? -1 : 1;
    const ra = renderLine(a);
    const rb = renderLine(b);
    return ra < rb ? -1 : ra > rb ? 1 : 0;
  });
  const out: AnalysisMessage[] = [];
  for (const m of sorted) {
    if (out.length > 0 && renderLine(out[out.length - 1]!) === renderLine(m)) continue;
    out.push(m);
  }
  return out;
}
