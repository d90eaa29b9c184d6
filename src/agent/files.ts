import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

// Kubernetes' AtomicWriter pattern: the files of one version live in a hidden directory `..YYYY_…`, a
// symlink `..data` points at the current one, and each visible name is a symlink `NAME → ..data/NAME`.
// Switching `..data` is one rename, so a reader (gRPC's file_watcher certificate provider) sees either
// the old key+certificate pair or the new one, never a key from one and a certificate from the other
// (as long as it opens the files within the same version; grpc reads the three together).

const DATA_LINK = '..data';

export interface AtomicFile {
  readonly name: string;
  readonly data: string | Buffer;
  /** 0o600 for private keys */
  readonly mode: number;
}

export function writeAtomicDir(dir: string, files: readonly AtomicFile[]): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const stamp = `..${new Date().toISOString().replace(/[-:.]/g, '_')}.${crypto.randomBytes(3).toString('hex')}`;
  const version = path.join(dir, stamp);
  fs.mkdirSync(version, { mode: 0o755 });
  for (const f of files) {
    const file = path.join(version, f.name);
    fs.writeFileSync(file, f.data, { mode: f.mode });
    fs.chmodSync(file, f.mode);
  }
  const previous = readLink(path.join(dir, DATA_LINK));
  const tmpLink = path.join(dir, `..data_tmp.${process.pid}`);
  fs.rmSync(tmpLink, { force: true });
  fs.symlinkSync(stamp, tmpLink);
  fs.renameSync(tmpLink, path.join(dir, DATA_LINK));
  for (const f of files) {
    const visible = path.join(dir, f.name);
    if (readLink(visible) !== path.join(DATA_LINK, f.name)) {
      const tmp = path.join(dir, `.${f.name}.link.${process.pid}`);
      fs.rmSync(tmp, { force: true });
      fs.symlinkSync(path.join(DATA_LINK, f.name), tmp);
      fs.renameSync(tmp, visible);
    }
  }
  // keep the version just replaced (a reader may still be opening it); drop older ones
  for (const entry of fs.readdirSync(dir)) {
    if (entry.startsWith('..') && entry !== DATA_LINK && entry !== stamp && entry !== previous && !entry.startsWith('..data')) {
      fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
    }
  }
}

function readLink(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch {
    return undefined;
  }
}

/** A single file replaced by rename (the bootstrap). */
export function writeFileReplace(file: string, data: string, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, data, { mode });
  fs.renameSync(tmp, file);
}
