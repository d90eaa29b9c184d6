// The cipher suites istiod accepts in a Gateway server's `tls.cipherSuites` (pkg/config/security
// ValidCipherSuites). Shared by the Gateway semantic checks and the Gateway API conversion, which drops
// unknown names the same way istiod's FilterCipherSuites does.

export const VALID_CIPHER_SUITES: ReadonlySet<string> = new Set([
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-RSA-AES128-SHA',
  'ECDHE-ECDSA-AES256-SHA',
  'ECDHE-RSA-AES256-SHA',
  'AES128-GCM-SHA256',
  'AES256-GCM-SHA384',
  'AES128-SHA',
  'AES256-SHA',
  'DES-CBC3-SHA',
]);

/** istiod's IsValidCipherSuite: known names, '' and ALL, and BoringSSL expressions (`-X`, `+X`, `[A|B]`). */
export function isValidCipherSuite(suite: string): boolean {
  if (suite === '' || suite === 'ALL') return true;
  if (!/^[\p{L}\p{N}]/u.test(suite)) return true;
  return VALID_CIPHER_SUITES.has(suite);
}

/** Valid suites in order, duplicates dropped. */
export function filterCipherSuites(suites: readonly string[]): string[] {
  const out: string[] = [];
  for (const s of suites) if (isValidCipherSuite(s) && !out.includes(s)) out.push(s);
  return out;
}
