import client from 'prom-client';
import type { Metrics } from '../telemetry/metrics.js';

// The webhooks' metrics, under istiod's names (galley validation, sidecar injection) so Istio's
// dashboards read them; registered in the daemon's one registry.

export class WebhookMetrics {
  readonly validationPassed: client.Counter<'group' | 'version' | 'resource'>;
  readonly validationFailed: client.Counter<'group' | 'version' | 'resource' | 'reason'>;
  readonly injectionRequests: client.Counter;
  readonly injectionSuccess: client.Counter;
  readonly injectionSkipped: client.Counter;
  readonly injectionFailures: client.Counter<'type'>;

  constructor(metrics: Metrics) {
    const registers = [metrics.registry];
    this.validationPassed = new client.Counter({
      name: 'galley_validation_passed', help: 'Resource is valid.', labelNames: ['group', 'version', 'resource'] as const, registers,
    });
    this.validationFailed = new client.Counter({
      name: 'galley_validation_failed', help: 'Resource validation failed.', labelNames: ['group', 'version', 'resource', 'reason'] as const, registers,
    });
    this.injectionRequests = new client.Counter({ name: 'sidecar_injection_requests_total', help: 'Total number of sidecar injection requests.', registers });
    this.injectionSuccess = new client.Counter({ name: 'sidecar_injection_success_total', help: 'Total number of successful sidecar injection requests.', registers });
    this.injectionSkipped = new client.Counter({ name: 'sidecar_injection_skip_total', help: 'Total number of skipped sidecar injection requests.', registers });
    this.injectionFailures = new client.Counter({
      name: 'sidecar_injection_failure_total', help: 'Total number of failed sidecar injection requests.', labelNames: ['type'] as const, registers,
    });
  }
}
