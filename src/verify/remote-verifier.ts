/**
 * `createRemoteVerifier`: what a resource server needs to check Latchkey's access tokens locally.
 * From the issuer alone it finds the JWKS and the revocation feed (discovery), keeps the keys and
 * the revoked sessions in memory, and verifies each token with the JWT core's verifier (and its token
 * cache): no network call per request, except for a kid it has never seen.
 */
import { AuthError, JOSEError, JWTClaimError, VerifyError } from '../errors.js';
import {
  ALGORITHMS,
  type AsymmetricAlgorithm,
  createVerifier,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  decodeUnverified,
  type JWTVerifier,
  KeySet,
} from '../jwt/index.js';
import { ACCESS_TOKEN_TYP, type AccessTokenClaims, type DiscoveryDocument, WELL_KNOWN } from '../protocol.js';
import type { TokenVerifier } from './core.js';
import { type FetchLike, fetchJSON } from './fetch-json.js';
import { RemoteKeySet, type RemoteKeySetStatus } from './remote-jwks.js';
import { type FeedFailureMode, RevocationFeedPoller, type RevocationFeedStatus } from './revocation-feed.js';

export interface RevocationOptions {
  /** How often the feed is polled. Default 5 s. */
  intervalMs?: number;
  /** How long the feed may go unanswered before it counts as unavailable. Default 30 s. */
  maxStalenessMs?: number;
  /** What to do with tokens while it is unavailable. Default `fail-closed`: answer 503. */
  onUnavailable?: FeedFailureMode;
}

export interface RemoteVerifierOptions {
  /** The issuer URL, exactly as in the tokens' `iss`. */
  issuer: string;
  /** The audience (or audiences) this resource server accepts in `aud`. */
  audience: string | readonly string[];
  /** Skips discovery for the keys. Default: `jwks_uri` of the issuer's discovery document. */
  jwksUri?: string;
  /** Default: `revocation_feed_uri` of the discovery document. */
  revocationFeedUri?: string;
  /** Required `typ` header. Default `at+jwt` (RFC 9068). */
  typ?: string;
  /** Accepted algorithms. Default: every asymmetric one; secrets (HS*) never come from a JWKS. */
  algorithms?: readonly AsymmetricAlgorithm[];
  clockToleranceSeconds?: number;
  /** Claims every token must carry besides `exp`, `iat` and `sub`, which it always must. */
  requiredClaims?: readonly string[];
  /** Poll the revocation feed and refuse tokens of revoked sessions and keys. Default off. */
  revocations?: boolean | RevocationOptions;
  /** The JWT core's cache of verified tokens (time is re-checked on every hit). Default on. */
  cache?: boolean | { maxEntries: number };
  /** Default: the global fetch. */
  fetch?: FetchLike;
  /** Per request to the issuer. Default 5 s. */
  timeoutMs?: number;
  /** Largest answer taken from the issuer. Default 1 MiB. */
  maxResponseBytes?: number;
  /** An unknown kid refetches the JWKS at most once in this time. Default 30 s. */
  unknownKidCooldownMs?: number;
  /** Allow http:// URLs other than loopback (a private network you trust). Default off. */
  allowInsecureHttp?: boolean;
  now?: () => number;
}

export interface RemoteVerifierStatus {
  issuer: string;
  ready: boolean;
  /** The last reason the verifier could not start (discovery or first JWKS), until it could. */
  lastError: string | null;
  jwks: RemoteKeySetStatus | null;
  revocations: RevocationFeedStatus | null;
}

export interface RemoteVerifier extends TokenVerifier {
  /** Resolves the claims of a valid token; throws the JWT core's errors, or `VerifyError` (503). */
  verify(token: string): Promise<AccessTokenClaims>;
  /** Discovery, keys and first poll now, instead of on the first token; throws if they cannot be had. */
  ready(): Promise<void>;
  status(): RemoteVerifierStatus;
  /** Stops polling. */
  close(): void;
}

const ASYMMETRIC = Object.values(ALGORITHMS)
  .filter((spec) => spec.kty !== 'oct')
  .map((spec) => spec.alg as AsymmetricAlgorithm);
const START_RETRY_MS = 1000;

interface Started {
  keySet: RemoteKeySet;
  verifyJWT: JWTVerifier;
  feed: RevocationFeedPoller | null;
}

