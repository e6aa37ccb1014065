/**
 * The issuer's JWKS as a resource server keeps it: loaded once, refreshed in the background when its
 * Cache-Control max-age runs out (the old keys serve meanwhile, and go on serving while the issuer is
 * down), and refetched when a token names a kid we do not know, at most once per cooldown, with
 * every caller waiting on the same fetch. A known kid never costs a network call.
 */
import { VerifyError } from '../errors.js';
import { ALGORITHMS, type AsymmetricAlgorithm, importJWK, type Key, KeySet } from '../jwt/index.js';
import { type FetchLike, fetchJSON } from './fetch-json.js';

const FIRST_LOAD_RETRY_MS = 1000;

export interface RemoteKeySetOptions {
  jwksUri: string;
  /** Keys are used only for these; RSA keys without `alg` are bound when exactly one RSA-type algorithm is here. */
  algorithms: readonly AsymmetricAlgorithm[];
  fetch: FetchLike;
  timeoutMs: number;
  maxBytes: number;
  /** An unknown kid refetches at most once in this time. */
  cooldownMs: number;
  /** How long an answer without Cache-Control max-age is kept. */
  defaultMaxAgeMs: number;
  /** Bounds on a max-age the issuer sends: no refetch storm for max-age=0, no key kept for a week. */
  minMaxAgeMs: number;
  maxMaxAgeMs: number;
  now: () => number;
}

export interface RemoteKeySetStatus {
  uri: string;
  keys: number;
  fetches: number;
  fetchedAt: number | null;
  /** When the keys are due for a background refresh. */
  staleAt: number | null;
  /** The last failure, in words, until a fetch succeeds. */
  lastError: string | null;
  /** Keys of the set that were not taken, and why. */
  skipped: string[];
}

export class RemoteKeySet {
  /** The keys, replaced in place, so a verifier built on it sees every change (and drops its cache). */
  readonly keys = new KeySet();
  readonly #options: RemoteKeySetOptions;
  readonly #revokedKids = new Set<string>();
  #inFlight: Promise<void> | null = null;
  #lastAttemptAt = Number.NEGATIVE_INFINITY;
  /** Only fetches for unknown kids count against the cooldown: a rotation right after start is still found. */
  #lastUnknownKidFetchAt = Number.NEGATIVE_INFINITY;
  #fetchedAt: number | null = null;
  #staleAt: number | null = null;
  #fetches = 0;
  #lastError: string | null = null;
  #skipped: string[] = [];

  constructor(options: RemoteKeySetOptions) {
    this.#options = options;
  }

  /** True once a fetch has succeeded: the keys may be used (even if stale since). */
  get loaded(): boolean {
    return this.#fetchedAt !== null;
  }

  /** Waits for the first keys; throws ERR_JWKS_UNAVAILABLE when there are none to be had now. */
  async ensureLoaded(): Promise<void> {
    if (this.loaded) return;
    // Until the first success, a flood of requests retries once a second, not once per request.
    if (this.#inFlight !== null || this.#options.now() - this.#lastAttemptAt >= FIRST_LOAD_RETRY_MS) {
      await this.#fetch();
    }
    if (!this.loaded) {
      throw new VerifyError('ERR_JWKS_UNAVAILABLE', `the issuer's keys cannot be had: ${this.#lastError}`);
    }
  }

  /** Starts a background refresh when the keys are past their max-age; never waits. */
  refreshIfStale(): void {
    if (this.#staleAt !== null && this.#options.now() >= this.#staleAt && this.#inFlight === null) {
      void this.#fetch();
    }
  }

  /**
   * For a token whose kid is not in the set: refetch if the cooldown allows (or join the fetch under
   * way). True when `kid` is known afterwards.
   */
  async refetchFor(kid: string): Promise<boolean> {
    if (this.#revokedKids.has(kid)) return false;
    const now = this.#options.now();
    if (this.#inFlight !== null) await this.#inFlight;
    else if (now - this.#lastUnknownKidFetchAt >= this.#options.cooldownMs) {
      this.#lastUnknownKidFetchAt = now;
      await this.#fetch();
    }
    return this.keys.keys.some((key) => key.kid === kid);
  }

  /** A kid the revocation feed named: dropped now, and never taken from a later fetch. */
  revoke(kid: string): void {
    this.#revokedKids.add(kid);
    this.keys.remove(kid);
  }

  status(): RemoteKeySetStatus {
    return {
      uri: this.#options.jwksUri,
      keys: this.keys.size,
      fetches: this.#fetches,
      fetchedAt: this.#fetchedAt,
      staleAt: this.#staleAt,
      lastError: this.#lastError,
      skipped: [...this.#skipped],
    };
  }

  #fetch(): Promise<void> {
    this.#inFlight ??= this.#load().finally(() => {
      this.#inFlight = null;
    });
    return this.#inFlight;
  }

