import fs from 'node:fs/promises';
import path from 'node:path';
import { watch, type FSWatcher } from 'node:fs';
import { parseDocuments } from '../../config/documents.js';
import { isIgnorableKind, type Kind } from '../../config/kinds.js';
import { formatProblem, type Origin } from '../../config/origin.js';
import { keyOf, type ConfigStore } from '../../config/store.js';
import type { Validated } from '../../config/validate.js';
import { accept, admit, refuse, type SourceSink } from '../apply.js';
import type { Logger } from '../../telemetry/log.js';
import type { Metrics } from '../../telemetry/metrics.js';

const CONFIG_FILE = /\.(ya?ml|json)$/i;

export interface DirectorySourceOptions {
  readonly dir: string;
  readonly store: ConfigStore;
  readonly log: Logger;
  readonly metrics?: Metrics;
  /** delay before re-reading a changed file, so an editor's burst of writes is read once */
  readonly settleMs?: number;
}

interface Owned {
  readonly kind: Kind;
  readonly key: string;
}

/**
 * Loads every YAML/JSON document under a directory (recursive, multi-document) into the store and keeps
 * it in step with the files. A document that fails validation is refused with a validate-style message;
 * the last good version of that object stays in force. A file that cannot be parsed at all keeps every
 * object it held before. Nothing here ever throws out of a file event.
 */
export class DirectorySource {
  readonly sourceId: string;
  private readonly dir: string;
  private readonly owners = new Map<string, string>(); // object key → file
  private readonly fileObjects = new Map<string, Owned[]>(); // file → objects it defines
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly watchers = new Map<string, FSWatcher>(); // directory → its watcher
  /** file → `inode:size:mtime` when last read */
  private readonly stats = new Map<string, string>();
  /** file → keys of the documents in it that were refused at its last read */
  private readonly rejectedByFile = new Map<string, Set<string>>();
  private rescanTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly log: Logger;
  private readonly sink: SourceSink;

  constructor(private readonly options: DirectorySourceOptions) {
    this.dir = path.resolve(options.dir);
    this.sourceId = `dir:${this.dir}`;
    this.log = options.log.child({ source: 'config-dir', dir: this.dir });
    this.sink = { store: options.store, sourceId: this.sourceId, log: this.log, metrics: options.metrics, metricSource: 'file' };
  }

  /** Reads everything once, then watches. Resolves after the initial load is in the store. */
  async start(): Promise<void> {
    const stat = await fs.stat(this.dir).catch(() => undefined);
    if (!stat?.isDirectory()) throw new Error(`--config-dir ${this.options.dir}: not a directory`);
    // One non-recursive fs.watch (inotify) per directory. Node 20's recursive mode watches each file on
    // Linux, and loses a file for good once an editor saves it by rename (new inode); chokidar 4 drops a
    // second change to a file inside its throttle window. A directory watch sees every entry change.
    await this.rescan();
    this.log.info({ files: this.stats.size, objects: this.owners.size }, 'config directory loaded');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await Promise.all(this.inFlight.values());
  }

  /** Reads files that appeared, changed (by inode, size or mtime) or vanished since the last look. */
  private async rescan(): Promise<void> {
    const listing = await listConfigTree(this.dir).catch((err: Error) => {
      this.log.error({ err }, 'cannot list config directory; keeping current config');
      return undefined;
    });
    if (!listing || this.stopped) return;
    this.syncWatchers(listing.dirs);
    const seen = new Set<string>();
    for (const file of listing.files) {
      seen.add(file);
      const st = await fs.stat(file).catch(() => undefined);
      const sig = st ? `${st.ino}:${st.size}:${st.mtimeMs}` : '';
      if (this.stats.get(file) !== sig) await this.enqueueLoad(file);
    }
    for (const file of [...this.stats.keys()]) if (!seen.has(file)) await this.enqueueLoad(file);
  }

