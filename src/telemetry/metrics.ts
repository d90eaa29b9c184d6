import client from 'prom-client';

// istiod's metric names (pilot/pkg/xds/monitoring.go, security/pkg/server/ca/monitoring.go), so Istio's
// Grafana dashboards and alerts work unchanged. One Metrics per daemon (tests run several in a process).

export type XdsShortType = 'cds' | 'eds' | 'lds' | 'rds';

export class Metrics {
  readonly registry = new client.Registry();

  /** connected xDS clients */
  readonly xdsClients = new client.Gauge({
    name: 'pilot_xds', help: 'Number of endpoints connected to this pilot using XDS.',
    labelNames: ['version'] as const, registers: [this.registry],
  });
  readonly pushes = new client.Counter({
    name: 'pilot_xds_pushes', help: 'Pilot build and send errors for lds, rds, cds and eds.',
    labelNames: ['type'] as const, registers: [this.registry],
  });
  readonly convergence = new client.Histogram({
    name: 'pilot_proxy_convergence_time',
    help: 'Delay in seconds between config change and a proxy receiving all required configuration.',
    buckets: [0.1, 0.5, 1, 3, 5, 10, 20, 30], registers: [this.registry],
  });
  readonly totalRejects = new client.Counter({
    name: 'pilot_total_xds_rejects', help: 'Total number of XDS responses from pilot rejected by proxy.',
    labelNames: ['type'] as const, registers: [this.registry],
  });
  readonly rejects: Record<XdsShortType, client.Gauge<'node' | 'err'>> = {
    cds: this.rejectGauge('pilot_xds_cds_reject', 'Pilot rejected CDS.'),
    eds: this.rejectGauge('pilot_xds_eds_reject', 'Pilot rejected EDS.'),
    lds: this.rejectGauge('pilot_xds_lds_reject', 'Pilot rejected LDS.'),
    rds: this.rejectGauge('pilot_xds_rds_reject', 'Pilot rejected RDS.'),
  };
  readonly services = new client.Gauge({
    name: 'pilot_services', help: 'Total services known to pilot.', registers: [this.registry],
  });
  readonly virtualServices = new client.Gauge({
    name: 'pilot_virt_services', help: 'Total virtual services known to pilot.', registers: [this.registry],
  });
  readonly inboundUpdates = new client.Counter({
    name: 'pilot_inbound_updates', help: 'Total number of updates received by pilot.',
    labelNames: ['type'] as const, registers: [this.registry],
  });
  readonly pushTriggers = new client.Counter({
    name: 'pilot_push_triggers', help: 'Total number of times a push was triggered, labeled by reason for the push.',
    labelNames: ['type'] as const, registers: [this.registry],
  });
  readonly configRejections = new client.Counter({
    name: 'meshd_config_rejections_total',
    help: 'Configuration documents refused by validation, by kind and source.',
    labelNames: ['kind', 'source'] as const, registers: [this.registry],
  });
  readonly xdsSendTime = new client.Histogram({
    name: 'pilot_xds_send_time', help: 'Total time in seconds Pilot takes to send generated configuration.',
    buckets: [0.01, 0.1, 1, 3, 5, 10, 20, 30], registers: [this.registry],
  });
  readonly pushContextBuild = new client.Histogram({
    name: 'pilot_pushcontext_init_seconds', help: 'Total time in seconds Pilot takes to init pushContext.',
    buckets: [0.01, 0.1, 0.5, 1, 3, 5], registers: [this.registry],
  });
  readonly cacheReads = new client.Counter({
    name: 'pilot_xds_cache_reads', help: 'Total number of xds cache xdsCacheReads.',
    labelNames: ['type'] as const, registers: [this.registry],
  });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry });
  }

  private rejectGauge(name: string, help: string): client.Gauge<'node' | 'err'> {
    return new client.Gauge({ name, help, labelNames: ['node', 'err'] as const, registers: [this.registry] });
  }
}
