import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

// Envoy's API protos come from @grpc/grpc-js-xds, which vendors envoy-api, xds (cncf/udpa),
// googleapis and protoc-gen-validate and keeps them current (see protos/README.md).
const require = createRequire(import.meta.url);
const XDS_PACKAGE_DIR = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
// protobufjs itself ships google/protobuf/descriptor.proto, which the validate/udpa annotations import.
const PROTOBUFJS_DIR = path.dirname(require.resolve('protobufjs/package.json'));
// meshd's own protos/ holds what neither ships: the OTLP value types Envoy's OpenTelemetry access logger imports.
const OWN_PROTOS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../protos');
export const PROTO_INCLUDE_DIRS: readonly string[] = [
  ...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(XDS_PACKAGE_DIR, 'deps', d)),
  PROTOBUFJS_DIR,
  OWN_PROTOS_DIR,
];

/** Every message that may travel inside an `Any` must be in this root, or it cannot be encoded. */
export const PROTO_FILES: readonly string[] = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/core/v3/base.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  // CUSTOM AuthorizationPolicy (src/security/ext-authz.ts)
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/network/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/path/match/uri_template/v3/uri_template_match.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/clusters/aggregate/v3/cluster.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto',
  'envoy/extensions/load_balancing_policies/wrr_locality/v3/wrr_locality.proto',
  'envoy/extensions/load_balancing_policies/pick_first/v3/pick_first.proto',
  'envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  // Envoy sidecar clusters (cds.ts): plaintext transport socket of auto-mTLS's tlsMode-disabled match
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  // Envoy sidecar listeners (lds.ts): listener filters, HTTP filters, request ids, retry plugins, and
  // xds.type.v3.TypedStruct, which carries istio.stats' config (a type only istio-proxy knows).
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/filters/http/grpc_stats/v3/config.proto',
  'envoy/extensions/filters/http/grpc_web/v3/grpc_web.proto',
  'envoy/extensions/request_id/uuid/v3/uuid.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto',
  'xds/type/v3/typed_struct.proto',
  // Observability (src/envoy/telemetry-config.ts): access loggers and their filters/formatters, tracers
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/grpc/v3/als.proto',
  'envoy/extensions/access_loggers/open_telemetry/v3/logs_service.proto',
  'envoy/extensions/access_loggers/filters/cel/v3/cel.proto',
  'envoy/extensions/formatter/req_without_query/v3/req_without_query.proto',
  'envoy/config/trace/v3/zipkin.proto',
  'envoy/config/trace/v3/datadog.proto',
  'envoy/config/trace/v3/opentelemetry.proto',
  'envoy/config/trace/v3/skywalking.proto',
  'envoy/extensions/tracers/opentelemetry/resource_detectors/v3/environment_resource_detector.proto',
  'envoy/extensions/tracers/opentelemetry/resource_detectors/v3/dynatrace_resource_detector.proto',
  'envoy/extensions/tracers/opentelemetry/samplers/v3/dynatrace_sampler.proto',
  // `meshd bootstrap` (src/bootstrap/) encodes and checks the Envoy Bootstrap it prints.
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'google/protobuf/struct.proto',
  'google/protobuf/duration.proto',
  'google/protobuf/wrappers.proto',
  'google/protobuf/any.proto',
];

function loadRoot(files: readonly string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string) => {
    if (path.isAbsolute(target) && fs.existsSync(target)) return target;
    for (const dir of PROTO_INCLUDE_DIRS) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync(files as string[], { keepCase: true });
  root.resolveAll();
  packAnysWithResolvedTypes(root);
  return root;
}

type FromObject = (object: Record<string, unknown>, depth?: number) => protobuf.Message;

/**
 * protobufjs' google.protobuf.Any converter looks the packed message type up by name (a walk of the
 * namespace tree) for every `{'@type': …}` it packs — several per sidecar Cluster or Listener. This one
 * resolves each type URL once per root and packs exactly as protobufjs does (same type_url, same bytes);
 * anything it does not recognise goes to protobufjs' own converter.
 */