  /** Watches every directory of the tree: new subdirectories get a watcher, vanished ones lose it. */
  private syncWatchers(dirs: readonly string[]): void {
    const wanted = new Set(dirs);
    for (const [dir, w] of this.watchers) {
      if (!wanted.has(dir)) {
        w.close();
        this.watchers.delete(dir);
      }
    }
    for (const dir of dirs) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: true }, (_event, name) => {
          if (name && CONFIG_FILE.test(name)) this.schedule(path.join(dir, name));
          this.scheduleRescan();
        });
        w.on('error', (err) => {
          this.log.warn({ err, dir }, 'directory watcher failed; rescanning');
          w.close();
          this.watchers.delete(dir);
          this.scheduleRescan();
        });
        this.watchers.set(dir, w);
      } catch (err) {
        this.log.warn({ err, dir }, 'cannot watch directory');
      }
    }
  }

  private scheduleRescan(): void {
    if (this.rescanTimer || this.stopped) return;
    this.rescanTimer = setTimeout(() => {
      this.rescanTimer = undefined;
      void this.rescan();
    }, (this.options.settleMs ?? 20) * 5);
  }

  private schedule(file: string): void {
    if (this.stopped) return;
    const existing = this.timers.get(file);
    if (existing) clearTimeout(existing);
    this.timers.set(
      file,
      setTimeout(() => {
        this.timers.delete(file);
        void this.enqueueLoad(file);
      }, this.options.settleMs ?? 20),
    );
  }

  /** Serialised per file, so an older read never overwrites a newer one. */
  private enqueueLoad(file: string): Promise<void> {
    const prev = this.inFlight.get(file) ?? Promise.resolve();
    const next = prev.then(() => this.loadFile(file)).finally(() => {
      if (this.inFlight.get(file) === next) this.inFlight.delete(file);
    });
    this.inFlight.set(file, next);
    return next;
  }

  /** The path a user would type: relative to the working directory when inside it, else absolute. */
  private rel(file: string): string {
    const rel = path.relative(process.cwd(), file);
    return rel && !rel.startsWith('..') ? rel : file;
  }

  /** (Re)reads one file and reconciles the store with what it now says. */
  async loadFile(file: string): Promise<void> {
    try {
      const st = await fs.stat(file).catch(() => undefined);
      if (st) this.stats.set(file, `${st.ino}:${st.size}:${st.mtimeMs}`);
      else this.stats.delete(file);
      const text = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      if (text === undefined) {
        this.reconcile(file, [], new Set(), false);
        return;
      }
      this.applyText(file, text);
    } catch (err) {
      this.log.error({ err, file: this.rel(file) }, 'failed to read config file; keeping what it held');
    }
  }

  private applyText(file: string, text: string): void {
    const accepted: { value: Validated; origin: Origin }[] = [];
    const keep = new Set<string>(); // keys whose last good version stays although this read failed
    let unreadable = false;
    for (const doc of parseDocuments(text)) {
      const origin: Origin = { source: 'file', file: this.rel(file), doc: doc.index };
      if (doc.error !== undefined) {
        unreadable = true;
        refuse(this.sink, origin, { ref: {}, messages: [formatProblem(origin, {}, { path: '', reason: `YAML: ${doc.error}` })] });
        continue;
      }
      const raw = doc.value as { apiVersion?: unknown; kind?: unknown };
      if (isIgnorableKind(raw?.apiVersion, raw?.kind)) {
        this.log.debug({ file: origin.file, doc: doc.index, kind: raw.kind }, 'not a mesh kind; ignored');
        continue;
      }
      const result = admit(doc.value, origin);
      if (result.ok) {
        accepted.push({ value: { kind: result.kind, object: result.object } as Validated, origin });
        continue;
      }
      refuse(this.sink, origin, result);
      if (result.key) keep.add(result.key);
    }
    this.reconcile(file, accepted, keep, unreadable);
  }

  private reconcile(file: string, accepted: { value: Validated; origin: Origin }[], keep: ReadonlySet<string>, keepAll: boolean): void {
    const store = this.options.store;
    if (!keepAll) {
      // a refusal ends when the refused document is fixed, removed, or its file is gone
      for (const k of this.rejectedByFile.get(file) ?? []) if (!keep.has(k)) store.clearRejection(k);
      if (keep.size > 0) this.rejectedByFile.set(file, new Set(keep));
      else this.rejectedByFile.delete(file);
    }
    const before = this.fileObjects.get(file) ?? [];
    const now: Owned[] = [];
    for (const { value: { kind, object }, origin } of accepted) {
      const key = keyOf(object, kind);
      now.push({ kind, key });
      const owner = this.owners.get(key);
      if (owner && owner !== file) {
        this.log.warn({ key, file: this.rel(file), previous: this.rel(owner) }, 'object defined in two files; the newest read wins');
      }
      this.owners.set(key, file);
      accept(this.sink, kind, key, object, origin);
    }
    const nowKeys = new Set(now.map((o) => o.key));
    for (const old of before) {
      if (nowKeys.has(old.key)) continue;
      if (keepAll || keep.has(old.key)) {
        now.push(old);
        continue;
      }
      if (this.owners.get(old.key) !== file) continue;
      this.owners.delete(old.key);
      store.delete(old.kind, old.key);
    }
    if (now.length > 0) this.fileObjects.set(file, now);
    else this.fileObjects.delete(file);
  }
}

async function listConfigTree(dir: string): Promise<{ files: string[]; dirs: string[] }> {
  const files: string[] = [];
  const dirs: string[] = [dir];
  const entries = await fs.readdir(dir, { withFileTypes: true });
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.name.startsWith('.')) continue;
    const full = path.join(dir, e.name);
    if (e.isDirectory()) {
      const sub = await listConfigTree(full).catch(() => ({ files: [], dirs: [] }));
      files.push(...sub.files);
      dirs.push(...sub.dirs);
    } else if (e.isFile() && CONFIG_FILE.test(e.name)) files.push(full);
  }
  return { files, dirs };
}
