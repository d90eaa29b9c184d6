import { existsSync } from 'node:fs';
import path from 'node:path';

// Where Istio's reference data (CRDs, samples, conformance goldens) lives: beside the checkout as
// ../shared/istio-reference, as on the development machines and in CI; MESHD_ISTIO_REFERENCE overrides it,
// and /work/shared is looked at too so a checkout cloned elsewhere (e.g. /tmp) still finds it.
const REPO = path.resolve(import.meta.dirname, '..', '..');
const CANDIDATES = [
  process.env['MESHD_ISTIO_REFERENCE'],
  path.resolve(REPO, '..', 'shared', 'istio-reference'),
  '/work/shared/istio-reference',
].filter((d): d is string => !!d);

export const ISTIO_REFERENCE: string = CANDIDATES.find((d) => existsSync(d)) ?? CANDIDATES[0]!;

/** A path inside the reference data, e.g. istioReference('testdata', 'inject'). */
export function istioReference(...parts: string[]): string {
  return path.join(ISTIO_REFERENCE, ...parts);
}
