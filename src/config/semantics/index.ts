import type { Kind } from '../kinds.js';
import type { Problem } from '../origin.js';
import type { KindMap } from '../schemas/index.js';

/** Istio's webhook (semantic) rules per kind, run after the schema accepted the document. */
export const SEMANTIC_CHECKS: { [K in Kind]?: (obj: KindMap[K]) => Problem[] } = {};
