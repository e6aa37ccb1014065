/**
 * Access tokens as RFC 9068 profiles them: `typ: at+jwt`, claims iss, sub, aud, exp, iat, jti,
 * client_id, plus `sid`, the session they belong to (it stays the same across refreshes, so a
 * revoked session revokes all its access tokens), and `roles` (RFC 9068 §2.2.3.1) when the user has
 * any: the roles the store held when the token was issued, so a change reaches the next token.
 */

import { JWTClaimError } from '../errors.js';
import {
  createSigner,
  createVerifier,
  type JWTPayload,
  type JWTSigner,
  type Key,
  type VerifierOptions,
} from '../jwt/index.js';
import type { SigningKeys } from './signing-keys.js';

export interface AccessTokenOptions {
  issuer: string;
  audience: string;
  clientId: string;
  ttlSeconds: number;
  clockToleranceSeconds: number;
  now: () => number;
}

export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  sid: string;
  jti: string;
  exp: number;
  iat: number;
  client_id: string;
  /** Absent when the user had no roles; never an empty list from this issuer. */
  roles?: string[];
}

export const ACCESS_TOKEN_TYP = 'at+jwt';
export const ACCESS_TOKEN_REQUIRED_CLAIMS: readonly string[] = Object.freeze([
  'exp',
  'iat',
  'sub',
  'sid',
  'jti',
  'client_id',
]);

/**
 * How this issuer judges its own access tokens, for the server and for `latchkey token inspect` alike.
 * The age bound matters only for a token this server would never have issued (signed with a stolen
 * key, or an `exp` far beyond the lifetime): it is refused once the lifetime and the tolerance have
 * passed since its `iat`, and so is an `iat` in the future.
 */
export function accessTokenRules(options: {
  issuer: string;
  audience: string;
  ttlSeconds: number;
  clockToleranceSeconds: number;
}): Omit<VerifierOptions, 'key' | 'now' | 'cache'> {
  return {
    issuer: options.issuer,
    audience: options.audience,
    typ: ACCESS_TOKEN_TYP,
    requiredClaims: ACCESS_TOKEN_REQUIRED_CLAIMS,
    clockToleranceSeconds: options.clockToleranceSeconds,
    maxTokenAgeSeconds: options.ttlSeconds,
  };
}

export class AccessTokens {
  readonly #keys: SigningKeys;
  readonly #options: AccessTokenOptions;
  readonly #signers = new WeakMap<Key, JWTSigner>();
  readonly #verify: (token: string) => { payload: JWTPayload };

  constructor(keys: SigningKeys, options: AccessTokenOptions) {
    this.#keys = keys;
    this.#options = options;
    this.#verify = createVerifier({
      key: keys.verificationKeys,
      ...accessTokenRules(options),
      now: options.now,
      // Safe to cache: revocation is checked after verification, on every request.
      cache: { maxEntries: 10_000 },
    });
  }

  get ttlSeconds(): number {
    return this.#options.ttlSeconds;
  }

  /** `roles` become the `roles` claim; an empty list leaves the claim out (a smaller token, same meaning). */
  issue(userId: string, sessionId: string, roles: readonly string[]): string {
    const key = this.#keys.signingKey;
    let sign = this.#signers.get(key);
    if (sign === undefined) {
      const { issuer, audience, ttlSeconds, now } = this.#options;
      sign = createSigner({
        key,
        typ: 'at+jwt',
        issuer,
        audience,
        expiresInSeconds: ttlSeconds,
        jti: true,
        now,
      });
      this.#signers.set(key, sign);
    }
    const claims = { sub: userId, sid: sessionId, client_id: this.#options.clientId };
    return sign(roles.length === 0 ? claims : { ...claims, roles: [...roles] });
  }

  /** Verifies signature and claims; throws the JWT core's errors. */
  verify(token: string): AccessTokenClaims {
    const { payload } = this.#verify(token);
    // Present (the verifier required them) but of the wrong type: refused like any other bad claim.
    for (const claim of ['sub', 'sid', 'client_id'] as const) {
      if (typeof payload[claim] !== 'string')
        throw new JWTClaimError('ERR_JWT_CLAIM_INVALID', `"${claim}" claim must be a string`, claim);
    }
    // Optional, but a resource server that reads it must be able to trust its shape.
    if (Object.hasOwn(payload, 'roles') && !isRoleList(payload.roles)) {
      throw new JWTClaimError('ERR_JWT_CLAIM_INVALID', '"roles" claim must be an array of strings', 'roles');
    }
    return payload as AccessTokenClaims;
  }
}

/** The shape `verify` requires of a `roles` claim that is present (token inspect shares it). */
export function isRoleList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((role) => typeof role === 'string');
}
