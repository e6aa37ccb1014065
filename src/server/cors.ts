/**
 * CORS for the API paths (`/auth`, `/api`, `/.well-known`): browser apps on the allowed origins
 * (LATCHKEY_ALLOWED_ORIGINS, the same list the CSRF check uses) may call them with credentials and
 * read the answers. Every other origin gets no CORS header at all, so the browser keeps its answers
 * from the page. The web UI paths are never shared.
 *
 * CORS only decides what a browser lets a page *read*; it is no access control on the server. The
 * cookie requests stay guarded by the CSRF check in the routes, which this file does not touch.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RequestError } from '../errors.js';
import { isAPIPath } from './api-paths.js';

/** Every method an API route answers; GET and HEAD never need a preflight, but saying so is harmless. */
const ALLOWED_METHODS = 'GET, POST, DELETE';
/** What the client sends beyond the CORS-safelisted headers: the Bearer token and the JSON body type. */
const ALLOWED_HEADERS = 'Authorization, Content-Type';
/** What a page may read beyond the safelisted response headers: when to retry, and why a token failed. */
const EXPOSED_HEADERS = 'Retry-After, WWW-Authenticate';
/**
 * How long a browser may reuse a preflight answer. The answer changes only with a restart under a
 * new configuration; Chromium caps the value at 2 hours anyway (Firefox at 24).
 */
const PREFLIGHT_MAX_AGE_SECONDS = 7200;

export type CorsHook = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;

/** The `onRequest` hook that answers preflights and adds CORS headers for `allowedOrigins`. */
export function createCorsHook(allowedOrigins: readonly string[]): CorsHook {
  // Origins are compared as the exact strings browsers send (scheme://host[:port], no slash);
  // the config has already serialised each entry that way.
  const allowed = new Set(allowedOrigins);

  return async function cors(request, reply) {
    if (!isAPIPath(request.url)) return undefined;
    // Every answer on these paths depends on Origin, also when it is refused or absent: a shared
    // cache must never hand one origin's answer to another.
    reply.header('vary', 'Origin');
    const origin = request.headers.origin;
    const isAllowed = typeof origin === 'string' && allowed.has(origin);
    const isPreflight =
      request.method === 'OPTIONS' &&
      origin !== undefined &&
      request.headers['access-control-request-method'] !== undefined;

    if (isPreflight) {
      // A refused preflight fails loudly (403 in the contract's shape, logged as refused) rather
      // than with a 204 the browser then discards: the developer sees why in both places.
      if (!isAllowed) {
        throw new RequestError(
          'ERR_ORIGIN_NOT_ALLOWED',
          'cross-origin request refused: Origin is not in LATCHKEY_ALLOWED_ORIGINS',
        );
      }
      reply
        .code(204)
        .header('access-control-allow-origin', origin)
        .header('access-control-allow-credentials', 'true')
        .header('access-control-allow-methods', ALLOWED_METHODS)
        .header('access-control-allow-headers', ALLOWED_HEADERS)
        .header('access-control-max-age', String(PREFLIGHT_MAX_AGE_SECONDS))
        .send();
      return reply;
    }

    if (isAllowed) {
      reply
        .header('access-control-allow-origin', origin)
        .header('access-control-allow-credentials', 'true')
        .header('access-control-expose-headers', EXPOSED_HEADERS);
    }
    return undefined;
  };
}
