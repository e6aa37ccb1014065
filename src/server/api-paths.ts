/**
 * Which paths are the API (JSON, CORS for allowed origins) and which belong to the web UI. One
 * definition, so the not-found answer and the CORS rules can never disagree about it.
 */

const API_PATH = /^\/(auth|api|\.well-known)([/?#]|$)/;

/** Decodes a segment's percent-escapes as the router does; one that is not valid stays as it is. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * The path segments of a request-target as the router matches them: without an absolute-form
 * `scheme://host` (RFC 9112 §3.2.2), a query or a fragment, each segment percent-decoded, so that
 * `/auth/lo%67in` and `http://host/auth/login` are the login route's path too.
 */
export function pathSegments(url: string): string[] {
  const path = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '').split(/[?#]/)[0] ?? '';
  return path.split('/').slice(1).map(decodeSegment);
}

/** Whether a request URL is under `/auth`, `/api` or `/.well-known`, however it is written. */
export function isAPIPath(url: string): boolean {
  // Every request asks this (CORS): an origin-form target without escapes needs no decoding.
  if (url.startsWith('/') && !url.includes('%')) return API_PATH.test(url);
  return API_PATH.test(`/${pathSegments(url).join('/')}`);
}
