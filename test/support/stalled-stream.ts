import http2 from 'node:http2';
import { lookupType, jsonToStruct } from '../../src/envoy/protos.js';
import type { RequestInit } from './ads-client.js';

// An ADS client that never reads what it is sent: a raw HTTP/2 stream (own connection) whose responses
// stay unread, so the server's writes fill the flow-control window and never complete — the way a
// stuck or hostile proxy looks to meshd.

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

export function frameDiscoveryRequest(r: RequestInit): Buffer {
  const t = lookupType('envoy.service.discovery.v3.DiscoveryRequest');
  const msg = { ...r, node: r.node && { ...r.node, metadata: r.node.metadata && jsonToStruct(r.node.metadata) } };
  const body = t.encode(t.fromObject(msg)).finish();
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  return frame;
}

export class StalledStream {
  private readonly session: http2.ClientHttp2Session;
  private readonly stream: http2.ClientHttp2Stream;
  closedByServer = false;
  rstCode: number | undefined;

  constructor(addr: string, first: RequestInit) {
    this.session = http2.connect(`http://${addr}`);
    this.session.on('error', () => {});
    this.stream = this.session.request({ ':method': 'POST', ':path': ADS, 'content-type': 'application/grpc', te: 'trailers' });
    this.stream.on('error', () => {});
    // never read: the stream stays paused, its window fills, the server's write never completes
    this.stream.pause();
    this.stream.on('close', () => {
      this.closedByServer = true;
      this.rstCode = this.stream.rstCode;
    });
    this.send(first);
  }

  send(r: RequestInit): void {
    this.stream.write(frameDiscoveryRequest(r));
  }

  /** writes already-framed requests in one go */
  sendRaw(bytes: Buffer): void {
    this.stream.write(bytes);
  }

  close(): void {
    this.stream.close();
    this.session.destroy();
  }
}
