import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// meshd's version as istio_build's `tag` (istiod: pkg/version BuildInfo.GitTag) — the control-plane
// dashboard's "Version" panel. package.json sits two levels up from both src/telemetry and dist/telemetry.

let version: string | undefined;

export function meshdVersion(): string {
  if (version === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../package.json'), 'utf8')) as { version?: unknown };
      version = typeof pkg.version === 'string' ? pkg.version : 'unknown';
    } catch {
      version = 'unknown';
    }
  }
  return version;
}
