/**
 * Key sets (RFC 7517 §5): parsed keys, selected by `kid` and algorithm. Keys are imported once when
 * the set is built, never per token. The set has a version that changes with every change of its
 * keys, so anything derived from it (the verifier's cache) knows when to forget.
 */
import { KeyError } from '../errors.js';
import { type Algorithm, findAlgorithm } from './algorithms.js';
import { exportPublicJWK, importJWK, type JWK } from './jwk.js';
import type { Key } from './keys.js';

export interface JWKSet {
  keys: JWK[];
}

export class KeySet {
  #keys: readonly Key[] = [];
  #byKid = new Map<string, Key>();
  #byAlg = new Map<Algorithm, Key[]>();
  #version = 0;

  constructor(keys: Iterable<Key> = []) {
    this.replace(keys);
  }

  /** Changes whenever the keys change. */
  get version(): number {
    return this.#version;
  }

  get keys(): readonly Key[] {
    return this.#keys;
  }

  get size(): number {
    return this.#keys.length;
  }

  /**
   * Replaces every key at once. Refuses duplicate `kid`s and sets that mix secrets with asymmetric
   * keys: in such a set an attacker could pick which kind of key checks the token.
   */
  replace(keys: Iterable<Key>): void {
    const list = Object.freeze([...keys]);
    const byKid = new Map<string, Key>();
    const byAlg = new Map<Algorithm, Key[]>();
    let secrets = 0;
    for (const key of list) {
      if (key.kind === 'secret') secrets += 1;
      if (key.kid !== undefined) {
        if (byKid.has(key.kid))
          throw new KeyError('ERR_JWKS_INVALID', 'key set has two keys with the same kid');
        byKid.set(key.kid, key);
      }
      const sameAlg = byAlg.get(key.alg);
      if (sameAlg === undefined) byAlg.set(key.alg, [key]);
      else sameAlg.push(key);
    }
    if (secrets > 0 && secrets < list.length) {
      throw new KeyError('ERR_JWKS_INVALID', 'key set mixes secret and asymmetric keys');
    }
    this.#keys = list;
    this.#byKid = byKid;
    this.#byAlg = byAlg;
    this.#version += 1;
  }

  add(key: Key): void {
    this.replace([...this.#keys, key]);
  }

  /** Removes the key with this `kid`; true when there was one. */
  remove(kid: string): boolean {
    const kept = this.#keys.filter((key) => key.kid !== kid);
    if (kept.length === this.#keys.length) return false;
    this.replace(kept);
    return true;
  }

  has(key: Key): boolean {
    return this.#keys.includes(key);
  }

  /**
   * The key for a token header: the key with this `kid` if its algorithm is `alg`; without a `kid`,
   * the one key bound to `alg`. `undefined` when there is no such key or the choice is ambiguous.
   */
  select(alg: string, kid: string | undefined): Key | undefined {
    if (kid !== undefined) {
      const key = this.#byKid.get(kid);
      return key !== undefined && key.alg === alg ? key : undefined;
    }
    const candidates = this.#byAlg.get(alg as Algorithm);
    return candidates?.length === 1 ? candidates[0] : undefined;
  }

  /** The public JWK Set to publish. Secrets are never published, so a set of secrets gives no keys. */
  toJWKS(): JWKSet {
    return { keys: this.#keys.filter((key) => key.kind !== 'secret').map(exportPublicJWK) };
  }
}

export interface ImportJWKSOptions {
  /**
   * Accept `oct` (HMAC) keys. Off by default: a JWKS normally comes from someone else, and a secret
   * in a published set is either a leak or an attempt to make a public value an HMAC key.
   */
  allowSecrets?: boolean;
  /**
   * The algorithm for RSA (or, with `allowSecrets`, `oct`) keys that carry no `alg`, such as RS256
   * for a provider that publishes bare RSA keys. Keys with their own `alg` keep it, and EC and OKP
   * keys take the one algorithm their curve allows. Without this option an RSA or `oct` key lacking
   * `alg` fails the import: the key would not say which algorithm it may check.
   */
  alg?: Algorithm;
}

/**
 * Imports a JWK Set. Keys that are plainly not for JWS signatures (`use` other than `sig`, an `alg`
 * that is not a JWS algorithm, a key type we do not sign with) are skipped, as a set may carry
 * encryption keys too; a key that claims to be a signature key but is unusable fails the import.
 */
export function importJWKS(input: unknown, options: ImportJWKSOptions = {}): KeySet {
  if (typeof input !== 'object' || input === null || !Array.isArray((input as { keys?: unknown }).keys)) {
    throw new KeyError('ERR_JWKS_INVALID', 'a JWK Set must be an object with a keys array');
  }
  const assumed = options.alg === undefined ? undefined : findAlgorithm(options.alg);
  if (options.alg !== undefined && assumed?.kty !== 'RSA' && assumed?.kty !== 'oct') {
    throw new TypeError('alg must be an RSA or HMAC algorithm: EC and OKP keys take theirs from the curve');
  }
  const keys: Key[] = [];
  for (const jwk of (input as { keys: unknown[] }).keys) {
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
      throw new KeyError('ERR_JWKS_INVALID', 'every member of keys must be a JSON object');
    }
    const { use, alg, kty } = jwk as Record<string, unknown>;
    if (use !== undefined && use !== 'sig') continue;
    if (alg !== undefined && findAlgorithm(alg) === undefined) continue;
    if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP' && kty !== 'oct') continue;
    if (kty === 'oct' && options.allowSecrets !== true) {
      throw new KeyError('ERR_JWKS_INVALID', 'key set contains a secret (oct) key');
    }
    keys.push(importJWK(jwk, alg === undefined && assumed?.kty === kty ? { alg: assumed.alg } : {}));
  }
  return new KeySet(keys);
}
