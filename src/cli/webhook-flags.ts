import { Option, type Command } from 'commander';
import { DEFAULT_INJECTION_CONFIG } from '../webhook/inject/config.js';
import { INJECTOR_WEBHOOK, revisioned, revisionOf, validatorName } from '../install/names.js';
import type { WebhookOptions } from '../webhook/setup.js';

// `meshd serve` flags for the injection and validation webhooks (istiod's 15017).

export interface WebhookFlags {
  webhookAddr: string;
  proxyHub: string;
  proxyTag: string;
  agentImage: string;
  revision: string;
  nativeSidecars: 'true' | 'false';
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  caDnsNames?: string;
}

export function addWebhookFlags(cmd: Command): Command {
  return cmd
    .option('--webhook-addr <addr>', 'HTTPS sidecar-injection (/inject) and validation (/validate) webhooks, certificate from the mesh CA (needs --secure-grpc-addr); "off" disables', ':15017')
    .option('--proxy-hub <hub>', "injected istio-proxy image hub (values.global.hub): image HUB/proxyv2:TAG", DEFAULT_INJECTION_CONFIG.hub)
    .option('--proxy-tag <tag>', 'injected istio-proxy image tag (values.global.tag)', DEFAULT_INJECTION_CONFIG.tag)
    .option('--agent-image <image>', 'image of the grpc-agent template sidecar, which runs `meshd agent`', DEFAULT_INJECTION_CONFIG.agentImage)
    .option('--revision <rev>', 'the istio.io/rev this control plane injects for', DEFAULT_INJECTION_CONFIG.revision)
    .addOption(new Option('--native-sidecars <bool>', 'inject istio-proxy as a Kubernetes native sidecar (restartable init container, Kubernetes >= 1.29)').choices(['true', 'false']).default('true'))
    .addOption(new Option('--image-pull-policy <policy>', 'imagePullPolicy of injected containers (default: the cluster default)').choices(['Always', 'IfNotPresent', 'Never']));
}

export function webhookOptions(flags: WebhookFlags, clusterId: string | undefined): WebhookOptions | undefined {
  if (!flags.webhookAddr || flags.webhookAddr === 'off') return undefined;
  return {
    addr: flags.webhookAddr,
    extraDnsNames: (flags.caDnsNames ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    // the revision's own webhook configurations and its tags' (src/install/names.ts)
    configurations: [
      { kind: 'MutatingWebhookConfiguration', name: revisioned(INJECTOR_WEBHOOK, flags.revision) },
      { kind: 'ValidatingWebhookConfiguration', name: validatorName(flags.revision, process.env.POD_NAMESPACE || 'istio-system') },
    ],
    tagsOfRevision: revisionOf(flags.revision) || 'default',
    injection: {
      hub: flags.proxyHub,
      tag: flags.proxyTag,
      agentImage: flags.agentImage,
      revision: flags.revision,
      nativeSidecars: flags.nativeSidecars !== 'false',
      ...(flags.imagePullPolicy ? { imagePullPolicy: flags.imagePullPolicy } : {}),
      ...(clusterId ? { clusterId } : {}),
    },
  };
}
