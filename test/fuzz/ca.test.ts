import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { TrustedKeyJwtAuthenticator } from '../../src/ca/authn.js';
import { CertificateService, ServiceError } from '../../src/ca/csr-service.js';
import { loadVerifyKeys, signJwt, verifyJwt } from '../../src/ca/jwt.js';
import { createCsr, generateKeyPair } from '../../src/ca/x509.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { fuzzParameters, FUZZ_SEED } from './settings.js';

// Fuzz (c): mutated CSRs and service-account tokens on the CA's CreateCertificate. Whatever arrives, the CA
// either refuses with a gRPC status or issues a certificate whose only identity is the one a token that
// verifies (real signature, istio-ca audience, not expired) names; never one for an identity the caller
// did not prove, never one for a CSR key it did not sign.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-fuzz-ca-'));
const issuerKey = generateKeyPair('rsa');
const keyFile = path.join(tmp, 'sa.pub.pem');
fs.writeFileSync(keyFile, issuerKey.publicKey.export({ type: 'spki', format: 'pem' }));
const verifyKeys = loadVerifyKeys(keyFile);
const attackerKey = generateKeyPair('rsa').privateKey;
const now = () => Math.floor(Date.now() / 1000);

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const serviceAccounts = [['default', 'hello'], ['prod', 'payments'], ['kube-system', 'default'], ['default', 'a'.repeat(300)]] as const;

type TokenRecipe = { sa: number; over: Record<string, unknown>; forge: 'none' | 'attacker-key' | 'alg-none' | 'swap-payload' | 'flip-signature' | 'truncate' | 'garbage' | 'empty'; claimedSa: number };
const tokenRecipe: fc.Arbitrary<TokenRecipe> = fc.record({
  sa: fc.nat({ max: serviceAccounts.length - 1 }),
  claimedSa: fc.nat({ max: serviceAccounts.length - 1 }),
  over: fc.oneof(
    { weight: 8, arbitrary: fc.constant({}) },
    fc.constant({ aud: ['kubernetes.default.svc'] }),
    fc.constant({ aud: 'istio-ca' }),
    fc.constant({ exp: now() - 3600 }),
    fc.constant({ nbf: now() + 3600 }),
    fc.constant({ sub: 'alice' }),
    fc.constant({ sub: 'system:serviceaccount:default' }),
    fc.constant({ sub: 'system:serviceaccount:a:b:c' }),
    fc.constant({ sub: undefined, kubernetes: { namespace: 'prod', serviceaccount: { name: 'payments' } } }),
    fc.record({ sub: fc.string({ maxLength: 40 }) }),
  ),
  forge: fc.constantFrom('none', 'none', 'none', 'none', 'none', 'none', 'none', 'attacker-key', 'alg-none', 'swap-payload', 'flip-signature', 'truncate', 'garbage', 'empty'),
});

function token(r: TokenRecipe): string {
  const [ns, sa] = serviceAccounts[r.sa]!;
  const claims = { iss: 'https://kubernetes.default.svc.cluster.local', sub: `system:serviceaccount:${ns}:${sa}`, aud: ['istio-ca'], exp: now() + 600, iat: now(), ...r.over };
  const real = signJwt(claims, issuerKey.privateKey);
  const [h, , s] = real.split('.');
  const [cns, csa] = serviceAccounts[r.claimedSa]!;
  switch (r.forge) {
    case 'none': return real;
    case 'attacker-key': return signJwt(claims, attackerKey);
    case 'alg-none': return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    case 'swap-payload': return `${h}.${b64({ ...claims, sub: `system:serviceaccount:${cns}:${csa}` })}.${s}`;
    case 'flip-signature': return `${h}.${real.split('.')[1]}.${s!.slice(0, -2)}${s!.endsWith('AA') ? 'BB' : 'AA'}`;
    case 'truncate': return real.slice(0, real.length - 10);
    case 'garbage': return crypto.randomBytes(30).toString('base64url');
    case 'empty': return '';
  }
}

