import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

// Plugged CA material for tests, made with real openssl.

/** An external root and an intermediate signed by it, in Istio's cacerts layout (as `make -f Makefile.selfsigned.mk`). */
export function pluggedCacerts(dir: string, name: string, rootKey: 'rsa' | 'ec' = 'rsa'): void {
  fs.mkdirSync(dir, { recursive: true });
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  fs.writeFileSync(path.join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\n');
  run(['req', '-x509', '-newkey', ...(rootKey === 'rsa' ? ['rsa:2048'] : ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']), '-nodes', '-keyout', 'root-key.pem', '-out', 'root-cert.pem', '-days', '30', '-subj', `/O=Istio/CN=${name} Root CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.csr', '-subj', `/O=Istio/CN=${name} Intermediate CA`]);
  run(['x509', '-req', '-in', 'ca.csr', '-CA', 'root-cert.pem', '-CAkey', 'root-key.pem', '-CAcreateserial', '-out', 'ca-cert.pem', '-days', '20', '-extfile', 'ca.ext']);
  fs.writeFileSync(path.join(dir, 'cert-chain.pem'), fs.readFileSync(path.join(dir, 'ca-cert.pem'), 'utf8') + fs.readFileSync(path.join(dir, 'root-cert.pem'), 'utf8'));
  for (const f of ['ca.csr', 'ca.ext', 'root-key.pem', 'root-cert.srl']) fs.rmSync(path.join(dir, f), { force: true });
}
