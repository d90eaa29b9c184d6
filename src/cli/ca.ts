import path from 'node:path';
import type { RotationStatus } from '../ca/rotation.js';
import { parseDurationMs } from './duration.js';

// `meshd ca status | rotate --new-dir DIR | abort`: the root rotation of a running meshd, through its CA
// admin endpoint (`meshd serve --ca-admin-addr`, 127.0.0.1:15013). See src/ca/rotation.ts for the phases.
// The command line itself is in program.ts.

export interface CaFlags {
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

/** `meshd ca status` */
export async function runCaStatus(flags: CaFlags & { output: string }): Promise<void> {
  print(await call(flags.admin, 'GET', '/ca/rotation'), flags.output);
}

/** `meshd ca abort` */
export async function runCaAbort(flags: CaFlags & { output: string }): Promise<void> {
  print(await call(flags.admin, 'POST', '/ca/rotation/abort'), flags.output);
}

/** `meshd ca rotate --new-dir DIR [--wait]` */
export async function runCaRotate(flags: CaFlags & { output: string; newDir: string; wait?: boolean; poll: string }): Promise<void> {
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
}

function print(s: RotationStatus, output: string): void {
  process.stdout.write(output === 'json' ? JSON.stringify(s, null, 2) + '\n' : describeStatus(s));
}
