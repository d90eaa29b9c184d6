import * as grpc from '@grpc/grpc-js';
import { GREETER_METHODS, GreeterService, type GreeterMethod, type HelloReply, type HelloRequest } from './greeter.js';

// A plain (non-xDS) Greeter server standing in for one Pod. Its replies carry `backend: name`, so a
// client can count where calls went. Special request names:
//   sleep:<ms>       answer after <ms> milliseconds (timeout tests)
//   failfirst:<key>  the first attempt with this key fails with UNAVAILABLE, later ones succeed (retries)

export interface Backend {
  readonly name: string;
  readonly ip: string;
  readonly port: number;
  readonly addr: string;
  /** attempts received, per request name (so a test can tell a retried call from a single attempt) */
  readonly attempts: Map<string, number>;
  /** calls received, per method */
  readonly calls: Record<GreeterMethod, number>;
  stop(): Promise<void>;
}

export function startBackend(name: string, ip: string, port = 0): Promise<Backend> {
  const server = new grpc.Server();
  const attempts = new Map<string, number>();
  const calls = { SayHello: 0, SayGoodbye: 0 } as Record<GreeterMethod, number>;
  const failedOnce = new Set<string>();
  const handler = (method: GreeterMethod): grpc.handleUnaryCall<HelloRequest, HelloReply> => (call, cb) => {
    const reqName = call.request.name;
    calls[method]++;
    attempts.set(reqName, (attempts.get(reqName) ?? 0) + 1);
    const fail = /^failfirst:(.+)$/.exec(reqName);
    if (fail && !failedOnce.has(fail[1]!)) {
      failedOnce.add(fail[1]!);
      cb({ code: grpc.status.UNAVAILABLE, details: `${name}: first attempt of ${fail[1]} fails` });
      return;
    }
    const sleepMs = /^sleep:(\d+)$/.exec(reqName);
    const reply = { message: `${method === 'SayHello' ? 'Hello' : 'Goodbye'} ${reqName}`, backend: name };
    if (sleepMs) setTimeout(() => cb(null, reply), Number(sleepMs[1]));
    else cb(null, reply);
  };
  server.addService(GreeterService, Object.fromEntries(GREETER_METHODS.map((m) => [m, handler(m)])));
  return new Promise((resolve, reject) => {
    server.bindAsync(`${ip}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (err) {
        reject(new Error(`backend ${name}: cannot bind ${ip}:${port}: ${err.message}`));
        return;
      }
      resolve({
        name,
        ip,
        port: bound,
        addr: `${ip}:${bound}`,
        attempts,
        calls,
        stop: async () => {
          // Clients keep their connections open, so a graceful shutdown would wait for them: force it.
          server.forceShutdown();
        },
      });
    });
  });
}