export function createRemoteVerifier(options: RemoteVerifierOptions): RemoteVerifier {
  const resolved = resolveOptions(options);
  // Built once now and thrown away: a bad typ, clockToleranceSeconds, requiredClaims, cache or now
  // throws here, not as a 500 on the first request.
  buildJWTVerifier(resolved, new KeySet());
  const { issuer, now } = resolved;
  let started: Started | null = null;
  let starting: Promise<Started> | null = null;
  let lastStartFailure: { at: number; error: unknown } | null = null;
  let closed = false;

  const start = (): Promise<Started> => {
    if (started !== null) return Promise.resolve(started);
    if (starting !== null) return starting;
    if (lastStartFailure !== null && now() - lastStartFailure.at < START_RETRY_MS) {
      return Promise.reject(lastStartFailure.error);
    }
    starting = startUp(resolved).then(
      (result) => {
        started = result;
        lastStartFailure = null;
        if (closed) result.feed?.stop();
        return result;
      },
      (error: unknown) => {
        lastStartFailure = { at: now(), error };
        throw error;
      },
    );
    starting
      .finally(() => {
        starting = null;
      })
      .catch(() => {});
    return starting;
  };

  return {
    async verify(token: string): Promise<AccessTokenClaims> {
      const { keySet, verifyJWT, feed } = started ?? (await start());
      keySet.refreshIfStale();
      let payload: Record<string, unknown>;
      try {
        payload = verifyJWT(token).payload;
      } catch (error) {
        const kid = unknownKid(error, token);
        if (kid === null || !(await keySet.refetchFor(kid))) throw error;
        payload = verifyJWT(token).payload;
      }
      const claims = checkClaimTypes(payload);
      if (feed !== null) {
        if (!feed.available && feed.status().mode === 'fail-closed') {
          throw new VerifyError(
            'ERR_REVOCATIONS_UNAVAILABLE',
            `the revocation feed is unavailable: ${feed.status().lastError ?? 'not read yet'}`,
          );
        }
        if (typeof claims.sid === 'string' && feed.isRevoked(claims.sid)) {
          throw new AuthError('ERR_SESSION_REVOKED', 'the session of this token was revoked');
        }
      }
      return claims;
    },
    async ready(): Promise<void> {
      await start();
    },
    status(): RemoteVerifierStatus {
      const reason = lastStartFailure?.error;
      return {
        issuer,
        ready: started !== null,
        lastError: reason === undefined ? null : reason instanceof Error ? reason.message : String(reason),
        jwks: started?.keySet.status() ?? null,
        revocations: started?.feed?.status() ?? null,
      };
    },
    close(): void {
      closed = true;
      started?.feed?.stop();
    },
  };
}

interface ResolvedOptions {
  issuer: string;
  audience: string | readonly string[];
  jwksUri: string | null;
  revocationFeedUri: string | null;
  typ: string;
  algorithms: readonly AsymmetricAlgorithm[];
  clockToleranceSeconds: number | undefined;
  requiredClaims: readonly string[];
  revocations: Required<RevocationOptions> | null;
  cache: boolean | { maxEntries: number };
  fetch: FetchLike;
  timeoutMs: number;
  maxBytes: number;
  cooldownMs: number;
  allowInsecureHttp: boolean;
  now: () => number;
}

/** What every Latchkey access token carries (RFC 9068 §2.2); a verifier requires them whatever it adds. */
const DEFAULT_REQUIRED_CLAIMS = ['exp', 'iat', 'sub'] as const;

/**
 * The caller's claims added to the defaults, never in their place: naming `sid` must not make expiry
 * optional. A value that is no list of names goes on as it came, for the JWT core to refuse by name.
 */
function withDefaultClaims(extra: readonly string[] | undefined): readonly string[] {
  if (extra === undefined) return DEFAULT_REQUIRED_CLAIMS;
  const given: unknown = extra;
  if (typeof given === 'string') return [...DEFAULT_REQUIRED_CLAIMS, given];
  return Array.isArray(given) ? [...DEFAULT_REQUIRED_CLAIMS, ...given] : extra;
}

