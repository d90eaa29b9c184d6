#!/usr/bin/env node
// The `meshd` command: runs the compiled CLI in dist/ (`npm run build`; `npm ci` and `npm pack` build it
// through the `prepare` script). Without a build it says so in one line instead of a module-resolution
// stack trace.
import { existsSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

// Node >= 22.1 keeps compiled code between runs (most of meshd's start-up is compiling its dependencies);
// on Node 20 this is absent and start-up compiles everything each time.
module.enableCompileCache?.();

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  process.stderr.write(`meshd: not built (${fileURLToPath(main)} is missing): run \`npm run build\` in ${root}\n`);
  process.exit(1);
}
await import(main.href);
