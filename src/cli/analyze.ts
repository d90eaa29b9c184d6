// `meshd analyze [FILE|DIR|-]...`: Istio's analyzers (src/analyze) over files, directories (recursive),
// stdin and/or the live cluster, printed and exiting as `istioctl analyze`:
//   Error [IST0101] (VirtualService reviews.default vs.yaml:3) Referenced host not found: "reviews.bogus"
// Exit codes (log output only, as istioctl): 79 when a message is at or above --failure-threshold
// (default Error), 65 when a file could not be parsed (unless --ignore-unknown), 64 for bad flags, else 0.
// The cluster is read when --kubeconfig/--context/--use-kube is given or no file is; files are analyzed on
// top of the cluster's objects (a file object replaces the cluster's object of the same kind and name).

import { stringify } from 'yaml';
import { analyze, analyzerCatalog, type Suppression } from '../analyze/index.js';
import { addDefaultResources } from '../analyze/defaults.js';
import { meshConfigDocument, readCluster } from '../analyze/cluster.js';
import { atLeast, parseLevel, renderLine, unstructured, CONFIG_ANALYSIS_URL, type AnalysisMessage, type MessageLevel } from '../analyze/message.js';
import { MESSAGE_TYPES } from '../analyze/messages.gen.js';
import { analysisMeshConfig, emptyLoad, loadText, type Resource } from '../analyze/resource.js';
import { expand, type ValidateIO } from './validate.js';
import type { KubeFlags } from './flags.js';

export const EXIT_INCORRECT_USAGE = 64;
export const EXIT_DATA_ERROR = 65;
export const EXIT_ANALYZER_FOUND_ISSUES = 79;

export interface AnalyzeFlags extends KubeFlags {
  namespace?: string;
  allNamespaces?: boolean;
  istioNamespace: string;
  output: string;
  outputThreshold: string;
  failureThreshold: string;
  suppress?: string[];
  analyzer?: string[];
  listAnalyzers?: boolean;
  meshConfigFile?: string;
  ignoreUnknown?: boolean;
  useKube?: boolean;
  color?: boolean;
  verbose?: boolean;
}

export interface AnalyzeIO extends ValidateIO {
  readonly stdoutIsTTY?: boolean;
}

const FORMATS = new Set(['log', 'json', 'yaml']);

class UsageError extends Error {}

function parseSuppressions(values: readonly string[], io: AnalyzeIO): Suppression[] {
  const known = new Set<string>(Object.values(MESSAGE_TYPES).map((t) => t.code));
  return values.map((s) => {
    const parts = s.split('=');
    if (parts.length !== 2) throw new UsageError(`${s} is not a valid suppression value. See meshd analyze --help`);
    if (!known.has(parts[0]!)) io.stderr.write(`Warning: Supplied message code '${parts[0]}' is an unknown message code and will not have any effect.\n`);
    return { code: parts[0]!, resource: parts[1]! };
  });
}

function level(flag: string, value: string): MessageLevel {
  const l = parseLevel(value);
  if (!l) throw new UsageError(`--${flag}: ${JSON.stringify(value)} is not one of Info, Warning, Error`);
  return l;
}

/** Files override the cluster's objects of the same kind, namespace and name (istioctl's store precedence). */
function merge(cluster: readonly Resource[], files: readonly Resource[]): Resource[] {
  const key = (r: Resource) => `${r.group}/${r.kind}/${r.namespace}/${r.name}`;
  const fromFiles = new Set(files.map(key));
  return [...files, ...cluster.filter((r) => !fromFiles.has(key(r)))];
}

export async function runAnalyze(paths: string[], flags: AnalyzeFlags, io: AnalyzeIO): Promise<number> {
  try {
    return await analyzeCommand(paths, flags, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`Error: ${err.message}\n`);
      return EXIT_INCORRECT_USAGE;
    }
    throw err;
  }
}

