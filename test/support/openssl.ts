import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

// The real `openssl` binary as the judge of certificates meshd issues.

export function openssl(args: readonly string[], input?: string): { status: number; out: string } {
  const r = spawnSync('openssl', args as string[], { input, encoding: 'utf8' });
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/**
 * `openssl verify -x509_strict` of chain[0] with chain[1..n-2] as untrusted intermediates and chain[n-1]
 * as the only trusted root. `dir` receives the temporary PEM files.
 */
export function opensslVerify(chain: readonly string[], dir: string, purpose = 'sslclient'): { status: number; out: string } {
  const root = path.join(dir, 'v-root.pem');
  const leaf = path.join(dir, 'v-leaf.pem');
  const mid = path.join(dir, 'v-mid.pem');
  fs.writeFileSync(root, chain[chain.length - 1]!);
  fs.writeFileSync(leaf, chain[0]!);
  const args = ['verify', '-x509_strict', '-purpose', purpose, '-CAfile', root];
  if (chain.length > 2) {
    fs.writeFileSync(mid, chain.slice(1, -1).join(''));
    args.push('-untrusted', mid);
  }
  return openssl([...args, leaf]);
}

/** Like `openssl` but without blocking the event loop (for servers in the same process, e.g. s_client). */
export function opensslAsync(args: readonly string[], input = '', timeoutMs = 10_000): Promise<{ status: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('openssl', args as string[], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ status: code ?? -1, out });
    });
    child.stdin.end(input);
  });
}
