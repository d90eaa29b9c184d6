// `meshd tag set|list|remove`: revision tags (src/install/tags.ts), as istioctl tag.
import { resolveKubeConnection } from '../sources/kube/client.js';
import { listTags, removeTag, setTag, type TagInfo } from '../install/tags.js';
import type { KubeFlags } from './flags.js';
import type { InstallIO } from './install.js';

export interface TagSetFlags extends KubeFlags {
  revision: string;
  istioNamespace: string;
  overwrite?: boolean;
}

export interface TagListFlags extends KubeFlags {
  istioNamespace: string;
}

export interface TagRemoveFlags extends TagListFlags {
  skipConfirmation?: boolean;
}

function connect(flags: KubeFlags) {
  const conn = resolveKubeConnection({ kubeconfig: flags.kubeconfig, context: flags.context, useDefaultFiles: true });
  if (!conn) throw new Error('no Kubernetes cluster: pass --kubeconfig FILE, set KUBECONFIG, or have ~/.kube/config');
  return conn.kc;
}

const usedBy = (t: TagInfo) => (t.namespaces.length ? t.namespaces.join(', ') : 'no namespace yet');

export async function runTagSet(tag: string, flags: TagSetFlags, io: InstallIO): Promise<number> {
  const info = await setTag(connect(flags), tag, flags.revision, { namespace: flags.istioNamespace, overwrite: !!flags.overwrite, log: (l) => io.stdout.write(`${l}\n`) });
  io.stdout.write(`✔ tag ${info.tag} → revision ${info.revision} (used by ${usedBy(info)}). Namespaces opt in with: kubectl label namespace NS istio.io/rev=${info.tag}\n`);
  return 0;
}

export async function runTagList(flags: TagListFlags, io: InstallIO): Promise<number> {
  const tags = await listTags(connect(flags));
  const rows = [['TAG', 'REVISION', 'NAMESPACES'], ...tags.map((t) => [t.tag, t.revision, t.namespaces.join(',')])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) io.stdout.write(`${row.map((c, i) => (i < row.length - 1 ? c.padEnd(widths[i]!) : c)).join('   ').trimEnd()}\n`);
  return 0;
}

export async function runTagRemove(tag: string, flags: TagRemoveFlags, io: InstallIO): Promise<number> {
  const info = await removeTag(connect(flags), tag, { force: !!flags.skipConfirmation, log: (l) => io.stdout.write(`${l}\n`) });
  io.stdout.write(`✔ tag ${info.tag} removed${info.namespaces.length ? ` (still labelled with it: ${info.namespaces.join(', ')})` : ''}\n`);
  return 0;
}
