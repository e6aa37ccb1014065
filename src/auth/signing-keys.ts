/**
 * The signing keys of the issuer, kept in the store so every instance signs with the same key and
 * publishes the same set. A key is published before it signs (pre-publication: resource servers that
 * cache the JWKS know it before they meet it), signs for one rotation period, and stays published
 * until the last token it signed has expired. Stored keys are parsed once per kid, not per refresh.
 */
import { randomBytes } from 'node:crypto';
import {
  type Algorithm,
  computeJWKThumbprint,
  exportJWK,
  exportPrivatePEM,
  exportPublicJWK,
  generateKeyPair,
  generateSecret,
  importJWK,
  importPrivatePEM,
  Key,
  KeySet,
} from '../jwt/index.js';
import type { SigningKeyRecord, Store } from '../store/types.js';
import { openPrivateKey, sealPrivateKey } from './key-encryption.js';

export interface SigningKeyPolicy {
  alg: Algorithm;
  /** How long a key signs before the next one takes over. */
  rotationMs: number;
  /** How long before it signs a new key is published. */
  prePublishMs: number;
  /** How long a retired key stays published: the longest a token it signed can remain valid. */
  retentionMs: number;
}

export type SigningKeyState = 'next' | 'active' | 'retired';

export interface SigningKeyInfo {
  kid: string;
  alg: string;
  state: SigningKeyState;
  createdAt: number;
  activatesAt: number;
  retiresAt: number;
  expiresAt: number;
}

/** Longer than the JWKS cache lifetime we advertise (300 s) and the instances' reload interval. */
export const DEFAULT_ROTATION_DELAY_MS = 10 * 60_000;

const isSecretAlg = (alg: Algorithm) => alg.startsWith('HS');

export class SigningKeys {
  readonly #store: Store;
  readonly #policy: SigningKeyPolicy;
  readonly #masterKey: Buffer | null;
  readonly #now: () => number;
  /** Every published key (secrets for HS*), for verification; changed in place so verifiers notice. */
  readonly verificationKeys = new KeySet();
  #records: SigningKeyRecord[] = [];
  #privateKeys = new Map<string, Key>();
  #signingKid: string | null = null;

  constructor(
    store: Store,
    policy: SigningKeyPolicy,
    masterKey: Buffer | null,
    now: () => number = Date.now,
  ) {
    this.#store = store;
    this.#policy = policy;
    this.#masterKey = masterKey;
    this.#now = now;
  }

  /** The key that signs now. */
  get signingKey(): Key {
    const key = this.#signingKid === null ? undefined : this.#privateKeys.get(this.#signingKid);
    if (key === undefined) throw new Error('no active signing key: maintain() has not run');
    return key;
  }

  /** Deletes expired keys, creates the active and the next key where missing, and reloads. */
  async maintain(): Promise<void> {
    const now = this.#now();
    await this.#store.deleteExpiredSigningKeys(now);
    await this.reload();
    let active = this.#activeRecord(now);
    if (active === undefined) {
      await this.#create(now);
      await this.reload();
      active = this.#activeRecord(now);
    }
    const hasNext = this.#records.some((record) => record.activatesAt > now);
    if (active !== undefined && !hasNext && now >= active.retiresAt - this.#policy.prePublishMs) {
      await this.#create(active.retiresAt);
      await this.reload();
    }
  }

  /**
   * Adds a new key that starts signing after `activateInMs`: long enough by default for every other
   * instance to reload (once a minute) and for resource servers to refetch a cached JWKS (5 min), so
   * no verifier meets a kid it does not know yet. 0 switches at once (a compromised key); the old key
   * stays published until its tokens expire either way.
   */
  async rotate(activateInMs = DEFAULT_ROTATION_DELAY_MS): Promise<string> {
    if (!Number.isInteger(activateInMs) || activateInMs < 0)
      throw new TypeError('activateInMs must be an integer ≥ 0');
    const kid = await this.#create(this.#now() + activateInMs);
    await this.reload();
    return kid;
  }

  /** Reads the keys from the store; keys already parsed are kept. */
  async reload(): Promise<void> {
    const now = this.#now();
    const records = (await this.#store.listSigningKeys()).filter((record) => record.expiresAt > now);
    const privateKeys = new Map<string, Key>();
    for (const record of records) {
      privateKeys.set(record.kid, this.#privateKeys.get(record.kid) ?? this.#parse(record));
    }
    this.#records = records;
    this.#privateKeys = privateKeys;
    this.#signingKid = this.#activeRecord(now)?.kid ?? null;
    const published = [...privateKeys.values()].map((key) =>
      key.kind === 'secret' ? key : key.toPublicKey(),
    );
    const current = this.verificationKeys.keys.map((key) => key.kid).join();
    if (published.map((key) => key.kid).join() !== current) this.verificationKeys.replace(published);
  }

  list(): SigningKeyInfo[] {
    const now = this.#now();
    const active = this.#activeRecord(now)?.kid;
    return this.#records.map(({ kid, alg, createdAt, activatesAt, retiresAt, expiresAt }) => ({
      kid,
      alg,
      state: kid === active ? 'active' : activatesAt > now ? 'next' : 'retired',
      createdAt,
      activatesAt,
      retiresAt,
      expiresAt,
    }));
  }

  /** The newest key whose time to sign has come. */
  #activeRecord(now: number): SigningKeyRecord | undefined {
    let best: SigningKeyRecord | undefined;
    for (const record of this.#records) {
      if (record.alg !== this.#policy.alg || record.activatesAt > now || record.retiresAt <= now) continue;
      // Ties (a rotation in the same millisecond as a scheduled start) go to the newer key.
      const newer =
        best === undefined ||
        record.activatesAt > best.activatesAt ||
        (record.activatesAt === best.activatesAt &&
          (record.createdAt > best.createdAt ||
            (record.createdAt === best.createdAt && record.kid > best.kid)));
      if (newer) best = record;
    }
    return best;
  }

  async #create(activatesAt: number): Promise<string> {
    const { alg, rotationMs, retentionMs } = this.#policy;
    let key: Key;
    let kid: string;
    let secretText: string;
    let publicJwk: object;
    if (isSecretAlg(alg)) {
      // A random kid: a thumbprint of a secret would publish a hash of it.
      kid = randomBytes(12).toString('base64url');
      key = generateSecret(alg, { kid });
      secretText = JSON.stringify(exportJWK(key));
      publicJwk = { kty: 'oct', kid, alg, use: 'sig' };
    } else {
      const pair = await generateKeyPair(alg);
      kid = computeJWKThumbprint(pair.publicKey);
      key = new Key(pair.privateKey.keyObject, alg, { kid });
      secretText = exportPrivatePEM(key);
      publicJwk = exportPublicJWK(key);
    }
    const retiresAt = activatesAt + rotationMs;
    await this.#store.insertSigningKey({
      kid,
      alg,
      publicJwk: JSON.stringify(publicJwk),
      privateKey: sealPrivateKey(this.#masterKey, kid, secretText),
      createdAt: this.#now(),
      activatesAt,
      retiresAt,
      expiresAt: retiresAt + retentionMs,
    });
    return kid;
  }

  #parse(record: SigningKeyRecord): Key {
    const alg = record.alg as Algorithm;
    const text = openPrivateKey(this.#masterKey, record.kid, record.privateKey);
    return isSecretAlg(alg)
      ? importJWK(JSON.parse(text), { alg })
      : importPrivatePEM(text, alg, { kid: record.kid });
  }
}
