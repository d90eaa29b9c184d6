import { z } from 'zod';
import { envelope } from './meta.js';
import { istioEnum, status, stringMap, uint32 } from './common.js';

// networking.istio.io Gateway (v1, v1beta1 and v1alpha3 share this schema), with the CRD's CEL rules.
// Field semantics: proto/networking/v1alpha3/gateway.proto.

export const serverTLSMode = istioEnum(['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL']);
export type ServerTLSMode = z.infer<typeof serverTLSMode>;

export const tlsProtocolVersion = istioEnum(['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3']);
export type TLSProtocolVersion = z.infer<typeof tlsProtocolVersion>;

export const tlsCertificate = z.strictObject({
  serverCertificate: z.string().optional(),
  privateKey: z.string().optional(),
  caCertificates: z.string().optional(),
});

export const serverTLSSettings = z
  .strictObject({
    httpsRedirect: z.boolean().optional(),
    mode: serverTLSMode.optional(),
    serverCertificate: z.string().optional(),
    privateKey: z.string().optional(),
    caCertificates: z.string().optional(),
    caCrl: z.string().optional(),
    credentialName: z.string().optional(),
    credentialNames: z.array(z.string()).min(1, 'should have at least 1 items').max(2, 'should have at most 2 items').optional(),
    tlsCertificates: z.array(tlsCertificate).min(1, 'should have at least 1 items').max(2, 'should have at most 2 items').optional(),
    caCertCredentialName: z.string().optional(),
    subjectAltNames: z.array(z.string()).optional(),
    verifyCertificateSpki: z.array(z.string()).optional(),
    verifyCertificateHash: z.array(z.string()).optional(),
    minProtocolVersion: tlsProtocolVersion.optional(),
    maxProtocolVersion: tlsProtocolVersion.optional(),
    cipherSuites: z.array(z.string()).optional(),
    ecdhCurves: z.array(z.string()).optional(),
    insecureSkipVerify: z.boolean().nullable().optional(),
  })
  .superRefine((tls, ctx) => {
    const has = (v: unknown) => v !== undefined;
    if (has(tls.tlsCertificates) && has(tls.credentialNames)) {
      ctx.addIssue({ code: 'custom', message: 'only one of credentialNames or tlsCertificates can be set' });
    }
    if (has(tls.credentialName) && has(tls.credentialNames)) {
      ctx.addIssue({ code: 'custom', message: 'only one of credentialName or credentialNames can be set' });
    }
    if (has(tls.credentialName) && has(tls.tlsCertificates)) {
      ctx.addIssue({ code: 'custom', message: 'only one of credentialName or tlsCertificates can be set' });
    }
  });
export type ServerTLSSettings = z.infer<typeof serverTLSSettings>;

export const gatewayPort = z.strictObject({
  number: uint32,
  protocol: z.string(),
  name: z.string(),
  targetPort: uint32.optional(),
});
export type GatewayPort = z.infer<typeof gatewayPort>;

export const server = z.strictObject({
  port: gatewayPort,
  bind: z.string().optional(),
  hosts: z.array(z.string()),
  tls: serverTLSSettings.optional(),
  defaultEndpoint: z.string().optional(),
  name: z.string().optional(),
});
export type Server = z.infer<typeof server>;

export const gatewaySpec = z.strictObject({
  servers: z.array(server).optional(),
  selector: stringMap.optional(),
});
export type GatewaySpec = z.infer<typeof gatewaySpec>;

export const gateway = envelope('Gateway', {
  spec: gatewaySpec.prefault({}),
  status,
});
export type Gateway = z.infer<typeof gateway>;
