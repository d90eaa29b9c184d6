import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Tests run meshd as users do: the compiled command (bin/meshd.js → dist/), never through a TypeScript
// loader (tsx costs seconds per process on a busy machine, and would not show a broken build).
// `npm test` builds before the suites (scripts/run-tests.mjs); a test file run on its own after editing
// src/ is told to build rather than silently testing the old code.

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const MESHD_BIN = path.join(REPO_ROOT, 'bin', 'meshd.js');
const BUILT_MAIN = path.join(REPO_ROOT, 'dist', 'cli', 'main.js');

function newestMtime(dir: string): { file: string; mtimeMs: number } {
  let newest = { file: dir, mtimeMs: 0 };
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    const candidate = entry.isDirectory() ? newestMtime(full) : { file: full, mtimeMs: statSync(full).mtimeMs };
    if (candidate.mtimeMs > newest.mtimeMs) newest = candidate;
  }
  return newest;
}

let checked = false;

/** Throws unless dist/ was built after the last change under src/. */
export function assertBuilt(): void {
  if (checked) return;
  let builtAt: number;
  try {
    builtAt = statSync(BUILT_MAIN).mtimeMs;
  } catch {
    throw new Error(`meshd is not built (${path.relative(REPO_ROOT, BUILT_MAIN)} is missing): run \`npm run build\` (npm test does)`);
  }
  const newest = newestMtime(path.join(REPO_ROOT, 'src'));
  if (newest.mtimeMs > builtAt) {
    throw new Error(`dist/ is older than ${path.relative(REPO_ROOT, newest.file)}: run \`npm run build\` (npm test does)`);
  }
  checked = true;
}

/** `node bin/meshd.js ARGS`: the executable and its arguments for spawn, after checking the build. */
export function meshdCommand(args: readonly string[]): [string, string[]] {
  assertBuilt();
  return [process.execPath, [MESHD_BIN, ...args]];
}
