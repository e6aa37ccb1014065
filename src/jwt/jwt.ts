/**
 * JWT signers and verifiers. Both factories check every option once and return a synchronous
 * function; the per-token work is only what the token itself requires.
 */
import { randomUUID } from 'node:crypto';
import { JOSEError, JWTClaimError } from '../errors.js';
import {
  type JWTPayload,
  normalizeTyp,
  type ResolvedClaimRules,
  validateClaims,
  validateTimes,
} from './claims.js';
import { deepFreeze, parseJSONObject } from './json.js';
import { KeySet } from './jwks.js';
import { DEFAULT_MAX_TOKEN_BYTES, isPrintableASCII, type JWSHeader, verifyCompactJWS } from './jws.js';
import { Key } from './keys.js';
import { LRUCache } from './lru-cache.js';

export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;
export const MAX_CLOCK_TOLERANCE_SECONDS = 300;
export const DEFAULT_CACHE_ENTRIES = 1000;

export interface VerifierOptions {
  /** The key, or the key set, that tokens must be signed with. The key decides the algorithm. */
  key: Key | KeySet;
  /** Accepted `iss` values. */
  issuer?: string | readonly string[];
  /** Accepted audiences: the token's `aud` must name at least one. */
  audience?: string | readonly string[];
  /** Required `sub`. */
  subject?: string;
  /** Required `typ` header, such as `at+jwt` (RFC 9068); `application/` prefix and case do not matter. */
  typ?: string;
  /** Allowed clock skew for `exp`, `nbf` and `iat`, 0–300 s; default 30. */
  clockToleranceSeconds?: number;
  /** Refuse tokens whose `iat` is older than this; makes `iat` required. */
  maxTokenAgeSeconds?: number;
  /**
   * Claims that must be present besides `exp`, such as `['sub', 'sid']`: added to `exp`, never in its
   * place, so that naming the claims an API needs cannot make expiry optional by accident.
   */
  requiredClaims?: readonly string[];
  /**
   * Default true. False lets a token without `exp` through, and such a token is valid forever (RFC
   * 8725 §3.10): only for tokens that by design carry none.
   */
  requireExpiry?: boolean;
  /** Longest token accepted, checked before any decoding; default 16 KiB. */
  maxTokenBytes?: number;
  /** Milliseconds since the epoch; default `Date.now`. */
  now?: () => number;
  /**
   * Remember verified tokens by their exact text. A hit re-checks `exp`, `nbf` and the maximum age;
   * any change of the key set empties the cache. `true` keeps up to 1000 tokens.
   */
  cache?: boolean | { maxEntries: number };
}

export interface VerifiedJWT {
  readonly header: Readonly<JWSHeader>;
  readonly payload: JWTPayload;
  /** The key that verified the signature. */
  readonly key: Key;
}

export type JWTVerifier = (token: string) => VerifiedJWT;

function optionalInteger(value: unknown, name: string, min: number, max: number): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function stringList(value: unknown, name: string): readonly string[] | null {
  if (value === undefined) return null;
  const list = typeof value === 'string' ? [value] : value;
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    list.some((item) => typeof item !== 'string' || item.length === 0)
  ) {
    throw new TypeError(`${name} must be a non-empty string or a non-empty array of them`);
  }
  return Object.freeze([...list]);
}

/** `exp` (unless the caller opted out by name) and the caller's claims, each once. */
function requiredClaimsOf(options: Omit<VerifierOptions, 'key'>): readonly string[] {
  const { requireExpiry } = options;
  if (requireExpiry !== undefined && typeof requireExpiry !== 'boolean')
    throw new TypeError('requireExpiry must be a boolean');
  // An empty list names no claim to add; stringList refuses it only as a list of values to match.
  const extra =
    options.requiredClaims?.length === 0 ? [] : (stringList(options.requiredClaims, 'requiredClaims') ?? []);
  return Object.freeze([...new Set([...(requireExpiry === false ? [] : ['exp']), ...extra])]);
}

