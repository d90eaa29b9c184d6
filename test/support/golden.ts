// Golden files: generated output compared with a committed file, rewritten only with the explicit flag
// `UPDATE_GOLDEN=1` (never silently). One copy of the compare-or-write step the golden tests share.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

export const UPDATE_GOLDEN = process.env.UPDATE_GOLDEN === '1';
const ROOT = path.resolve(import.meta.dirname, '..', '..');

/**
 * Asserts that `value`, written as 2-space JSON, equals the golden `file` (compared as JSON, so a
 * reformatted file still matches), or writes it when UPDATE_GOLDEN=1.
 */
export function assertGolden(file: string, value: unknown): void {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  const shown = path.relative(ROOT, file);
  if (UPDATE_GOLDEN) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    return;
  }
  assert.ok(fs.existsSync(file), `${shown} is missing: run with UPDATE_GOLDEN=1`);
  assert.deepEqual(JSON.parse(text), JSON.parse(fs.readFileSync(file, 'utf8')), `${shown} differs: review, then UPDATE_GOLDEN=1`);
}
