import { readFile } from 'node:fs/promises';
import { ConfigStore } from '../config/store.js';
import { PushContext } from '../model/push-context.js';
import { parseProxy } from '../model/proxy.js';
import { DirectorySource } from '../sources/dir/directory-source.js';
import { createLogger } from '../telemetry/log.js';
import { simulate, type SimResult } from './envoy-sim.js';
import { ResourceSet, type SimRequestInput } from './resources.js';
import { generateSidecarResources } from './sidecar-resources.js';
import { createRouterGenerator } from '../xds/generators/router/index.js';

// `meshd simulate`: what an Envoy sidecar or gateway would do with one request. The resources come either from
// meshd itself (mesh config in a directory + the proxy's node id, generated as the daemon would) or
// from a JSON file (Envoy admin /config_dump, or {listeners, routes, clusters}). Prints the decision
// chain as JSON; exit 1 when Envoy would not forward the request.

export interface SimulateFlags {
  configDir?: string;
  resources?: string;
  proxy?: string;
  label: string[];
  port: string;
  ip?: string;
  host?: string;
  path: string;
  method: string;
  scheme: string;
  header: string[];
  tcp?: boolean;
  sni?: string;
  alpn?: string;
  inbound?: boolean;
  sourceIp?: string;
  random: string;
  verbose?: boolean;
}

export interface SimulateIO {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
}

function keyValues(items: readonly string[], what: string, sep: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const at = item.indexOf(sep);
    if (at <= 0) throw new Error(`${what} ${JSON.stringify(item)}: want NAME${sep}VALUE`);
    out[item.slice(0, at).trim()] = item.slice(at + 1).trim();
  }
  return out;
}

/**
 * The resources meshd would send the proxy: a `router~` node id is a gateway (the router generator, with
 * PILOT_SCOPE_GATEWAY_TO_NAMESPACE read from the environment as `meshd serve` does), anything else a sidecar.
 */
async function fromConfigDir(dir: string, proxyId: string, labels: Record<string, string>): Promise<ResourceSet> {
  const store = new ConfigStore();
  const source = new DirectorySource({ dir, store, log: createLogger('warn') });
  await source.start();
  await source.stop();
  const ns = proxyId.split('~')[2]?.split('.')[1] ?? 'default';
  const proxy = parseProxy({ id: proxyId, metadata: { NAMESPACE: ns, LABELS: labels, INSTANCE_IPS: proxyId.split('~')[1] ?? '' } });
  const generator = proxy.generator === 'router'
    ? createRouterGenerator({ scopeGatewayToNamespace: process.env.PILOT_SCOPE_GATEWAY_TO_NAMESPACE === 'true' })
    : undefined;
  const generated = generateSidecarResources(new PushContext(store, 'simulate'), proxy, generator);
  if (generated.missingRoutes.length > 0) throw new Error(`route configurations referenced but not generated: ${generated.missingRoutes.join(', ')}`);
  return generated.resources;
}

/** Drops the raw resources (large) from the result unless --verbose. */
function brief(r: SimResult): unknown {
  return {
    ...r,
    ...(r.http ? { http: { ...r.http, route: undefined } } : {}),
    clusters: r.clusters.map((c) => ({ ...c, resource: undefined })),
  };
}

export async function runSimulate(flags: SimulateFlags, io: SimulateIO): Promise<number> {
  let resources: ResourceSet;
  if (flags.resources) {
    resources = ResourceSet.fromDump(JSON.parse(await readFile(flags.resources, 'utf8')));
  } else if (flags.configDir && flags.proxy) {
    resources = await fromConfigDir(flags.configDir, flags.proxy, keyValues(flags.label, '--label', '='));
  } else {
    io.stderr.write('meshd simulate: pass --resources FILE, or --config-dir DIR with --proxy NODE_ID\n');
    return 2;
  }
  // a gateway's listeners bind the port the client reaches (the pod's port); a sidecar's traffic arrives
  // redirected to 15001 (outbound) or 15006 (inbound)
  const gateway = !flags.resources && flags.proxy?.startsWith('router~');
  const request: SimRequestInput = {
    port: Number(flags.port),
    destinationIp: flags.ip ?? (gateway ? flags.proxy!.split('~')[1] || '0.0.0.0' : '0.0.0.0'),
    entryPort: gateway ? Number(flags.port) : flags.inbound ? 15006 : 15001,
    protocol: flags.tcp ? 'tcp' : 'http',
    path: flags.path,
    method: flags.method,
    scheme: flags.scheme === 'https' ? 'https' : 'http',
    headers: keyValues(flags.header, '--header', ':'),
    random: Number(flags.random),
    ...(flags.host ? { host: flags.host } : {}),
    ...(flags.sourceIp ? { source: { ip: flags.sourceIp } } : {}),
    ...(flags.sni !== undefined || flags.alpn !== undefined
      ? { tls: { ...(flags.sni ? { sni: flags.sni } : {}), alpn: flags.alpn ? flags.alpn.split(',') : [] } }
      : {}),
  };
  const result = simulate(resources, request);
  io.stdout.write(`${JSON.stringify(flags.verbose ? result : brief(result), null, 2)}\n`);
  return result.failure ? 1 : 0;
}
