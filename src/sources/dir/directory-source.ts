import fs, { type Stats, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { KUBERNETES_OBJECT_LIMIT_BYTES, parseDocumentsYielding, TimeSlice } from '../../config/documents.js';
import { isIgnorableKind, type Kind } from '../../config/kinds.js';
import { formatProblem, type Origin } from '../../config/origin.js';
import type { ConfigStore } from '../../config/store.js';
import type { KindMap } from '../../config/schemas/index.js';
import { accept, admit, refuse, withdraw, type SourceSink } from '../apply.js';
import type { Logger } from '../../telemetry/log.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { secretKey, type SecretStore } from '../../config/secrets.js';

const CONFIG_FILE = /\.(ya?ml|json)$/i;

export interface ConfigFileLimits {
  /** a file larger than this is refused unread (`--max-config-file-size`) */
  readonly maxFileBytes: number;
  /** a document larger than this is refused unparsed (`--max-document-size`) */
  readonly maxDocumentBytes: number;
}

export const DEFAULT_FILE_LIMITS: ConfigFileLimits = {
  maxFileBytes: 16 * 1024 * 1024,
  maxDocumentBytes: KUBERNETES_OBJECT_LIMIT_BYTES,
};

export interface DirectorySourceOptions {
  readonly dir: string;
  readonly store: ConfigStore;
  readonly log: Logger;
  readonly metrics?: Metrics;
  /** delay before re-reading a changed file, so an editor's burst of writes is read once */
  readonly settleMs?: number;
  readonly limits?: ConfigFileLimits;
  /**
   * `--config-dir-secrets`: Secret documents of the directory are gateway credentials (held apart from the
   * config store, never shown); without it they are not read, and each is reported once
   */
  readonly secrets?: SecretStore;
}

/** One accepted document: what a file says an object is. */
interface Definition {
  readonly kind: Kind;
  readonly object: KindMap[Kind];
  readonly origin: Origin;
}

interface FileState {
  /** `inode:size:mtime` when last read */
  readonly signature: string;
  /** the objects this file defines (the last good version of each) */
  readonly objects: ReadonlyMap<string, Definition>;
  /** keys of documents refused at the last read */
  readonly refused: ReadonlySet<string>;
}

/** What one read of a file found, ready to apply. */
interface FileRead {
  readonly file: string;
  readonly signature: string;
  readonly accepted: Map<string, Definition>;
  /** keys whose last good version stays although this read refused them */
  readonly keep: Set<string>;
  /** the file could not be read as a whole (YAML error, too large): every object it held stays */
  readonly keepAll: boolean;
  readonly refusals: (() => void)[];
  /** Secret documents (only with `secrets`), by namespace/name */
  readonly secrets: Map<string, unknown>;
}

/**
 * How long a scan may hold the event loop before handing it back. Files are listed, stat'ed and read with
 * the synchronous calls, one after another, between such pauses: a config directory is local files or a
 * ConfigMap volume, which answer in microseconds, while each asynchronous call costs a thread-pool round
 * trip and callbacks on the event loop — four per file read. Over 2,000 files that was a second or more
 * of a cold start on a busy machine, against some 30 ms synchronously.
 */
const SCAN_SLICE_MS = 20;

/**
 * Loads every YAML/JSON document under a directory (recursive, multi-document, symlinks followed) into
 * the store and keeps it in step with the files. A document that fails validation is refused with a
 * validate-style message; the last good version of that object stays in force. A file that cannot be
 * parsed at all, or is over the size limit, keeps every object it held before. An object defined in two
 * files is reported, and the definition in the first file in path order is used, whichever was read last,
 * so removing either file leaves the other's in force. Nothing here ever throws out of a file event.
 *
 * Reads are batched: a scan reads every changed file, then applies them all at once, so a Kubernetes
 * ConfigMap update (the `..data` symlink swapped to a new directory) reaches the store as one change.
 */
export class DirectorySource {
  readonly sourceId: string;
  private readonly dir: string;
  private readonly limits: ConfigFileLimits;
  private readonly files = new Map<string, FileState>();
  /** object key → file → its definition there (more than one file: a duplicate) */
  private readonly definitions = new Map<string, Map<string, Definition>>();
  /** key → the files of a duplicate as last reported, so each duplicate is reported once */
  private readonly reportedDuplicates = new Map<string, string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** directory → its watcher; `tree` directories report file names, `target` ones (symlink targets) only trigger a scan */
  private readonly watchers = new Map<string, { watcher: FSWatcher; role: 'tree' | 'target' }>();
  /** every read and apply runs in this chain, one at a time, so batches never interleave */
  private chain: Promise<void> = Promise.resolve();
  private rescanTimer: NodeJS.Timeout | undefined;
  private readonly reportedLoops = new Set<string>();
  /** file → the Secrets it defines (`secrets` only) */
  private readonly secretsByFile = new Map<string, ReadonlyMap<string, unknown>>();
  /** Secret documents reported as not read (no --config-dir-secrets), once each */
  private readonly reportedSecrets = new Set<string>();
  private stopped = false;
  private readonly log: Logger;
  private readonly sink: SourceSink;

  constructor(private readonly options: DirectorySourceOptions) {
    this.dir = path.resolve(options.dir);
    this.limits = options.limits ?? DEFAULT_FILE_LIMITS;
    this.sourceId = `dir:${this.dir}`;
    this.log = options.log.child({ source: 'config-dir', dir: this.dir });
    this.sink = { store: options.store, sourceId: this.sourceId, log: this.log, metrics: options.metrics, metricSource: 'file' };
  }

  /** Reads every file once and applies them, then watches. Resolves after the whole directory is in the store. */
  async start(): Promise<void> {
    const stat = statOrUndefined(this.dir);
    if (!stat?.isDirectory()) throw new Error(`--config-dir ${this.options.dir}: not a directory`);
    // One non-recursive fs.watch (inotify) per directory. Node 20's recursive mode watches each file on
    // Linux, and loses a file for good once an editor saves it by rename (new inode); chokidar 4 drops a
    // second change to a file inside its throttle window. A directory watch sees every entry change.
    await this.exclusive(() => this.rescan());
    this.log.info({ files: this.files.size, objects: this.definitions.size }, 'config directory loaded');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    if (this.rescanTimer) clearTimeout(this.rescanTimer);
    for (const { watcher } of this.watchers.values()) watcher.close();
    this.watchers.clear();
    await this.chain;
  }

  private exclusive(work: () => Promise<void>): Promise<void> {
    const next = this.chain.then(async () => {
      if (this.stopped) return;
      try {
        await work();
      } catch (err) {
        this.log.error({ err }, 'config directory scan failed; keeping current config');
      }
    });
    this.chain = next;
    return next;
  }

  /** The path a user would type: relative to the working directory when inside it, else absolute. */
  private rel(file: string): string {
    const rel = path.relative(process.cwd(), file);
    return rel && !rel.startsWith('..') ? rel : file;
  }

  /** Lists the tree, reads what appeared or changed (by inode, size or mtime), drops what vanished. */
  private async rescan(): Promise<void> {
    const slice = new TimeSlice(SCAN_SLICE_MS);
    let listing: Listing;
    try {
      listing = await listConfigTree(this.dir, (loop) => this.reportLoop(loop), slice);
    } catch (err) {
      this.log.error({ err }, 'cannot list config directory; keeping current config');
      return;
    }
    if (this.stopped) return;
    this.syncWatchers(listing);
    const changed = [...listing.files].filter(([file, st]) => this.files.get(file)?.signature !== signatureOf(st));
    const vanished = [...this.files.keys()].filter((file) => !listing.files.has(file));
    const reads: FileRead[] = [];
    for (const [file, st] of changed) {
      const read = await this.read(file, st, slice);
      if (read) reads.push(read);
    }
    this.apply(reads, vanished);
  }

  /** One file changed (a watcher named it): read it alone, or hand over to a scan when it is no longer a file. */
  private async reload(file: string): Promise<void> {
    const st = statOrUndefined(file);
    if (!st?.isFile()) {
      // gone, or now a directory (or something else): its objects go as for a deletion; a scan reads what replaced it
      this.apply([], this.files.has(file) ? [file] : []);
      if (st) this.scheduleRescan();
      return;
    }
    if (this.files.get(file)?.signature === signatureOf(st)) return;
    const read = await this.read(file, st, new TimeSlice(SCAN_SLICE_MS));
    this.apply(read ? [read] : [], []);
  }

  /** Reads and validates one file; undefined when it vanished meanwhile (the next scan sees that). */
  private async read(file: string, st: Stats, slice: TimeSlice): Promise<FileRead | undefined> {
    const signature = signatureOf(st);
    const result: FileRead = { file, signature, accepted: new Map(), keep: new Set(), keepAll: false, refusals: [], secrets: new Map() };
    const fileOrigin: Origin = { source: 'file', file: this.rel(file), doc: 0 };
    if (st.size > this.limits.maxFileBytes) {
      const message = formatProblem(fileOrigin, {}, { path: '', reason: `file is ${st.size} bytes, over the limit of ${this.limits.maxFileBytes} bytes per file (--max-config-file-size); not read, what it held stays in force` });
      result.refusals.push(() => refuse(this.sink, fileOrigin, { ref: {}, messages: [message] }));
      return { ...result, keepAll: true };
    }
    let text: string;
    await slice.pause();
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR') {
        this.scheduleRescan();
        return undefined;
      }
      this.log.error({ err, file: this.rel(file) }, 'failed to read config file; keeping what it held');
      return undefined;
    }
    let keepAll = false;
    await parseDocumentsYielding(text, { maxDocumentBytes: this.limits.maxDocumentBytes }, (doc) => {
      const origin: Origin = { source: 'file', file: this.rel(file), doc: doc.index };
      if (doc.error !== undefined) {
        keepAll = true;
        const reason = doc.error.startsWith('document is ') ? doc.error : `YAML: ${doc.error}`;
        result.refusals.push(() => refuse(this.sink, origin, { ref: {}, messages: [formatProblem(origin, {}, { path: '', reason })] }));
        return;
      }
      const raw = doc.value as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
      if (raw?.apiVersion === 'v1' && raw?.kind === 'Secret') {
        const ref = secretKey(typeof raw.metadata?.namespace === 'string' ? raw.metadata.namespace : 'default', String(raw.metadata?.name));
        if (this.options.secrets) result.secrets.set(ref, doc.value);
        else if (!this.reportedSecrets.has(`${origin.file}#${ref}`)) {
          this.reportedSecrets.add(`${origin.file}#${ref}`);
          this.log.warn({ file: origin.file, doc: doc.index, secret: ref }, 'Secret in the config directory not read: gateway credentials come from a config directory only with --config-dir-secrets');
        }
        return;
      }
      if (isIgnorableKind(raw?.apiVersion, raw?.kind)) {
        this.log.debug({ file: origin.file, doc: doc.index, kind: raw.kind }, 'not a mesh kind; ignored');
        return;
      }
      const admission = admit(doc.value, origin);
      if (admission.ok) {
        result.accepted.set(admission.key, { kind: admission.kind, object: admission.object, origin });
        return;
      }
      result.refusals.push(() => refuse(this.sink, origin, admission));
      if (admission.key) result.keep.add(admission.key);
    }, slice);
    return { ...result, keepAll };
  }

  /** Applies a batch of reads and removals in one go (one burst of store events). */
  private apply(reads: readonly FileRead[], vanished: readonly string[]): void {
    const touched = new Set<string>();
    for (const file of vanished) {
      const state = this.files.get(file);
      if (!state) continue;
      this.log.debug({ file: this.rel(file), objects: state.objects.size }, 'config file gone; its objects withdrawn');
      for (const key of state.refused) this.options.store.clearRejection(key);
      for (const key of state.objects.keys()) {
        this.definitions.get(key)?.delete(file);
        touched.add(key);
      }
      this.files.delete(file);
    }
    for (const read of reads) {
      for (const refusal of read.refusals) refusal();
      const before = this.files.get(read.file);
      const objects = new Map(read.accepted);
      // what this read could not judge keeps its last good version
      for (const [key, def] of before?.objects ?? []) {
        if (!objects.has(key) && (read.keepAll || read.keep.has(key))) objects.set(key, def);
      }
      if (!read.keepAll) {
        // a refusal ends when the refused document is fixed, removed, or its file is gone
        for (const key of before?.refused ?? []) if (!read.keep.has(key)) this.options.store.clearRejection(key);
      }
      for (const key of before?.objects.keys() ?? []) {
        if (!objects.has(key)) {
          this.definitions.get(key)?.delete(read.file);
          touched.add(key);
        }
      }
      for (const [key, def] of objects) {
        let defs = this.definitions.get(key);
        if (!defs) this.definitions.set(key, (defs = new Map()));
        if (defs.get(read.file) === def) continue; // kept as it was: leave the store (and its refusal) alone
        defs.set(read.file, def);
        touched.add(key);
      }
      const refused = read.keepAll ? new Set([...(before?.refused ?? []), ...read.keep]) : read.keep;
      this.files.set(read.file, { signature: read.signature, objects, refused });
    }
    for (const key of touched) this.resolve(key);
    if (this.options.secrets) this.applySecrets(reads, vanished, this.options.secrets);
  }

  /** Secrets follow their files: a file's Secrets replace what it defined before; a vanished file's go. */
  private applySecrets(reads: readonly FileRead[], vanished: readonly string[], store: SecretStore): void {
    const gone = new Set<string>();
    for (const file of vanished) {
      for (const key of this.secretsByFile.get(file)?.keys() ?? []) gone.add(key);
      this.secretsByFile.delete(file);
    }
    for (const read of reads) {
      if (read.keepAll) continue;
      for (const key of this.secretsByFile.get(read.file)?.keys() ?? []) if (!read.secrets.has(key)) gone.add(key);
      this.secretsByFile.set(read.file, read.secrets);
    }
    // a Secret still defined by another file stays (the first file in path order wins, as for config)
    const current = new Map<string, unknown>();
    for (const file of [...this.secretsByFile.keys()].sort().reverse()) for (const [key, obj] of this.secretsByFile.get(file)!) current.set(key, obj);
    for (const key of gone) if (!current.has(key)) store.delete(key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1));
    for (const read of reads) {
      for (const key of read.secrets.keys()) {
        const refused = store.apply(current.get(key));
        if (refused) this.log.warn({ secret: key, reason: refused }, 'Secret not held for gateway credentials');
      }
    }
  }

  /** Puts the winning definition of a key in the store (the first file in path order), or removes the object. */
  private resolve(key: string): void {
    const defs = this.definitions.get(key);
    if (!defs || defs.size === 0) {
      this.definitions.delete(key);
      this.reportedDuplicates.delete(key);
      const kind = key.slice(0, key.indexOf('/')) as Kind;
      withdraw(this.sink, kind, key);
      return;
    }
    const files = [...defs.keys()].sort(byPath);
    const winnerFile = files[0]!;
    const winner = defs.get(winnerFile)!;
    if (files.length > 1) {
      const signature = files.join('\n');
      if (this.reportedDuplicates.get(key) !== signature) {
        this.reportedDuplicates.set(key, signature);
        this.log.warn(
          { key, files: files.map((f) => this.rel(f)), used: this.rel(winnerFile) },
          `${key.replace(/\/\//, '/')} is defined in ${files.length} files; the first in path order is used: ${this.rel(winnerFile)}`,
        );
      }
    } else {
      this.reportedDuplicates.delete(key);
    }
    const changed = accept(this.sink, winner.kind, key, winner.object, winner.origin);
    const stored = this.options.store.get(winner.kind, key);
    // same object from another file (the other copy of a duplicate was removed): say where it now comes from
    if (!changed && stored && stored.origin.source === 'file' && winner.origin.source === 'file' && stored.origin.file !== winner.origin.file) {
      this.options.store.upsert(winner.kind, winner.object, winner.origin, this.sourceId);
    }
  }

  private reportLoop(dir: string): void {
    if (this.reportedLoops.has(dir)) return;
    this.reportedLoops.add(dir);
    this.log.warn({ dir: this.rel(dir) }, 'symlink leads to a directory already read (a loop or a second path to it); not read again');
  }

  /** Watches every directory of the tree, and the directories symlinked files live in. */
  private syncWatchers(listing: Listing): void {
    const wanted = new Map<string, 'tree' | 'target'>();
    for (const dir of listing.targetDirs) wanted.set(dir, 'target');
    for (const dir of listing.dirs) wanted.set(dir, 'tree');
    for (const [dir, w] of this.watchers) {
      if (wanted.get(dir) !== w.role) {
        w.watcher.close();
        this.watchers.delete(dir);
      }
    }
    for (const [dir, role] of wanted) {
      if (this.watchers.has(dir)) continue;
      try {
        const watcher = fs.watch(dir, { persistent: true }, (_event, name) => {
          if (role === 'tree' && name && CONFIG_FILE.test(name) && !name.startsWith('.')) this.schedule(path.join(dir, name));
          else this.scheduleRescan();
        });
        watcher.on('error', (err) => {
          this.log.warn({ err, dir }, 'directory watcher failed; rescanning');
          watcher.close();
          if (this.watchers.get(dir)?.watcher === watcher) this.watchers.delete(dir);
          this.scheduleRescan();
        });
        this.watchers.set(dir, { watcher, role });
      } catch (err) {
        this.log.warn({ err, dir }, 'cannot watch directory');
      }
    }
  }

  private scheduleRescan(): void {
    if (this.rescanTimer || this.stopped) return;
    this.rescanTimer = setTimeout(() => {
      this.rescanTimer = undefined;
      void this.exclusive(() => this.rescan());
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
        void this.exclusive(() => this.reload(file));
      }, this.options.settleMs ?? 20),
    );
  }
}

