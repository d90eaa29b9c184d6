import type { Command } from 'commander';
import { DEFAULT_PUSH_SCHEDULER_OPTIONS } from '../xds/push-scheduler.js';
import type { DiscoveryServerOptions } from '../xds/server.js';
import { DEFAULT_SUBSCRIPTION_LIMITS } from '../xds/subscription-limits.js';
import { parseDurationMs } from './duration.js';

// `meshd serve` flags bounding the xDS push path: istiod's PILOT_PUSH_THROTTLE and PILOT_XDS_SEND_TIMEOUT,
// and meshd's caps on subscribed resource names (istiod has none).

export interface XdsFlags {
  pushThrottle: string;
  xdsSendTimeout: string;
  xdsMaxNamesPerStream: string;
  xdsMaxNames: string;
}

export function addXdsFlags(cmd: Command): Command {
  return cmd
    .option('--push-throttle <n>', 'xDS responses being written at once, slow streams not counted (istiod PILOT_PUSH_THROTTLE)', String(DEFAULT_PUSH_SCHEDULER_OPTIONS.concurrency))
    .option('--xds-send-timeout <duration>', 'cut an xDS stream whose connection takes none of a response for this long (istiod PILOT_XDS_SEND_TIMEOUT)', `${DEFAULT_PUSH_SCHEDULER_OPTIONS.sendTimeoutMs / 1000}s`)
    .option('--xds-max-names-per-stream <n>', 'refuse (RESOURCE_EXHAUSTED) an xDS stream subscribing to more resource names than this, all types together', String(DEFAULT_SUBSCRIPTION_LIMITS.namesPerConnection))
    .option('--xds-max-names <n>', 'refuse the xDS stream that would take the names subscribed by all streams over this', String(DEFAULT_SUBSCRIPTION_LIMITS.namesTotal));
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: ${JSON.stringify(text)} is not a positive integer`);
  return n;
}

/** The xDS server's options from the flags (a flag left unset keeps the server's default). */
export function xdsServerOptions(flags: Partial<XdsFlags>): Pick<DiscoveryServerOptions, 'push' | 'limits'> {
  const sendTimeoutMs = parseDurationMs(flags.xdsSendTimeout ?? `${DEFAULT_PUSH_SCHEDULER_OPTIONS.sendTimeoutMs}`, '--xds-send-timeout');
  if (sendTimeoutMs <= 0) throw new Error('--xds-send-timeout: must be more than 0');
  const int = (text: string | undefined, flag: string, fallback: number) => (text === undefined ? fallback : positiveInt(text, flag));
  return {
    push: {
      concurrency: int(flags.pushThrottle, '--push-throttle', DEFAULT_PUSH_SCHEDULER_OPTIONS.concurrency),
      sendTimeoutMs,
      // a write pending this long no longer holds a throttle slot (never later than the cut)
      slowAfterMs: Math.min(DEFAULT_PUSH_SCHEDULER_OPTIONS.slowAfterMs, sendTimeoutMs / 2),
    },
    limits: {
      namesPerConnection: int(flags.xdsMaxNamesPerStream, '--xds-max-names-per-stream', DEFAULT_SUBSCRIPTION_LIMITS.namesPerConnection),
      namesTotal: int(flags.xdsMaxNames, '--xds-max-names', DEFAULT_SUBSCRIPTION_LIMITS.namesTotal),
    },
  };
}
