import { crdDerived } from './crd-derived.js';

// Istio kinds meshd validates (Istio's CRD schema + CEL, crd-derived.ts, and istiod's webhook rules in
// ../semantics/) but does not turn into xDS. Each is reported as "validated, not served" wherever it
// enters. Gateway and Telemetry have hand-written zod schemas (gateway.ts, telemetry.ts).

export const envoyFilter = crdDerived('EnvoyFilter');
export const proxyConfig = crdDerived('ProxyConfig');
export const wasmPlugin = crdDerived('WasmPlugin');
export const trafficExtension = crdDerived('TrafficExtension');
