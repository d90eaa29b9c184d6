import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { signJwt } from '../../../src/ca/jwt.js';
import { newGreeterClient, type GreeterClient, type GreeterMethod } from './greeter.js';
import { HARNESS_DIR, REPO_ROOT, trackChild, waitExit, waitUntil } from './util.js';
import { registerXds, type CallResult } from './xds-client.js';
import { meshdCommand } from '../../support/meshd-bin.js';

// mTLS end to end with real files: `meshd agent` processes get certificates from meshd's CA and write a
// bootstrap; grpc-js-xds servers and clients use those bootstraps (file_watcher certificate providers)
// with XdsServerCredentials / XdsChannelCredentials, so TLS and RBAC are decided by what meshd pushes.

/** A service-account token issuer meshd trusts (--jwt-public-keys), as a cluster's would be. */
export class TokenIssuer {
  readonly key: KeyObject;
  readonly publicKeyFile: string;
  constructor(dir: string) {
    this.key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    this.publicKeyFile = path.join(dir, 'sa-issuer.pub.pem');
    fs.writeFileSync(this.publicKeyFile, crypto.createPublicKey(this.key).export({ type: 'spki', format: 'pem' }));
  }
  /** Writes a projected-token-like file for NS/SA (audience istio-ca, 1 h). */
  tokenFile(dir: string, namespace: string, serviceAccount: string): string {
    const file = path.join(dir, `token-${namespace}-${serviceAccount}`);
    const now = Math.floor(Date.now() / 1000);
    fs.writeFileSync(file, signJwt({ iss: 'meshd-e2e', sub: `system:serviceaccount:${namespace}:${serviceAccount}`, aud: ['istio-ca'], iat: now, exp: now + 3600 }, this.key));
    return file;
  }
}

export interface AgentSpec {
  readonly name: string;
  readonly namespace?: string;
  readonly serviceAccount: string;
  readonly ip?: string;
  readonly labels?: Record<string, string>;
  readonly certTtl?: string;
  readonly keyType?: 'rsa' | 'ec';
}

export interface AgentProcess {
  readonly name: string;
  readonly certDir: string;
  readonly bootstrapFile: string;
  /** every JSON log line */
  readonly logs: Record<string, unknown>[];
  /** certificates written so far (first issue + renewals) */
  written(): number;
  stop(): Promise<void>;
}

/**
 * Bounds of the secure harness' waits and calls. They only catch hangs: on a busy CI machine an agent's
 * first certificate or a TLS handshake can take many seconds, and a test waits for its condition instead.
 * A call that must fail (plaintext against STRICT, RBAC denial) fails at once, never by its deadline.
 */
export const HANG_ONLY_MS = 300_000;
/**
 * How long a call loop waits for a status: a hang guard too, but well inside a suite's HANG_ONLY_MS so a
 * condition that never comes fails with the last call's result instead of the suite's bare timeout.
 */
export const CALL_HANG_GUARD_MS = 120_000;
const CALL_DEADLINE_MS = 60_000;

