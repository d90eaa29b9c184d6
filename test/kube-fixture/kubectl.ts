// Real kubectl against the fixture: a kubeconfig file for a fixture URL and a runner that always uses a
// fresh discovery cache (kubectl caches discovery and OpenAPI per server; a stale cache lies).

import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';

export interface KubeconfigOptions {
  readonly server: string;
  readonly token?: string;
  /** PEM of the CA that signed the server certificate (https) */
  readonly caPem?: string;
  readonly namespace?: string;
}

export function kubeconfigYaml({ server, token, caPem, namespace }: KubeconfigOptions): string {
  const cluster = caPem
    ? `certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`
    : server.startsWith('https') ? 'insecure-skip-tls-verify: true' : 'insecure-skip-tls-verify: true';
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: fixture`,
    `  cluster:`,
    `    server: ${server}`,
    `    ${cluster}`,
    'users:',
    `- name: fixture-user`,
    `  user: ${token ? `{token: ${JSON.stringify(token)}}` : '{}'}`,
    'contexts:',
    `- name: fixture`,
    `  context: {cluster: fixture, user: fixture-user${namespace ? `, namespace: ${namespace}` : ''}}`,
    'current-context: fixture',
    '',
  ].join('\n');
}

export interface Kubectl {
  readonly kubeconfig: string;
  /** runs kubectl; resolves with stdout, rejects with stderr on a non-zero exit */
  run(args: readonly string[], input?: string): Promise<string>;
  /** like run, but resolves with the exit code and both streams */
  try(args: readonly string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  cleanup(): void;
}

export function kubectlAvailable(): boolean {
  const r = spawnSync(KUBECTL, ['version', '--client', '-o', 'json'], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0;
}

/** Minor version of the kubectl client (Debian's package is 1.20; the machine image carries 1.32). */
let minor: number | undefined;
export function kubectlMinor(): number {
  if (minor === undefined) {
    const r = spawnSync(KUBECTL, ['version', '--client', '-o', 'json'], { encoding: 'utf8', timeout: 20_000 });
    try {
      minor = Number.parseInt((JSON.parse(r.stdout) as { clientVersion: { minor: string } }).clientVersion.minor, 10);
    } catch {
      minor = 0;
    }
  }
  return minor;
}

export function kubectlFor(options: KubeconfigOptions): Kubectl {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshd-kubectl-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(options));
  const cacheDir = path.join(dir, 'cache');
  // kubectl < 1.27 wants OpenAPI v2 for client-side validation, which the fixture does not serve
  const extra = (args: readonly string[]) => (kubectlMinor() < 27 && (args[0] === 'apply' || args[0] === 'create') ? ['--validate=false'] : []);
  const tryRun = (args: readonly string[], input?: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        KUBECTL,
        ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, '--request-timeout', '20s', ...args, ...extra(args)],
        { encoding: 'utf8', timeout: 60_000, env: { ...process.env, KUBECONFIG: kubeconfig, HOME: dir } },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
      );
      if (input !== undefined) child.stdin?.end(input);
      else child.stdin?.end();
    });
  return {
    kubeconfig,
    try: tryRun,
    async run(args, input) {
      const r = await tryRun(args, input);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr || r.stdout}`);
      return r.stdout;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
