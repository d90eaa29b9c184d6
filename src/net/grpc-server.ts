import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';

// Binding and stopping a grpc-js server the same way for every port meshd serves (plaintext xDS on
// 15010, CA + xDS over TLS on 15012).

/** Binds `host:port` (IPv6 hosts bracketed; port 0 = OS-chosen) and resolves with the bound port. */
export function bindGrpcServer(server: grpc.Server, host: string, port: number, creds: grpc.ServerCredentials): Promise<number> {
  const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => server.bindAsync(target, creds, (err, bound) => (err ? reject(err) : resolve(bound))));
}

/** Lets in-flight calls finish for up to `graceMs`, then cuts what is left. */
export function shutdownGrpcServer(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Resets a server call's HTTP/2 stream at once (RST_STREAM CANCEL), whatever it still has to write.
 * The only way to end a call whose client stopped reading: a status goes out in trailers, after the
 * data the client does not take. grpc-js has no public API for it, so this follows its call objects
 * (ServerDuplexStreamImpl.call → ServerInterceptingCall.nextCall → BaseServerInterceptingCall.stream);
 * test/xds/push-fairness.test.ts fails if a grpc-js upgrade moves them. Returns whether it found the stream.
 */
export function resetServerCall(call: object): boolean {
  const stream = http2StreamOf(call);
  if (!stream) return false;
  if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
  return true;
}

/**
 * Bytes written so far on the connection carrying a server call (undefined if not found): how the push
 * scheduler tells a client that reads slowly from one that stopped reading, since grpc-js only reports
 * a write done when the whole message has gone.
 */
export function connectionBytesWritten(call: object): number | undefined {
  const socket = http2StreamOf(call)?.session?.socket;
  return socket?.bytesWritten;
}

function http2StreamOf(call: object): http2.Http2Stream | undefined {
  let o: unknown = call;
  for (let depth = 0; depth < 5 && typeof o === 'object' && o !== null; depth++) {
    const stream = (o as { stream?: unknown }).stream;
    if (isHttp2Stream(stream)) return stream;
    o = (o as { call?: unknown }).call ?? (o as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}

function isHttp2Stream(s: unknown): s is http2.Http2Stream {
  return typeof s === 'object' && s !== null && 'rstCode' in s && typeof (s as { close?: unknown }).close === 'function';
}

/** A gRPC peer (`127.0.0.1:5000`, `[::1]:5000`, `ipv4:…`) → its IP. */
export function peerIpOf(peer: string): string {
  const p = peer.replace(/^ipv[46]:/, '');
  const m = /^\[([^\]]+)\]:\d+$/.exec(p) ?? /^([^:]+):\d+$/.exec(p);
  return (m?.[1] ?? p).replace(/^::ffff:/, '');
}
