// The write-time baseline of bench/xds-load.ts: a bare grpc-js bidi server that, on each stream's first
// message (a 4-byte proxy index), writes that proxy's planned sequence of messages — pre-encoded buffers
// of exactly the sizes meshd sent it during the initial sync — honouring write back-pressure the way
// meshd does (wait for 'drain' when the stream asks for it). No decoding, no generation, no protocol:
// what it costs this machine merely to move those bytes through grpc-js to P streams.
//
// Forked by xds-load.ts with IPC: {cmd:'plan', sizes: number[][]} → {ev:'listening', port};
// {cmd:'report'} → {ev:'report', firstWriteAt, lastWriteAt, cpuMs, rssBytes}; {cmd:'exit'}.

import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';

export const BASELINE_PATH = '/meshd.bench.WriteBaseline/Stream';

export type BaselineCommand = { cmd: 'plan'; sizes: number[][] } | { cmd: 'report' } | { cmd: 'exit' };
export type BaselineEvent =
  | { ev: 'listening'; port: number }
  | { ev: 'report'; firstWriteAt: number; lastWriteAt: number; streams: number; bytes: number; cpuMs: number; rssBytes: number };

const now = (): number => performance.timeOrigin + performance.now();
const send = (e: BaselineEvent): void => {
  process.send?.(e);
};

type Call = grpc.ServerDuplexStream<Buffer, Buffer>;

function main(): void {
  let plan: number[][] = [];
  const buffers = new Map<number, Buffer>();
  let firstWriteAt = 0;
  let lastWriteAt = 0;
  let streams = 0;
  let bytes = 0;
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });

  const definition: grpc.ServiceDefinition = {
    Stream: {
      path: BASELINE_PATH,
      requestStream: true,
      responseStream: true,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    },
  };

  async function serve(call: Call, index: number): Promise<void> {
    const sizes = plan[index] ?? [];
    streams++;
    for (const size of sizes) {
      if (call.cancelled) return;
      if (firstWriteAt === 0) firstWriteAt = now();
      call.write(buffers.get(size)!);
      bytes += size;
      if (call.writableNeedDrain) {
        await Promise.race([once(call, 'drain'), once(call, 'close'), once(call, 'error').catch(() => undefined)]);
      }
    }
    lastWriteAt = now();
  }

  server.addService(definition, {
    Stream: (call: Call) => {
      let started = false;
      call.on('data', (b: Buffer) => {
        if (started) return;
        started = true;
        void serve(call, b.readUInt32BE(0));
      });
      call.on('error', () => undefined);
      call.on('end', () => call.end());
    },
  });

  process.on('message', (m: BaselineCommand) => {
    switch (m.cmd) {
      case 'plan':
        plan = m.sizes;
        // Pre-encoded: one buffer per distinct size, shared by every stream (as meshd's encode cache does).
        for (const seq of plan) for (const s of seq) if (!buffers.has(s)) buffers.set(s, Buffer.alloc(s, 0x5a));
        server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
          if (err) throw err;
          send({ ev: 'listening', port });
        });
        break;
      case 'report': {
        const u = process.cpuUsage();
        send({ ev: 'report', firstWriteAt, lastWriteAt, streams, bytes, cpuMs: (u.user + u.system) / 1000, rssBytes: process.memoryUsage().rss });
        break;
      }
      case 'exit':
        server.forceShutdown();
        process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
}

if (process.send && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
