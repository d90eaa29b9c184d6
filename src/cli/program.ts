import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { DEFAULT_INJECTION_CONFIG } from '../webhook/inject/config.js';
import { DEFAULT_ISTIO_VERSION, DEFAULT_SDS_SOCKET } from '../bootstrap/defaults.js';
import { addKubeFlags, addLabelFlag, addLogFlags, addNamespaceFlag, collect } from './flags.js';
import { addSecurityFlags } from './security-flags.js';
import { addWebhookFlags } from './webhook-flags.js';
import { addMeshdAddrFlag } from './meshd-flags.js';
import { addXdsFlags } from './xds-flags.js';
import type { InstallIO } from './install.js';

// The whole command line of meshd: every command, its flags and its help. Only commander and the flag
// modules load here; each command's implementation is imported when that command runs, so `meshd --help`
// and `meshd validate` do not pay for the daemon, gRPC or the Kubernetes client.

const env = (name: string, fallback: string) => process.env[name] || fallback;

/** package.json's version: dist/cli/program.js and src/cli/program.ts both sit two levels below it. */
export function meshdVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function addServeCommand(program: Command): void {
  const serve = program
    .command('serve')
    .description('run the control plane: watch config, serve xDS to proxies, sign workload certificates, answer the webhooks')
    .optionsGroup('Sources:')
    .option('--config-dir <dir>', 'load mesh config (Istio and Kubernetes YAML/JSON) from this directory, watched')
    .option('--max-config-file-size <size>', 'config-dir: refuse (unread) a file larger than this; what it held stays', '16Mi')
    .option('--max-document-size <size>', 'config-dir: refuse (unparsed) a YAML/JSON document larger than this (Kubernetes refuses objects over 1.5Mi)', '1.5Mi')
    .option('--config-dir-secrets', 'config-dir: read v1 Secret documents as gateway credentials (credentialName), served over SDS on the TLS xDS port only; without it they are not read');
  addKubeFlags(serve, 'watch this cluster; default: in-cluster service account, and without --config-dir also $KUBECONFIG or ~/.kube/config')
    .option('--cluster-id <name>', 'cluster name in source ids and messages (istiod CLUSTER_ID)', env('CLUSTER_ID', 'Kubernetes'))
    .option('--mesh-config <file>', 'mesh config YAML (istiod --meshConfig): trustDomain(Aliases), rootNamespace, outboundTrafficPolicy, extensionProviders, discoverySelectors; edits are followed')
    .option('--domain <suffix>', 'cluster DNS domain suffix', 'cluster.local')
    .option('--trust-domain <domain>', "SPIFFE trust domain (default: the mesh config's trustDomain, else cluster.local)")
    .option('--root-namespace <ns>', "mesh root namespace for mesh-wide config (default: the mesh config's rootNamespace, else $POD_NAMESPACE, else istio-system)")
    .optionsGroup('xDS:')
    .option('--grpc-addr <addr>', 'plaintext xDS (ADS) address', ':15010')
    .option('--debounce-after <duration>', 'push after this long without config events', '100ms')
    .option('--debounce-max <duration>', 'push at most this long after the first event of a burst', '10s');
  addXdsFlags(serve).optionsGroup('Certificate authority and xDS over TLS:');
  addSecurityFlags(serve).optionsGroup('Webhooks (sidecar injection, validation):');
  addWebhookFlags(serve)
    .optionsGroup('Operations:')
    .option('--monitoring-addr <addr>', 'metrics and debug address (/metrics, /debug/*)', ':15014')
    .option('--http-addr <addr>', 'readiness and debug address (/ready, /debug/*)', ':8080');
  addLogFlags(serve).action(async (flags) => {
    const { runServe } = await import('./serve.js');
    await runServe(flags);
  });
}

