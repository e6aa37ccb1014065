/**
 * The framework-free core of every adapter: from an Authorization header to verified claims, or to
 * the answer the contract prescribes (status, WWW-Authenticate, `{error, message}` body). Adapters
 * only read the header, call `authenticateBearer`, and write the answer in their framework's way.
 */
import { AuthError, JOSEError, JWTClaimError, VerifyError } from '../errors.js';
import type { AccessTokenClaims, ErrorBody } from '../protocol.js';
import { bearerChallenge, parseAuthorization } from './bearer.js';

/** Anything that turns a token into claims or throws: a `RemoteVerifier`, or a local one. */
export interface TokenVerifier {
  verify(token: string): Promise<AccessTokenClaims>;
}

/**
 * What a route needs beyond a valid token. `scopes`: every one of them in the `scope` claim (OAuth's
 * rule); `roles`: at least one of them in the `roles` claim.
 */
export interface AuthRequirement {
  scopes?: readonly string[];
  roles?: readonly string[];
}

export interface AuthAnswer {
  status: 401 | 403 | 503;
  headers: Record<string, string>;
  body: ErrorBody;
}

export type AuthResult = { ok: true; claims: AccessTokenClaims } | { ok: false; answer: AuthAnswer };

export interface AuthOptions {
  /** The realm of the WWW-Authenticate challenge; none by default. */
  realm?: string;
}

/** The same words whichever check failed: a client cannot learn which one, and so cannot tune a forgery. */
const INVALID_TOKEN_MESSAGE = 'the access token is invalid, expired or revoked';

export async function authenticateBearer(
  verifier: TokenVerifier,
  authorization: string | readonly string[] | undefined,
  requirement: AuthRequirement = {},
  options: AuthOptions = {},
): Promise<AuthResult> {
  const credentials = parseAuthorization(authorization);
  if (credentials.kind === 'missing') {
    return {
      ok: false,
      answer: {
        status: 401,
        headers: { 'www-authenticate': bearerChallenge(realmOf(options)) },
        body: { error: 'missing_token', message: 'this route needs a Bearer access token' },
      },
    };
  }
  let claims: AccessTokenClaims;
  try {
    claims = await verifier.verify(credentials.token);
  } catch (error) {
    const answer = answerForError(error, options);
    if (answer === null) throw error;
    return { ok: false, answer };
  }
  const refusal = checkRequirement(claims, requirement, options);
  return refusal === null ? { ok: true, claims } : { ok: false, answer: refusal };
}

/** 403 insufficient_scope when the claims lack what `requirement` asks; null when they have it. */
export function checkRequirement(
  claims: AccessTokenClaims,
  requirement: AuthRequirement,
  options: AuthOptions = {},
): AuthAnswer | null {
  const { scopes = [], roles = [] } = requirement;
  const granted = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
  const missingScopes = scopes.filter((scope) => !granted.includes(scope));
  const held = Array.isArray(claims.roles) ? claims.roles : [];
  const lacksRole = roles.length > 0 && !roles.some((role) => held.includes(role));
  if (missingScopes.length === 0 && !lacksRole) return null;
  const message =
    missingScopes.length > 0
      ? `this route needs the scope ${missingScopes.join(' ')}`
      : `this route needs the role ${roles.join(' or ')}`;
  return {
    status: 403,
    headers: {
      'www-authenticate': bearerChallenge({
        ...realmOf(options),
        error: 'insufficient_scope',
        description: message,
        scope: scopes,
      }),
    },
    body: { error: 'insufficient_scope', message },
  };
}

/** The answer for a failure of verification; null for an error that is a fault, not a refusal. */
export function answerForError(error: unknown, options: AuthOptions = {}): AuthAnswer | null {
  if (
    error instanceof JOSEError ||
    error instanceof JWTClaimError ||
    (error instanceof AuthError && error.code === 'ERR_SESSION_REVOKED')
  ) {
    return {
      status: 401,
      headers: {
        'www-authenticate': bearerChallenge({
          ...realmOf(options),
          error: 'invalid_token',
          description: INVALID_TOKEN_MESSAGE,
        }),
      },
      body: { error: 'invalid_token', message: INVALID_TOKEN_MESSAGE },
    };
  }
  if (error instanceof VerifyError && error.code !== 'ERR_INSUFFICIENT_SCOPE') {
    // Not the token's fault: 401 would send the client to refresh and log in again for nothing.
    return {
      status: 503,
      headers: { 'retry-after': '5' },
      body: { error: 'unavailable', message: 'the token cannot be checked right now; try again shortly' },
    };
  }
  return null;
}

const realmOf = (options: AuthOptions) => (options.realm === undefined ? {} : { realm: options.realm });
