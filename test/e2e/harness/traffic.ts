import { sleep } from './util.js';
import type { Counts, SplitOptions } from './xds-client.js';
import { hangGuardMs } from '../../support/hang-guard.js';

// Helpers for reasoning about where calls went.

export interface Splitter {
  split(n: number, opts?: SplitOptions): Promise<Counts>;
}

export const total = (c: Counts) => Object.values(c).reduce((a, b) => a + b, 0);
export const failures = (c: Counts) => Object.fromEntries(Object.entries(c).filter(([k]) => /^[A-Z_]+: /.test(k)));
export const format = (c: Counts) =>
  Object.entries(c)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

/**
 * Sends small batches until `accept(counts)` holds for one batch (a pushed change is ACKed before the
 * client's new subchannels are READY, so the first calls after an ACK may still see the old picture).
 */
export async function untilTraffic(
  client: Splitter,
  what: string,
  accept: (c: Counts) => boolean,
  { batch = 20, timeoutMs = 10_000, ...opts }: SplitOptions & { batch?: number; timeoutMs?: number } = {},
): Promise<{ counts: Counts; ms: number }> {
  timeoutMs = hangGuardMs(timeoutMs);
  const t0 = Date.now();
  let last: Counts = {};
  while (Date.now() - t0 < timeoutMs) {
    last = await client.split(batch, opts);
    if (accept(last)) return { counts: last, ms: Date.now() - t0 };
    await sleep(50);
  }
  throw new Error(`traffic did not become "${what}" within ${timeoutMs} ms; last batch: ${format(last)}`);
}
