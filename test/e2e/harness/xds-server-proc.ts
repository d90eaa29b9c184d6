// A proxyless gRPC *server* (grpc-js-xds XdsServer) run as its own process by the e2e tests:
//   node --import tsx test/e2e/harness/xds-server-proc.ts NAME IP:PORT
// with the bootstrap JSON in env XDS_SERVER_BOOTSTRAP. XdsServer asks meshd for the listener named by
// the bootstrap's server_listener_resource_name_template (Istio: xds.istio.io/grpc/lds/inbound/%s) and
// only starts accepting connections once that listener arrives; this script then prints
// {"event":"serving",...} on stdout. Replies name the server (`backend: NAME`). SIGTERM stops it.
import * as grpc from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { GREETER_METHODS, GreeterService, type HelloReply, type HelloRequest } from './greeter.js';

const [name, addr] = process.argv.slice(2);
const bootstrap = process.env.XDS_SERVER_BOOTSTRAP;
if (!name || !addr || !bootstrap) {
  process.stderr.write('usage: XDS_SERVER_BOOTSTRAP=JSON xds-server-proc.ts NAME IP:PORT\n');
  process.exit(2);
}

const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);

xds.register();
const server = new xds.XdsServer({ 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': bootstrap, drainGraceTimeMs: 500 });
const handler: grpc.handleUnaryCall<HelloRequest, HelloReply> = (call, cb) =>
  cb(null, { message: `Hello ${call.request.name}`, backend: name });
server.addService(GreeterService, Object.fromEntries(GREETER_METHODS.map((m) => [m, handler])));

const t0 = Date.now();
emit({ event: 'binding', addr });
server.bindAsync(addr, new xds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (err, port) => {
  if (err) {
    emit({ event: 'error', message: err.message });
    process.exit(1);
  }
  emit({ event: 'serving', addr, port, ms: Date.now() - t0 });
});

const stop = () => {
  server.forceShutdown();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Never outlive a test run by much, even if nobody stops us.
setTimeout(() => process.exit(3), Number(process.env.XDS_SERVER_LIFETIME_MS ?? 120_000)).unref();
