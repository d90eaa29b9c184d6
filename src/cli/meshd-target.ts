import net from 'node:net';
import { Writable } from 'node:stream';
import { DEFAULT_MESHD_ADDR, type MeshdTargetFlags } from './meshd-flags.js';
import { MeshdRequestError, type MeshdEndpoint } from './meshd-client.js';

// Which running meshd the operator commands ask, and how they reach its monitoring port: `--meshd-addr`
// (or $MESHD_ADDR, default 127.0.0.1:15014) directly, or — as istioctl does — through the Kubernetes API:
// the running meshd pods of the control-plane namespace (`-i`, default istio-system) labelled
// `app=istiod` (and `istio.io/rev=REV` with `--revision`), each port-forwarded over pods/portforward
// (WebSocket, @kubernetes/client-node's PortForward) from a local port only this process uses. The
// forwarded connection arrives inside the pod from localhost, so meshd's loopback-only /debug pages answer.

export interface MeshdTarget {
  /** one per meshd replica; a proxy is connected to one of them */
  readonly endpoints: readonly MeshdEndpoint[];
  /** for messages: `meshd at ADDR` or `meshd pods istio-system/istiod-… (Kubernetes context CTX)` */
  readonly describe: string;
  close(): Promise<void>;
}

/** Kubernetes mode when a Kubernetes flag is given and --meshd-addr is not. */
export function usesKubernetes(flags: MeshdTargetFlags): boolean {
  return !flags.meshdAddr && !!(flags.kubeconfig || flags.context || flags.istioNamespace || flags.revision);
}

export async function openMeshdTarget(flags: MeshdTargetFlags): Promise<MeshdTarget> {
  if (!usesKubernetes(flags)) {
    const addr = flags.meshdAddr || process.env.MESHD_ADDR || DEFAULT_MESHD_ADDR;
    return { endpoints: [{ addr, name: `meshd at ${addr}` }], describe: `meshd at ${addr}`, close: async () => {} };
  }
  return openThroughKubernetes(flags);
}

/** Runs `fn` with the target open, and closes it (its port-forwards) whatever happens. */
export async function withMeshdTarget<T>(flags: MeshdTargetFlags, fn: (target: MeshdTarget) => Promise<T>): Promise<T> {
  const target = await openMeshdTarget(flags);
  try {
    return await fn(target);
  } finally {
    await target.close();
  }
}

/** The monitoring port of a meshd pod: its container port named http-monitoring (the chart's), else 15014. */
function monitoringPort(pod: { spec?: { containers?: { ports?: { name?: string; containerPort: number }[] }[] } }): number {
  for (const c of pod.spec?.containers ?? []) {
    const p = c.ports?.find((x) => x.name === 'http-monitoring');
    if (p) return p.containerPort;
  }
  return Number(DEFAULT_MESHD_ADDR.split(':')[1]);
}

async function openThroughKubernetes(flags: MeshdTargetFlags): Promise<MeshdTarget> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  try {
    if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new MeshdRequestError(`cannot read the kubeconfig${flags.kubeconfig ? ` ${flags.kubeconfig}` : ''}: ${(err as Error).message}`);
  }
  if (flags.context) {
    if (!kc.getContextObject(flags.context)) throw new MeshdRequestError(`context ${JSON.stringify(flags.context)} is not in the kubeconfig (contexts: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
    kc.setCurrentContext(flags.context);
  }
  const namespace = flags.istioNamespace || 'istio-system';
  const labelSelector = ['app=istiod', ...(flags.revision ? [`istio.io/rev=${flags.revision}`] : [])].join(',');
  const context = kc.getCurrentContext();
  let pods: Awaited<ReturnType<InstanceType<typeof k8s.CoreV1Api>['listNamespacedPod']>>['items'];
  try {
    pods = (await kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace, labelSelector })).items;
  } catch (err) {
    const e = err as { code?: number; body?: string; message?: string };
    const status = e.code ? `HTTP ${e.code}${e.body ? `: ${String(e.body).slice(0, 300)}` : ''}` : e.message;
    throw new MeshdRequestError(`cannot list the meshd pods (${labelSelector}) in ${namespace} through Kubernetes context ${JSON.stringify(context)}: ${status}`);
  }
  const running = pods.filter((p) => p.status?.phase === 'Running' && p.metadata?.name).sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1));
  if (running.length === 0) {
    throw new MeshdRequestError(`no running meshd pod (${labelSelector}) in namespace ${namespace} of Kubernetes context ${JSON.stringify(context)}${pods.length ? ` (${pods.length} not running)` : ''}: is meshd installed there (-i/--istioNamespace, --revision)?`);
  }
  const forwards: PodForward[] = [];
  try {
    for (const pod of running) forwards.push(await forwardPod(new k8s.PortForward(kc, true), namespace, pod.metadata!.name!, monitoringPort(pod as never)));
  } catch (err) {
    await Promise.all(forwards.map((f) => f.close()));
    throw err;
  }
  return {
    endpoints: forwards.map((f) => f.endpoint),
    describe: `meshd pod${forwards.length > 1 ? 's' : ''} ${namespace}/${running.map((p) => p.metadata!.name).join(',')} (Kubernetes context ${JSON.stringify(context)})`,
    close: async () => {
      await Promise.all(forwards.map((f) => f.close()));
    },
  };
}

interface PodForward {
  readonly endpoint: MeshdEndpoint;
  close(): Promise<void>;
}

type PortForwardClient = InstanceType<typeof import('@kubernetes/client-node').PortForward>;

/**
 * A local listener on 127.0.0.1 (a port the system picks) whose every connection is one WebSocket
 * pods/portforward to `pod:port`. What the pod side writes on the error channel (a refused dial) is kept
 * for the request's error message.
 */
async function forwardPod(client: PortForwardClient, namespace: string, pod: string, port: number): Promise<PodForward> {
  let lastError: string | undefined;
  const sockets = new Set<net.Socket>();
  const closers = new Set<() => void>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const errors = new Writable({
      write(chunk: Buffer, _enc, done) {
        // the error channel opens with the port number (stripped by the client, leaving an empty write)
        const text = chunk.toString('utf8').trim();
        if (text) {
          lastError = text;
          socket.destroy();
        }
        done();
      },
    });
    client.portForward(namespace, pod, [port], socket, errors, socket).then(
      (ws) => {
        const w = ws as unknown as { close(): void; on?: (e: string, f: () => void) => void; onclose?: unknown };
        const closeWs = () => w.close();
        closers.add(closeWs);
        socket.on('close', () => {
          closers.delete(closeWs);
          closeWs();
        });
        w.on?.('close', () => socket.end());
        if (socket.destroyed) closeWs();
      },
      (err: Error & { code?: number }) => {
        lastError = `pods/portforward to ${namespace}/${pod}:${port} refused: ${err.message}`;
        socket.destroy();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const addr = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    endpoint: { addr, name: `meshd pod ${namespace}/${pod}`, forwardError: () => lastError },
    close: () =>
      new Promise<void>((resolve) => {
        for (const close of closers) close();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
