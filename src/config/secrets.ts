import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { z } from 'zod';

// The Kubernetes Secrets gateways name in `credentialName`, held apart from the config store: they are
// private keys, so they never reach /debug/configz, `meshd diff`, the analyzers or a log line. Only the
// gateway generator's SDS resources (served on the TLS xDS port, to a verified identity of the Secret's own
// namespace) carry their content. Fed by the Kubernetes source's Secret informer (istiod's credentials
// controller) or, with --config-dir-secrets, by Secret documents of the config directory.
//
// Bounded: at most `maxSecrets` Secrets, each at most `maxBytesPerSecret` of data (the API server's own
// limit is 1 MiB), `maxTotalBytes` in all; a Secret over a bound is not held, and that is logged and counted.

export interface SecretLimits {
  readonly maxSecrets: number;
  readonly maxBytesPerSecret: number;
  readonly maxTotalBytes: number;
}

export const DEFAULT_SECRET_LIMITS: SecretLimits = {
  maxSecrets: 20_000,
  maxBytesPerSecret: 1024 * 1024,
  maxTotalBytes: 256 * 1024 * 1024,
};

/** A Secret as the credential lookups read it: data decoded to text (PEM), never printed. */
export interface CredentialSecret {
  readonly namespace: string;
  readonly name: string;
  readonly type: string;
  /** decoded `data` (and `stringData`, which wins, as the API server merges it) */
  readonly data: Readonly<Record<string, string>>;
  /** sha256 over names and values: equal digests ⇔ equal content (what dependency fingerprints use) */
  readonly digest: string;
  readonly bytes: number;
}

/** Secrets by `namespace/name`, as of one snapshot. */
export type SecretSnapshot = ReadonlyMap<string, CredentialSecret>;

export const secretKey = (namespace: string, name: string) => `${namespace}/${name}`;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

// What meshd reads of a Secret; the values are validated as base64 without ever being echoed in an error.
const secretSchema = z.object({
  metadata: z.object({ name: z.string().min(1), namespace: z.string().min(1).optional() }),
  type: z.string().optional(),
  data: z.record(z.string(), z.string().nullable()).optional(),
  stringData: z.record(z.string(), z.string()).optional(),
});

export type SecretVerdict = { ok: true; secret: CredentialSecret } | { ok: false; reason: string };

/**
 * A Kubernetes Secret object → its decoded form, or why it cannot be read. Errors name the Secret and the
 * key, never a value.
 */
export function decodeSecret(obj: unknown, defaultNamespace = 'default'): SecretVerdict {
  const parsed = secretSchema.safeParse(obj);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, reason: `${issue.path.join('.') || '(object)'}: ${issue.message}` };
  }
  const { metadata, type, data, stringData } = parsed.data;
  const namespace = metadata.namespace ?? defaultNamespace;
  const decoded: Record<string, string> = {};
  let bytes = 0;
  for (const [k, v] of Object.entries(data ?? {})) {
    const text = (v ?? '').replace(/\s+/g, '');
    if (!BASE64.test(text) || text.length % 4 === 1) return { ok: false, reason: `data.${k}: not base64` };
    const buf = Buffer.from(text, 'base64');
    bytes += buf.length;
    decoded[k] = buf.toString('utf8');
  }
  for (const [k, v] of Object.entries(stringData ?? {})) {
    bytes += Buffer.byteLength(v);
    decoded[k] = v;
  }
  const h = createHash('sha256');
  for (const k of Object.keys(decoded).sort()) h.update(`${k}\u0000${decoded[k]}\u0000`);
  const secret: CredentialSecret = { namespace, name: metadata.name, type: type ?? 'Opaque', data: decoded, digest: h.digest('base64url'), bytes };
  return { ok: true, secret: redactedOnInspect(secret) };
}

/** console.log / pino / util.inspect of a Secret show its keys and size, never its values. */
function redactedOnInspect(s: CredentialSecret): CredentialSecret {
  const describe = () => ({ namespace: s.namespace, name: s.name, type: s.type, keys: Object.keys(s.data).sort(), bytes: s.bytes });
  Object.defineProperty(s, 'toJSON', { value: describe, enumerable: false });
  Object.defineProperty(s, inspect.custom, { value: () => `Secret ${JSON.stringify(describe())}`, enumerable: false });
  return Object.freeze(s);
}

