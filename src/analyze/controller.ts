// istiod's PILOT_ENABLE_ANALYSIS in meshd: the analyzers run over what the store holds, a while after it
// changes (istiod's PILOT_ANALYSIS_INTERVAL, 10 s), and each Istio object's messages are handed to the
// status writer, which puts them in `status.validationMessages` (src/sources/kube/status.ts).
// The daemon does not hold Secrets, so gateway.SecretAnalyzer does not run here (it would report every
// credentialName missing); the CLI runs it.

import { KINDS, kindOf, type Kind, type KindInfo } from '../config/kinds.js';
import type { MeshConfig } from '../config/mesh-config.js';
import { objectKey, type ConfigStore } from '../config/store.js';
import type { ValidationMessage } from '../sources/kube/status.js';
import type { Logger } from '../telemetry/log.js';
import { allAnalyzers, analyze } from './index.js';
import { documentationUrl, messageText, type AnalysisMessage } from './message.js';
import { ANALYZER_NAME_SCHEMA, type AnalysisMeshConfig, type Resource } from './resource.js';
import { unreachableRuleMessages } from './analyzers/unreachable-rules.js';

export const DEFAULT_ANALYSIS_INTERVAL_MS = 10_000;
const NOT_IN_DAEMON = new Set(['gateway.SecretAnalyzer']);

/** One entry of IstioStatus.validationMessages (AnalysisMessageBase + the text, as meshd's IST0106 entries). */
type StatusMessage = ValidationMessage;

export function statusMessage(m: AnalysisMessage): StatusMessage {
  return {
    documentationUrl: documentationUrl(m.type.code, 'status-controller'),
    level: m.type.level.toUpperCase() as StatusMessage['level'],
    type: { code: m.type.code, name: m.type.name },
    message: messageText(m),
  };
}

export function analysisMeshOf(mesh: MeshConfig): AnalysisMeshConfig {
  return {
    rootNamespace: mesh.rootNamespace,
    ...(mesh.telemetry?.defaultProviders ? { defaultProviders: { accessLogging: [...(mesh.telemetry.defaultProviders.accessLogging ?? [])] } } : {}),
    ...(mesh.extensionProviders ? { extensionProviders: mesh.extensionProviders.map((p) => ({ ...p }) as { name: string }) } : {}),
  };
}

/** The store's objects as the analyzers see them. */
export function resourcesOf(store: ConfigStore): Resource[] {
  const out: Resource[] = [];
  for (const kind of Object.keys(KINDS) as Kind[]) {
    const info = KINDS[kind] as KindInfo;
    for (const s of store.list(kind)) {
      const meta = (s.object as { metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } }).metadata;
      out.push({
        kind: info.kind, group: info.group, name: meta.name, namespace: info.clusterScoped ? '' : (meta.namespace ?? ''),
        labels: meta.labels ?? {}, annotations: meta.annotations ?? {},
        object: s.object as unknown as Record<string, unknown>, origin: {},
      });
    }
  }
  return out;
}

/** Messages per object key (objectKey: `Kind/namespace/name`) of Istio objects; objects without any are absent. */
export function analyzeStore(store: ConfigStore, mesh: MeshConfig, istioNamespace: string): Map<string, StatusMessage[]> {
  const analyzers = allAnalyzers().map((a) => a.name).filter((n) => !NOT_IN_DAEMON.has(n));
  const resources = resourcesOf(store);
  const preMessages = resources.filter((r) => r.kind === 'VirtualService').flatMap(unreachableRuleMessages);
  const { messages } = analyze(resources, { mesh: analysisMeshOf(mesh), istioNamespace, analyzers: [...analyzers, ANALYZER_NAME_SCHEMA], preMessages });
  const byKey = new Map<string, StatusMessage[]>();
  for (const m of messages) {
    const r = m.resource;
    const kind = r ? kindOf(r.group, r.kind) : undefined;
    if (!r || !kind || !(KINDS[kind] as KindInfo).istio) continue;
    const key = objectKey(kind, r.namespace, r.name);
    byKey.set(key, [...(byKey.get(key) ?? []), statusMessage(m)]);
  }
  return byKey;
}

export interface AnalysisControllerOptions {
  readonly store: ConfigStore;
  readonly mesh: () => MeshConfig;
  readonly istioNamespace: string;
  readonly log: Logger;
  /** receives every run's messages (all objects: one with none is absent from the map) */
  readonly onResult: (byKey: Map<string, StatusMessage[]>) => void;
  readonly intervalMs?: number;
}

/** Re-runs the analysis at most once per interval after the store changed, and once at start. */
export class AnalysisController {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly onChange = () => this.schedule();

  constructor(private readonly opts: AnalysisControllerOptions) {}

  start(): void {
    this.opts.store.on('change', this.onChange);
    this.run();
  }

  stop(): void {
    this.stopped = true;
    this.opts.store.off('change', this.onChange);
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.run();
    }, this.opts.intervalMs ?? DEFAULT_ANALYSIS_INTERVAL_MS);
    this.timer.unref?.();
  }

  private run(): void {
    if (this.stopped) return;
    const t0 = performance.now();
    const byKey = analyzeStore(this.opts.store, this.opts.mesh(), this.opts.istioNamespace);
    this.opts.log.debug({ objectsWithMessages: byKey.size, ms: +(performance.now() - t0).toFixed(1) }, 'analysis');
    this.opts.onResult(byKey);
  }
}