function packAnysWithResolvedTypes(root: protobuf.Root): void {
  const any = root.lookupType('google.protobuf.Any');
  any.setup(); // installs protobufjs' Any wrapper, which stays the fallback
  const fallback = any.fromObject as FromObject;
  const packed = new Map<string, protobuf.Type | null>();
  const packedType = (url: string): protobuf.Type | null => {
    let type = packed.get(url);
    if (type === undefined) {
      const found = any.lookup(url.substring(url.lastIndexOf('/') + 1)); // where protobufjs' wrapper looks
      type = found instanceof protobuf.Type ? found : null;
      packed.set(url, type);
    }
    return type;
  };
  const fromObject: FromObject = (object, depth = 0) => {
    const url = object?.['@type'];
    const type = typeof url === 'string' && url.includes('/') && url.charAt(0) !== '.' ? packedType(url) : null;
    if (!type) return fallback(object, depth);
    const nested = type.fromObject as FromObject;
    return any.create({ type_url: url, value: type.encode(nested.call(type, object, depth + 1)).finish() });
  };
  any.fromObject = fromObject as typeof any.fromObject;
}

let cachedRoot: protobuf.Root | undefined;
const typesByName = new Map<string, protobuf.Type>();

/** The protobuf root with every Envoy type meshd emits (snake_case field names, as in Envoy's docs). */
export function envoyRoot(): protobuf.Root {
  return (cachedRoot ??= loadRoot(PROTO_FILES));
}

/**
 * Envoy's admin ConfigDump and CSDS ClientConfig, which only the xDS debug types (`istio.io/debug/…`) send:
 * loaded into the root on first use, so no proxy's sync pays for them.
 */
const DEBUG_PROTO_FILES: readonly string[] = ['envoy/admin/v3/config_dump.proto', 'envoy/service/status/v3/csds.proto'];
let debugProtosLoaded = false;

export function loadDebugProtos(): void {
  if (debugProtosLoaded) return;
  const root = envoyRoot();
  root.loadSync(DEBUG_PROTO_FILES as string[], { keepCase: true });
  root.resolveAll();
  debugProtosLoaded = true;
}

/** A message type of the Envoy root, resolved once per name (every resource encode and decode asks). */
export function lookupType(fullName: string): protobuf.Type {
  let type = typesByName.get(fullName);
  if (!type) typesByName.set(fullName, (type = envoyRoot().lookupType(fullName)));
  return type;
}

/** Encodes a resource given as proto-JSON-ish object (snake_case, nested `{'@type': …}` Anys). */
export function encodeMessage(fullName: string, value: object): Uint8Array {
  const type = lookupType(fullName);
  return type.encode(type.fromObject(value)).finish();
}

export const TO_OBJECT_OPTIONS: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: String,
  defaults: false,
  arrays: false,
  oneofs: false,
  json: true,
};

export function decodeMessage(fullName: string, bytes: Uint8Array): Record<string, unknown> {
  const type = lookupType(fullName);
  return type.toObject(type.decode(bytes), TO_OBJECT_OPTIONS);
}

// protobufjs defines the well-known types from its built-in camelCase descriptors even with keepCase,
// so Struct values are `stringValue`, not `string_value` (a snake_case key is silently dropped).

/** google.protobuf.Struct (as protobufjs decodes it) → plain JSON. */
export function structToJson(struct: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields = (struct as { fields?: Record<string, unknown> } | undefined)?.fields ?? {};
  for (const [k, v] of Object.entries(fields)) out[k] = valueToJson(v);
  return out;
}

function valueToJson(v: unknown): unknown {
  const val = v as Record<string, unknown> | undefined;
  if (!val) return null;
  if ('stringValue' in val && val.stringValue !== undefined) return val.stringValue;
  if ('numberValue' in val && val.numberValue !== undefined) return val.numberValue;
  if ('boolValue' in val && val.boolValue !== undefined) return val.boolValue;
  if ('structValue' in val && val.structValue !== undefined) return structToJson(val.structValue);
  if ('listValue' in val && val.listValue !== undefined) {
    return ((val.listValue as { values?: unknown[] }).values ?? []).map(valueToJson);
  }
  return null;
}

/** Plain JSON → google.protobuf.Struct in protobufjs' keepCase object form. */
export function jsonToStruct(obj: Record<string, unknown>): { fields: Record<string, unknown> } {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) fields[k] = jsonToValue(v);
  return { fields };
}

function jsonToValue(v: unknown): unknown {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(jsonToValue) } };
  return { structValue: jsonToStruct(v as Record<string, unknown>) };
}
