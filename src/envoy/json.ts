/**
 * An Envoy or gRPC xDS message in proto3 JSON form: what the builders and generators assemble before
 * protos.ts encodes it into an `Any`. Loosely typed on purpose: the shapes are Envoy's protos, checked by
 * encoding (unknown fields fail) and in tests against the protos' PGV rules.
 */
export type J = Record<string, unknown>;