function statOrUndefined(file: string): Stats | undefined {
  return fs.statSync(file, { throwIfNoEntry: false });
}

function signatureOf(st: Stats): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

/** Paths in a fixed order, whatever the locale: the order duplicates are decided by. */
function byPath(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface Listing {
  /** config files (as named in the tree, symlinks not resolved) → their stat (symlinks followed) */
  readonly files: Map<string, Stats>;
  /** directories of the tree (as named in it) */
  readonly dirs: string[];
  /** real directories of symlinked files outside the tree's own directories */
  readonly targetDirs: Set<string>;
}

/**
 * Lists config files under `root`, following symlinks to files and directories. Entries whose name starts
 * with a dot are skipped (editor files, and a ConfigMap mount's `..data` and `..2024_…` directories: their
 * files are reached through the symlinks beside them). A directory reached twice (a symlink loop, or two
 * paths to one directory) is read once.
 */
async function listConfigTree(root: string, onLoop: (dir: string) => void, slice: TimeSlice): Promise<Listing> {
  const listing: Listing = { files: new Map(), dirs: [], targetDirs: new Set() };
  const seenDirs = new Set<string>([fs.realpathSync.native(root)]);
  const symlinkedFiles: string[] = [];
  const realpathOrUndefined = (p: string): string | undefined => {
    try {
      return fs.realpathSync.native(p);
    } catch {
      return undefined;
    }
  };
  const walk = async (dir: string, isRoot: boolean): Promise<void> => {
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if (isRoot) throw err;
      return; // vanished meanwhile, or unreadable: the next scan sees
    }
    listing.dirs.push(dir);
    const subdirs: string[] = [];
    for (const e of entries.sort((a, b) => byPath(a.name, b.name))) {
      await slice.pause();
      if (e.name.startsWith('.')) continue;
      const full = path.join(dir, e.name);
      if (e.isSymbolicLink()) {
        const target = statOrUndefined(full); // dangling: nothing to read
        if (target?.isDirectory()) {
          const real = realpathOrUndefined(full);
          if (real === undefined) continue;
          if (seenDirs.has(real)) onLoop(full);
          else {
            seenDirs.add(real);
            subdirs.push(full);
          }
        } else if (target?.isFile() && CONFIG_FILE.test(e.name)) {
          listing.files.set(full, target);
          symlinkedFiles.push(full);
        }
      } else if (e.isDirectory()) {
        const real = realpathOrUndefined(full) ?? full;
        if (!seenDirs.has(real)) {
          seenDirs.add(real);
          subdirs.push(full);
        }
      } else if (e.isFile() && CONFIG_FILE.test(e.name)) {
        const st = statOrUndefined(full);
        if (st?.isFile()) listing.files.set(full, st);
      }
    }
    for (const sub of subdirs) await walk(sub, false);
  };
  await walk(root, true);
  const treeDirs = new Set(listing.dirs);
  for (const file of symlinkedFiles) {
    const real = realpathOrUndefined(file);
    if (real && !treeDirs.has(path.dirname(real))) listing.targetDirs.add(path.dirname(real));
  }
  return listing;
}
