import type { Kind } from '../kinds.js';
import type { Problem } from '../origin.js';
import type { KindMap } from '../schemas/index.js';
import { checkAuthorizationPolicy } from './authorization-policy.js';
import { checkDestinationRule } from './destination-rule.js';
import { checkGateway } from './gateway.js';
import { checkPeerAuthentication } from './peer-authentication.js';
import { checkTelemetry } from './telemetry.js';
import { checkRequestAuthentication } from './request-authentication.js';
import { checkVirtualService } from './virtual-service.js';
import { checkEnvoyFilter, checkProxyConfig, checkTrafficExtension, checkWasmPlugin } from './extensions.js';
import { checkServiceEntry, checkWorkloadEntry, checkWorkloadGroup } from './service-entry.js';
import { checkSidecar } from './sidecar.js';

/**
 * Istio's semantic rules per kind (what istiod's validating webhook checks beyond the CRD schema). They also
 * run on a document the schema refused (one run reports every problem), on the raw document then: a rule
 * must not trust types the schema did not confirm. A throw on such a document is ignored (its schema
 * problems already explain it), and problems at or under a path the schema reported are dropped.
 */
export const SEMANTIC_CHECKS: { [K in Kind]?: (obj: KindMap[K]) => Problem[] } = {
  VirtualService: checkVirtualService,
  DestinationRule: checkDestinationRule,
  Gateway: checkGateway,
  PeerAuthentication: checkPeerAuthentication,
  AuthorizationPolicy: checkAuthorizationPolicy,
  Telemetry: checkTelemetry,
  RequestAuthentication: checkRequestAuthentication,
  ServiceEntry: checkServiceEntry,
  WorkloadEntry: checkWorkloadEntry,
  WorkloadGroup: checkWorkloadGroup,
  Sidecar: checkSidecar,
  EnvoyFilter: checkEnvoyFilter,
  ProxyConfig: checkProxyConfig,
  WasmPlugin: checkWasmPlugin,
  TrafficExtension: checkTrafficExtension,
};
