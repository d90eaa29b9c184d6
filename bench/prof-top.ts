// Summarizes a V8 .cpuprofile (from `bench/xds-load.ts --cpu-prof`): the functions with the most self
// time, and total (inclusive) time for project functions, so a profile can be read without DevTools.
//
//   npx tsx bench/prof-top.ts bench/results/prof/CPU.*.cpuprofile [--top 30]

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '30' } }, allowPositionals: true });
const top = Number(values.top);

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** `fn file` — project files relative to the repo, libraries from node_modules/ (tsx-loaded code has no useful line numbers). */
function label(n: Node): string {
  const f = n.callFrame;
  let file = f.url.replace(/^file:\/\//, '');
  if (file.includes('/node_modules/')) file = file.replace(/.*\/node_modules\//, 'node_modules/');
  else if (file.startsWith(REPO + '/')) file = file.slice(REPO.length + 1);
  else file = file.replace(/^.*?\/((?:src|bench|test)\/.*)$/, '$1'); // a --meshd-ref export in a temp dir
  return `${f.functionName || '(anonymous)'} ${file}`.trim();
}

for (const file of positionals) {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // self time per node from samples × deltas
  const selfUs = new Map<number, number>();
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
  }
  const totalUs = prof.endTime - prof.startTime;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    self.set(label(n), (self.get(label(n)) ?? 0) + us);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur)!);
      if (seen.has(l)) continue; // recursion: count once per sample
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + us);
    }
  }
  const fmt = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / totalUs).toFixed(1).padStart(5)}%`;
  console.log(`${file}: ${(totalUs / 1e6).toFixed(1)} s profiled`);
  console.log(`\nself time (top ${top}):`);
  for (const [l, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${fmt(us)}  ${l}`);
  console.log(`\ninclusive time, project functions (src/), top ${top}:`);
  for (const [l, us] of [...inclusive].filter(([l]) => / (src|bench)\//.test(l)).sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${fmt(us)}  ${l}`);
  console.log(`\ninclusive time, libraries (node_modules/), top ${Math.ceil(top / 2)}:`);
  for (const [l, us] of [...inclusive].filter(([l]) => / node_modules\//.test(l)).sort((a, b) => b[1] - a[1]).slice(0, Math.ceil(top / 2))) console.log(`  ${fmt(us)}  ${l}`);
}
