// pods/portforward over WebSocket, as the API server relays it from the kubelet's streaming server to
// @kubernetes/client-node's PortForward (and to istioctl-style tools built on it): the client upgrades
// `GET /api/v1/namespaces/NS/pods/NAME/portforward?ports=P[,P…]` with subprotocol `v4.channel.k8s.io`
// (or the unversioned `channel.k8s.io`); every port gets two channels, data (2i) and error (2i+1); each
// binary message starts with its channel byte; the server opens each channel with the port number
// (little-endian uint16); a dial that fails writes its reason on the error channel. One WebSocket is one
// TCP connection to the pod's port, as kubectl's websocket port-forward uses them.
//
// Where the pod is: the fixture has no pods, so a test registers where a pod's port really listens
// (FakeApiServer.forwardPort); the connection then arrives from 127.0.0.1, as a real port-forward's
// arrives from inside the pod's network namespace — which is what lets meshd's loopback-only /debug
// pages answer it.
//
// kubectl's own protocol is served too (spdy.ts): SPDY/3.1 (`Upgrade: SPDY/3.1`, portforward.k8s.io).

import type http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { serveSpdyPortForward } from './spdy.js';

export const PORT_FORWARD_PROTOCOLS = ['v4.channel.k8s.io', 'channel.k8s.io'] as const;
const SPDY_STREAM_PROTOCOL = 'portforward.k8s.io';

/** How a portforward upgrade wants to talk: WebSocket channels or SPDY. */
export type PortForwardProtocol = 'channels' | 'spdy';

export interface PortForwardTarget {
  readonly host: string;
  readonly port: number;
}

/** Answers an already-authorised portforward upgrade; closes every tunnel on `close()`. */
export class PortForwardRelay {
  private readonly wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => PORT_FORWARD_PROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  private readonly tunnels = new Set<{ ws: WebSocket; conns: net.Socket[] }>();

  /** What the upgrade asks for, or undefined when the client offers nothing the relay speaks. */
  static protocolOf(req: http.IncomingMessage): PortForwardProtocol | undefined {
    const upgrade = req.headers.upgrade?.toLowerCase();
    if (upgrade === 'spdy/3.1') {
      const versions = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((p) => p.trim());
      return versions.includes(SPDY_STREAM_PROTOCOL) ? 'spdy' : undefined;
    }
    if (upgrade !== 'websocket') return undefined;
    const offered = new Set(String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()));
    return PORT_FORWARD_PROTOCOLS.some((p) => offered.has(p)) ? 'channels' : undefined;
  }

  /** kubectl's way: SPDY streams per forwarded connection (the ports come with each stream, not the URL). */
  relaySpdy(socket: Duplex, head: Buffer, targetOf: (port: number) => PortForwardTarget | undefined, podName: string): void {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${SPDY_STREAM_PROTOCOL}\r\n\r\n`);
    if (head.length > 0) socket.unshift(head);
    const tunnel = { close: () => socket.destroy() };
    this.spdy.add(tunnel);
    socket.on('close', () => this.spdy.delete(tunnel));
    serveSpdyPortForward(socket, targetOf, podName);
  }

  private readonly spdy = new Set<{ close(): void }>();

  /**
   * Completes the upgrade and relays each port in `ports` to where `targetOf` says it listens (undefined:
   * nothing listens there, the dial fails as it would in the pod).
   */
  relay(req: http.IncomingMessage, socket: Duplex, head: Buffer, ports: readonly number[], targetOf: (port: number) => PortForwardTarget | undefined, podName: string): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const tunnel = { ws, conns: [] as net.Socket[] };
      this.tunnels.add(tunnel);
      const send = (channel: number, data: Buffer) => {
        if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), data]));
      };
      const portBytes = (port: number) => {
        const b = Buffer.alloc(2);
        b.writeUInt16LE(port);
        return b;
      };
      let open = ports.length;
      const oneClosed = () => {
        if (--open === 0) ws.close(1000);
      };
      ports.forEach((port, i) => {
        send(2 * i, portBytes(port));
        send(2 * i + 1, portBytes(port));
        const target = targetOf(port);
        if (!target) {
          send(2 * i + 1, Buffer.from(`error forwarding port ${port} to pod ${podName}: dial tcp4 127.0.0.1:${port}: connect: connection refused`));
          oneClosed();
          return;
        }
        const conn = net.connect(target.port, target.host);
        tunnel.conns[i] = conn;
        conn.on('data', (d: Buffer) => send(2 * i, d));
        conn.on('error', (err) => send(2 * i + 1, Buffer.from(`error forwarding port ${port} to pod ${podName}: ${err.message}`)));
        conn.on('close', oneClosed);
      });
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary || data.length < 1) return;
        const channel = data[0]!;
        const conn = channel % 2 === 0 ? tunnel.conns[channel / 2] : undefined;
        if (conn && data.length > 1 && !conn.destroyed) conn.write(data.subarray(1));
      });
      ws.on('close', () => {
        for (const c of tunnel.conns) c?.destroy();
        this.tunnels.delete(tunnel);
      });
      ws.on('error', () => ws.terminate());
    });
  }

  /** How many tunnels are open (one per forwarded TCP connection). */
  get openTunnels(): number {
    return this.tunnels.size + this.spdy.size;
  }

  close(): void {
    for (const t of this.spdy) t.close();
    this.spdy.clear();
    for (const t of this.tunnels) {
      for (const c of t.conns) c?.destroy();
      t.ws.terminate();
    }
    this.tunnels.clear();
  }
}

/** `?ports=15014&ports=8080` or `?ports=15014,8080` → ports, or an error text as the API server words it. */
export function portsOf(url: URL): number[] | string {
  const raw = url.searchParams.getAll('ports').flatMap((p) => p.split(',')).map((p) => p.trim()).filter(Boolean);
  if (raw.length === 0) return 'at least 1 port is required for portforward';
  const ports: number[] = [];
  for (const p of raw) {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535) return `unable to parse "${p}" as a port: invalid port`;
    ports.push(n);
  }
  return ports;
}