  async #load(): Promise<void> {
    const { now, jwksUri } = this.#options;
    this.#lastAttemptAt = now();
    this.#fetches += 1;
    try {
      const { body, maxAgeSeconds } = await fetchJSON(jwksUri, this.#options);
      const { keys, skipped } = this.#importSet(body);
      if (keys.length === 0) throw new Error(`${jwksUri}: no usable key (${skipped.join('; ') || 'empty'})`);
      this.keys.replace(keys);
      this.#skipped = skipped;
      const { defaultMaxAgeMs, minMaxAgeMs, maxMaxAgeMs } = this.#options;
      const maxAgeMs = maxAgeSeconds === null ? defaultMaxAgeMs : maxAgeSeconds * 1000;
      this.#fetchedAt = now();
      this.#staleAt = this.#fetchedAt + Math.min(maxMaxAgeMs, Math.max(minMaxAgeMs, maxAgeMs));
      this.#lastError = null;
    } catch (error) {
      // The keys we had stay in use: an issuer that is down must not take its resource servers down.
      this.#lastError = error instanceof Error ? error.message : String(error);
      if (this.#staleAt !== null) this.#staleAt = now() + this.#options.cooldownMs;
    }
  }

  /** The keys of a JWK Set that this verifier may use; one bad key does not spoil the others. */
  #importSet(body: unknown): { keys: Key[]; skipped: string[] } {
    const members = (body as { keys?: unknown } | null)?.keys;
    if (typeof body !== 'object' || body === null || !Array.isArray(members)) {
      throw new Error(`${this.#options.jwksUri}: not a JWK Set`);
    }
    const { algorithms } = this.#options;
    const rsaAlgorithms = algorithms.filter((alg) => ALGORITHMS[alg].kty === 'RSA');
    const keys: Key[] = [];
    const skipped: string[] = [];
    for (const [index, jwk] of members.entries()) {
      const fields = (typeof jwk === 'object' && jwk !== null ? jwk : {}) as Record<string, unknown>;
      const name = typeof fields.kid === 'string' ? `kid ${fields.kid}` : `key ${index}`;
      if (fields.use !== undefined && fields.use !== 'sig') continue;
      if (typeof fields.kid === 'string' && this.#revokedKids.has(fields.kid)) continue;
      if (fields.kty === 'oct') {
        skipped.push(`${name}: a secret (oct) key in a public key set`);
        continue;
      }
      if (fields.kty === 'RSA' && fields.alg === undefined && rsaAlgorithms.length !== 1) {
        skipped.push(`${name}: an RSA key without alg needs exactly one RSA algorithm in algorithms`);
        continue;
      }
      try {
        const bound = fields.kty === 'RSA' && fields.alg === undefined ? { alg: rsaAlgorithms[0] } : {};
        const key = importJWK(jwk, bound as { alg?: AsymmetricAlgorithm });
        if (!algorithms.includes(key.alg as AsymmetricAlgorithm)) {
          skipped.push(`${name}: ${key.alg} is not among the accepted algorithms`);
          continue;
        }
        keys.push(key.kind === 'private' ? key.toPublicKey() : key);
      } catch (error) {
        skipped.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    // Two keys under one kid: which one a token means is the attacker's choice, so neither is used.
    const counts = new Map<string, number>();
    for (const key of keys) if (key.kid !== undefined) counts.set(key.kid, (counts.get(key.kid) ?? 0) + 1);
    const unique = keys.filter((key) => key.kid === undefined || counts.get(key.kid) === 1);
    for (const [kid, count] of counts) if (count > 1) skipped.push(`kid ${kid}: used by ${count} keys`);
    return { keys: unique, skipped };
  }
}
