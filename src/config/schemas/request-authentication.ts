import { z } from 'zod';
import { envelope } from './meta.js';
import { durationMin1ms, istioEnum, oneOnlyTarget, policyTargetFields, status } from './common.js';

// security.istio.io RequestAuthentication (v1 and v1beta1 share this schema), with the CRD's CEL rules.
// Field semantics: proto/security/v1beta1/request_authentication.proto (and crd-all.gen.yaml, which adds
// jwtRules[].presence).

const nonEmpty = z.string().min(1, 'should be at least 1 chars long');

/** `url(self).getScheme() in ["http", "https"]`, at most 2048 characters. */
const httpUrl = z
  .string()
  .min(1, 'should be at least 1 chars long')
  .max(2048, 'must be no more than 2048 characters')
  .superRefine((s, ctx) => {
    let scheme: string | undefined;
    try {
      scheme = new URL(s).protocol;
    } catch {
      scheme = undefined;
    }
    if (scheme !== 'http:' && scheme !== 'https:') ctx.addIssue({ code: 'custom', message: 'url must have scheme http:// or https://' });
  });

export const jwtHeader = z.strictObject({
  name: nonEmpty,
  prefix: z.string().optional(),
});
export type JWTHeader = z.infer<typeof jwtHeader>;

export const claimToHeader = z.strictObject({
  header: nonEmpty.regex(/^[-_A-Za-z0-9]+$/, 'should match ^[-_A-Za-z0-9]+$'),
  claim: nonEmpty,
});
export type ClaimToHeader = z.infer<typeof claimToHeader>;

export const jwtRule = z
  .strictObject({
    issuer: nonEmpty.optional(),
    audiences: z.array(nonEmpty).optional(),
    jwksUri: httpUrl.optional(),
    /** the CRD's snake_case spelling of jwksUri (protobuf JSON accepts both) */
    jwks_uri: httpUrl.optional(),
    jwks: z.string().optional(),
    fromHeaders: z.array(jwtHeader).optional(),
    fromParams: z.array(nonEmpty).optional(),
    fromCookies: z.array(nonEmpty).optional(),
    outputPayloadToHeader: z.string().optional(),
    forwardOriginalToken: z.boolean().optional(),
    outputClaimToHeaders: z.array(claimToHeader).optional(),
    timeout: durationMin1ms.optional(),
    spaceDelimitedClaims: z.array(nonEmpty).max(64, 'must have at most 64 items').optional(),
    presence: istioEnum(['OPTIONAL', 'REQUIRED']).optional(),
  })
  .superRefine((rule, ctx) => {
    if ([rule.jwks, rule.jwksUri, rule.jwks_uri].filter((v) => v !== undefined).length > 1) {
      ctx.addIssue({ code: 'custom', message: 'only one of jwks or jwksUri can be set' });
    }
  });
export type JWTRule = z.infer<typeof jwtRule>;

export const requestAuthenticationSpec = z
  .strictObject({
    ...policyTargetFields,
    jwtRules: z.array(jwtRule).max(4096, 'must have at most 4096 items').optional(),
  })
  .superRefine(oneOnlyTarget);
export type RequestAuthenticationSpec = z.infer<typeof requestAuthenticationSpec>;

export const requestAuthentication = envelope('RequestAuthentication', {
  spec: requestAuthenticationSpec.prefault({}),
  status,
});
export type RequestAuthentication = z.infer<typeof requestAuthentication>;
