/**
 * Claim-set validation (RFC 7519 §4.1, RFC 8725 §3.8–3.11, RFC 9068 §4) as a pure function of the
 * payload, the header's `typ`, the resolved options and the current time. It runs only after the
 * signature has been verified.
 */
import { JWTClaimError } from '../errors.js';

export interface JWTPayload {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  nbf?: number;
  iat?: number;
  jti?: string;
  [claim: string]: unknown;
}

/** The claim rules of a verifier, complete and checked once when the verifier is made. */
export interface ResolvedClaimRules {
  issuers: readonly string[] | null;
  audiences: readonly string[] | null;
  subject: string | null;
  /** Normalised expected `typ` (see `normalizeTyp`), or null for no check. */
  typ: string | null;
  clockToleranceSeconds: number;
  maxTokenAgeSeconds: number | null;
  requiredClaims: readonly string[];
}

const APPLICATION = 'application/';

/**
 * The media type a `typ` names. RFC 7515 §4.1.9: a recipient treats a `typ` without '/' as if
 * `application/` were prepended; media types compare case-insensitively. So `at+jwt`, `AT+JWT` and
 * `application/at+jwt` are one type, but `a/b` and `application/a/b` are not. Idempotent.
 */
export function normalizeTyp(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.includes('/') ? lower : `${APPLICATION}${lower}`;
}

/** `normalizeTyp(typ) === expected` for a normalised `expected`, without building a string per token. */
function typNames(typ: string, expected: string): boolean {
  const lower = typ.toLowerCase();
  if (lower.includes('/')) return lower === expected;
  return (
    expected.length === APPLICATION.length + lower.length &&
    expected.startsWith(APPLICATION) &&
    expected.endsWith(lower)
  );
}

function fail(
  code: 'ERR_JWT_CLAIM_INVALID' | 'ERR_JWT_EXPIRED' | 'ERR_JWT_NOT_YET_VALID',
  claim: string,
  why: string,
): never {
  throw new JWTClaimError(code, `"${claim}" claim ${why}`, claim);
}

function numericDate(payload: JWTPayload, claim: 'exp' | 'nbf' | 'iat'): number | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  // Strings, booleans, and JSON numbers too big for a double (1e309 parses as Infinity) are refused.
  if (typeof value !== 'number' || !Number.isFinite(value))
    fail('ERR_JWT_CLAIM_INVALID', claim, 'must be a finite number');
  return value;
}

/** The time checks, on their own because a cached token repeats them on every use. */
export function validateTimes(payload: JWTPayload, rules: ResolvedClaimRules, nowSeconds: number): void {
  const tolerance = rules.clockToleranceSeconds;
  const exp = numericDate(payload, 'exp');
  const nbf = numericDate(payload, 'nbf');
  const iat = numericDate(payload, 'iat');
  if (exp !== undefined && exp <= nowSeconds - tolerance)
    fail('ERR_JWT_EXPIRED', 'exp', 'timestamp check failed: the token has expired');
  if (nbf !== undefined && nbf > nowSeconds + tolerance) {
    fail('ERR_JWT_NOT_YET_VALID', 'nbf', 'timestamp check failed: the token is not valid yet');
  }
  if (rules.maxTokenAgeSeconds !== null) {
    if (iat === undefined)
      fail('ERR_JWT_CLAIM_INVALID', 'iat', 'is required when a maximum token age is set');
    const age = nowSeconds - iat;
    if (age - tolerance > rules.maxTokenAgeSeconds)
      fail('ERR_JWT_EXPIRED', 'iat', 'timestamp check failed: the token is too old');
    if (age < -tolerance)
      fail('ERR_JWT_CLAIM_INVALID', 'iat', 'timestamp check failed: it lies in the future');
  }
}

/** Validates the payload against the rules; throws `JWTClaimError` naming the first claim that fails. */
export function validateClaims(
  payload: JWTPayload,
  headerTyp: string | undefined,
  rules: ResolvedClaimRules,
  nowSeconds: number,
): void {
  for (const claim of rules.requiredClaims) {
    // Own properties only: "constructor" or "toString" must not be satisfied by Object.prototype.
    if (!Object.hasOwn(payload, claim)) fail('ERR_JWT_CLAIM_INVALID', claim, 'is missing');
  }
  if (rules.typ !== null && (headerTyp === undefined || !typNames(headerTyp, rules.typ))) {
    throw new JWTClaimError('ERR_JWT_TYP_INVALID', `token type ("typ" header) must be ${rules.typ}`, 'typ');
  }
  const { iss, sub, aud, jti } = payload;
  if (iss !== undefined && typeof iss !== 'string') fail('ERR_JWT_CLAIM_INVALID', 'iss', 'must be a string');
  if (sub !== undefined && typeof sub !== 'string') fail('ERR_JWT_CLAIM_INVALID', 'sub', 'must be a string');
  if (jti !== undefined && typeof jti !== 'string') fail('ERR_JWT_CLAIM_INVALID', 'jti', 'must be a string');
  if (
    aud !== undefined &&
    typeof aud !== 'string' &&
    !(Array.isArray(aud) && aud.every((a) => typeof a === 'string'))
  ) {
    fail('ERR_JWT_CLAIM_INVALID', 'aud', 'must be a string or an array of strings');
  }
  if (rules.issuers !== null && (iss === undefined || !rules.issuers.includes(iss))) {
    fail('ERR_JWT_CLAIM_INVALID', 'iss', 'is not an accepted issuer');
  }
  if (rules.subject !== null && sub !== rules.subject)
    fail('ERR_JWT_CLAIM_INVALID', 'sub', 'is not the expected subject');
  if (rules.audiences !== null) {
    const audiences = rules.audiences;
    const accepted =
      typeof aud === 'string' ? audiences.includes(aud) : aud?.some((a) => audiences.includes(a)) === true;
    if (!accepted) fail('ERR_JWT_CLAIM_INVALID', 'aud', 'does not name an accepted audience');
  }
  validateTimes(payload, rules, nowSeconds);
}
