import { crdDerived } from './crd-derived.js';

// Istio kinds meshd validates (Istio's CRD schema + CEL, crd-derived.ts, and istiod's webhook rules in
// ../semantics/) but does not turn into xDS. Each is reported as "validated, not served" wherever it
// enters. Gateway gets a hand-written zod schema from its owner (Telemetry has one: telemetry.ts);
// until then Istio's CRD schema stands in, so no Istio kind is ever "unknown".

export const gateway = crdDerived('Gateway');
export const envoyFilter = crdDerived('EnvoyFilter');
export const proxyConfig = crdDerived('ProxyConfig');
export const wasmPlugin = crdDerived('WasmPlugin');
export const trafficExtension = crdDerived('TrafficExtension');
