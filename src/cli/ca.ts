import path from 'node:path';
import type { Command } from 'commander';
import type { RotationStatus } from '../ca/rotation.js';
import { parseDurationMs } from './duration.js';

// `meshd ca status | rotate --new-dir DIR | abort`: the root rotation of a running meshd, through its CA
// admin endpoint (`meshd serve --ca-admin-addr`, 127.0.0.1:15013). See src/ca/rotation.ts for the phases.

export const DEFAULT_CA_ADMIN_ADDR = '127.0.0.1:15013';

interface CaFlags {
  admin: string;
}

async function call(admin: string, method: 'GET' | 'POST', urlPath: string, body?: unknown): Promise<RotationStatus> {
  const url = `http://${admin.startsWith(':') ? `127.0.0.1${admin}` : admin}${urlPath}`;
  let res: Response;
  try {
    res = await fetch(url, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
  } catch (err) {
    throw new Error(`cannot reach meshd's CA admin endpoint at ${admin} (--admin; meshd serve --ca-admin-addr): ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`);
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${url}: HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  if (!res.ok) throw new Error((parsed as { error?: string }).error ?? `HTTP ${res.status}`);
  return parsed as RotationStatus;
}

/** The status as a person reads it. */
export function describeStatus(s: RotationStatus): string {
  const lines = [
    `phase: ${s.phase}${s.since ? ` (since ${s.since})` : ''}`,
    `  ${s.message}`,
    `trusted roots: ${s.bundle.join(', ')}`,
    `signing root:  ${s.signingRoot}`,
  ];
  if (s.oldRoots.length > 0) lines.push(`old roots:     ${s.oldRoots.join(', ')}`);
  if (s.newRoots.length > 0) lines.push(`new roots:     ${s.newRoots.join(', ')}`);
  if (s.oldCertificatesAlive > 0) lines.push(`certificates of the old CA alive: ${s.oldCertificatesAlive} (latest expiry ${s.oldCertificatesExpireBy})`);
  if (s.pendingCount > 0) {
    lines.push(`waiting for ${s.pendingCount} prox${s.pendingCount === 1 ? 'y' : 'ies'}:`);
    for (const p of s.pending) lines.push(`  ${p.id}: ${p.reason}`);
    if (s.pendingCount > s.pending.length) lines.push(`  … and ${s.pendingCount - s.pending.length} more`);
  }
  if (s.lastCompleted) lines.push(`last rotation completed: ${s.lastCompleted}`);
  return lines.join('\n') + '\n';
}

export function addCaCommand(program: Command): void {
  const ca = program.command('ca').description("the mesh CA's root of trust: status and rotation without downtime (talks to a running meshd serve)");
  const admin = (cmd: Command) => cmd.option('--admin <addr>', "meshd's CA admin endpoint (meshd serve --ca-admin-addr)", DEFAULT_CA_ADMIN_ADDR);
  const json = (cmd: Command) => cmd.option('-o, --output <format>', 'text or json', 'text');
  const print = (s: RotationStatus, output: string): void => void process.stdout.write(output === 'json' ? JSON.stringify(s, null, 2) + '\n' : describeStatus(s));

  json(admin(ca.command('status')))
    .description('the rotation phase, trusted and signing roots, and which proxies a phase waits for')
    .action(async (flags: CaFlags & { output: string }) => {
      print(await call(flags.admin, 'GET', '/ca/rotation'), flags.output);
    });

  json(admin(ca.command('rotate')))
    .description('stage a new root: (a) publish old+new roots until every connected proxy holds both, (b) sign with the new CA until no certificate of the old CA is alive, (c) drop the old root')
    .requiredOption('--new-dir <dir>', 'the new CA material in Istio cacerts layout (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem), on meshd\'s host')
    .option('--wait', 'follow the phases until the rotation completes or is aborted')
    .option('--poll <duration>', 'with --wait: how often to look', '1s')
    .action(async (flags: CaFlags & { output: string; newDir: string; wait?: boolean; poll: string }) => {
      const pollMs = parseDurationMs(flags.poll, '--poll');
      let s = await call(flags.admin, 'POST', '/ca/rotation', { newDir: path.resolve(flags.newDir) });
      print(s, flags.output);
      if (!flags.wait) return;
      let last = `${s.phase}|${s.message}`;
      while (s.phase !== 'idle') {
        await new Promise((r) => setTimeout(r, pollMs));
        s = await call(flags.admin, 'GET', '/ca/rotation');
        const now = `${s.phase}|${s.message}`;
        if (now !== last) {
          print(s, flags.output);
          last = now;
        }
      }
    });

  json(admin(ca.command('abort')))
    .description('one step back: from signing to publishing (old CA signs again), from publishing to the old roots only')
    .action(async (flags: CaFlags & { output: string }) => {
      print(await call(flags.admin, 'POST', '/ca/rotation/abort'), flags.output);
    });
}
