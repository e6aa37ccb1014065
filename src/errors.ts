/**
 * The one error hierarchy of Latchkey. Every failure that a caller may need to tell apart carries a
 * stable string `code`; the HTTP edge maps codes to statuses in one table. Messages name the rule that
 * failed and never contain a token, a key, a password or a hash.
 */

/** Token structure and signature failures (RFC 7515, RFC 8725). */
export const JOSE_ERROR_CODES = [
  'ERR_JWT_TOO_LARGE',
  'ERR_JWS_MALFORMED',
  'ERR_JWS_ALG_NOT_ALLOWED',
  'ERR_JWS_HEADER_REJECTED',
  'ERR_JWS_SIGNATURE_INVALID',
  'ERR_JWKS_NO_MATCHING_KEY',
] as const;

/** Claim-set failures (RFC 7519 §4.1, RFC 9068 §4). */
export const JWT_CLAIM_ERROR_CODES = [
  'ERR_JWT_MALFORMED',
  'ERR_JWT_EXPIRED',
  'ERR_JWT_NOT_YET_VALID',
  'ERR_JWT_CLAIM_INVALID',
  'ERR_JWT_TYP_INVALID',
] as const;

/** Key material failures: a JWK, PEM or secret that cannot be used safely. */
export const KEY_ERROR_CODES = ['ERR_KEY_INVALID', 'ERR_JWKS_INVALID'] as const;

/** Domain failures of the auth service. */
export const AUTH_ERROR_CODES = [
  'ERR_INVALID_INPUT',
  'ERR_EMAIL_TAKEN',
  'ERR_INVALID_CREDENTIALS',
  'ERR_WRONG_PASSWORD',
  'ERR_RATE_LIMITED',
  'ERR_INVALID_GRANT',
  'ERR_SESSION_REVOKED',
  'ERR_SESSION_NOT_FOUND',
  'ERR_USER_NOT_FOUND',
  'ERR_OVERLOADED',
] as const;

/** Failures the HTTP edge finds before any service call. */
export const REQUEST_ERROR_CODES = [
  'ERR_BAD_REQUEST',
  'ERR_MISSING_TOKEN',
  'ERR_CSRF_REJECTED',
  'ERR_ORIGIN_NOT_ALLOWED',
  'ERR_NOT_FOUND',
  'ERR_PAYLOAD_TOO_LARGE',
  'ERR_UNSUPPORTED_MEDIA_TYPE',
  'ERR_HEADERS_TOO_LARGE',
  'ERR_REQUEST_TIMEOUT',
] as const;

/** Failures of a resource server's verifier that are not the token's fault, and missing rights. */
export const VERIFY_ERROR_CODES = [
  'ERR_JWKS_UNAVAILABLE',
  'ERR_REVOCATIONS_UNAVAILABLE',
  'ERR_INSUFFICIENT_SCOPE',
] as const;

/** Storage failures; all but the first two stop a store from opening (a server from starting). */
export const STORE_ERROR_CODES = [
  'ERR_STORE_CONFLICT',
  'ERR_STORE_UNAVAILABLE',
  'ERR_STORE_URL_INVALID',
  'ERR_STORE_AUTH_FAILED',
  'ERR_STORE_DATABASE_MISSING',
  'ERR_STORE_PERMISSION_DENIED',
  'ERR_STORE_SCHEMA_OUTDATED',
] as const;

export type JOSEErrorCode = (typeof JOSE_ERROR_CODES)[number];
export type JWTClaimErrorCode = (typeof JWT_CLAIM_ERROR_CODES)[number];
export type KeyErrorCode = (typeof KEY_ERROR_CODES)[number];
export type AuthErrorCode = (typeof AUTH_ERROR_CODES)[number];
export type StoreErrorCode = (typeof STORE_ERROR_CODES)[number];
export type RequestErrorCode = (typeof REQUEST_ERROR_CODES)[number];
export type VerifyErrorCode = (typeof VERIFY_ERROR_CODES)[number];

/** Every code, for documentation and for tests that keep docs/errors.md in step. */
export const ERROR_CODES = [
  ...JOSE_ERROR_CODES,
  ...JWT_CLAIM_ERROR_CODES,
  ...KEY_ERROR_CODES,
  ...AUTH_ERROR_CODES,
  ...REQUEST_ERROR_CODES,
  ...VERIFY_ERROR_CODES,
  ...STORE_ERROR_CODES,
] as const;
export type LatchkeyErrorCode = (typeof ERROR_CODES)[number];

/** The base of every Latchkey error; each area narrows `Code` to its own codes. */
export class LatchkeyError<Code extends LatchkeyErrorCode = LatchkeyErrorCode> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** A compact JWS that is malformed, unsigned, badly signed, or signed with a key we do not hold. */
export class JOSEError extends LatchkeyError<JOSEErrorCode> {}

/** A correctly signed token whose claims are not acceptable. `claim` names the claim that failed. */
export class JWTClaimError extends LatchkeyError<JWTClaimErrorCode> {
  readonly claim: string | undefined;

  constructor(code: JWTClaimErrorCode, message: string, claim?: string) {
    super(code, message);
    this.claim = claim;
  }
}

/** Key material that is refused at import: wrong type, weak, or not bound to a signature algorithm. */
export class KeyError extends LatchkeyError<KeyErrorCode> {}

/**
 * A request the auth service refuses. `retryAfterSeconds` is set for ERR_RATE_LIMITED and
 * ERR_OVERLOADED; `field` names the offending input of ERR_INVALID_INPUT.
 */
export class AuthError extends LatchkeyError<AuthErrorCode> {
  readonly retryAfterSeconds: number | undefined;
  readonly field: string | undefined;

  constructor(
    code: AuthErrorCode,
    message: string,
    extra: { retryAfterSeconds?: number; field?: string } = {},
  ) {
    super(code, message);
    this.retryAfterSeconds = extra.retryAfterSeconds;
    this.field = extra.field;
  }
}

/**
 * A storage rule was broken (a unique value taken), the database cannot be reached, or it refuses what
 * opening the store needs (the login, the database, the right to create the tables).
 */
export class StoreError extends LatchkeyError<StoreErrorCode> {}

/** A request refused at the HTTP edge: malformed, unauthenticated, cross-site, or for nothing we serve. */
export class RequestError extends LatchkeyError<RequestErrorCode> {}

/**
 * A resource server's verifier cannot decide (the issuer's keys or revocation feed cannot be had), or
 * a valid token lacks the scope or role a route needs.
 */
export class VerifyError extends LatchkeyError<VerifyErrorCode> {}
