// Writes crds/, the kustomize base in manifests/ and the Helm chart in manifests/charts/meshd from
// src/install/ (the zod schemas and the object builders). `npm run gen:manifests`; `--check` exits 1 when
// a committed file differs from a fresh render (test/install/manifests.test.ts runs the same comparison).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedFiles } from '../src/install/render.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const files = generatedFiles(JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version as string);
let stale = 0;
for (const [rel, content] of files) {
  const full = path.join(root, rel);
  const current = existsSync(full) ? readFileSync(full, 'utf8') : undefined;
  if (current === content) continue;
  stale++;
  if (check) {
    process.stderr.write(`${rel}: differs from a fresh render (run npm run gen:manifests)\n`);
    continue;
  }
  mkdirSync(path.dirname(full), { recursive: true });
  writeFileSync(full, content);
  process.stdout.write(`wrote ${rel}\n`);
}
// chart templates that no builder renders any more
const templates = path.join(root, 'manifests/charts/meshd/templates');
if (existsSync(templates)) {
  for (const name of readdirSync(templates)) {
    const rel = `manifests/charts/meshd/templates/${name}`;
    if (files.has(rel)) continue;
    stale++;
    if (check) process.stderr.write(`${rel}: no longer generated\n`);
    else rmSync(path.join(root, rel));
  }
}
if (check && stale > 0) process.exit(1);
if (!check) process.stdout.write(`${files.size} files up to date\n`);
