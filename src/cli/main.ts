#!/usr/bin/env node
import { Command, Option } from 'commander';
import { runServe, type ServeFlags } from './serve.js';
import { addSecurityFlags } from './security-flags.js';
import { addWebhookFlags } from './webhook-flags.js';
import { addXdsFlags } from './xds-flags.js';
import { addAgentCommand } from './agent.js';
import { addBootstrapCommand } from './bootstrap.js';
import { runValidate } from './validate.js';
import { addInstallCommands } from './install.js';
import { addSimulateCommand } from '../simulate/cli.js';
import { exitQuietlyWhenStdoutCloses } from './output.js';

exitQuietlyWhenStdoutCloses();

const program = new Command();
program
  .name('meshd')
  .description('An istiod-compatible service-mesh control plane: Istio config in, xDS out.')
  .showHelpAfterError();

addXdsFlags(addWebhookFlags(addSecurityFlags(program.command('serve'))))
  .description('run the control plane: watch config, serve xDS to proxies')
  .option('--config-dir <dir>', 'load mesh config (Istio and Kubernetes YAML/JSON) from this directory, watched')
  .option('--grpc-addr <addr>', 'plaintext xDS (ADS) address', ':15010')
  .option('--monitoring-addr <addr>', 'metrics and debug address (/metrics, /debug/*)', ':15014')
  .option('--http-addr <addr>', 'readiness and debug address (/ready, /debug/*)', ':8080')
  .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'))
  .option('--debounce-after <duration>', 'push after this long without config events', '100ms')
  .option('--debounce-max <duration>', 'push at most this long after the first event of a burst', '10s')
  .option('--domain <suffix>', 'cluster DNS domain suffix', 'cluster.local')
  .option('--trust-domain <domain>', 'SPIFFE trust domain (default: the mesh config\'s trustDomain, else cluster.local)')
  .option('--root-namespace <ns>', 'mesh root namespace for mesh-wide config (default: the mesh config\'s rootNamespace, else $POD_NAMESPACE, else istio-system)')
  .option('--kubeconfig <file>', 'watch this Kubernetes cluster (default: in-cluster service account; without --config-dir also $KUBECONFIG or ~/.kube/config)')
  .option('--cluster-id <name>', 'cluster name in source ids and messages (istiod CLUSTER_ID)', process.env.CLUSTER_ID || 'Kubernetes')
  .option('--max-config-file-size <size>', 'config-dir: refuse (unread) a file larger than this; what it held stays', '16Mi')
  .option('--max-document-size <size>', 'config-dir: refuse (unparsed) a YAML/JSON document larger than this (Kubernetes refuses objects over 1.5Mi)', '1.5Mi')
  .option('--mesh-config <file>', 'mesh config YAML (istiod --meshConfig): trustDomain(Aliases), rootNamespace, outboundTrafficPolicy, extensionProviders, discoverySelectors; edits are followed')
  .action(async (flags: ServeFlags) => {
    await runServe(flags);
  });

program
  .command('validate')
  .description('validate Istio and Kubernetes config files; exit 1 if any document is invalid')
  .requiredOption('-f, --filename <paths...>', 'files or directories to validate (recursive); - reads stdin')
  .action(async (opts: { filename: string[] }) => {
    process.exitCode = await runValidate(opts.filename, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
  });

addAgentCommand(program);
addBootstrapCommand(program);
addInstallCommands(program);
addSimulateCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`meshd: ${(err as Error).message}\n`);
  process.exit(2);
});