/** Runs `meshd agent` (the real CLI) against a meshd; resolves once it wrote certificate and bootstrap. */
export async function startAgent(
  spec: AgentSpec,
  opts: { caAddr: string; caRoot: string; xdsAddr: string; tokenFile: string; dir: string },
): Promise<AgentProcess> {
  const ns = spec.namespace ?? 'default';
  const base = path.join(opts.dir, `agent-${spec.name}`);
  const certDir = path.join(base, 'certs');
  const bootstrapFile = path.join(base, 'grpc-bootstrap.json');
  const labels = Object.entries(spec.labels ?? {}).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
  const child: ChildProcessWithoutNullStreams = spawn(
    ...meshdCommand(['agent',
      '--ca-addr', opts.caAddr, '--ca-root', opts.caRoot, '--token-file', opts.tokenFile, '--xds-addr', opts.xdsAddr,
      '--namespace', ns, '--service-account', spec.serviceAccount, '--pod-name', spec.name, '--pod-ip', spec.ip ?? '127.0.0.1',
      ...labels, '--cert-dir', certDir, '--bootstrap', bootstrapFile, '--cert-ttl', spec.certTtl ?? '1h',
      '--key-type', spec.keyType ?? 'ec']),
    { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  trackChild(child);
  const logs: Record<string, unknown>[] = [];
  const raw: string[] = [];
  readline.createInterface({ input: child.stderr }).on('line', (l) => {
    raw.push(l);
    try {
      logs.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      logs.push({ msg: l });
    }
  });
  await waitUntil(`agent ${spec.name} to be ready`, () => {
    if (child.exitCode !== null) throw new Error(`agent ${spec.name} exited ${child.exitCode}: ${raw.join('\n')}`);
    return logs.some((l) => l.msg === 'agent ready') ? true : undefined;
  }, { timeoutMs: HANG_ONLY_MS, detail: () => raw.join('\n') });
  return {
    name: spec.name,
    certDir,
    bootstrapFile,
    logs,
    written: () => logs.filter((l) => l.msg === 'certificate written').length,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      if (!(await waitExit(child, 5000))) child.kill('SIGKILL');
    },
  };
}

export interface SecureServerProcess {
  readonly addr: string;
  readonly events: Record<string, unknown>[];
  waitServing(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** A grpc-js-xds XdsServer (XdsServerCredentials) using an agent-written bootstrap; RBAC enabled. */
export function startSecureXdsServer(name: string, addr: string, bootstrapFile: string): SecureServerProcess {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(HARNESS_DIR, 'xds-server-proc.ts'), name, addr],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, XDS_SERVER_BOOTSTRAP: fs.readFileSync(bootstrapFile, 'utf8'), GRPC_XDS_EXPERIMENTAL_RBAC: 'true' },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  trackChild(child);
  const events: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  child.stderr.on('data', (d: Buffer) => stderr.push(d.toString()));
  readline.createInterface({ input: child.stdout }).on('line', (l) => {
    try {
      events.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      events.push({ line: l });
    }
  });
  return {
    addr,
    events,
    async waitServing(timeoutMs = HANG_ONLY_MS) {
      await waitUntil(`XdsServer ${name} serving`, () => {
        if (child.exitCode !== null) throw new Error(`XdsServer ${name} exited: ${stderr.join('')}`);
        return events.some((e) => e.event === 'serving') ? true : undefined;
      }, { timeoutMs, detail: () => `${JSON.stringify(events)} ${stderr.join('').slice(-2000)}` });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      if (!(await waitExit(child, 5000))) child.kill('SIGKILL');
    },
  };
}

const BOOTSTRAP_OPTION = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';

/** A grpc-js-xds client in this process with an agent-written bootstrap; `mtls: false` uses plain insecure credentials. */
export class SecureClient {
  readonly client: GreeterClient;
  constructor(target: string, bootstrapFile: string, { mtls = true }: { mtls?: boolean } = {}) {
    registerXds();
    const creds = mtls ? new xds.XdsChannelCredentials(grpc.credentials.createInsecure()) : grpc.credentials.createInsecure();
    this.client = newGreeterClient(target, creds, { [BOOTSTRAP_OPTION]: fs.readFileSync(bootstrapFile, 'utf8') });
  }

  call(method: GreeterMethod = 'SayHello', { deadlineMs = CALL_DEADLINE_MS, waitForReady = false } = {}): Promise<CallResult> {
    const md = new grpc.Metadata({ waitForReady });
    const t0 = performance.now();
    return new Promise((resolve) => {
      this.client[method]({ name: 'x' }, md, { deadline: Date.now() + deadlineMs }, (err, reply) => {
        const ms = performance.now() - t0;
        if (err) resolve({ code: err.code, status: grpc.status[err.code] ?? String(err.code), details: err.details, ms });
        else resolve({ code: grpc.status.OK, status: 'OK', backend: reply?.backend, ms });
      });
    });
  }

  /** Polls until a call ends with `status` (bounded); returns the last result. */
  async until(status: string, method: GreeterMethod = 'SayHello', timeoutMs = CALL_HANG_GUARD_MS): Promise<CallResult> {
    let last: CallResult | undefined;
    await waitUntil(`a ${method} call to end ${status}`, async () => {
      last = await this.call(method);
      return last.status === status ? last : undefined;
    }, { timeoutMs, intervalMs: 200, detail: () => `last: ${JSON.stringify(last)}` });
    return last!;
  }

  close(): void {
    this.client.close();
  }
}
