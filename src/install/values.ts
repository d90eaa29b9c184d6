// Installation values: the keys of Istio's istio-discovery chart that meshd's deployment uses, with the
// same names and layout (flat top level + `global`), so `--set autoscaleEnabled=false` means the same
// thing to `meshd install`, to the Helm chart (manifests/charts/meshd) and to Istio's chart. istioctl's
// spellings (`values.pilot.X`, `values.global.X`, `meshConfig.X`, `profile=default`) are accepted too.

import { z } from 'zod';
import YAML from 'yaml';
import { DEFAULT_INJECTION_CONFIG } from '../webhook/inject/config.js';

const quantityMap = z.record(z.string(), z.union([z.string(), z.number()]));
const resources = z.strictObject({ requests: quantityMap.optional(), limits: quantityMap.optional() });

/** One gateway of istioctl's default profile (src/install/gateways.ts): Istio's gateways.istio-*gateway keys meshd reads. */
/** How many replicas, and the HPA: the same keys for istiod and for each gateway, as Istio's charts. */
const scaling = {
  replicaCount: z.number().int().min(0),
  autoscaleEnabled: z.boolean(),
  autoscaleMin: z.number().int().min(1),
  autoscaleMax: z.number().int().min(1),
  cpu: z.strictObject({ targetAverageUtilization: z.number().int().min(1).max(100) }),
  resources,
};

const gatewayValues = z.strictObject({
  enabled: z.boolean(),
  type: z.enum(['LoadBalancer', 'NodePort', 'ClusterIP']),
  ...scaling,
});

export const valuesSchema = z.strictObject({
  /** meshd's image registry and tag (meshd publishes none: build the Dockerfile, push, set these); empty means global.hub / global.tag, as istio-discovery */
  hub: z.string(),
  tag: z.string(),
  image: z.string().min(1),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']),
  ...scaling,
  nodeSelector: z.record(z.string(), z.string()),
  /** istio.io/rev of this control plane; empty is the default revision */
  revision: z.string().regex(/^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be empty or a lowercase RFC 1123 label'),
  /** mesh config (ConfigMap `istio`, key `mesh`), read by `meshd serve --mesh-config` */
  meshConfig: z.record(z.string(), z.unknown()),
  /** istio-ingressgateway (on by default) and istio-egressgateway (off), as istioctl's default profile */
  gateways: z.strictObject({ ingress: gatewayValues, egress: gatewayValues }),
  global: z.strictObject({
    hub: z.string().min(1),
    tag: z.string().min(1),
    istioNamespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a lowercase RFC 1123 label'),
    defaultPodDisruptionBudget: z.strictObject({ enabled: z.boolean() }),
  }),
});
export type Values = z.infer<typeof valuesSchema>;

/** Default values (the chart's values.yaml). */
export function defaultValues(): Values {
  return {
    hub: 'localhost:5000',
    tag: '0.1.0',
    image: 'meshd',
    imagePullPolicy: 'IfNotPresent',
    replicaCount: 1,
    autoscaleEnabled: true,
    autoscaleMin: 1,
    autoscaleMax: 5,
    cpu: { targetAverageUtilization: 80 },
    resources: { requests: { cpu: '500m', memory: '512Mi' } },
    nodeSelector: {},
    revision: '',
    // no rootNamespace, as istio-discovery's values: it is then meshd's own namespace (POD_NAMESPACE)
    meshConfig: { enablePrometheusMerge: true, trustDomain: 'cluster.local' },
    gateways: { ingress: gatewayDefaults(true, 'LoadBalancer'), egress: gatewayDefaults(false, 'ClusterIP') },
    global: {
      // the injected istio-proxy (proxyv2) image, as Istio's global.hub/global.tag
      hub: DEFAULT_INJECTION_CONFIG.hub,
      tag: DEFAULT_INJECTION_CONFIG.tag,
      istioNamespace: 'istio-system',
      defaultPodDisruptionBudget: { enabled: true },
    },
  };
}

function gatewayDefaults(enabled: boolean, type: 'LoadBalancer' | 'ClusterIP'): Values['gateways']['ingress'] {
  return {
    enabled,
    type,
    replicaCount: 1,
    autoscaleEnabled: true,
    autoscaleMin: 1,
    autoscaleMax: 5,
    cpu: { targetAverageUtilization: 80 },
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2000m', memory: '1024Mi' } },
  };
}

/** istioctl's gateway component and values names → meshd's `gateways.ingress` / `gateways.egress`. */
const GATEWAY_KEYS: readonly (readonly [RegExp, string])[] = [
  [/^components\.ingressGateways\[0\]\.enabled$/, 'gateways.ingress.enabled'],
  [/^components\.egressGateways\[0\]\.enabled$/, 'gateways.egress.enabled'],
  [/^(?:values\.)?gateways\.istio-ingressgateway\./, 'gateways.ingress.'],
  [/^(?:values\.)?gateways\.istio-egressgateway\./, 'gateways.egress.'],
];

/** Where a `--set` key lands in Values: istioctl's IstioOperator paths mapped onto the chart's. */
function chartPath(key: string): string[] | 'profile' {
  if (key === 'profile') return 'profile';
  for (const [re, to] of GATEWAY_KEYS) if (re.test(key)) return key.replace(re, to).split('.');
  if (key.startsWith('components.')) {
    throw new Error(`--set ${key}: meshd installs istio-ingressgateway and istio-egressgateway only; of components it reads components.ingressGateways[0].enabled and components.egressGateways[0].enabled (gateway settings: values.gateways.istio-ingressgateway.KEY)`);
  }
  let path = key;
  if (path.startsWith('values.')) path = path.slice('values.'.length);
  if (path.startsWith('pilot.')) path = path.slice('pilot.'.length);
  return path.split('.');
}

/** `--set` value text the way Helm reads it: true/false, integers, otherwise a string. */
function scalar(text: string): unknown {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (text === 'null') return null;
  if (/^-?\d+$/.test(text)) return Number(text);
  if (/^\{.*\}$|^\[.*\]$/.test(text)) return YAML.parse(text) as unknown;
  return text;
}

/**
 * Applies `key=value` overrides to the defaults and validates the result. Errors name the `--set` entry
 * and the field path.
 */
export function valuesWithOverrides(sets: readonly string[], base: Values = defaultValues()): Values {
  const values = structuredClone(base) as unknown as Record<string, unknown>;
  for (const entry of sets) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new Error(`--set ${entry}: expected key=value`);
    const key = entry.slice(0, eq);
    const text = entry.slice(eq + 1);
    const path = chartPath(key);
    if (path === 'profile') {
      if (text !== 'default') throw new Error(`--set ${entry}: meshd installs the "default" profile only`);
      continue;
    }
    let node = values;
    for (const part of path.slice(0, -1)) {
      const next = node[part];
      if (next === undefined) node[part] = {};
      else if (typeof next !== 'object' || next === null || Array.isArray(next)) throw new Error(`--set ${entry}: ${part} is not an object`);
      node = node[part] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = scalar(text);
  }
  const parsed = valuesSchema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.join('.');
    throw new Error(`--set: ${where || 'values'}: ${issue.message}`);
  }
  return parsed.data;
}
