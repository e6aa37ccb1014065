/**
 * How request bodies are read: JSON only, never compressed, an empty body the same as none.
 *
 * - `Content-Encoding` other than `identity`: 415, since the bytes would otherwise reach the JSON
 *   parser compressed and come back as "not valid JSON", which sends a client looking in the wrong place.
 * - An empty body with `Content-Type: application/json` (what many HTTP clients send for a POST without
 *   data): no body, so that cookie-mode refresh and logout work as without the header, and a route that
 *   needs a body says that it is missing, not that it is malformed.
 * - `__proto__` and `constructor.prototype` keys are refused, as Fastify refuses them by default,
 *   with a message that names them rather than calling the JSON invalid.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RequestError } from '../errors.js';

/**
 * Whether `body` is well-formed JSON: when Fastify's parser refused a body that is, it refused it for a
 * poisoning key (its error no longer says which). Only on that error path, so a valid body is parsed once.
 */
function isWellFormedJson(body: string): boolean {
  try {
    JSON.parse(body);
    return true;
  } catch {
    return false;
  }
}

export function registerJsonBody(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string' },
    (request: FastifyRequest, body: string, done: (error: Error | null, body?: unknown) => void) => {
      const encoding = request.headers['content-encoding']?.trim().toLowerCase();
      if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
        done(new RequestError('ERR_UNSUPPORTED_MEDIA_TYPE', 'request bodies must not be compressed'));
        return;
      }
      if (body === '') {
        done(null, undefined);
        return;
      }
      parseJson(request, body, (error, parsed) => {
        if (error !== null && isWellFormedJson(body)) {
          done(
            new RequestError(
              'ERR_BAD_REQUEST',
              'request body must not use the property names __proto__ or constructor.prototype',
            ),
          );
          return;
        }
        done(error, parsed);
      });
    },
  );
}