function requireClock(now: unknown): () => number {
  if (now === undefined) return Date.now;
  if (typeof now !== 'function') throw new TypeError('now must be a function returning milliseconds');
  return now as () => number;
}

/**
 * Whole seconds since the epoch by the caller's clock. A clock that answers NaN, a string or nothing
 * fails closed: every time comparison with NaN is false, which would make expired tokens valid.
 */
function clockSeconds(now: () => number): number {
  const ms = now();
  if (typeof ms !== 'number' || !Number.isFinite(ms)) {
    throw new TypeError('now must return a finite number of milliseconds');
  }
  return Math.floor(ms / 1000);
}

/**
 * The claim rules of `options`, checked: what `createVerifier` validates every payload against, and
 * what `latchkey token inspect` runs the core's checks with, one claim at a time.
 */
export function resolveClaimRules(options: Omit<VerifierOptions, 'key'>): ResolvedClaimRules {
  if (options.subject !== undefined && (typeof options.subject !== 'string' || options.subject === '')) {
    throw new TypeError('subject must be a non-empty string');
  }
  if (
    options.typ !== undefined &&
    (typeof options.typ !== 'string' || options.typ === '' || !isPrintableASCII(options.typ))
  ) {
    throw new TypeError('typ must be a non-empty string of printable ASCII');
  }
  return Object.freeze({
    issuers: stringList(options.issuer, 'issuer'),
    audiences: stringList(options.audience, 'audience'),
    subject: options.subject ?? null,
    typ: options.typ === undefined ? null : normalizeTyp(options.typ),
    clockToleranceSeconds:
      optionalInteger(
        options.clockToleranceSeconds,
        'clockToleranceSeconds',
        0,
        MAX_CLOCK_TOLERANCE_SECONDS,
      ) ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
    maxTokenAgeSeconds: optionalInteger(
      options.maxTokenAgeSeconds,
      'maxTokenAgeSeconds',
      1,
      10 * 365 * 86400,
    ),
    requiredClaims: requiredClaimsOf(options),
  });
}

export function createVerifier(options: VerifierOptions): JWTVerifier {
  const keys = options.key;
  if (!(keys instanceof Key) && !(keys instanceof KeySet))
    throw new TypeError('key must be a Key or a KeySet');
  const rules = resolveClaimRules(options);
  const maxTokenBytes =
    optionalInteger(options.maxTokenBytes, 'maxTokenBytes', 256, 1024 * 1024) ?? DEFAULT_MAX_TOKEN_BYTES;
  const now = requireClock(options.now);
  const cacheOption = options.cache ?? false;
  if (typeof cacheOption !== 'boolean' && (typeof cacheOption !== 'object' || cacheOption === null)) {
    throw new TypeError('cache must be a boolean or { maxEntries }');
  }
  const cache =
    cacheOption === false
      ? null
      : new LRUCache<string, VerifiedJWT>(
          cacheOption === true ? DEFAULT_CACHE_ENTRIES : cacheOption.maxEntries,
        );
  const keySet = keys instanceof KeySet ? keys : null;
  let cachedVersion = keySet?.version ?? 0;

  return function verify(token: string): VerifiedJWT {
    const nowSeconds = clockSeconds(now);
    if (cache !== null) {
      if (keySet !== null && keySet.version !== cachedVersion) {
        cache.clear();
        cachedVersion = keySet.version;
      }
      const hit = cache.get(token);
      if (hit !== undefined) {
        validateTimes(hit.payload, rules, nowSeconds);
        return hit;
      }
    }
    const { header, key, payloadBytes } = verifyCompactJWS(token, keys, maxTokenBytes);
    const payload = parsePayload(payloadBytes);
    validateClaims(payload, header.typ, rules, nowSeconds);
    if (cache === null) return { header, payload, key };
    const result: VerifiedJWT = Object.freeze({ header, payload: deepFreeze(payload), key });
    cache.set(token, result);
    return result;
  };
}

