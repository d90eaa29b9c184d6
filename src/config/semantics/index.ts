import type { Kind } from '../kinds.js';
import type { Problem } from '../origin.js';
import type { KindMap } from '../schemas/index.js';
import { checkAuthorizationPolicy } from './authorization-policy.js';
import { checkDestinationRule } from './destination-rule.js';
import { checkPeerAuthentication } from './peer-authentication.js';
import { checkTelemetry } from './telemetry.js';
import { checkRequestAuthentication } from './request-authentication.js';
import { checkVirtualService } from './virtual-service.js';

/**
 * Istio's semantic rules per kind (what istiod's validating webhook checks beyond the CRD schema). They run
 * only after the schema accepted the document, so they may rely on its types.
 */
export const SEMANTIC_CHECKS: { [K in Kind]?: (obj: KindMap[K]) => Problem[] } = {
  VirtualService: checkVirtualService,
  DestinationRule: checkDestinationRule,
  PeerAuthentication: checkPeerAuthentication,
  AuthorizationPolicy: checkAuthorizationPolicy,
  Telemetry: checkTelemetry,
  RequestAuthentication: checkRequestAuthentication,
};
