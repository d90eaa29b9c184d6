// Tolerances for random traffic splits. A weighted split sends each call to a destination with
// probability p, so the count over n calls is Binomial(n, p); we accept mean ± z standard deviations.
// z = 4.5 makes a false failure about 1 in 150 000 runs and still tells 90/10 from 80/20 at n = 500.

export interface Bounds {
  readonly lo: number;
  readonly hi: number;
  readonly mean: number;
  readonly sd: number;
}

export function binomialBounds(n: number, p: number, z = 4.5): Bounds {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  return { lo: Math.max(0, Math.floor(mean - z * sd)), hi: Math.min(n, Math.ceil(mean + z * sd)), mean, sd };
}

/** Whether `count` out of `n` is consistent with probability `p`; `why` explains a miss. */
export function withinBinomial(count: number, n: number, p: number, z = 4.5): { ok: boolean; why: string } {
  const b = binomialBounds(n, p, z);
  return {
    ok: count >= b.lo && count <= b.hi,
    why: `${count}/${n} vs expected ${b.mean.toFixed(1)} ± ${(z * b.sd).toFixed(1)} (p=${p}, ${z} sd) → [${b.lo}, ${b.hi}]`,
  };
}
