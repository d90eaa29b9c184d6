import { Option, type Command } from 'commander';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat } from '../telemetry/log-levels.js';

// Flags several commands share, spelled once (kubectl/istioctl habits): `--label key=value` (repeatable),
// `-n, --namespace`, `--kubeconfig` + `--context`, and the logging trio. This module is loaded for every
// `meshd` invocation, `--help` included: it imports nothing heavier than commander.

/** commander's accumulator for a repeatable flag */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export interface LabelFlags {
  /** `--label key=value`, repeatable */
  label?: string[];
  /** `--labels k=v,k=v`: the comma-separated form older injected pods pass (hidden) */
  labels?: string;
}

export function addLabelFlag(cmd: Command, what: string): Command {
  return cmd
    .option('--label <key=value>', `${what}; repeatable`, collect)
    .addOption(new Option('--labels <key=value,...>', 'comma-separated form of --label').hideHelp());
}

/** `--label` values (and the legacy `--labels` list) → a label map; errors name the flag and the entry. */
export function labelsFromFlags({ label = [], labels = '' }: LabelFlags): Record<string, string> {
  const out: Record<string, string> = {};
  const entries = [...labels.split(',').map((s) => [s.trim(), '--labels'] as const), ...label.map((s) => [s.trim(), '--label'] as const)];
  for (const [entry, flag] of entries) {
    if (!entry) continue;
    const i = entry.indexOf('=');
    if (i <= 0) throw new Error(`${flag}: ${JSON.stringify(entry)} is not key=value`);
    out[entry.slice(0, i)] = entry.slice(i + 1);
  }
  return out;
}

export interface LogFlags {
  logLevel: string;
  logFormat?: LogFormat;
  logOutputLevel?: string;
}

export function addLogFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('--log-level <level>', 'default log level').choices(LOG_LEVELS).default('info'))
    .addOption(new Option('--log-format <format>', 'log lines as readable text or JSON (default: text when stderr is a terminal, else json)').choices(LOG_FORMATS))
    .option('--log-output-level <scope:level,...>', "per-scope levels, as istiod's --log_output_level (scopes: ads, ca, ca-server, ca-tls, xds-auth, webhook, config-dir, kube, …; default:LEVEL sets the rest)");
}

export interface KubeFlags {
  kubeconfig?: string;
  context?: string;
}

export function addKubeFlags(cmd: Command, defaultText: string): Command {
  return cmd
    .option('--kubeconfig <file>', `kubeconfig file (${defaultText})`)
    .option('--context <name>', 'kubeconfig context to use (default: its current-context)');
}

/** `-n, --namespace`; without a default the flag is undefined unless given. */
export function addNamespaceFlag(cmd: Command, what: string, defaultValue?: string): Command {
  return cmd.option('-n, --namespace <namespace>', what, defaultValue);
}
