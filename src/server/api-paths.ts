/**
 * Which paths are the API (JSON, CORS for allowed origins) and which belong to the web UI. One
 * definition, so the not-found answer and the CORS rules can never disagree about it.
 */

const API_PATH = /^\/(auth|api|\.well-known)(\/|$)/;

/** Whether a request URL (with or without a query) is under `/auth`, `/api` or `/.well-known`. */
export function isAPIPath(url: string): boolean {
  return API_PATH.test(url.split('?')[0] ?? '');
}
