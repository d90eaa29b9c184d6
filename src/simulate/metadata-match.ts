import { stringMatches, UnsupportedConfigError } from './route-match.js';
import type { Json } from './resources.js';

// envoy.type.matcher.v3.MetadataMatcher / ValueMatcher over a request's dynamic metadata, as Envoy's
// Matchers::MetadataMatcher evaluates them (used by RBAC `metadata` principals and RouteMatch.dynamic_metadata).
// Dynamic metadata is filter name → Struct, written here as plain JSON values.

export type DynamicMetadata = ReadonlyMap<string, unknown>;

/** ValueMatcher against one metadata value (undefined: absent). */
export function valueMatches(vm: Json, value: unknown): boolean {
  if (vm.null_match !== undefined) return value === null;
  if (vm.present_match !== undefined) return (value !== undefined) === (vm.present_match === true);
  if (value === undefined) return false;
  if (vm.string_match !== undefined) return typeof value === 'string' && stringMatches(vm.string_match, value);
  if (vm.bool_match !== undefined) return value === vm.bool_match;
  if (vm.double_match !== undefined) {
    if (typeof value !== 'number') return false;
    const dm = vm.double_match;
    if (dm.exact !== undefined) return value === Number(dm.exact);
    if (dm.range !== undefined) return value >= Number(dm.range.start) && value < Number(dm.range.end);
    return false;
  }
  if (vm.list_match !== undefined) {
    if (!Array.isArray(value)) return false;
    const one = vm.list_match.one_of;
    if (one === undefined) throw new UnsupportedConfigError(`ListMatcher ${JSON.stringify(vm.list_match)}: only one_of is known`);
    return value.some((v) => valueMatches(one, v));
  }
  if (vm.or_match !== undefined) return (vm.or_match.value_matchers ?? []).some((m: Json) => valueMatches(m, value));
  throw new UnsupportedConfigError(`ValueMatcher ${JSON.stringify(vm)}: not supported by the simulator`);
}

/** MetadataMatcher: the value at filter → path (keys through nested objects), then the value matcher, then invert. */
export function metadataMatches(mm: Json, metadata: DynamicMetadata): boolean {
  let value: unknown = metadata.get(String(mm.filter));
  for (const seg of (mm.path ?? []) as Json[]) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      value = undefined;
      break;
    }
    value = (value as Record<string, unknown>)[String(seg.key)];
  }
  const matched = valueMatches(mm.value ?? {}, value);
  return mm.invert === true ? !matched : matched;
}
