import { FILTER_NAME } from '../../../envoy/type-urls.js';
import type { J } from '../../../envoy/json.js';

// Stock Envoy (configured through `meshd bootstrap`) rejects a whole listener that names an extension it
// was not built with, and network filters have no is_optional escape. istio-proxy's own extensions are
// therefore dropped from a stock Envoy's listeners in one place, after the listener is built Istio's way.

const ISTIO_PROXY_ONLY_FILTERS: ReadonlySet<string> = new Set([FILTER_NAME.ISTIO_STATS]);

const withoutIstioFilters = (filters: unknown): unknown =>
  Array.isArray(filters) ? filters.filter((f: J) => !ISTIO_PROXY_ONLY_FILTERS.has(f.name as string)) : filters;

function stripHcm(filter: J): J {
  const typed = filter.typed_config as J | undefined;
  if (!typed || !Array.isArray(typed.http_filters)) return filter;
  return { ...filter, typed_config: { ...typed, http_filters: withoutIstioFilters(typed.http_filters) } };
}

function stripChain(chain: unknown): unknown {
  if (!chain || typeof chain !== 'object') return chain;
  const c = chain as J;
  const filters = withoutIstioFilters(c.filters);
  return { ...c, filters: Array.isArray(filters) ? filters.map((f: J) => stripHcm(f)) : filters };
}

/** The listener without istio-proxy-only filters (network filters and HCM HTTP filters). */
export function forStockEnvoy(listener: J): J {
  const out: J = { ...listener };
  if (Array.isArray(listener.filter_chains)) out.filter_chains = listener.filter_chains.map(stripChain);
  if (listener.default_filter_chain) out.default_filter_chain = stripChain(listener.default_filter_chain);
  return out;
}
