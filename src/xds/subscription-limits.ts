// Bounds on what clients can make meshd hold: subscribed resource names (every type of a stream together).
// Apart from server.ts so that the command line can show the defaults without loading the xDS server.

export interface SubscriptionLimits {
  readonly namesPerConnection: number;
  readonly namesTotal: number;
}

export const DEFAULT_SUBSCRIPTION_LIMITS: SubscriptionLimits = { namesPerConnection: 100_000, namesTotal: 10_000_000 };
