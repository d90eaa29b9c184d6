/**
 * Waits in tests are hang guards, not deadlines: a condition that holds after 40 s on a machine running
 * eight test suites is still a pass. A caller's own figure is kept when it is longer; shorter ones are
 * raised to the floor, so no test depends on how busy the machine is. MESHD_TEST_HANG_GUARD_MS changes
 * the floor (e.g. lower it while debugging a hang locally).
 */
export const HANG_GUARD_FLOOR_MS = Number(process.env.MESHD_TEST_HANG_GUARD_MS) > 0 ? Number(process.env.MESHD_TEST_HANG_GUARD_MS) : 60_000;

export function hangGuardMs(requestedMs: number): number {
  return Math.max(requestedMs, HANG_GUARD_FLOOR_MS);
}
