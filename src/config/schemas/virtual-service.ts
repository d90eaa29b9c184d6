import { z } from 'zod';
import { envelope } from './meta.js';
import {
  durationMin1ms,
  int32,
  percent,
  portSelector,
  removedField,
  status,
  stringList,
  stringMap,
  stringMatch,
  uint32,
  istioEnum,
} from './common.js';

// networking.istio.io VirtualService (v1, v1beta1 and v1alpha3 share this schema). Every field of
// crd-all.gen.yaml; objects are strict so a misspelt field is reported instead of silently ignored.
// Field semantics: proto/networking/v1alpha3/virtual_service.proto.

/** At most one of `keys` may be set (the CRD's `oneOf: [not anyOf…]` pattern). */
function atMostOne<T extends Record<string, unknown>>(keys: readonly (keyof T & string)[]) {
  return (value: T, ctx: z.RefinementCtx) => {
    const set = keys.filter((k) => value[k] !== undefined && value[k] !== null);
    if (set.length > 1) {
      ctx.addIssue({ code: 'custom', message: `only one of ${keys.join(', ')} may be set (got ${set.join(', ')})` });
    }
  };
}

export const destination = z.strictObject({
  host: z.string(),
  subset: z.string().optional(),
  port: portSelector.optional(),
});
export type Destination = z.infer<typeof destination>;

export const headerOperations = z.strictObject({
  set: stringMap.optional(),
  add: stringMap.optional(),
  remove: stringList.optional(),
});
export type HeaderOperations = z.infer<typeof headerOperations>;

export const headers = z.strictObject({
  request: headerOperations.optional(),
  response: headerOperations.optional(),
});
export type Headers = z.infer<typeof headers>;

export const httpMatchRequest = z.strictObject({
  name: z.string().optional(),
  uri: stringMatch.optional(),
  scheme: stringMatch.optional(),
  method: stringMatch.optional(),
  authority: stringMatch.optional(),
  headers: z.record(z.string(), stringMatch).optional(),
  port: uint32.optional(),
  sourceLabels: stringMap.optional(),
  gateways: stringList.optional(),
  queryParams: z.record(z.string(), stringMatch).optional(),
  ignoreUriCase: z.boolean().optional(),
  withoutHeaders: z.record(z.string(), stringMatch).optional(),
  sourceNamespace: z.string().optional(),
  statPrefix: z.string().optional(),
});
export type HTTPMatchRequest = z.infer<typeof httpMatchRequest>;

const removedHeaderFields = {
  appendRequestHeaders: removedField('use headers.request.add'),
  removeRequestHeaders: removedField('use headers.request.remove'),
  appendResponseHeaders: removedField('use headers.response.add'),
  removeResponseHeaders: removedField('use headers.response.remove'),
};

export const httpRouteDestination = z.strictObject({
  destination,
  weight: int32.optional(),
  headers: headers.optional(),
  ...removedHeaderFields,
});
export type HTTPRouteDestination = z.infer<typeof httpRouteDestination>;

export const routeDestination = z.strictObject({
  destination,
  weight: int32.optional(),
});
export type RouteDestination = z.infer<typeof routeDestination>;