type CsrRecipe = { uris: 'own' | 'none' | 'other' | 'own+other'; other: number; extra: readonly string[]; keyType: 'ec' | 'rsa'; damage: 'none' | 'flip-byte' | 'truncate' | 'not-pem' | 'two-blocks' };
const csrRecipe: fc.Arbitrary<CsrRecipe> = fc.record({
  uris: fc.constantFrom('own', 'own', 'none', 'none', 'other', 'own+other'),
  other: fc.nat({ max: serviceAccounts.length - 1 }),
  extra: fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, fc.array(fc.constantFrom('spiffe://other.domain/ns/default/sa/hello', 'spiffe://cluster.local/ns/default/sa/hello/../payments', 'https://evil', 'spiffe://cluster.local/ns/prod/sa/payments'), { minLength: 1, maxLength: 2 })),
  keyType: fc.constantFrom('ec', 'rsa'),
  damage: fc.constantFrom('none', 'none', 'none', 'none', 'flip-byte', 'truncate', 'not-pem', 'two-blocks'),
});
const keys = { ec: generateKeyPair('ec'), rsa: generateKeyPair('rsa') };

const spiffe = (i: number) => `spiffe://cluster.local/ns/${serviceAccounts[i]![0]}/sa/${serviceAccounts[i]![1]}`;

/** a CSR asking for the token's own identity, none, another one, or both, plus odd extras */
function csr(r: CsrRecipe, own: number): string {
  const asked = { own: [spiffe(own)], none: [], other: [spiffe(r.other)], 'own+other': [spiffe(own), spiffe(r.other)] }[r.uris];
  const uris = [...asked, ...r.extra];
  const pem = createCsr(keys[r.keyType].privateKey, { uris });
  const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s/g, '');
  switch (r.damage) {
    case 'none': return pem;
    case 'flip-byte': {
      const der = Buffer.from(body, 'base64');
      der[Math.floor(der.length / 2)]! ^= 0xff;
      return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    }
    case 'truncate': return pem.slice(0, pem.length / 2);
    case 'not-pem': return body;
    case 'two-blocks': return pem + createCsr(keys.ec.privateKey, { uris: ['spiffe://cluster.local/ns/prod/sa/payments'] });
  }
}

describe('fuzz (c): mutated CSRs and tokens on the CA', () => {
  const ca = CertificateAuthority.open({ dir: path.join(tmp, 'ca'), trustDomain: 'cluster.local', keyType: 'ec', log: silentLogger, watchIntervalMs: 0 });
  const service = new CertificateService({
    ca, metrics: new Metrics(), log: silentLogger,
    authenticators: [new TrustedKeyJwtAuthenticator({ keyFile, trustDomain: 'cluster.local' })],
  });

  it(`issues certificates only for the identity a valid token proves, for the key that signed the CSR (seed ${FUZZ_SEED})`, async (t) => {
    let cases = 0;
    let issued = 0;
    const refusals = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(tokenRecipe, csrRecipe, fc.oneof(fc.constant(0), fc.integer({ min: -10, max: 100 * 24 * 3600 })), async (tr, cr, ttl) => {
        cases++;
        const tok = token(tr);
        const csrPem = csr(cr, tr.sa);
        const md = new grpc.Metadata();
        if (tok !== '' || tr.forge === 'empty') md.set('authorization', `Bearer ${tok}`);
        let chain: readonly string[];
        try {
          chain = (await service.createCertificate({ csr: csrPem, validity_duration: ttl }, { metadata: md, peerCertificate: undefined })).cert_chain;
        } catch (err) {
          assert.ok(err instanceof ServiceError, `a refusal is a gRPC status, not ${String(err)}`);
          const name = grpc.status[err.code] ?? String(err.code);
          refusals.set(name, (refusals.get(name) ?? 0) + 1);
          return;
        }
        issued++;
        // the token must really verify, and the certificate must name only what it proves
        const claims = verifyJwt(tok, verifyKeys, { audience: 'istio-ca' });
        const fromSub = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(claims.sub ?? '');
        const k8s = claims.kubernetes as { namespace?: string; serviceaccount?: { name?: string } } | undefined;
        const [ns, sa] = fromSub ? [fromSub[1], fromSub[2]] : [k8s?.namespace, k8s?.serviceaccount?.name];
        assert.ok(ns && sa, 'issued for a token that names a service account');
        const leaf = new crypto.X509Certificate(chain[0]!);
        assert.equal(leaf.subjectAltName, `URI:spiffe://cluster.local/ns/${ns}/sa/${sa}`);
        assert.ok(leaf.checkIssued(new crypto.X509Certificate(chain[chain.length - 1]!)) || chain.length > 1);
        assert.ok(leaf.publicKey.equals(keys[cr.keyType].publicKey), 'the certificate is for the key that signed the CSR');
      }),
      fuzzParameters(200),
    );
    t.diagnostic(`fuzz (c): ${cases} CSR requests (seed ${FUZZ_SEED}), ${issued} certificates issued, refusals ${JSON.stringify(Object.fromEntries(refusals))}`);
  });
});