function resolveOptions(options: RemoteVerifierOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const allowInsecureHttp = options.allowInsecureHttp === true;
  const issuer = requireURL(options.issuer, 'issuer', allowInsecureHttp);
  const audience = options.audience;
  const audiences = typeof audience === 'string' ? [audience] : audience;
  if (
    !Array.isArray(audiences) ||
    audiences.length === 0 ||
    audiences.some((a) => typeof a !== 'string' || a === '')
  ) {
    throw new TypeError('audience must be a non-empty string or a non-empty array of them');
  }
  const algorithms = options.algorithms ?? ASYMMETRIC;
  if (
    !Array.isArray(algorithms) ||
    algorithms.length === 0 ||
    algorithms.some((alg) => !ASYMMETRIC.includes(alg))
  ) {
    throw new TypeError(`algorithms must be a non-empty list of ${ASYMMETRIC.join(', ')}`);
  }
  const revocations =
    options.revocations === undefined || options.revocations === false
      ? null
      : resolveRevocations(options.revocations === true ? {} : options.revocations);
  if (options.fetch !== undefined && typeof options.fetch !== 'function') {
    throw new TypeError('fetch must be a function');
  }
  return {
    issuer,
    audience,
    jwksUri: options.jwksUri === undefined ? null : requireURL(options.jwksUri, 'jwksUri', allowInsecureHttp),
    revocationFeedUri:
      options.revocationFeedUri === undefined
        ? null
        : requireURL(options.revocationFeedUri, 'revocationFeedUri', allowInsecureHttp),
    typ: options.typ ?? ACCESS_TOKEN_TYP,
    algorithms: Object.freeze([...algorithms]),
    clockToleranceSeconds: options.clockToleranceSeconds,
    requiredClaims: withDefaultClaims(options.requiredClaims),
    revocations,
    cache: options.cache ?? true,
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    timeoutMs: positiveInteger(options.timeoutMs, 'timeoutMs', 5000),
    maxBytes: positiveInteger(options.maxResponseBytes, 'maxResponseBytes', 1024 * 1024),
    cooldownMs: positiveInteger(options.unknownKidCooldownMs, 'unknownKidCooldownMs', 30_000),
    allowInsecureHttp,
    now: options.now ?? Date.now,
  };
}

function resolveRevocations(options: RevocationOptions): Required<RevocationOptions> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('revocations must be a boolean or an object of revocation options');
  }
  const onUnavailable = options.onUnavailable ?? 'fail-closed';
  if (onUnavailable !== 'fail-closed' && onUnavailable !== 'fail-open') {
    throw new TypeError("revocations.onUnavailable must be 'fail-closed' or 'fail-open'");
  }
  const intervalMs = positiveInteger(options.intervalMs, 'revocations.intervalMs', 5000);
  const maxStalenessMs = positiveInteger(options.maxStalenessMs, 'revocations.maxStalenessMs', 30_000);
  if (maxStalenessMs < intervalMs) {
    throw new TypeError('revocations.maxStalenessMs must be at least revocations.intervalMs');
  }
  return { intervalMs, maxStalenessMs, onUnavailable };
}

function positiveInteger(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive integer`);
  }
  return value;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** An https URL (http only on loopback, or when allowed): keys fetched over plain http can be swapped. */
function requireURL(value: unknown, name: string, allowInsecureHttp: boolean): string {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new TypeError(`${name} must be an absolute URL`);
  }
  if (typeof value !== 'string' || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new TypeError(`${name} must be an http(s) URL`);
  }
  if (url.protocol === 'http:' && !allowInsecureHttp && !LOOPBACK.has(url.hostname)) {
    throw new TypeError(`${name} must use https (http only for loopback, or with allowInsecureHttp)`);
  }
  return value;
}

async function startUp(options: ResolvedOptions): Promise<Started> {
  let { jwksUri, revocationFeedUri } = options;
  if (jwksUri === null || (options.revocations !== null && revocationFeedUri === null)) {
    const discovered = await discover(options);
    jwksUri ??= requireDiscoveredURL(discovered.jwks_uri, 'jwks_uri', 'ERR_JWKS_UNAVAILABLE', options);
    if (options.revocations !== null && revocationFeedUri === null) {
      if (typeof discovered.revocation_feed_uri !== 'string') {
        throw new VerifyError('ERR_REVOCATIONS_UNAVAILABLE', 'the issuer publishes no revocation_feed_uri');
      }
      revocationFeedUri = requireDiscoveredURL(
        discovered.revocation_feed_uri,
        'revocation_feed_uri',
        'ERR_REVOCATIONS_UNAVAILABLE',
        options,
      );
    }
  }
  const keySet = new RemoteKeySet({
    jwksUri,
    algorithms: options.algorithms,
    fetch: options.fetch,
    timeoutMs: options.timeoutMs,
    maxBytes: options.maxBytes,
    cooldownMs: options.cooldownMs,
    defaultMaxAgeMs: 10 * 60_000,
    minMaxAgeMs: 30_000,
    maxMaxAgeMs: 24 * 3_600_000,
    now: options.now,
  });
  await keySet.ensureLoaded();
  const verifyJWT = buildJWTVerifier(options, keySet.keys);
  let feed: RevocationFeedPoller | null = null;
  if (options.revocations !== null && revocationFeedUri !== null) {
    feed = new RevocationFeedPoller({
      feedUri: revocationFeedUri,
      ...options.revocations,
      fetch: options.fetch,
      timeoutMs: options.timeoutMs,
      maxBytes: options.maxBytes,
      now: options.now,
      onRevokedKey: (kid) => keySet.revoke(kid),
      extraRetentionMs: (options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS) * 1000,
    });
    await feed.start();
  }
  return { keySet, verifyJWT, feed };
}

/** The JWT core's verifier over `keys`, with the options the remote verifier was given. */
function buildJWTVerifier(options: ResolvedOptions, keys: KeySet): JWTVerifier {
  return createVerifier({
    key: keys,
    issuer: options.issuer,
    audience: options.audience,
    typ: options.typ,
    requiredClaims: options.requiredClaims,
    cache: options.cache,
    now: options.now,
    ...(options.clockToleranceSeconds === undefined
      ? {}
      : { clockToleranceSeconds: options.clockToleranceSeconds }),
  });
}

/**
 * A URL the issuer's discovery document gave: a bad one is the issuer's fault, so it is a VerifyError
 * (503, retried), not the TypeError a caller's bad option is (which the adapters would answer 500).
 */
function requireDiscoveredURL(
  value: unknown,
  name: string,
  code: 'ERR_JWKS_UNAVAILABLE' | 'ERR_REVOCATIONS_UNAVAILABLE',
  options: ResolvedOptions,
): string {
  try {
    return requireURL(value, name, options.allowInsecureHttp);
  } catch (error) {
    throw new VerifyError(code, `the issuer's discovery document is unusable: ${(error as Error).message}`);
  }
}

