import fs from 'node:fs';
import { DEFAULT_MESH_CONFIG, parseMeshConfig, type MeshConfig, type MeshConfigFile } from '../../config/mesh-config.js';
import type { Logger } from '../../telemetry/log.js';
import type { MeshTelemetry } from '../../model/telemetry.js';

// The mesh config file (`--mesh-config`, the `mesh` key of ConfigMap `istio` mounted into the pod), read at
// start and followed afterwards, as istiod follows its mesh config: a valid edit is pushed to every proxy, a
// broken one is refused with the file and field and the mesh keeps the last good config.
//
// Kubernetes swaps a ConfigMap volume's files through a symlink, which inotify watches miss; the file is
// polled (stat follows the link) and re-read only when its content changed.

const POLL_MS = 1000;

/** What the command line says about the mesh; a flag given there beats the file (istiod's flags do too). */
export interface MeshFlags {
  readonly domainSuffix: string;
  readonly trustDomain?: string;
  readonly rootNamespace?: string;
  /** when neither the flag nor the file names one: istiod's own namespace (POD_NAMESPACE) */
  readonly defaultRootNamespace?: string;
}

/** The mesh model's view of a mesh config file (an empty one: the flags and defaults alone). */
export function meshFromFile(file: MeshConfigFile, flags: MeshFlags): MeshConfig {
  const mode = file.outboundTrafficPolicy?.mode;
  const telemetry = meshTelemetryFromFile(file);
  return {
    domainSuffix: flags.domainSuffix,
    trustDomain: flags.trustDomain ?? file.trustDomain ?? DEFAULT_MESH_CONFIG.trustDomain,
    rootNamespace: flags.rootNamespace ?? file.rootNamespace ?? flags.defaultRootNamespace ?? DEFAULT_MESH_CONFIG.rootNamespace,
    ...(mode ? { outboundTrafficPolicy: mode } : {}),
    ...(file.trustDomainAliases?.length ? { trustDomainAliases: file.trustDomainAliases } : {}),
    ...(file.extensionProviders?.length ? { extensionProviders: file.extensionProviders } : {}),
    ...(Object.keys(telemetry).length ? { telemetry } : {}),
    ...(ingressOfFile(file) ? { ingress: ingressOfFile(file) } : {}),
  };
}

/** MeshConfig's Ingress fields (UNSPECIFIED mode means istiod's default, STRICT). */
function ingressOfFile(file: MeshConfigFile): MeshConfig['ingress'] {
  const mode = file.ingressControllerMode === 'UNSPECIFIED' ? undefined : file.ingressControllerMode;
  const out = {
    ...(file.ingressClass ? { ingressClass: file.ingressClass } : {}),
    ...(mode ? { ingressControllerMode: mode } : {}),
    ...(file.ingressService ? { ingressService: file.ingressService } : {}),
    ...(file.ingressSelector ? { ingressSelector: file.ingressSelector } : {}),
  };
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The observability fields of the file, as the model reads them (model/telemetry.ts MeshTelemetry). */
export function meshTelemetryFromFile(file: MeshConfigFile): MeshTelemetry {
  const tracing = file.defaultConfig?.tracing;
  return {
    ...(file.accessLogFile ? { accessLogFile: file.accessLogFile } : {}),
    ...(file.accessLogFormat ? { accessLogFormat: file.accessLogFormat } : {}),
    ...(file.accessLogEncoding ? { accessLogEncoding: file.accessLogEncoding } : {}),
    ...(file.enableTracing !== undefined ? { enableTracing: file.enableTracing } : {}),
    ...(file.enableEnvoyAccessLogService ? { enableEnvoyAccessLogService: true } : {}),
    ...(file.disableEnvoyListenerLog ? { disableEnvoyListenerLog: true } : {}),
    ...(file.defaultProviders ? { defaultProviders: file.defaultProviders } : {}),
    ...(tracing ? { proxyTracing: tracing } : {}),
  };
}

export class MeshConfigFileSource {
  private text: string;
  private file: MeshConfigFile;
  private mesh: MeshConfig;
  private watching = false;

  /** Reads the file now; throws `PATH: field: reason` when it cannot be used. */
  constructor(
    readonly path: string,
    private readonly flags: MeshFlags,
    private readonly log: Logger,
  ) {
    this.text = readText(path);
    this.file = parseMeshConfig(this.text, path);
    this.mesh = meshFromFile(this.file, flags);
  }

  get current(): MeshConfig {
    return this.mesh;
  }

  /** The file as parsed (fields meshd reads at start only, such as discoverySelectors). */
  get parsed(): MeshConfigFile {
    return this.file;
  }

  /** Follows the file; `onChange` gets each valid new mesh config. */
  watch(onChange: (mesh: MeshConfig) => void): void {
    if (this.watching) return;
    this.watching = true;
    fs.watchFile(this.path, { interval: POLL_MS, persistent: false }, () => this.reload(onChange));
  }

  /** Re-reads the file (the watcher calls this; tests may too). */
  reload(onChange: (mesh: MeshConfig) => void): void {
    let text: string;
    try {
      text = readText(this.path);
    } catch (err) {
      this.log.error({ file: this.path, err: (err as Error).message }, 'mesh config unreadable; keeping the last good one');
      return;
    }
    if (text === this.text) return;
    let file: MeshConfigFile;
    try {
      file = parseMeshConfig(text, this.path);
    } catch (err) {
      this.text = text;
      this.log.error({ file: this.path, problems: (err as Error).message.split('\n') }, 'mesh config refused; keeping the last good one');
      return;
    }
    const next = meshFromFile(file, this.flags);
    // the CA's certificates and every SPIFFE identity carry the trust domain; discoverySelectors scope the
    // informers: both are read once, at start
    if (next.trustDomain !== this.mesh.trustDomain) this.log.warn({ file: this.path, running: this.mesh.trustDomain, file_value: next.trustDomain }, 'mesh config trustDomain changed: restart meshd to apply it');
    if (JSON.stringify(file.discoverySelectors ?? []) !== JSON.stringify(this.file.discoverySelectors ?? [])) this.log.warn({ file: this.path }, 'mesh config discoverySelectors changed: restart meshd to apply them');
    this.text = text;
    this.file = file;
    this.mesh = { ...next, trustDomain: this.mesh.trustDomain };
    this.log.info({ file: this.path, extensionProviders: (next.extensionProviders ?? []).map((p) => p.name), outboundTrafficPolicy: next.outboundTrafficPolicy ?? 'ALLOW_ANY' }, 'mesh config reloaded');
    onChange(this.mesh);
  }

  stop(): Promise<void> {
    if (this.watching) fs.unwatchFile(this.path);
    this.watching = false;
    return Promise.resolve();
  }
}

function readText(path: string): string {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}
