import { z } from 'zod';
import { envelope } from './meta.js';
import { istioEnum, oneOnlyTarget, policyTargetFields, status, stringList } from './common.js';

// security.istio.io AuthorizationPolicy (v1 and v1beta1 share this schema), with the CRD's CEL rules.
// Field semantics: proto/security/v1beta1/authorization_policy.proto.

const serviceAccounts = z
  .array(z.string().max(320, 'must be no more than 320 characters'))
  .max(16, 'must have at most 16 items');

export const source = z
  .strictObject({
    principals: stringList.optional(),
    notPrincipals: stringList.optional(),
    requestPrincipals: stringList.optional(),
    notRequestPrincipals: stringList.optional(),
    namespaces: stringList.optional(),
    notNamespaces: stringList.optional(),
    serviceAccounts: serviceAccounts.optional(),
    notServiceAccounts: serviceAccounts.optional(),
    ipBlocks: stringList.optional(),
    notIpBlocks: stringList.optional(),
    remoteIpBlocks: stringList.optional(),
    notRemoteIpBlocks: stringList.optional(),
    trustDomains: stringList.optional(),
    notTrustDomains: stringList.optional(),
  })
  .superRefine((s, ctx) => {
    const hasSA = s.serviceAccounts !== undefined || s.notServiceAccounts !== undefined;
    const hasOther =
      s.principals !== undefined ||
      s.notPrincipals !== undefined ||
      s.namespaces !== undefined ||
      s.notNamespaces !== undefined;
    if (hasSA && hasOther) {
      ctx.addIssue({
        code: 'custom',
        message: 'Cannot set serviceAccounts with namespaces or principals (use separate `from` entries)',
      });
    }
  });
export type Source = z.infer<typeof source>;

export const operation = z.strictObject({
  hosts: stringList.optional(),
  notHosts: stringList.optional(),
  ports: stringList.optional(),
  notPorts: stringList.optional(),
  methods: stringList.optional(),
  notMethods: stringList.optional(),
  paths: stringList.optional(),
  notPaths: stringList.optional(),
});
export type Operation = z.infer<typeof operation>;

export const condition = z.strictObject({
  key: z.string(),
  values: stringList.optional(),
  notValues: stringList.optional(),
});
export type Condition = z.infer<typeof condition>;

export const ruleFrom = z.strictObject({ source: source.optional() });
export type RuleFrom = z.infer<typeof ruleFrom>;
export const ruleTo = z.strictObject({ operation: operation.optional() });
export type RuleTo = z.infer<typeof ruleTo>;

export const rule = z.strictObject({
  from: z.array(ruleFrom).max(512, 'must have at most 512 items').optional(),
  to: z.array(ruleTo).optional(),
  when: z.array(condition).optional(),
});
export type Rule = z.infer<typeof rule>;

export const authorizationAction = istioEnum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']);
export type AuthorizationAction = z.infer<typeof authorizationAction>;

export const extensionProvider = z.strictObject({ name: z.string().optional() });

export const authorizationPolicySpec = z
  .strictObject({
    ...policyTargetFields,
    rules: z.array(rule).max(512, 'must have at most 512 items').optional(),
    action: authorizationAction.optional(),
    provider: extensionProvider.optional(),
  })
  .superRefine(oneOnlyTarget);
export type AuthorizationPolicySpec = z.infer<typeof authorizationPolicySpec>;

export const authorizationPolicy = envelope('AuthorizationPolicy', {
  spec: authorizationPolicySpec.prefault({}),
  status,
});
export type AuthorizationPolicy = z.infer<typeof authorizationPolicy>;
