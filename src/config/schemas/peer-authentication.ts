import { z } from 'zod';
import { envelope } from './meta.js';
import { status, workloadSelector, istioEnum } from './common.js';

// security.istio.io PeerAuthentication (v1 and v1beta1 share this schema), with the CRD's CEL rules.
// Field semantics: proto/security/v1beta1/peer_authentication.proto.

export const mtlsMode = istioEnum(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT']);
export type MTLSMode = z.infer<typeof mtlsMode>;

export const mutualTLS = z.strictObject({ mode: mtlsMode.optional() });
export type MutualTLS = z.infer<typeof mutualTLS>;

/** Keys are port numbers written as strings (`"8080"`); the CRD's CEL converts them with `int(key)`. */
export const portLevelMtls = z.record(z.string(), mutualTLS).superRefine((ports, ctx) => {
  const keys = Object.keys(ports);
  if (keys.length < 1) {
    ctx.addIssue({ code: 'custom', message: 'should have at least 1 properties (a port-level mTLS setting)' });
  }
  for (const key of keys) {
    if (!/^[-+]?\d+$/.test(key.trim())) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `type conversion error from string to int: ${JSON.stringify(key)} is not a port number`,
      });
      continue;
    }
    const port = Number(key);
    if (!(port > 0 && port <= 65535)) {
      ctx.addIssue({ code: 'custom', path: [key], message: 'port must be between 1-65535' });
    }
  }
});

export const peerAuthenticationSpec = z
  .strictObject({
    selector: workloadSelector.optional(),
    mtls: mutualTLS.optional(),
    portLevelMtls: portLevelMtls.optional(),
  })
  .superRefine((spec, ctx) => {
    // CEL: has(self.portLevelMtls) ? size(selector.matchLabels) > 0 : true
    if (spec.portLevelMtls !== undefined && Object.keys(spec.selector?.matchLabels ?? {}).length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['portLevelMtls'],
        message: 'portLevelMtls requires selector (a non-empty selector.matchLabels)',
      });
    }
  });
export type PeerAuthenticationSpec = z.infer<typeof peerAuthenticationSpec>;

export const peerAuthentication = envelope('PeerAuthentication', {
  spec: peerAuthenticationSpec.prefault({}),
  status,
});
export type PeerAuthentication = z.infer<typeof peerAuthentication>;