/** The payload of a verified JWS, which must be a JSON object in UTF-8 (RFC 7519 §7.2). */
function parsePayload(bytes: Buffer): JWTPayload {
  const parsed = parseJSONObject(bytes);
  if (!parsed.ok) throw new JWTClaimError('ERR_JWT_MALFORMED', `JWT payload ${parsed.reason}`);
  return parsed.value as JWTPayload;
}

export interface SignerOptions {
  /** A private key or a secret; its algorithm and `kid` go into the header. */
  key: Key;
  /** `typ` header; default `JWT`. Access tokens use `at+jwt` (RFC 9068). */
  typ?: string;
  /** Set as `iss` in every token. */
  issuer?: string;
  /** Set as `aud` in every token. */
  audience?: string | readonly string[];
  /** Lifetime: `exp` = `iat` + this, unless the claims carry their own `exp`. */
  expiresInSeconds?: number;
  /** Add `iat`; default true. */
  issuedAt?: boolean;
  /** Add a random `jti` (UUID v4) unless the claims carry one; default false. */
  jti?: boolean;
  /** Milliseconds since the epoch; default `Date.now`. */
  now?: () => number;
}

export type JWTSigner = (claims: JWTPayload) => string;

export function createSigner(options: SignerOptions): JWTSigner {
  const { key } = options;
  if (!(key instanceof Key) || !key.canSign)
    throw new TypeError('key must be a private key or a secret that may sign');
  const signInput = key.signInput as (input: string) => Buffer;
  if (
    options.typ !== undefined &&
    (typeof options.typ !== 'string' || options.typ === '' || !isPrintableASCII(options.typ))
  ) {
    throw new TypeError('typ must be a non-empty string of printable ASCII');
  }
  if (options.issuer !== undefined && (typeof options.issuer !== 'string' || options.issuer === '')) {
    throw new TypeError('issuer must be a non-empty string');
  }
  const audiences = stringList(options.audience, 'audience');
  const audience = audiences === null ? undefined : audiences.length === 1 ? audiences[0] : [...audiences];
  const ttl = optionalInteger(options.expiresInSeconds, 'expiresInSeconds', 1, 10 * 365 * 86400);
  const issuedAt = options.issuedAt ?? true;
  const jti = options.jti ?? false;
  const now = requireClock(options.now);
  const header: Record<string, string> = { alg: key.alg, typ: options.typ ?? 'JWT' };
  if (key.kid !== undefined) header.kid = key.kid;
  const headerSegment = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.`;
  const addsClaims =
    options.issuer !== undefined || audience !== undefined || ttl !== null || issuedAt || jti;

  return function sign(claims: JWTPayload): string {
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
      throw new TypeError('claims must be a plain object');
    }
    let payload = claims;
    if (addsClaims) {
      // Not `{ ...claims }`: V8 (Node 20) adds properties to a spread copy on a slow path, ~0.5 µs
      // each. A null-prototype target also keeps a "__proto__" claim an ordinary property.
      payload = Object.assign(Object.create(null) as JWTPayload, claims);
      const iat = clockSeconds(now);
      if (issuedAt && payload.iat === undefined) payload.iat = iat;
      if (ttl !== null && payload.exp === undefined) payload.exp = iat + ttl;
      if (options.issuer !== undefined) payload.iss = options.issuer;
      if (audience !== undefined) payload.aud = audience;
      if (jti && payload.jti === undefined) payload.jti = randomUUID();
    }
    for (const claim of ['exp', 'nbf', 'iat'] as const) {
      const value = payload[claim];
      if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
        throw new TypeError(`claim ${claim} must be a finite number`);
      }
    }
    const input = headerSegment + Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${input}.${signInput(input).toString('base64url')}`;
  };
}

/** For callers who must tell token failures from other errors without importing every class. */
export function isTokenError(error: unknown): error is JOSEError | JWTClaimError {
  return error instanceof JOSEError || error instanceof JWTClaimError;
}
