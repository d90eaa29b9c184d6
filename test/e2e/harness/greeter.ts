import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { GREETER_PROTO } from './util.js';

// The example's Greeter service (examples/helloworld/greeter.proto), loaded once per process.

export type GreeterMethod = 'SayHello' | 'SayGoodbye';
export const GREETER_METHODS: readonly GreeterMethod[] = ['SayHello', 'SayGoodbye'];

export interface HelloRequest {
  name: string;
}
export interface HelloReply {
  message: string;
  backend: string;
}

type UnaryMethod = (
  req: HelloRequest,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, reply?: HelloReply) => void,
) => grpc.ClientUnaryCall;

export type GreeterClient = grpc.Client & Record<GreeterMethod, UnaryMethod>;

const definition = protoLoader.loadSync(GREETER_PROTO, { keepCase: true, defaults: true });
const pkg = grpc.loadPackageDefinition(definition) as unknown as { hello: { Greeter: grpc.ServiceClientConstructor } };

export const Greeter = pkg.hello.Greeter;
export const GreeterService: grpc.ServiceDefinition = Greeter.service;

export function newGreeterClient(target: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions): GreeterClient {
  return new Greeter(target, creds, options) as unknown as GreeterClient;
}
