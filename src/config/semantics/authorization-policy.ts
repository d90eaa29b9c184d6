import type { Problem } from '../origin.js';
import type { AuthorizationPolicy, Condition, Operation, Source } from '../schemas/authorization-policy.js';
import { Problems, at, checkTargetRef, checkWorkloadSelector, ipOrCidrError } from './util.js';

// AuthorizationPolicy rules of istiod's validating webhook (ValidateAuthorizationPolicy and
// pkg/config/security), with messages that say why.

const DRY_RUN_ANNOTATION = 'istio.io/dry-run';

const MATCH_ONE_TEMPLATE = '{*}';
const MATCH_ANY_TEMPLATE = '{**}';
const VALID_LITERAL = /^[a-zA-Z0-9-._~%!$&'()+,;:@=]+$/;

export function checkAuthorizationPolicy(ap: AuthorizationPolicy): Problem[] {
  const out = new Problems();
  const spec = ap.spec;
  const action = spec.action ?? 'ALLOW';

  const dryRun = ap.metadata.annotations?.[DRY_RUN_ANNOTATION];
  if (dryRun !== undefined) {
    const p = `metadata.annotations.${DRY_RUN_ANNOTATION}`;
    if (action !== 'ALLOW' && action !== 'DENY') out.add(p, `the annotation ${DRY_RUN_ANNOTATION} currently only supports action ALLOW/DENY, found action ${action}`);
    else if (!/^(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/.test(dryRun)) out.add(p, `invalid value ${JSON.stringify(dryRun)}: must be true or false`);
  }

  if (spec.selector) checkWorkloadSelector(out, 'spec.selector', spec.selector.matchLabels);
  if (spec.targetRef) checkTargetRef(out, 'spec.targetRef', spec.targetRef);
  (spec.targetRefs ?? []).forEach((r, i) => checkTargetRef(out, at('spec.targetRefs', i), r));

  if (action === 'CUSTOM') {
    if (spec.rules === undefined) {
      out.add('spec.rules', 'CUSTOM action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request');
    } else if (!spec.provider?.name) {
      out.add('spec.provider.name', '`provider.name` must not be empty: CUSTOM action needs the extension provider to call');
    }
    (spec.rules ?? []).forEach((rule, i) => {
      (rule.from ?? []).forEach((from, j) => {
        const src = from.source;
        if (!src) return;
        for (const f of ['namespaces', 'notNamespaces', 'serviceAccounts', 'notServiceAccounts', 'principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals'] as const) {
          if ((src[f] ?? []).length > 0) out.add(at(at(at(at('spec.rules', i), 'from'), j), 'source') + `.${f}`, `${f} is currently not supported with CUSTOM action`);
        }
      });
      (rule.when ?? []).forEach((c, j) => {
        if (c.key === 'source.namespace' || c.key === 'source.serviceAccount' || c.key === 'source.principal' || c.key.startsWith('request.auth.')) {
          out.add(at(at(at('spec.rules', i), 'when'), j) + '.key', `${c.key} is currently not supported with CUSTOM action`);
        }
      });
    });
  }
  if (spec.provider !== undefined && action !== 'CUSTOM') {
    out.add('spec.provider', `\`provider\` must not be with non CUSTOM action, found ${action}`);
  }
  if (action === 'DENY' && spec.rules === undefined) {
    out.add('spec.rules', 'DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request');
  }

  (spec.rules ?? []).forEach((rule, i) => {
    const rp = at('spec.rules', i);
    if (rule.from !== undefined && rule.from.length === 0) out.add(at(rp, 'from'), '`from` must not be empty (omit it to match any source)');
    (rule.from ?? []).forEach((from, j) => {
      const p = at(at(rp, 'from'), j);
      if (!from.source) out.add(at(p, 'source'), '`from.source` must not be nil');
      else checkSource(out, at(p, 'source'), from.source);
    });
    if (rule.to !== undefined && rule.to.length === 0) out.add(at(rp, 'to'), '`to` must not be empty (omit it to match any operation)');
    (rule.to ?? []).forEach((to, j) => {
      const p = at(at(rp, 'to'), j);
      if (!to.operation) out.add(at(p, 'operation'), '`to.operation` must not be nil');
      else checkOperation(out, at(p, 'operation'), to.operation);
    });
    (rule.when ?? []).forEach((c, j) => checkCondition(out, at(at(rp, 'when'), j), c));
  });
  return out.list;
}

const nonEmpty = (v: readonly string[] | undefined) => (v ?? []).length > 0;

function checkEmptyValues(out: Problems, path: string, values: readonly string[] | undefined): void {
  (values ?? []).forEach((v, i) => {
    if (v === '') out.add(at(path, i), 'empty value not allowed');
  });
}

function checkIPs(out: Problems, path: string, values: readonly string[] | undefined): void {
  (values ?? []).forEach((v, i) => {
    if (v === '') return; // reported as empty
    const err = ipOrCidrError(v);
    if (err) out.add(at(path, i), err.includes('CIDR') ? `bad CIDR range (${v})` : `bad IP address (${v})`);
  });
}

function serviceAccountError(value: string): string | undefined {
  if (value === '') return 'empty value not allowed';
  if (value.includes('*')) return 'wildcard not allowed in service accounts';
  const slashes = value.split('/').length - 1;
  if (slashes > 1) return `expected format 'serviceAccount' or 'namespace/serviceAccount', found ${JSON.stringify(value)}`;
  if (value.length > 320) return 'value cannot exceed 320 characters';
  if (slashes === 1) {
    const [ns, sa] = value.split('/');
    if (!ns) return `expected format 'serviceAccount' or 'namespace/serviceAccount', found empty namespace ${JSON.stringify(value)}`;
    if (!sa) return `expected format 'serviceAccount' or 'namespace/serviceAccount', found empty serviceAccount ${JSON.stringify(value)}`;
  }
  return undefined;
}

function checkServiceAccounts(out: Problems, path: string, values: readonly string[] | undefined): void {
  (values ?? []).forEach((v, i) => {
    const err = serviceAccountError(v);
    if (err) out.add(at(path, i), err);
  });
}

function checkSource(out: Problems, path: string, src: Source): void {
  const fields = Object.entries(src).filter(([, v]) => nonEmpty(v as string[] | undefined));
  if (fields.length === 0) out.add(path, '`from.source` must not be empty (set at least one of principals, namespaces, ipBlocks, …)');
  for (const f of ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const) checkIPs(out, at(path, f), src[f]);
  for (const f of ['principals', 'requestPrincipals', 'namespaces', 'ipBlocks', 'remoteIpBlocks', 'notPrincipals', 'notRequestPrincipals', 'notNamespaces', 'notIpBlocks', 'notRemoteIpBlocks', 'trustDomains', 'notTrustDomains'] as const) {
    checkEmptyValues(out, at(path, f), src[f]);
  }
  checkServiceAccounts(out, at(path, 'serviceAccounts'), src.serviceAccounts);
  checkServiceAccounts(out, at(path, 'notServiceAccounts'), src.notServiceAccounts);
}

function portListError(port: string): string | undefined {
  return /^\d+$/.test(port) && Number(port) <= 65535 ? undefined : `bad port (${port}): must be a number in 0..65535`;
}

function pathTemplateError(original: string): string | undefined {
  const hasTemplate = original.includes(MATCH_ONE_TEMPLATE) || original.includes(MATCH_ANY_TEMPLATE);
  const path = original.replace(/^\/+|\/+$/g, '');
  let foundAny = false;
  for (const glob of path.split('/')) {
    if (glob === MATCH_ONE_TEMPLATE && !foundAny) continue;
    if (glob === MATCH_ANY_TEMPLATE && !foundAny) {
      foundAny = true;
      continue;
    }
    if ((glob === MATCH_ANY_TEMPLATE || glob === MATCH_ONE_TEMPLATE) && foundAny) {
      return `invalid or unsupported path ${original}: {**} must be the last operator`;
    }
    if (/[{}]/.test(glob)) return `invalid or unsupported path ${original}: contains '{' or '}' beyond a supported path template ({*} or {**})`;
    if (hasTemplate && !VALID_LITERAL.test(glob)) return `invalid or unsupported path ${original}: segment ${JSON.stringify(glob)} is not a valid literal`;
  }
  return undefined;
}

function checkOperation(out: Problems, path: string, op: Operation): void {
  const fields = Object.entries(op).filter(([, v]) => nonEmpty(v as string[] | undefined));
  if (fields.length === 0) out.add(path, '`to.operation` must not be empty (set at least one of hosts, ports, methods, paths, …)');
  for (const f of ['ports', 'notPorts'] as const) {
    (op[f] ?? []).forEach((p, i) => {
      if (p === '') return;
      const err = portListError(p);
      if (err) out.add(at(at(path, f), i), err);
    });
  }
  for (const f of ['ports', 'methods', 'paths', 'hosts', 'notPorts', 'notMethods', 'notPaths', 'notHosts'] as const) {
    checkEmptyValues(out, at(path, f), op[f]);
  }
  for (const f of ['paths', 'notPaths'] as const) {
    (op[f] ?? []).forEach((p, i) => {
      const err = pathTemplateError(p);
      if (err) out.add(at(at(path, f), i), err);
    });
  }
}

/** `name[key]` with a non-empty key */
const MAP_KEY = /^[^[]+\[.+\]$/;

/** istio security.ValidateAttribute: which `when` keys exist and what their values must look like. */
function attributeError(key: string, values: readonly string[]): string | undefined {
  if (values.some((v) => v === '')) return 'empty value not allowed';
  const mapKey = () => (MAP_KEY.test(key) ? undefined : `bad key (${key}): should have format a[b]`);
  const ips = () => {
    for (const v of values) {
      const err = ipOrCidrError(v);
      if (err) return err;
    }
    return undefined;
  };
  if (key.startsWith('request.headers')) return mapKey();
  if (key.startsWith('request.experimental.inline.headers')) return mapKey();
  if (key.startsWith('request.auth.claims')) return mapKey();
  if (key.startsWith('experimental.envoy.filters.')) return mapKey();
  switch (key) {
    case 'source.ip':
    case 'remote.ip':
    case 'destination.ip':
      return ips();
    case 'source.serviceAccount':
      for (const v of values) {
        const err = serviceAccountError(v);
        if (err) return err;
      }
      return undefined;
    case 'destination.port':
      for (const v of values) {
        const err = portListError(v);
        if (err) return err;
      }
      return undefined;
    case 'source.namespace':
    case 'source.principal':
    case 'source.trustDomain':
    case 'request.auth.principal':
    case 'request.auth.audiences':
    case 'request.auth.presenter':
    case 'connection.sni':
      return undefined;
    case 'destination.namespace':
      return `attribute ${key} is replaced by the metadata.namespace`;
    case 'destination.name':
    case 'destination.user':
      return `deprecated attribute ${key}: only supported in v1alpha1`;
  }
  if (key.startsWith('destination.labels')) return `attribute ${key} is replaced by the workload selector`;
  return `unknown attribute: ${key} (supported: request.headers[…], source.ip, remote.ip, source.namespace, source.principal, source.serviceAccount, source.trustDomain, request.auth.principal, request.auth.audiences, request.auth.presenter, request.auth.claims[…], destination.ip, destination.port, connection.sni, experimental.envoy.filters.*)`;
}

function checkCondition(out: Problems, path: string, c: Condition): void {
  if (c.key === '') {
    out.add(at(path, 'key'), '`key` must not be empty');
    return;
  }
  if (!nonEmpty(c.values) && !nonEmpty(c.notValues)) {
    out.add(path, `at least one of \`values\` or \`notValues\` must be set for key ${c.key}`);
    return;
  }
  const v = attributeError(c.key, c.values ?? []);
  if (v) out.add(at(path, 'values'), `invalid \`value\` for \`key\` ${c.key}: ${v}`);
  const nv = attributeError(c.key, c.notValues ?? []);
  if (nv) out.add(at(path, 'notValues'), `invalid \`notValue\` for \`key\` ${c.key}: ${nv}`);
}
