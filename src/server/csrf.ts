/**
 * CSRF defence for requests that the refresh cookie authenticates. Browsers send `Origin` on every
 * POST and `Sec-Fetch-Site` on every request; a cookie request with neither did not come from a
 * browser page we trust, and non-browser clients have the body mode for their refresh token.
 */
import { RequestError } from '../errors.js';

export interface CsrfHeaders {
  origin: string | undefined;
  secFetchSite: string | undefined;
}

export function requireSameOrigin(headers: CsrfHeaders, allowedOrigins: readonly string[]): void {
  if (headers.origin !== undefined) {
    if (allowedOrigins.includes(headers.origin)) return;
    throw new RequestError('ERR_CSRF_REJECTED', 'cross-site request refused: Origin is not allowed');
  }
  if (headers.secFetchSite === 'same-origin') return;
  throw new RequestError(
    'ERR_CSRF_REJECTED',
    headers.secFetchSite === undefined
      ? 'cookie request refused: it carries neither Origin nor Sec-Fetch-Site'
      : 'cross-site request refused: Sec-Fetch-Site is not same-origin',
  );
}
