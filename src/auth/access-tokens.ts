/**
 * Access tokens as RFC 9068 profiles them: `typ: at+jwt`, claims iss, sub, aud, exp, iat, jti,
 * client_id, plus `sid`, the session they belong to (it stays the same across refreshes, so a
 * revoked session revokes all its access tokens).
 */

import { JWTClaimError } from '../errors.js';
import { createSigner, createVerifier, type JWTPayload, type JWTSigner, type Key } from '../jwt/index.js';
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
      issuer: options.issuer,
      audience: options.audience,
      typ: ACCESS_TOKEN_TYP,
      requiredClaims: ACCESS_TOKEN_REQUIRED_CLAIMS,
      clockToleranceSeconds: options.clockToleranceSeconds,
      now: options.now,
      // Safe to cache: revocation is checked after verification, on every request.
      cache: { maxEntries: 10_000 },
    });
  }

  get ttlSeconds(): number {
    return this.#options.ttlSeconds;
  }

  issue(userId: string, sessionId: string): string {
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
    return sign({ sub: userId, sid: sessionId, client_id: this.#options.clientId });
  }

  /** Verifies signature and claims; throws the JWT core's errors. */
  verify(token: string): AccessTokenClaims {
    const { payload } = this.#verify(token);
    // Present (the verifier required them) but of the wrong type: refused like any other bad claim.
    for (const claim of ['sub', 'sid', 'client_id'] as const) {
      if (typeof payload[claim] !== 'string')
        throw new JWTClaimError('ERR_JWT_CLAIM_INVALID', `"${claim}" claim must be a string`, claim);
    }
    return payload as AccessTokenClaims;
  }
}
