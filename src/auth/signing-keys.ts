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
import { type ScheduledKey, type SigningKeyState, scheduleSigningKeys } from './key-schedule.js';

export type { SigningKeyState } from './key-schedule.js';

export interface SigningKeyPolicy {
  alg: Algorithm;
  /** How long a key signs before the next one takes over. */
  rotationMs: number;
  /** How long before it signs a new key is published. */
  prePublishMs: number;
  /** How long a retired key stays published: the longest a token it signed can remain valid. */
  retentionMs: number;
}

export interface SigningKeyInfo {
  kid: string;
  alg: string;
  state: SigningKeyState;
  createdAt: number;
  activatesAt: number;
  /** When it stops (or stopped) signing: planned, or earlier when a newer key took over. */
  retiresAt: number;
  /** When it leaves the JWKS. */
  expiresAt: number;
  revokedAt: number | null;
}

export type KeyRevocation =
  /** Revoked; `replacementKid` is the key that signs from now on, when the revoked one was signing. */
  | { outcome: 'revoked'; replacementKid: string | null }
  | { outcome: 'already-revoked'; revokedAt: number }
  | { outcome: 'unknown' };

/** Longer than the JWKS cache lifetime we advertise (300 s) and the instances' reload interval. */
export const DEFAULT_ROTATION_DELAY_MS = 10 * 60_000;

const isSecretAlg = (alg: string) => alg.startsWith('HS');

export class SigningKeys {
  readonly #store: Store;
  readonly #policy: SigningKeyPolicy;
  readonly #masterKey: Buffer | null;
  readonly #now: () => number;
  /** Every published key (secrets for HS*), for verification; changed in place so verifiers notice. */
  readonly verificationKeys = new KeySet();
  /** The keys of this instance's family (secrets for HS*, key pairs otherwise), scheduled. */
  #schedule: ScheduledKey[] = [];
  /** Keys of the other family, left by an earlier LATCHKEY_ALG: listed and deleted in time, never used. */
  #foreign: ScheduledKey[] = [];
  #privateKeys = new Map<string, Key>();
  #signingKid: string | null = null;
  /** Reloads may overlap (the sync timer, a rotation); only a newer read may replace what is loaded. */
  #readsStarted = 0;
  #readApplied = 0;

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