export const httpRedirect = z
  .strictObject({
    uri: z.string().optional(),
    authority: z.string().optional(),
    port: uint32.optional(),
    derivePort: istioEnum(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']).optional(),
    scheme: z.string().optional(),
    redirectCode: uint32.optional(),
    prefixRewrite: z.string().optional(),
  })
  .superRefine(atMostOne(['port', 'derivePort']));
export type HTTPRedirect = z.infer<typeof httpRedirect>;

export const httpBody = z
  .strictObject({
    string: z.string().optional(),
    bytes: z.base64('must be base64-encoded bytes').optional(),
  })
  .superRefine(atMostOne(['string', 'bytes']));
export type HTTPBody = z.infer<typeof httpBody>;

export const httpDirectResponse = z.strictObject({
  status: uint32,
  body: httpBody.optional(),
});
export type HTTPDirectResponse = z.infer<typeof httpDirectResponse>;

export const delegate = z.strictObject({
  name: z.string().optional(),
  namespace: z.string().optional(),
});
export type Delegate = z.infer<typeof delegate>;

export const regexRewrite = z.strictObject({
  match: z.string().optional(),
  rewrite: z.string().optional(),
});
export type RegexRewrite = z.infer<typeof regexRewrite>;

export const httpRewrite = z.strictObject({
  uri: z.string().optional(),
  authority: z.string().optional(),
  uriRegexRewrite: regexRewrite.optional(),
});
export type HTTPRewrite = z.infer<typeof httpRewrite>;

export const httpRetry = z.strictObject({
  attempts: int32.optional(),
  perTryTimeout: durationMin1ms.optional(),
  retryOn: z.string().optional(),
  retryRemoteLocalities: z.boolean().nullish(),
  retryIgnorePreviousHosts: z.boolean().nullish(),
  backoff: durationMin1ms.optional(),
});
export type HTTPRetry = z.infer<typeof httpRetry>;

export const corsPolicy = z.strictObject({
  allowOrigin: stringList.optional(),
  allowOrigins: z.array(stringMatch).optional(),
  allowMethods: stringList.optional(),
  allowHeaders: stringList.optional(),
  exposeHeaders: stringList.optional(),
  maxAge: durationMin1ms.optional(),
  allowCredentials: z.boolean().nullish(),
  unmatchedPreflights: istioEnum(['UNSPECIFIED', 'FORWARD', 'IGNORE']).optional(),
});
export type CorsPolicy = z.infer<typeof corsPolicy>;

export const httpFaultDelay = z
  .strictObject({
    fixedDelay: durationMin1ms.optional(),
    exponentialDelay: durationMin1ms.optional(),
    percentage: percent.optional(),
    /** deprecated: use `percentage` */
    percent: int32.optional(),
  })
  .superRefine(atMostOne(['fixedDelay', 'exponentialDelay']));
export type HTTPFaultDelay = z.infer<typeof httpFaultDelay>;

export const httpFaultAbort = z
  .strictObject({
    httpStatus: int32.optional(),
    grpcStatus: z.string().optional(),
    http2Error: z.string().optional(),
    percentage: percent.optional(),
    percent: removedField('use percentage'),
  })
  .superRefine(atMostOne(['httpStatus', 'grpcStatus', 'http2Error']));
export type HTTPFaultAbort = z.infer<typeof httpFaultAbort>;

export const httpFaultInjection = z.strictObject({
  delay: httpFaultDelay.optional(),
  abort: httpFaultAbort.optional(),
});
export type HTTPFaultInjection = z.infer<typeof httpFaultInjection>;

export const httpMirrorPolicy = z.strictObject({
  destination,
  percentage: percent.optional(),
});
export type HTTPMirrorPolicy = z.infer<typeof httpMirrorPolicy>;

export const httpRoute = z.strictObject({
  name: z.string().optional(),
  match: z.array(httpMatchRequest).optional(),
  route: z.array(httpRouteDestination).optional(),
  redirect: httpRedirect.optional(),
  directResponse: httpDirectResponse.optional(),
  delegate: delegate.optional(),
  rewrite: httpRewrite.optional(),
  timeout: durationMin1ms.optional(),
  retries: httpRetry.optional(),
  fault: httpFaultInjection.optional(),
  mirror: destination.optional(),
  mirrors: z.array(httpMirrorPolicy).optional(),
  /** deprecated: use `mirrorPercentage` */
  mirrorPercent: uint32.nullish(),
  /** deprecated spelling of `mirrorPercent` that Istio's CRD still accepts */
  mirror_percent: uint32.nullish(),
  mirrorPercentage: percent.optional(),
  corsPolicy: corsPolicy.optional(),
  headers: headers.optional(),
  /**
   * Removed from Istio's API (WebSocket upgrades are always allowed now). Still accepted and ignored, as
   * istiod does, because long-lived configs (Istio's own test corpus included) still carry it.
   */
  websocketUpgrade: z.boolean().optional(),
  appendHeaders: removedField('use headers.request.add'),
  ...removedHeaderFields,
});
export type HTTPRoute = z.infer<typeof httpRoute>;

export const l4MatchAttributes = z.strictObject({
  destinationSubnets: stringList.optional(),
  port: uint32.optional(),
  sourceSubnet: z.string().optional(),
  sourceLabels: stringMap.optional(),
  gateways: stringList.optional(),
  sourceNamespace: z.string().optional(),
});
export type L4MatchAttributes = z.infer<typeof l4MatchAttributes>;

export const tlsMatchAttributes = z.strictObject({
  sniHosts: stringList,
  destinationSubnets: stringList.optional(),
  port: uint32.optional(),
  sourceLabels: stringMap.optional(),
  gateways: stringList.optional(),
  sourceNamespace: z.string().optional(),
  sourceSubnet: removedField('TLS routes cannot match on sourceSubnet'),
});
export type TLSMatchAttributes = z.infer<typeof tlsMatchAttributes>;

export const tcpRoute = z.strictObject({
  match: z.array(l4MatchAttributes).optional(),
  route: z.array(routeDestination).optional(),
});
export type TCPRoute = z.infer<typeof tcpRoute>;

export const tlsRoute = z.strictObject({
  match: z.array(tlsMatchAttributes),
  route: z.array(routeDestination).optional(),
});
export type TLSRoute = z.infer<typeof tlsRoute>;

export const virtualServiceSpec = z.strictObject({
  hosts: stringList.optional(),
  gateways: stringList.optional(),
  http: z.array(httpRoute).optional(),
  tls: z.array(tlsRoute).optional(),
  tcp: z.array(tcpRoute).optional(),
  exportTo: stringList.optional(),
});
export type VirtualServiceSpec = z.infer<typeof virtualServiceSpec>;

export const virtualService = envelope('VirtualService', { spec: virtualServiceSpec, status });
export type VirtualService = z.infer<typeof virtualService>;
