import type { PeerAuthentication } from '../config/schemas/peer-authentication.js';
import type { PushContext } from '../model/push-context.js';
import { labelsMatch } from '../config/labels.js';

// PeerAuthentication → the effective mTLS mode of a workload port (istiod authn ComposePeerAuthentication).
//
//   mesh-wide   the root namespace's policy without selector
//   namespace   the workload namespace's policy without selector
//   workload    a policy in the workload's namespace whose selector matches its labels
//   port        that workload policy's portLevelMtls[port]
//
// Each level overrides the one above unless its mode is UNSET (or absent), which inherits. With several
// candidates at one level the oldest wins. Nothing set anywhere → PERMISSIVE. Policies with a selector in
// the root namespace apply to workloads of the root namespace only, as in Istio.

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

interface Candidate {
  readonly pa: PeerAuthentication;
  readonly revision: number;
}

function hasSelector(pa: PeerAuthentication): boolean {
  return Object.keys(pa.spec.selector?.matchLabels ?? {}).length > 0;
}

function matches(pa: PeerAuthentication, labels: Readonly<Record<string, string>>): boolean {
  return labelsMatch(pa.spec.selector?.matchLabels, labels, 'selects-all');
}

function oldest(list: Candidate[]): PeerAuthentication | undefined {
  return [...list].sort((a, b) => a.revision - b.revision || a.pa.metadata.name.localeCompare(b.pa.metadata.name))[0]?.pa;
}

function set(mode: string | undefined): MtlsMode | undefined {
  return mode && mode !== 'UNSET' ? (mode as MtlsMode) : undefined;
}

export interface ResolvedPeerAuthentication {
  readonly mode: MtlsMode;
  /** which policy decided (namespace/name), or `default` */
  readonly from: string;
}

/** The effective mode for `port` (the workload's own port, as portLevelMtls keys are). */
export function effectiveMtls(ctx: PushContext, namespace: string, labels: Readonly<Record<string, string>>, port: number): ResolvedPeerAuthentication {
  const all: Candidate[] = ctx.peerAuthentications.map((s) => ({ pa: s.object, revision: s.revision }));
  const inNs = (ns: string) => all.filter((c) => (c.pa.metadata.namespace ?? 'default') === ns);
  const root = ctx.mesh.rootNamespace;
  const mesh = oldest(inNs(root).filter((c) => !hasSelector(c.pa)));
  const nsPolicy = namespace === root ? undefined : oldest(inNs(namespace).filter((c) => !hasSelector(c.pa)));
  const workload = oldest(inNs(namespace).filter((c) => hasSelector(c.pa) && matches(c.pa, labels)));

  let mode: MtlsMode = 'PERMISSIVE';
  let from = 'default';
  const name = (pa: PeerAuthentication) => `${pa.metadata.namespace ?? 'default'}/${pa.metadata.name}`;
  for (const pa of [mesh, nsPolicy, workload]) {
    const m = set(pa?.spec.mtls?.mode);
    if (pa && m) {
      mode = m;
      from = name(pa);
    }
  }
  const portMode = set(workload?.spec.portLevelMtls?.[String(port)]?.mode);
  if (workload && portMode) {
    mode = portMode;
    from = `${name(workload)}:${port}`;
  }
  return { mode, from };
}

/** Label keys PeerAuthentication selectors look at (part of the proxyless generator's cache key). */
export function peerAuthenticationLabelKeys(ctx: PushContext): string[] {
  return [...new Set(ctx.peerAuthentications.flatMap((s) => Object.keys(s.object.spec.selector?.matchLabels ?? {})))];
}
