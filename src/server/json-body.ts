/**
 * How request bodies are read: JSON in UTF-8 only, never compressed, an empty body the same as none.
 *
 * - `Content-Encoding` other than `identity`, or a `Transfer-Encoding` other than `chunked`: 415,
 *   since the bytes would otherwise reach the JSON parser compressed and come back as "not valid
 *   JSON", which sends a client looking in the wrong place.
 * - A `charset` other than UTF-8 (RFC 8259 §8.1): 415; bytes that are not UTF-8: 400. Decoding them
 *   with replacement characters would make different passwords one.
 * - An empty (or blank) body with `Content-Type: application/json` (what many HTTP clients send for a POST without
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

/** Fatal: a byte that is not UTF-8 is refused, never replaced. A leading BOM is dropped. Stateless per call. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Whether the body's codings, content or transfer, leave anything but the JSON text itself. */
function isCompressed(request: FastifyRequest): boolean {
  const content = request.headers['content-encoding']?.trim().toLowerCase();
  if (content !== undefined && content !== '' && content !== 'identity') return true;
  const transfer = request.headers['transfer-encoding'] ?? '';
  return transfer.split(',').some((coding) => !['', 'chunked'].includes(coding.trim().toLowerCase()));
}

/** The `charset` parameter of the content type, lower-case; null when there is none. */
function charsetOf(request: FastifyRequest): string | null {
  const match = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(request.headers['content-type'] ?? '');
  return match === null ? null : (match[1] as string).toLowerCase();
}

export function registerJsonBody(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer' },
    (request: FastifyRequest, bytes: Buffer, done: (error: Error | null, body?: unknown) => void) => {
      if (isCompressed(request)) {
        done(new RequestError('ERR_UNSUPPORTED_MEDIA_TYPE', 'request bodies must not be compressed'));
        return;
      }
      const charset = charsetOf(request);
      if (charset !== null && charset !== 'utf-8' && charset !== 'utf8') {
        done(new RequestError('ERR_UNSUPPORTED_MEDIA_TYPE', 'request body must be JSON in UTF-8'));
        return;
      }
      let body: string;
      try {
        body = UTF8.decode(bytes);
      } catch {
        done(new RequestError('ERR_BAD_REQUEST', 'request body is not valid UTF-8'));
        return;
      }
      if (body.trim() === '') {
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