  /**
   * `maintain()` at start-up, and a rotation when the configured algorithm is not the one signing
   * (LATCHKEY_ALG changed): the new key signs at once and the old one stays published until its
   * tokens expire, as after any rotation. The kid of that new key, or null.
   */
  async start(): Promise<string | null> {
    await this.maintain();
    const active = this.#active();
    if (active === undefined || active.record.alg === this.#policy.alg) return null;
    return this.rotate(0);
  }

  /** Deletes keys no longer published, creates the active and the next key where missing, and reloads. */
  async maintain(): Promise<void> {
    await this.reload();
    const now = this.#now();
    const gone = [...this.#schedule, ...this.#foreign].filter((key) => key.expiresAt <= now);
    if (gone.length > 0) {
      await this.#store.deleteSigningKeys(gone.map((key) => key.record.kid));
      await this.reload();
    }
    let active = this.#active();
    if (active === undefined) {
      await this.#store.insertSigningKey(await this.#newKey(now));
      await this.reload();
      active = this.#active();
    }
    const hasNext = this.#schedule.some((key) => key.state === 'next');
    if (active !== undefined && !hasNext && now >= active.retiresAt - this.#policy.prePublishMs) {
      await this.#store.insertSigningKey(await this.#newKey(active.retiresAt));
      await this.reload();
    }
  }

  /**
   * Adds a new key that starts signing after `activateInMs`: long enough by default for every other
   * instance to reload and for resource servers to refetch a cached JWKS (5 min), so no verifier
   * meets a kid it does not know yet. The key signing now stops when the new one starts, and stays
   * published until its tokens have expired. A compromised key needs `revoke()` instead.
   */
  async rotate(activateInMs = DEFAULT_ROTATION_DELAY_MS): Promise<string> {
    if (!Number.isInteger(activateInMs) || activateInMs < 0)
      throw new TypeError('activateInMs must be an integer ≥ 0');
    const record = await this.#newKey(this.#now() + activateInMs);
    await this.#store.insertSigningKey(record);
    await this.reload();
    return record.kid;
  }

  /**
   * Takes a key out of signing and out of the JWKS at once: tokens it signed are refused from the
   * next reload on (every instance reloads within a second). When it was the key signing now, a new
   * key, made here and never published before, takes over in the same transaction.
   */
  async revoke(kid: string): Promise<KeyRevocation> {
    await this.reload();
    const now = this.#now();
    const target = (await this.#store.listSigningKeys()).find((record) => record.kid === kid);
    if (target === undefined) return { outcome: 'unknown' };
    if (target.revokedAt !== null) return { outcome: 'already-revoked', revokedAt: target.revokedAt };
    const replacement = this.#active()?.record.kid === kid ? await this.#newKey(now) : null;
    const revoked = await this.#store.revokeSigningKey(kid, now, replacement);
    await this.reload();
    // Revoked or deleted by someone else meanwhile: say what the store holds now.
    if (!revoked) return this.revoke(kid);
    return { outcome: 'revoked', replacementKid: replacement?.kid ?? null };
  }

  /** Reads the keys from the store; keys already parsed are kept. */
  async reload(): Promise<void> {
    const read = ++this.#readsStarted;
    const now = this.#now();
    const records = await this.#store.listSigningKeys();
    if (read < this.#readApplied) return;
    this.#readApplied = read;
    const secret = isSecretAlg(this.#policy.alg);
    // Each family has its own succession: a secret never replaces a key pair, nor the other way round.
    const { retentionMs } = this.#policy;
    const own = (record: SigningKeyRecord) => isSecretAlg(record.alg) === secret;
    const schedule = scheduleSigningKeys(records.filter(own), now, retentionMs);
    const privateKeys = new Map<string, Key>();
    for (const { record, state, expiresAt } of schedule) {
      if (state === 'revoked' || expiresAt <= now) continue;
      privateKeys.set(record.kid, this.#privateKeys.get(record.kid) ?? this.#parse(record));
    }
    this.#schedule = schedule;
    this.#foreign = scheduleSigningKeys(
      records.filter((record) => !own(record)),
      now,
      retentionMs,
    );
    this.#privateKeys = privateKeys;
    this.#signingKid = this.#active()?.record.kid ?? null;
    const published = [...privateKeys.values()].map((key) =>
      key.kind === 'secret' ? key : key.toPublicKey(),
    );
    const current = this.verificationKeys.keys.map((key) => key.kid).join();
    if (published.map((key) => key.kid).join() !== current) this.verificationKeys.replace(published);
  }

  /** Every stored key, in the order they sign. */
  list(): SigningKeyInfo[] {
    return [...this.#schedule, ...this.#foreign]
      .map(({ record, state, retiresAt, expiresAt }) => ({
        kid: record.kid,
        alg: record.alg,
        state,
        createdAt: record.createdAt,
        activatesAt: record.activatesAt,
        retiresAt,
        expiresAt,
        revokedAt: record.revokedAt,
      }))
      .sort((a, b) => a.activatesAt - b.activatesAt || a.createdAt - b.createdAt);
  }

  /** The key of this instance's family that signs now. */
  #active(): ScheduledKey | undefined {
    return this.#schedule.find((key) => key.state === 'active');
  }

  /** A new key of the configured algorithm, sealed for the store, that signs from `activatesAt`. */
  async #newKey(activatesAt: number): Promise<SigningKeyRecord> {
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
    return {
      kid,
      alg,
      publicJwk: JSON.stringify(publicJwk),
      privateKey: sealPrivateKey(this.#masterKey, kid, secretText),
      createdAt: this.#now(),
      activatesAt,
      retiresAt,
      expiresAt: retiresAt + retentionMs,
      revokedAt: null,
    };
  }

  #parse(record: SigningKeyRecord): Key {
    const alg = record.alg as Algorithm;
    const text = openPrivateKey(this.#masterKey, record.kid, record.privateKey);
    return isSecretAlg(alg)
      ? importJWK(JSON.parse(text), { alg })
      : importPrivatePEM(text, alg, { kid: record.kid });
  }
}