async function analyzeCommand(paths: string[], flags: AnalyzeFlags, io: AnalyzeIO): Promise<number> {
  const format = flags.output.toLowerCase();
  if (!FORMATS.has(format)) throw new UsageError(`${flags.output} not a valid option for format. See meshd analyze --help`);
  if (flags.listAnalyzers) {
    for (const a of analyzerCatalog()) io.stdout.write(`* ${a.name}:\n    ${a.description}\n`);
    return 0;
  }
  const outputThreshold = level('output-threshold', flags.outputThreshold);
  const failureThreshold = level('failure-threshold', flags.failureThreshold);
  const suppressions = parseSuppressions(flags.suppress ?? [], io);
  const known = new Set(analyzerCatalog().map((a) => a.name));
  for (const a of flags.analyzer ?? []) if (!known.has(a)) throw new UsageError(`--analyzer: unknown analyzer ${JSON.stringify(a)} (see meshd analyze -L)`);

  const useKube = flags.useKube ?? (flags.kubeconfig !== undefined || flags.context !== undefined || paths.length === 0);
  // without -n: the namespace of the kubeconfig context when analyzing the cluster (istioctl's
  // NamespaceOrDefault), else `default`
  let contextNamespace: string | undefined;
  let meshText: string | undefined;
  const clusterLoad = emptyLoad();
  if (useKube) {
    const { resolveKubeConnection, KubeHttp } = await import('../sources/kube/client.js');
    const conn = resolveKubeConnection({ kubeconfig: flags.kubeconfig, context: flags.context, useDefaultFiles: true });
    if (!conn) throw new UsageError('no Kubernetes cluster: pass --kubeconfig FILE, set KUBECONFIG, or have ~/.kube/config (or analyze files with --use-kube=false)');
    contextNamespace = conn.kc.getContextObject(conn.kc.getCurrentContext())?.namespace || undefined;
    const http = new KubeHttp(conn.kc);
    const cluster = conn.kc.getCurrentCluster()?.name ?? '';
    const read = await readCluster(http, flags.istioNamespace, cluster, clusterLoad);
    for (const s of read.skipped) io.stderr.write(`Warning: not analyzed: ${s}\n`);
    meshText = read.meshConfigYaml;
  }
  const namespace = flags.allNamespaces ? '' : (flags.namespace ?? contextNamespace ?? 'default');
  const target = flags.allNamespaces ? 'all namespaces' : `namespace: ${namespace}`;
  if (flags.meshConfigFile) {
    const { readFile } = await import('node:fs/promises');
    meshText = await readFile(flags.meshConfigFile, 'utf8');
  }
  const meshParsed = analysisMeshConfig.safeParse(meshText !== undefined ? meshConfigDocument(meshText) : {});
  if (!meshParsed.success) throw new UsageError(`mesh config${flags.meshConfigFile ? ` ${flags.meshConfigFile}` : ''}: ${meshParsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const mesh = meshParsed.data;

  const readErrors: string[] = [];
  const inputs = await expand(paths, io, readErrors);
  const fileLoad = emptyLoad();
  if (!useKube) addDefaultResources(mesh, flags.istioNamespace, fileLoad);
  for (const input of inputs) {
    try {
      loadText(await input.read(), input.name, { defaultNamespace: namespace }, fileLoad);
    } catch (err) {
      readErrors.push(`${input.name}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const parseErrors = [...readErrors, ...fileLoad.parseErrors, ...clusterLoad.parseErrors];
  if (parseErrors.length > 0) io.stderr.write(`Error(s) adding files: ${parseErrors.join('\n')}\n`);

  const result = analyze(merge(clusterLoad.resources, fileLoad.resources), {
    mesh,
    istioNamespace: flags.istioNamespace,
    namespace,
    suppressions,
    ...(flags.analyzer?.length ? { analyzers: flags.analyzer } : {}),
    preMessages: [...clusterLoad.messages, ...fileLoad.messages],
    scopeGatewayToNamespace: process.env['PILOT_SCOPE_GATEWAY_TO_NAMESPACE'] === 'true',
  });
  if (flags.verbose) io.stderr.write(`Analyzed resources in ${target}\nExecuted analyzers:\n${result.executed.map((a) => `\t ${a}\n`).join('')}\n`);

  const shown = result.messages.filter((m) => atLeast(m.type.level, outputThreshold));
  io.stdout.write(`${render(shown, format, !!flags.color)}\n`);
  if (shown.length === 0) {
    if (parseErrors.length === 0) {
      const names = inputs.map((i) => i.name);
      if (names.length > 1) io.stderr.write(`\u2714 No validation issues found when analyzing:\n  - ${names.join('\n  - ')}\n`);
      else io.stderr.write(`\u2714 No validation issues found when analyzing ${names.length === 1 ? names[0] : target}.\n`);
    } else {
      io.stderr.write(`No validation issues found when analyzing ${target} (but ${parseErrors.length} ${parseErrors.length === 1 ? 'file' : 'files'} could not be parsed).\n`);
    }
  }
  if (format !== 'log') return 0;
  if (result.messages.some((m) => atLeast(m.type.level, failureThreshold))) {
    io.stderr.write(`Error: Analyzers found issues when analyzing ${target}.\nSee ${CONFIG_ANALYSIS_URL} for more information about causes and resolutions.\n`);
    return EXIT_ANALYZER_FOUND_ISSUES;
  }
  if (parseErrors.length > 0 && !flags.ignoreUnknown) {
    io.stderr.write('Error: Some files couldn\'t be parsed.\n');
    return EXIT_DATA_ERROR;
  }
  return 0;
}

function render(messages: readonly AnalysisMessage[], format: string, color: boolean): string {
  if (format === 'json') return JSON.stringify(messages.map((m) => unstructured(m, 'istioctl-analyze')), null, '\t');
  if (format === 'yaml') return messages.length ? stringify(messages.map((m) => unstructured(m, 'istioctl-analyze'))).trimEnd() : '[]';
  return messages.map((m) => renderLine(m, color)).join('\n');
}
