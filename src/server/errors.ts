/**
 * The one table from error codes to HTTP. Clients see coarse, stable codes; the precise code stays in
 * the logs. Token failures of every kind are `invalid_token` (RFC 6750 §3.1) so an attacker learns
 * nothing about which check failed. Anything not in the table is a 500 with a generic message.
 */
import { LatchkeyError, type LatchkeyErrorCode } from '../errors.js';
import type { WireErrorCode } from '../protocol.js';
import { bearerChallenge } from '../verify/bearer.js';

export interface HttpProblem {
  status: number;
  error: WireErrorCode;
  message: string;
  headers: Record<string, string>;
}

interface Mapping {
  status: number;
  error: WireErrorCode;
  /** Send the error's own message; otherwise a fixed one (the message may carry internals). */
  exposeMessage: boolean;
}

const TOKEN: Mapping = { status: 401, error: 'invalid_token', exposeMessage: false };

const TABLE: Readonly<Record<LatchkeyErrorCode, Mapping>> = {
  ERR_JWT_TOO_LARGE: TOKEN,
  ERR_JWS_MALFORMED: TOKEN,
  ERR_JWS_ALG_NOT_ALLOWED: TOKEN,
  ERR_JWS_HEADER_REJECTED: TOKEN,
  ERR_JWS_SIGNATURE_INVALID: TOKEN,
  ERR_JWKS_NO_MATCHING_KEY: TOKEN,
  ERR_JWT_MALFORMED: TOKEN,
  ERR_JWT_EXPIRED: TOKEN,
  ERR_JWT_NOT_YET_VALID: TOKEN,
  ERR_JWT_CLAIM_INVALID: TOKEN,
  ERR_JWT_TYP_INVALID: TOKEN,
  ERR_SESSION_REVOKED: TOKEN,
  ERR_KEY_INVALID: { status: 500, error: 'internal_error', exposeMessage: false },
  ERR_JWKS_INVALID: { status: 500, error: 'internal_error', exposeMessage: false },
  ERR_INVALID_INPUT: { status: 400, error: 'invalid_request', exposeMessage: true },
  ERR_EMAIL_TAKEN: { status: 409, error: 'email_taken', exposeMessage: true },
  ERR_INVALID_CREDENTIALS: { status: 401, error: 'invalid_credentials', exposeMessage: true },
  ERR_WRONG_PASSWORD: { status: 403, error: 'invalid_credentials', exposeMessage: true },
  ERR_RATE_LIMITED: { status: 429, error: 'rate_limited', exposeMessage: true },
  ERR_INVALID_GRANT: { status: 401, error: 'invalid_grant', exposeMessage: true },
  ERR_SESSION_NOT_FOUND: { status: 404, error: 'not_found', exposeMessage: true },
  // Raised only by the admin service (the command line) so far; no route answers with it.
  ERR_USER_NOT_FOUND: { status: 404, error: 'not_found', exposeMessage: true },
  ERR_OVERLOADED: { status: 503, error: 'overloaded', exposeMessage: true },
  ERR_BAD_REQUEST: { status: 400, error: 'invalid_request', exposeMessage: true },
  ERR_MISSING_TOKEN: { status: 401, error: 'missing_token', exposeMessage: true },
  ERR_CSRF_REJECTED: { status: 403, error: 'csrf_rejected', exposeMessage: true },
  ERR_ORIGIN_NOT_ALLOWED: { status: 403, error: 'origin_not_allowed', exposeMessage: true },
  ERR_NOT_FOUND: { status: 404, error: 'not_found', exposeMessage: true },
  ERR_PAYLOAD_TOO_LARGE: { status: 413, error: 'payload_too_large', exposeMessage: true },
  ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, error: 'unsupported_media_type', exposeMessage: true },
  ERR_HEADERS_TOO_LARGE: { status: 431, error: 'headers_too_large', exposeMessage: true },
  ERR_REQUEST_TIMEOUT: { status: 408, error: 'request_timeout', exposeMessage: true },
  ERR_JWKS_UNAVAILABLE: { status: 503, error: 'unavailable', exposeMessage: false },
  ERR_REVOCATIONS_UNAVAILABLE: { status: 503, error: 'unavailable', exposeMessage: false },
  ERR_INSUFFICIENT_SCOPE: { status: 403, error: 'insufficient_scope', exposeMessage: true },
  ERR_STORE_CONFLICT: { status: 409, error: 'conflict', exposeMessage: false },
  ERR_STORE_UNAVAILABLE: { status: 503, error: 'unavailable', exposeMessage: false },
  // Raised while a store opens, before any request; the table needs them all the same.
  ERR_STORE_URL_INVALID: { status: 503, error: 'unavailable', exposeMessage: false },
  ERR_STORE_AUTH_FAILED: { status: 503, error: 'unavailable', exposeMessage: false },
  ERR_STORE_DATABASE_MISSING: { status: 503, error: 'unavailable', exposeMessage: false },
  ERR_STORE_PERMISSION_DENIED: { status: 503, error: 'unavailable', exposeMessage: false },
  ERR_STORE_SCHEMA_OUTDATED: { status: 503, error: 'unavailable', exposeMessage: false },
};

const FIXED_MESSAGES: Readonly<Partial<Record<WireErrorCode, string>>> = {
  invalid_token: 'the access token is invalid, expired or revoked',
  internal_error: 'internal server error',
  conflict: 'the request conflicts with the current state',
  unavailable: 'the service is temporarily unavailable',
};

export const REALM = 'latchkey';

/**
 * Every 503 `unavailable` (a database that does not answer, an instance shutting down): long enough
 * not to hammer it, short enough to notice it back.
 */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/** The HTTP answer for an error; `null` for anything that is not a `LatchkeyError` (a real fault). */
export function toHttpProblem(error: unknown): HttpProblem | null {
  if (!(error instanceof LatchkeyError)) return null;
  const code: LatchkeyErrorCode = error.code;
  const mapping = TABLE[code];
  const message = mapping.exposeMessage ? error.message : (FIXED_MESSAGES[mapping.error] ?? 'request failed');
  const headers: Record<string, string> = {};
  if (mapping.error === 'invalid_token') {
    headers['www-authenticate'] = bearerChallenge({
      realm: REALM,
      error: 'invalid_token',
      description: message,
    });
  } else if (mapping.error === 'missing_token') {
    // RFC 6750 §3.1: no error attribute when the request carried no credentials at all.
    headers['www-authenticate'] = bearerChallenge({ realm: REALM });
  } else if (mapping.error === 'insufficient_scope') {
    headers['www-authenticate'] = bearerChallenge({
      realm: REALM,
      error: 'insufficient_scope',
      description: message,
    });
  }
  const retryAfter =
    (error as { retryAfterSeconds?: number }).retryAfterSeconds ??
    (mapping.error === 'unavailable' ? UNAVAILABLE_RETRY_AFTER_SECONDS : undefined);
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  return { status: mapping.status, error: mapping.error, message, headers };
}

export const INTERNAL_ERROR: HttpProblem = {
  status: 500,
  error: 'internal_error',
  message: FIXED_MESSAGES.internal_error as string,
  headers: {},
};