function addValidateCommand(program: Command): void {
  program
    .command('validate')
    .description('validate Istio and Kubernetes config files; exit 1 if any document is invalid')
    .requiredOption('-f, --filename <paths...>', 'files or directories to validate (recursive); - reads stdin')
    .action(async (opts: { filename: string[] }) => {
      const { runValidate } = await import('./validate.js');
      process.exitCode = await runValidate(opts.filename, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
    });
}

function addAnalyzeCommand(program: Command): void {
  const bool = (v: string | undefined) => v === undefined || !/^(false|0|no)$/i.test(v);
  addKubeFlags(
    program
      .command('analyze')
      .argument('[files...]', 'files or directories (recursive) to analyze; - reads stdin')
      .description("Istio's config analyzers (istioctl analyze) over files and/or the live cluster; exit 79 when issues reach --failure-threshold")
      .option('-n, --namespace <namespace>', 'report messages of objects in this namespace (and cluster-scoped ones)')
      .option('-A, --all-namespaces', 'analyze all namespaces')
      .option('-i, --istio-namespace <namespace>', 'the control plane namespace', 'istio-system')
      .option('-o, --output <format>', 'output format: log, json or yaml', 'log')
      .option('--output-threshold <level>', 'the lowest level of messages printed: Info, Warning, Error', 'Info')
      .option('--failure-threshold <level>', 'the lowest level of messages that gives a non-zero exit code: Info, Warning, Error', 'Error')
      .option('-S, --suppress <code=resource>', 'suppress a message code on a resource, e.g. "IST0102=DestinationRule primary-dr.default" (* matches any run of characters); repeatable', collect)
      .option('--analyzer <name>', 'run only this analyzer (see -L); repeatable', collect)
      .option('-L, --list-analyzers', 'list the analyzers and exit')
      .option('--meshConfigFile <file>', 'mesh config (MeshConfig YAML) to analyze with, instead of the cluster\'s or the default')
      .option('--ignore-unknown', "don't fail (exit 65) on documents that cannot be parsed")
      .option('-k, --use-kube [bool]', 'read the live cluster (default: when --kubeconfig/--context is given or no file is)', bool)
      .option('--color [bool]', 'colour the level (default: when stdout is a terminal and TERM is not dumb)', bool)
      .option('-v, --verbose', 'list the analyzers that ran'),
    'default: $KUBECONFIG, then ~/.kube/config',
  ).action(async (files: string[], flags) => {
    const { runAnalyze } = await import('./analyze.js');
    const color = flags.color ?? (!!process.stdout.isTTY && process.env['TERM'] !== 'dumb');
    process.exitCode = await runAnalyze(files, { ...flags, color }, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
  });
}

function addAgentCommand(program: Command): void {
  const agent = program
    .command('agent')
    .description('get a workload certificate from the mesh CA, keep it renewed, and write a gRPC xDS bootstrap (proxyless gRPC)')
    .option('--ca-addr <addr>', 'the CA (meshd TLS port)', env('CA_ADDR', 'istiod.istio-system.svc:15012'))
    .option('--ca-root <file>', "PEM root the CA's serving certificate chains to (ConfigMap istio-ca-root-cert)", '/var/run/secrets/istio/root-cert.pem')
    .option('--ca-server-name <name>', 'TLS server name of the CA', 'istiod.istio-system.svc')
    .option('--token-file <file>', 'service-account token with audience istio-ca', '/var/run/secrets/tokens/istio-token')
    .option('--xds-addr <addr>', 'xDS server for the bootstrap (plaintext)', env('XDS_ADDR', 'istiod.istio-system.svc:15010'));
  addNamespaceFlag(agent, 'pod namespace', env('POD_NAMESPACE', 'default'))
    .option('--service-account <sa>', 'pod service account', env('SERVICE_ACCOUNT', 'default'))
    .option('--pod-name <name>', 'pod name', env('POD_NAME', 'pod'))
    .option('--pod-ip <ip>', 'pod IP (node id and INSTANCE_IPS)', env('INSTANCE_IP', '127.0.0.1'));
  addLabelFlag(agent, 'a pod label for node metadata LABELS')
    .option('--trust-domain <domain>', 'SPIFFE trust domain', env('TRUST_DOMAIN', 'cluster.local'))
    .option('--domain <suffix>', 'cluster DNS domain suffix', 'cluster.local')
    .option('--cert-dir <dir>', 'where cert-chain.pem, key.pem and root-cert.pem are written', '/var/lib/istio/data')
    .option('--bootstrap <file>', 'gRPC xDS bootstrap to write (GRPC_XDS_BOOTSTRAP)', '/etc/istio/proxy/grpc-bootstrap.json')
    .option('--cert-ttl <duration>', 'requested certificate lifetime', '24h')
    .option('--initial-cert-timeout <duration>', 'keep retrying the first certificate (jittered backoff, 1s doubling to 30s) this long before exiting with the last error', '5m')
    .addOption(new Option('--key-type <type>', 'workload key type').choices(['rsa', 'ec']).default('ec'))
    .option('--root-check-interval <duration>', 'how often --ca-root is checked for a changed trust bundle (a root rotation: renew at once); 0 never', '5s')
    .option('--once', 'write the first certificate and the bootstrap, then exit');
  addLogFlags(agent).action(async (flags) => {
    const { runAgent } = await import('./agent.js');
    await runAgent(flags);
  });
}

/** Where `meshd serve` listens for `meshd ca …` (--ca-admin-addr). */
const DEFAULT_CA_ADMIN_ADDR = '127.0.0.1:15013';

function addCaCommand(program: Command): void {
  const ca = program.command('ca').description("the mesh CA's root of trust: status and rotation without downtime (talks to a running meshd serve)");
  const common = (cmd: Command) => cmd
    .option('--admin <addr>', "meshd's CA admin endpoint (meshd serve --ca-admin-addr)", DEFAULT_CA_ADMIN_ADDR)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'));
  common(ca.command('status'))
    .description('the rotation phase, trusted and signing roots, and which proxies a phase waits for')
    .action(async (flags) => {
      const { runCaStatus } = await import('./ca.js');
      await runCaStatus(flags);
    });
  common(ca.command('rotate'))
    .description('stage a new root: (a) publish old+new roots until every connected proxy holds both, (b) sign with the new CA until no certificate of the old CA is alive, (c) drop the old root')
    .requiredOption('--new-dir <dir>', "the new CA material in Istio's cacerts layout (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem), on meshd's host")
    .option('--wait', 'follow the phases until the rotation completes or is aborted')
    .option('--poll <duration>', 'with --wait: how often to look', '1s')
    .action(async (flags) => {
      const { runCaRotate } = await import('./ca.js');
      await runCaRotate(flags);
    });
  common(ca.command('abort'))
    .description('one step back: from signing to publishing (the old CA signs again), from publishing to the old roots only')
    .action(async (flags) => {
      const { runCaAbort } = await import('./ca.js');
      await runCaAbort(flags);
    });
}

function addBootstrapCommand(program: Command): void {
  const bootstrap = program
    .command('bootstrap')
    .description('print an Envoy v3 bootstrap (JSON) for running stock Envoy as a sidecar or gateway against meshd, without istio-proxy')
    .option('--proxy-type <type>', 'sidecar, or router for a gateway (node id router~…: meshd sends it the gateway configuration)', 'sidecar')
    .option('--pod-name <name>', 'pod name (node id, metadata NAME)', env('POD_NAME', 'pod'));
  addNamespaceFlag(bootstrap, 'pod namespace', env('POD_NAMESPACE', 'default'))
    .option('--pod-ip <ips>', 'pod IPs, comma-separated; the first goes in the node id (INSTANCE_IPS)', env('INSTANCE_IP', '127.0.0.1'));
  addLabelFlag(bootstrap, 'a pod label (metadata LABELS: selects policies and subsets)')
    .option('--service-account <sa>', 'pod service account', env('SERVICE_ACCOUNT', 'default'))
    .option('--domain <suffix>', 'cluster DNS domain suffix', 'cluster.local')
    .option('--trust-domain <domain>', 'SPIFFE trust domain (metadata MESH_ID)', env('TRUST_DOMAIN', 'cluster.local'))
    .option('--cluster-id <name>', 'metadata CLUSTER_ID', env('CLUSTER_ID', 'Kubernetes'))
    .option('--istio-version <version>', 'metadata ISTIO_VERSION: the istio-proxy behaviour this Envoy stands in for', DEFAULT_ISTIO_VERSION)
    .addOption(new Option('--interception-mode <mode>', 'how traffic reaches Envoy (metadata INTERCEPTION_MODE)').choices(['REDIRECT', 'TPROXY', 'NONE']).default('REDIRECT'))
    .addOption(new Option('--xds-mode <mode>', 'ADS flavour: delta (istio-proxy default since 1.22) or sotw').choices(['delta', 'sotw']).default('delta'))
    .option('--discovery-address <host:port>', 'meshd xDS address: 15010 plaintext, 15012 TLS (needs --cert-dir)', env('XDS_ADDR', 'istiod.istio-system.svc:15010'))
    .option('--cert-dir <dir>', 'TLS to meshd with cert-chain.pem, key.pem, root-cert.pem from this directory (meshd agent / istio-agent layout)')
    .option('--xds-server-name <name>', "SNI and DNS SAN of meshd's TLS certificate", 'istiod.istio-system.svc')
    .option('--sds-socket <path>', 'Unix socket of the SDS server behind cluster sds-grpc (certificates `default` and `ROOTCA`)', DEFAULT_SDS_SOCKET)
    .option('--admin-port <port>', 'Envoy admin on 127.0.0.1', '15000')
    .option('--stats-port <port>', 'Prometheus listener (/stats/prometheus)', '15090')
    .option('--status-port <port>', 'readiness listener (/healthz/ready)', '15021')
    .option('--locality <region/zone/subzone>', 'node locality (locality-aware load balancing)')
    .option('--all-stats', "export all of Envoy's stats (its native request stats) instead of Istio's inclusion list, which assumes istio-proxy's istio.stats")
    .option('-o, --output <file>', 'write the bootstrap here instead of stdout')
    .action(async (flags) => {
      const { writeBootstrap } = await import('./bootstrap.js');
      writeBootstrap(flags);
    });
}

function addValuesFlags(cmd: Command): Command {
  return cmd
    .option('--set <key=value>', 'override a value (chart keys: revision, hub, tag, autoscaleEnabled, resources.requests.cpu, meshConfig.X, global.istioNamespace…; istioctl spellings values.pilot.X / values.global.X / profile=default accepted); repeatable', collect, [])
    .option('-f, --filename <file>', "values file (the chart's values.yaml layout), applied before --set");
}

function addClusterFlags(cmd: Command): Command {
  return addKubeFlags(cmd, 'default: $KUBECONFIG, then ~/.kube/config, or in-cluster').option('-y, --skip-confirmation', 'do not ask for confirmation');
}

const STDIO: InstallIO = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };

/** install, uninstall, manifest generate, tag set|list|remove: istioctl's workflow. */
export function addInstallCommands(program: Command, io: InstallIO = STDIO): void {
  addClusterFlags(addValuesFlags(program.command('install')))
    .description('install meshd into a cluster: CRDs, RBAC, Deployment, Service istiod, webhooks, mesh ConfigMap, PDB, HPA (server-side apply), then wait until it is available; --set revision=NAME installs a canary control plane beside the default one (istiod-NAME, istio-sidecar-injector-NAME, ConfigMap istio-NAME)')
    .option('--no-wait', 'do not wait for the Deployment to become available')
    .option('--wait-timeout <duration>', 'how long to wait for the Deployment', '5m')
    .option('--dry-run', 'send every request with dryRun=All: the API server checks, nothing changes (objects in a namespace the install would create are listed as not checked)')
    .action(async (flags) => {
      const { runInstall } = await import('./install.js');
      process.exitCode = await runInstall(flags, io);
    });

  addClusterFlags(addValuesFlags(program.command('uninstall')))
    .description('remove what meshd install applied (one revision\'s control plane with --revision); --purge also removes the Istio CRDs (and all Istio config) and the namespace')
    .option('-r, --revision <name>', "remove only this revision's control plane (what `install --set revision=NAME` applied); the other revisions and the shared CRDs and namespace stay")
    .option('--purge', 'also delete the CRDs and the namespace')
    .action(async (flags) => {
      const { runUninstall } = await import('./install.js');
      process.exitCode = await runUninstall(flags, io);
    });

  const manifest = program.command('manifest').description('installation manifests');
  addValuesFlags(manifest.command('generate'))
    .description('print what meshd install would apply (CRDs, then the objects) as YAML')
    .action(async (flags) => {
      const { runManifestGenerate } = await import('./install.js');
      runManifestGenerate(flags, io);
    });

  const tag = program
    .command('tag')
    .description('revision tags: stable names (prod, canary) that namespaces select with istio.io/rev, pointing at one installed revision');
  addKubeFlags(tag.command('set').argument('<tag>', 'the tag name namespaces will label themselves with (istio.io/rev=TAG)'), 'default: $KUBECONFIG, then ~/.kube/config')
    .description('point a tag at a revision: an injector webhook for istio.io/rev=TAG that injects the revision\'s sidecar; moving a tag moves every namespace labelled with it')
    .requiredOption('-r, --revision <name>', 'the installed revision the tag points at ("default" for the control plane installed without a revision)')
    .option('-i, --istio-namespace <namespace>', 'the control plane namespace', 'istio-system')
    .option('--overwrite', 'move the tag if it already points at another revision')
    .action(async (name: string, flags) => {
      const { runTagSet } = await import('./tag.js');
      process.exitCode = await runTagSet(name, flags, io);
    });
  addKubeFlags(tag.command('list'), 'default: $KUBECONFIG, then ~/.kube/config')
    .description('list the tags, the revision each points at and the namespaces that use it')
    .option('-i, --istio-namespace <namespace>', 'the control plane namespace', 'istio-system')
    .action(async (flags) => {
      const { runTagList } = await import('./tag.js');
      process.exitCode = await runTagList(flags, io);
    });
  addKubeFlags(tag.command('remove').argument('<tag>', 'the tag to remove'), 'default: $KUBECONFIG, then ~/.kube/config')
    .description('remove a tag (namespaces still labelled with it are named, and get no sidecars from it any more)')
    .option('-i, --istio-namespace <namespace>', 'the control plane namespace', 'istio-system')
    .option('-y, --skip-confirmation', 'remove even when namespaces still use the tag')
    .action(async (name: string, flags) => {
      const { runTagRemove } = await import('./tag.js');
      process.exitCode = await runTagRemove(name, flags, io);
    });
}

function addSimulateCommand(program: Command): void {
  const simulate = program
    .command('simulate')
    .description('show how an Envoy sidecar or gateway routes one request: listener, filter chain, virtual host, route, clusters')
    .option('--config-dir <dir>', 'mesh config (Istio and Kubernetes YAML/JSON) to generate the proxy from')
    .option('--proxy <node-id>', 'the sidecar (sidecar~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local) or gateway (router~…): a gateway is reached on --port, the pod port');
  addLabelFlag(simulate, 'a label of the proxy workload')
    .option('--resources <file>', 'Envoy /config_dump JSON, or {listeners, routes, clusters}, instead of --config-dir')
    .requiredOption('--port <port>', 'destination port the application connects to')
    .option('--ip <addr>', 'destination IP the application connects to (a service cluster IP)')
    .option('--host <authority>', 'Host / :authority')
    .option('--path <path>', ':path, with query string', '/')
    .option('--method <method>', 'HTTP method', 'GET')
    .option('--scheme <scheme>', ':scheme (http or https)', 'http')
    .option('--header <name:value>', 'request header (repeatable)', collect, [])
    .option('--tcp', 'opaque TCP instead of HTTP')
    .option('--sni <name>', 'TLS client: SNI')
    .option('--alpn <list>', 'TLS client: comma-separated ALPN')
    .option('--inbound', 'the connection arrives at the pod (virtualInbound, 15006) instead of leaving it')
    .option('--source-ip <addr>', 'client IP')
    .option('--random <n>', 'random value for weighted clusters and runtime fractions', '0')
    .option('--verbose', 'include the matched route and cluster resources')
    .action(async (flags) => {
      const [{ runSimulate }, { labelsFromFlags }] = await Promise.all([import('../simulate/cli.js'), import('./flags.js')]);
      process.exitCode = await runSimulate({ ...flags, label: Object.entries(labelsFromFlags(flags)).map(([k, v]) => `${k}=${v}`) }, { stdout: process.stdout, stderr: process.stderr });
    });
}

const outputOption = () => new Option('-o, --output <format>', 'output format').choices(['table', 'json', 'yaml']).default('table');

/** istioctl's proxy-status and proxy-config, answered by a running meshd (--meshd-addr). */
function addProxyCommands(program: Command): void {
  addNamespaceFlag(
    addMeshdAddrFlag(program.command('proxy-status').alias('ps').argument('[pod]', 'only this proxy: POD[.NAMESPACE] or its node id')),
    'only proxies in this namespace (and the namespace of a POD given without one)',
  )
    .description("each connected proxy's sync state per xDS type, as istioctl proxy-status: SYNCED (ACKed), STALE (not answered yet, or NACKed: the text follows), NOT SENT, IGNORED (not subscribed)")
    .addOption(outputOption())
    .action(async (pod: string | undefined, flags) => {
      const { runProxyStatus } = await import('./proxy-status.js');
      process.exitCode = await runProxyStatus(pod, flags, { stdout: process.stdout, stderr: process.stderr });
    });

  const proxyConfig = program
    .command('proxy-config')
    .alias('pc')
    .description("what meshd sent one proxy (its clusters, listeners, routes, endpoints, secret names), in istioctl proxy-config's tables or as JSON/YAML");
  const describe: Record<string, string> = {
    cluster: 'clusters: SERVICE FQDN, PORT, SUBSET, DIRECTION, TYPE, DESTINATION RULE (filters --fqdn --port --subset --direction)',
    listener: 'listeners: ADDRESSES, PORT, MATCH, DESTINATION per filter chain (filters --address --port --type --name)',
    route: 'route configurations: NAME, VHOST NAME, DOMAINS, MATCH, VIRTUAL SERVICE (filter --name)',
    endpoint: 'endpoints: ENDPOINT, STATUS, LOCALITY, CLUSTER (filters --fqdn --port --subset --direction --cluster --address --status)',
    secret: 'the SDS secrets the proxy asks for and where from (meshd serves none: certificates come from the agent)',
    all: 'all of the above; -o json|yaml prints the whole config dump',
  };
  for (const kind of ['cluster', 'listener', 'route', 'endpoint', 'secret', 'all'] as const) {
    const cmd = addNamespaceFlag(
      addMeshdAddrFlag(proxyConfig.command(kind).argument('<pod>', 'the proxy: POD[.NAMESPACE] or its node id')),
      'namespace of a POD given without one',
      'default',
    )
      .description(describe[kind]!)
      .addOption(outputOption());
    if (kind === 'cluster' || kind === 'endpoint' || kind === 'all') {
      cmd
        .option('--fqdn <host>', 'clusters whose name contains this FQDN')
        .option('--port <port>', 'clusters of this port (listeners: this port)')
        .option('--subset <name>', 'clusters of this subset')
        .option('--direction <dir>', 'inbound or outbound clusters');
    }
    if (kind === 'listener') cmd.option('--port <port>', 'listeners on this port').option('--address <ip>', 'listeners on this address').option('--type <type>', 'HTTP, TCP, HTTP+TCP or UNKNOWN');
    if (kind === 'endpoint') cmd.option('--cluster <name>', 'endpoints of this cluster').option('--address <ip>', 'endpoints with this address').option('--status <status>', 'HEALTHY, UNHEALTHY, DRAINING…');
    if (kind === 'listener' || kind === 'route' || kind === 'secret' || kind === 'all') cmd.option('--name <name>', 'only the resource of this name');
    cmd.action(async (pod: string, flags) => {
      const { runProxyConfig } = await import('./proxy-config.js');
      process.exitCode = await runProxyConfig(kind, pod, flags, { stdout: process.stdout, stderr: process.stderr });
    });
  }
}

function addExplainCommand(program: Command): void {
  addMeshdAddrFlag(
    program
      .command('explain')
      .argument('<request>', 'http://HOST[:PORT]/PATH, tcp://HOST:PORT, or grpc://HOST:PORT/package.Service/Method')
      .description("why one request from one proxy goes where it goes, from what meshd serves that proxy: listener, route (and its VirtualService), weighted choice, cluster (DestinationRule, subset, TLS), endpoints, and the AuthorizationPolicy at the destination's sidecar; exit 0 forwarded, 1 not")
      .requiredOption('--proxy <pod>', 'the source proxy: POD[.NAMESPACE] or its node id'),
  )
    .option('-H, --header <name:value>', 'request header; repeatable', collect, [])
    .option('-X, --method <method>', 'HTTP method (default GET; POST for grpc://)')
    .option('--config-dir <dir>', 'explain offline from a config directory (the sidecar generated as meshd serve would) instead of a running meshd')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json', 'yaml']).default('text'))
    .action(async (request: string, flags) => {
      const { runExplain } = await import('./explain.js');
      process.exitCode = await runExplain(request, { ...flags, headers: flags.header }, { stdout: process.stdout, stderr: process.stderr });
    });
}

function addDiffCommand(program: Command): void {
  addMeshdAddrFlag(
    program
      .command('diff')
      .description('what applying a change would do to every proxy before it is applied: per proxy class, the clusters/listeners/routes/endpoints added, removed and changed (with the changed fields), and each document validated as meshd admits it; exit 0 nothing changes, 1 something does, 2 a document is refused')
      .requiredOption('-f, --filename <file>', 'the change: YAML/JSON documents as you would apply them; - reads stdin'),
  )
    .option('--config-dir <dir>', 'diff against this config directory (its Pods are the proxies) instead of a running meshd (its config and connected proxies)')
    .option('--delete', 'the change deletes the documents (kubectl delete -f) instead of applying them')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json', 'yaml']).default('text'))
    .action(async (flags) => {
      const { runDiff } = await import('./diff.js');
      process.exitCode = await runDiff(flags, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
    });
}

function addCompletionCommand(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script: source <(meshd completion bash), or meshd completion zsh > "${fpath[1]}/_meshd"')
    .argument('<shell>', 'bash or zsh')
    .action(async (shell: string) => {
      const { completionScript } = await import('./completion.js');
      process.stdout.write(completionScript(program, shell));
    });
}

/**
 * Errors as one line naming the command, the problem, the closest flag or command when there is one,
 * and where to look: `meshd serve: unknown option '--confg-dir' (did you mean --config-dir?); see 'meshd serve --help'`.
 */
function oneLineErrors(cmd: Command): void {
  const path: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) path.unshift(c.name());
  const where = path.join(' ');
  cmd.configureOutput({
    outputError: (str, write) => {
      const text = str
        .trim()
        .replace(/^error: /, '')
        .replace(/\s*\n\(Did you mean (.+)\?\)$/, ' (did you mean $1?)')
        .replace(/\s*\n\s*/g, ' ')
        .replace(/\.$/, '');
      write(`${where}: ${text}; see '${where} --help'\n`);
    },
  });
  for (const sub of cmd.commands) oneLineErrors(sub);
}

export function buildProgram(): Command {
  const program = new Command()
    .name('meshd')
    .description('An istiod-compatible service-mesh control plane: Istio config in, xDS out.')
    .version(meshdVersion(), '-v, --version', 'print the meshd version')
    .helpCommand(false);
  addServeCommand(program);
  addValidateCommand(program);
  addAnalyzeCommand(program);
  addAgentCommand(program);
  addCaCommand(program);
  addBootstrapCommand(program);
  addInstallCommands(program);
  addSimulateCommand(program);
  addProxyCommands(program);
  addExplainCommand(program);
  addDiffCommand(program);
  addCompletionCommand(program);
  oneLineErrors(program);
  return program;
}
