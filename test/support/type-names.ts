import { TYPE, typeName } from '../../src/xds/resource-types.js';

export const TYPE_NAMES: Record<string, string> = Object.fromEntries(Object.values(TYPE).map((t) => [t, typeName(t)]));
