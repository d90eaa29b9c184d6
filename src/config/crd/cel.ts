import { isIP } from 'node:net';
import type { CelEnv, CelFunc, CelInput } from '@bufbuild/cel';
import { celExtensions, celLibrary } from './cel-lib.js';

// The CEL of CRD `x-kubernetes-validations`: the CEL standard library, its strings extension, plus the
// Kubernetes URL library functions Istio's CRDs call (isURL, url().getScheme()) and the IP library's isIP
// (the Gateway API CRDs' address rules). Each rule is planned once
// and kept; rules come only from the vendored CRDs, so the cache is bounded by their number. The library
// and the environment are built on the first rule evaluated (cel-lib.ts says why).

/**
 * Kubernetes' `isURL`/`url`: Go's url.ParseRequestURI, i.e. an absolute URI (`scheme:…`) or an absolute
 * path. Returns the scheme ('' for a path), or undefined when the string is not such a URL.
 */
function requestUriScheme(text: string): string | undefined {
  if (text.startsWith('/')) return '';
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(text)?.[1];
  if (scheme === undefined) return undefined;
  try {
    new URL(text);
  } catch {
    return undefined;
  }
  return scheme;
}

function kubernetesFuncs(): CelFunc[] {
  const { CelScalar, celFunc, celMethod, mapType } = celLibrary();
  const URL_TYPE = mapType(CelScalar.STRING, CelScalar.STRING);
  return [
    // Kubernetes' isIP: an IPv4 or IPv6 address (netip.ParseAddr), no zone
    celFunc('isIP', [CelScalar.STRING], CelScalar.BOOL, (s) => !s.includes('%') && isIP(s) !== 0),
    celFunc('isURL', [CelScalar.STRING], CelScalar.BOOL, (s) => requestUriScheme(s) !== undefined),
    celFunc('url', [CelScalar.STRING], URL_TYPE, (s) => {
      const scheme = requestUriScheme(s);
      if (scheme === undefined) throw new Error(`URL parse error during conversion from string: ${s}`);
      return new Map([['scheme', scheme]]);
    }),
    celMethod('getScheme', URL_TYPE, [], CelScalar.STRING, function getScheme() {
      return String(this.get('scheme') ?? '');
    }),
  ];
}

let env: CelEnv | undefined;
function celEnvironment(): CelEnv {
  return (env ??= celLibrary().celEnv({ funcs: [...celExtensions().strings, ...kubernetesFuncs()] }));
}

type Planned = (ctx: Record<string, CelInput>) => unknown;
const planned = new Map<string, Planned | string>();

/** Evaluates `rule` with `self` bound (already converted to CEL values). True, false, or an error text. */
export function evaluateRule(rule: string, self: CelInput): boolean | string {
  let run = planned.get(rule);
  const { isCelError, parse, plan } = celLibrary();
  if (run === undefined) {
    try {
      run = plan(celEnvironment(), parse(rule)) as unknown as Planned;
    } catch (err) {
      run = `cannot compile rule: ${(err as Error).message}`;
    }
    planned.set(rule, run);
  }
  if (typeof run === 'string') return run;
  try {
    const result = run({ self });
    if (isCelError(result)) return result.message;
    return result === true;
  } catch (err) {
    return (err as Error).message;
  }
}
