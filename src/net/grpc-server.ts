import * as grpc from '@grpc/grpc-js';

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
