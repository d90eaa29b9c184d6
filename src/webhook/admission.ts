import { z } from 'zod';

// The AdmissionReview v1 envelope (admission.k8s.io/v1) both webhooks speak. The API server sends
// `request`, we answer with `response` carrying the same uid. Only the fields the webhooks read are
// typed; everything else passes through untouched (looseObject).

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

const groupVersionKind = z.looseObject({ group: z.string(), version: z.string(), kind: z.string() });

export const admissionRequest = z.looseObject({
  uid: z.string().min(1),
  kind: groupVersionKind,
  resource: z.looseObject({ group: z.string(), version: z.string(), resource: z.string() }).optional(),
  subResource: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
  object: z.unknown().optional(),
  oldObject: z.unknown().optional(),
  dryRun: z.boolean().optional(),
});
export type AdmissionRequest = z.infer<typeof admissionRequest>;

export const admissionReview = z.looseObject({
  apiVersion: z.literal(ADMISSION_API_VERSION, { message: `apiVersion must be ${ADMISSION_API_VERSION}` }),
  kind: z.literal('AdmissionReview', { message: 'kind must be AdmissionReview' }),
  request: admissionRequest,
});

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code?: number; reason?: string; message: string };
  patch?: string;
  patchType?: 'JSONPatch';
  warnings?: string[];
}

export interface AdmissionReviewOut {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export const reviewOf = (response: AdmissionResponse): AdmissionReviewOut => ({ apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response });

export const allow = (uid: string, extra: Partial<AdmissionResponse> = {}): AdmissionReviewOut => reviewOf({ uid, allowed: true, ...extra });

export const deny = (uid: string, message: string, code = 400): AdmissionReviewOut =>
  reviewOf({ uid, allowed: false, status: { code, reason: code === 400 ? 'BadRequest' : 'Forbidden', message } });

/** The outcome of reading a request body: a typed request, or why the review is malformed. */
export type ParsedReview = { ok: true; request: AdmissionRequest } | { ok: false; uid: string | undefined; message: string };

/**
 * Parses and validates the body. A malformed review is reported with the uid it carried when one can be
 * read, so the caller can answer with an AdmissionReview the API server matches to its request.
 */
export function parseReview(body: string): ParsedReview {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    return { ok: false, uid: undefined, message: `AdmissionReview: body is not JSON (${(err as Error).message})` };
  }
  const parsed = admissionReview.safeParse(json);
  if (parsed.success) return { ok: true, request: parsed.data.request };
  const uidRaw = (json as { request?: { uid?: unknown } } | null)?.request?.uid;
  const issue = parsed.error.issues[0]!;
  const at = issue.path.map(String).join('.');
  return { ok: false, uid: typeof uidRaw === 'string' && uidRaw ? uidRaw : undefined, message: `AdmissionReview: ${at ? `${at}: ` : ''}${issue.message}` };
}