/** A document's issuer is the issuer's own text: shown as JSON, and cut short. */
const NAMED_ISSUER_SHOWN = 200;

/**
 * Why a discovery document was refused, with the issuer it names: most often the same URL but for a
 * trailing slash, which a token's `iss` must match exactly too, so the fix is in the configuration.
 */
function issuerMismatch(url: string, issuer: string, named: unknown): string {
  const refused = `${url} does not describe the issuer ${issuer}`;
  if (typeof named !== 'string') return refused;
  const slashOnly = withoutTrailingSlashes(named) === withoutTrailingSlashes(issuer);
  return (
    `${refused}: it names ${JSON.stringify(named.slice(0, NAMED_ISSUER_SHOWN))}` +
    (slashOnly ? "; give the issuer exactly as the tokens' iss has it, trailing slash and all" : '')
  );
}

/** By hand, not /\/+$/: on a remote's megabyte of slashes and one letter that regex takes quadratic time. */
function withoutTrailingSlashes(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x2f) end--;
  return text.slice(0, end);
}

/** RFC 8414 §3.3: the document must name the issuer we asked about, or it is someone else's. */
async function discover(options: ResolvedOptions): Promise<DiscoveryDocument> {
  const url = `${withoutTrailingSlashes(options.issuer)}${WELL_KNOWN.discovery}`;
  let body: unknown;
  try {
    body = (await fetchJSON(url, options)).body;
  } catch (error) {
    throw new VerifyError(
      'ERR_JWKS_UNAVAILABLE',
      `the issuer's discovery document cannot be had: ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  }
  const document = body as Partial<DiscoveryDocument> | null;
  if (typeof document !== 'object' || document === null || document.issuer !== options.issuer) {
    throw new VerifyError('ERR_JWKS_UNAVAILABLE', issuerMismatch(url, options.issuer, document?.issuer));
  }
  if (typeof document.jwks_uri !== 'string') {
    throw new VerifyError('ERR_JWKS_UNAVAILABLE', `${url} names no jwks_uri`);
  }
  return document as DiscoveryDocument;
}

/** The kid of a token refused only because no key has it: the case a refetch can fix. */
function unknownKid(error: unknown, token: string): string | null {
  if (!(error instanceof JOSEError) || error.code !== 'ERR_JWKS_NO_MATCHING_KEY') return null;
  try {
    const { kid } = decodeUnverified(token).header;
    return typeof kid === 'string' ? kid : null;
  } catch {
    return null;
  }
}

/** Claims a route relies on have their documented types, or the token is refused like any bad claim. */
function checkClaimTypes(payload: Record<string, unknown>): AccessTokenClaims {
  for (const claim of ['sub', 'sid', 'client_id', 'jti', 'scope'] as const) {
    if (payload[claim] !== undefined && typeof payload[claim] !== 'string') {
      throw new JWTClaimError('ERR_JWT_CLAIM_INVALID', `"${claim}" claim must be a string`, claim);
    }
  }
  const roles = payload.roles;
  if (roles !== undefined && (!Array.isArray(roles) || roles.some((role) => typeof role !== 'string'))) {
    throw new JWTClaimError('ERR_JWT_CLAIM_INVALID', '"roles" claim must be an array of strings', 'roles');
  }
  return payload as AccessTokenClaims;
}
