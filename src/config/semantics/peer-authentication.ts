import type { Problem } from '../origin.js';
import type { PeerAuthentication } from '../schemas/peer-authentication.js';
import { Problems, checkWorkloadSelector } from './util.js';

// PeerAuthentication rules of istiod's validating webhook (ValidatePeerAuthentication). Port keys, their
// range and "portLevelMtls requires selector" are CRD rules and live in the schema.

export function checkPeerAuthentication(pa: PeerAuthentication): Problem[] {
  const out = new Problems();
  if (pa.spec.selector) checkWorkloadSelector(out, 'spec.selector', pa.spec.selector.matchLabels);
  return out.list;
}
