import fc from 'fast-check';

// The fuzz suite's knobs. `npm test` runs every property at a size that takes seconds, always with the same
// seed, so a failure reproduces; FUZZ_SEED picks another seed, FUZZ_LONG=1 multiplies the runs (e.g.
// `FUZZ_LONG=1 node --import tsx --test test/fuzz/*.test.ts`). A failing run prints its seed and the
// shrunk counterexample; `FUZZ_SEED=… FUZZ_PATH=…` replays exactly that case.

const LONG = process.env.FUZZ_LONG === '1' || process.env.FUZZ_LONG === 'true';
export const FUZZ_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20261207;

/** fast-check parameters for a property that runs `defaultRuns` cases in `npm test` */
export function fuzzParameters<T>(defaultRuns: number): fc.Parameters<T> {
  return {
    seed: FUZZ_SEED,
    numRuns: LONG ? defaultRuns * 25 : defaultRuns,
    ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}),
    verbose: 1,
    // the assertion that failed, not only the counterexample
    ...(process.env.FUZZ_DEBUG ? { reporter: (r: fc.RunDetails<T>) => { if (r.failed) console.error(r.errorInstance); } } : {}),
  };
}

/** values that have broken parsers before: empty, huge, negative, wrong type, regex bombs, odd IPs */
export const interestingValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    '', '*', '**', '.', '-', '/', '/(a+)+$', '(a{1000}){1000}', '(?P<x', '[', 'a'.repeat(300), -1, 0, 1, 65535, 65536, 2 ** 31, 2 ** 53, 1.5,
    Number.MAX_SAFE_INTEGER, true, false, null, [], {}, [null], '10.0.0.0/33', '0.0.0.0/0', '::/0', '10.0.0.1', '::1', '300.1.1.1',
    'default', 'foo', 'reviews', 'reviews.default.svc.cluster.local', '*.local', '*.svc.cluster.local', 'spiffe://cluster.local/ns/default/sa/x',
    '1h', '-1s', '0s', '999999999s', '1.5ms', 'ALLOW', 'DENY', 'CUSTOM', 'AUDIT', 'STRICT', 'PERMISSIVE', 'DISABLE', 'ISTIO_MUTUAL',
    'ROUND_ROBIN', 'v1', 'v2', 'GET', 'x-user', '%', '\u0000', 'é', '\ud800',
  ),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.jsonValue({ maxDepth: 2 }),
);