export interface SecretStoreEvents {
  /** a Secret was added, changed or removed (namespace, name) */
  readonly onChange?: (namespace: string, name: string) => void;
  /** a Secret was not held: over a bound, or not decodable */
  readonly onRefused?: (namespace: string, name: string, reason: string) => void;
}

/**
 * The credential Secrets meshd holds. `snapshot()` is an immutable map of the current content, taken once per
 * push (a new map only when something changed since the last one).
 */
export class SecretStore {
  private readonly secrets = new Map<string, CredentialSecret>();
  private totalBytes = 0;
  private current: SecretSnapshot = new Map();
  private dirty = false;
  private readonly limits: SecretLimits;

  constructor(limits: Partial<SecretLimits> = {}, private readonly events: SecretStoreEvents = {}) {
    this.limits = { ...DEFAULT_SECRET_LIMITS, ...limits };
  }

  get size(): number {
    return this.secrets.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** Adds or replaces a Secret from its Kubernetes object; returns why it is not held, if it is not. */
  apply(obj: unknown, defaultNamespace?: string): string | undefined {
    const verdict = decodeSecret(obj, defaultNamespace);
    const meta = (obj as { metadata?: { name?: unknown; namespace?: unknown } } | undefined)?.metadata;
    const namespace = typeof meta?.namespace === 'string' ? meta.namespace : (defaultNamespace ?? 'default');
    const name = typeof meta?.name === 'string' ? meta.name : '';
    if (!verdict.ok) return this.refuse(namespace, name, verdict.reason);
    const s = verdict.secret;
    const key = secretKey(s.namespace, s.name);
    const before = this.secrets.get(key);
    if (before?.digest === s.digest) return undefined;
    if (s.bytes > this.limits.maxBytesPerSecret) return this.refuse(s.namespace, s.name, `holds ${s.bytes} bytes, more than the ${this.limits.maxBytesPerSecret} allowed per Secret`);
    if (!before && this.secrets.size >= this.limits.maxSecrets) return this.refuse(s.namespace, s.name, `would be Secret number ${this.secrets.size + 1}, more than the ${this.limits.maxSecrets} held`);
    const total = this.totalBytes - (before?.bytes ?? 0) + s.bytes;
    if (total > this.limits.maxTotalBytes) return this.refuse(s.namespace, s.name, `would make the Secrets held ${total} bytes, more than ${this.limits.maxTotalBytes}`);
    this.secrets.set(key, s);
    this.totalBytes = total;
    this.dirty = true;
    this.events.onChange?.(s.namespace, s.name);
    return undefined;
  }

  delete(namespace: string, name: string): void {
    const key = secretKey(namespace, name);
    const before = this.secrets.get(key);
    if (!before) return;
    this.secrets.delete(key);
    this.totalBytes -= before.bytes;
    this.dirty = true;
    this.events.onChange?.(namespace, name);
  }

  /** Drops every Secret `keep` rejects (a namespace leaving discoverySelectors, a source re-list). */
  retain(keep: (s: CredentialSecret) => boolean): void {
    for (const s of [...this.secrets.values()]) if (!keep(s)) this.delete(s.namespace, s.name);
  }

  snapshot(): SecretSnapshot {
    if (this.dirty) {
      this.current = new Map(this.secrets);
      this.dirty = false;
    }
    return this.current;
  }

  /** What a debug page may show: names, keys and sizes. */
  toJSON(): object {
    return { secrets: [...this.secrets.values()].map((s) => (s as unknown as { toJSON(): object }).toJSON()), bytes: this.totalBytes };
  }

  private refuse(namespace: string, name: string, reason: string): string {
    // an update that cannot be held also drops the old content: serving a Secret the user replaced is worse
    this.delete(namespace, name);
    this.events.onRefused?.(namespace, name, reason);
    return reason;
  }
}
