import type { Percent } from '../config/schemas/common.js';

/** envoy.type.v3.FractionalPercent in proto-JSON form. */
export interface FractionalPercent {
  readonly numerator: number;
  readonly denominator: 'HUNDRED' | 'TEN_THOUSAND' | 'MILLION';
}

/**
 * Istio `Percent{value: 0..100}` (a double) → per-million FractionalPercent, as istiod does.
 * istiod truncates `value*10000`; meshd rounds so 14.7 % is 147000 ppm, not 146999 (float artefact).
 */
export function percentToFractional(p: Percent): FractionalPercent {
  const value = Math.min(100, Math.max(0, p.value ?? 0));
  return { numerator: Math.round(value * 10000), denominator: 'MILLION' };
}

/** The deprecated integer percent fields (`percent: 50`) → per-hundred FractionalPercent. */
export function integerPercentToFractional(p: number): FractionalPercent {
  return { numerator: Math.min(100, Math.max(0, Math.trunc(p))), denominator: 'HUNDRED' };
}
