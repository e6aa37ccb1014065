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
import type { KeyStore, SigningKeyRecord } from '../store/types.js';
import { isSealed, isSealedWith, openPrivateKey, sealPrivateKey } from './key-encryption.js';
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

/** What re-sealing the stored keys under the current master key did, key by key. */
export interface KeyResealing {
  /** Now sealed with LATCHKEY_MASTER_KEY (they were sealed with the previous one, or not at all). */
  resealed: string[];
  /** Sealed with LATCHKEY_MASTER_KEY already. */
  unchanged: string[];
  /** Opened by neither master key (or damaged): left as they are, and why. */
  unreadable: KeyLoadProblem[];
}

/** Longer than the JWKS cache lifetime we advertise (300 s) and the instances' reload interval. */
export const DEFAULT_ROTATION_DELAY_MS = 10 * 60_000;
/** A scheduled key this close to its activation is left to take over, never withdrawn by a rotate. */
const SIGNING_SOON_MS = 60_000;

const isSecretAlg = (alg: string) => alg.startsWith('HS');

/**
 * The algorithm of the key that activated last of those signing now, in either kind of key: what the
 * servers sharing these rows sign with. Null when nothing signs.
 */
export function signingAlgorithmOf(records: readonly SigningKeyRecord[], now: number): Algorithm | null {
  let newest: SigningKeyRecord | null = null;
  for (const own of [true, false]) {
    const family = records.filter((record) => isSecretAlg(record.alg) === own);
    for (const { record, state } of scheduleSigningKeys(family, now, 0)) {
      if (state === 'active' && (newest === null || record.activatesAt > newest.activatesAt)) newest = record;
    }
  }
  return (newest?.alg as Algorithm | undefined) ?? null;
}

export interface SigningKeysOptions {
  now?: () => number;
  /**
   * Refuse to write a key that other readers of the store may not be able to read: one sealed with a
   * master key into a store whose keys are not, or the other way round. For the CLI, whose
   * environment may differ from the servers'.
   */
  matchStoredSealing?: boolean;
  /** LATCHKEY_MASTER_KEY_PREVIOUS: opens keys sealed before the master key changed; never seals. */
  previousMasterKey?: Buffer | null;
}

/** A key that could not be loaded (another master key, a damaged row): skipped, and said why. */
export interface KeyLoadProblem {
  kid: string;
  reason: string;
  /** The stored private key is sealed with a master key (so no master key at all cannot open it). */
  sealed: boolean;
}

export class SigningKeys {
  readonly #store: KeyStore;
  readonly #policy: SigningKeyPolicy;
  readonly #masterKey: Buffer | null;
  readonly #previousMasterKey: Buffer | null;
  readonly #now: () => number;
  readonly #matchStoredSealing: boolean;
  /** Every published key (secrets for HS*), for verification; changed in place so verifiers notice. */
  readonly verificationKeys = new KeySet();
  /** The keys of this instance's family (secrets for HS*, key pairs otherwise), scheduled. */
  #schedule: ScheduledKey[] = [];
  /** Keys of the other family, left by an earlier LATCHKEY_ALG: listed and deleted in time, never used. */
  #foreign: ScheduledKey[] = [];
  #privateKeys = new Map<string, Key>();
  #signingKid: string | null = null;
  #problems: KeyLoadProblem[] = [];
  /** Reloads may overlap (the sync timer, a rotation); only a newer read may replace what is loaded. */
  #readsStarted = 0;
  #readApplied = 0;

  constructor(
    store: KeyStore,
    policy: SigningKeyPolicy,
    masterKey: Buffer | null,
    options: SigningKeysOptions | (() => number) = {},
  ) {
    const resolved = typeof options === 'function' ? { now: options } : options;
    this.#store = store;
    this.#policy = policy;
    this.#masterKey = masterKey;
    this.#previousMasterKey = resolved.previousMasterKey ?? null;
    this.#now = resolved.now ?? Date.now;
    this.#matchStoredSealing = resolved.matchStoredSealing ?? false;
  }

  /** The key that signs now. */
  get signingKey(): Key {
    const key = this.#signingKid === null ? undefined : this.#privateKeys.get(this.#signingKid);
    if (key === undefined) throw new Error('no active signing key: maintain() has not run');
    return key;
  }

  get hasSigningKey(): boolean {
    return this.#signingKid !== null && this.#privateKeys.has(this.#signingKid);
  }

  /** Keys the last reload skipped because they could not be read. */
  get problems(): readonly KeyLoadProblem[] {
    return this.#problems;
  }

  /**
   * `maintain()` at start-up of a server, and a rotation when the configured algorithm is not the one
   * signing (LATCHKEY_ALG changed): the new key signs at once, the old one stays published until its
   * tokens expire, and a next key of the old algorithm is withdrawn before it can take over again.
   * The kid of that new key, or null.
   */
  async start(): Promise<string | null> {
    await this.maintain();
    const active = this.#active();
    if (active === undefined || active.record.alg === this.#policy.alg) return null;
    const now = this.#now();
    for (const pending of this.#schedule) {
      if (pending.state === 'next' && pending.record.alg !== this.#policy.alg) {
        // It never signed, so withdrawing it (a revocation before activation) refuses no token.
        await this.#store.revokeSigningKey(pending.record.kid, now, null);
      }
    }
    return this.rotate(0, this.#policy.alg);
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
      await this.#insert(await this.#newKey(now, this.#policy.alg));
      active = this.#active();
    }
    const hasNext = this.#schedule.some((key) => key.state === 'next');
    if (active !== undefined && !hasNext && now >= active.retiresAt - this.#policy.prePublishMs) {
      await this.#insert(await this.#newKey(active.retiresAt, active.record.alg as Algorithm));
    }
  }

  /**
   * Adds a new key that starts signing after `activateInMs`: long enough by default for every other
   * instance to reload and for resource servers to refetch a cached JWKS (5 min), so no verifier
   * meets a kid it does not know yet. The key signing now stops when the new one starts, and stays
   * published until its tokens have expired. A compromised key needs `revoke()` instead. The new key
   * has the algorithm of the key it replaces (the servers' choice, whatever this process's is), and
   * replaces any key that was scheduled to take over after it.
   */
  async rotate(activateInMs = DEFAULT_ROTATION_DELAY_MS, alg?: Algorithm): Promise<string> {
    if (!Number.isInteger(activateInMs) || activateInMs < 0)
      throw new TypeError('activateInMs must be an integer ≥ 0');
    await this.reload();
    const active = this.#active();
    const algorithm = alg ?? (active?.record.alg as Algorithm | undefined) ?? this.#policy.alg;
    // Never a tie with the key it replaces (same millisecond): the order would fall to the kids.
    const activatesAt = Math.max(this.#now() + activateInMs, (active?.record.activatesAt ?? 0) + 1);
    const record = await this.#newKey(activatesAt, algorithm);
    await this.#insert(record);
    // Keys scheduled before (the next regular one, or an earlier rotate) that have not signed yet and
    // would take over before or after this one: two changes where one was asked for. Judged now that
    // the new key is made (an RSA key takes a while). One due before the new key stays only when it
    // must bridge the time until it: without it, from the active key's planned retirement on,
    // nothing would sign.
    const now = this.#now();
    const pending = this.#schedule.filter(
      (key) => key.state === 'next' && key.record.kid !== record.kid && key.record.activatesAt > now,
    );
    const later = pending.filter((key) => key.record.activatesAt >= record.activatesAt);
    // One due within the minute may sign already where a clock runs ahead, or by the time this
    // withdrawal reaches every instance: withdrawing it then would refuse the tokens it signed.
    const withdrawable = pending.filter(
      (key) => later.includes(key) || key.record.activatesAt > now + SIGNING_SOON_MS,
    );
    const withdrawn = this.#signsUntil(withdrawable, record.activatesAt, now) ? withdrawable : later;
    if (withdrawn.length > 0) {
      for (const key of withdrawn) await this.#store.revokeSigningKey(key.record.kid, now, null);
      await this.reload();
    }
    return record.kid;
  }

  /** Whether, with `withdrawn` revoked now, some key of this family signs at every moment until `until`. */
  #signsUntil(withdrawn: readonly ScheduledKey[], until: number, now: number): boolean {
    const gone = new Set(withdrawn.map((key) => key.record.kid));
    const records = this.#schedule.map(({ record }) =>
      gone.has(record.kid) ? { ...record, revokedAt: now } : record,
    );
    const signing = scheduleSigningKeys(records, now, this.#policy.retentionMs)
      .filter((key) => key.record.revokedAt === null)
      .sort((a, b) => a.record.activatesAt - b.record.activatesAt);
    let covered = now;
    for (const key of signing) {
      if (key.record.activatesAt > covered) break;
      covered = Math.max(covered, key.retiresAt);
    }
    return covered >= until;
  }

  /**
   * Takes a key out of signing and out of the JWKS at once: tokens it signed are refused from the
   * next reload on (every instance reloads within a second). When that would leave nothing to sign
   * with, a new key of the same algorithm, made here and never published before, takes over in the
   * same transaction.
   */
  async revoke(kid: string): Promise<KeyRevocation> {
    const records = await this.#store.listSigningKeys();
    const now = this.#now();
    const target = records.find((record) => record.kid === kid);
    if (target === undefined) return { outcome: 'unknown' };
    if (target.revokedAt !== null) return { outcome: 'already-revoked', revokedAt: target.revokedAt };
    // Decided on the target's own family, from the rows just read, at the moment of revocation.
    const family = records.filter((record) => isSecretAlg(record.alg) === isSecretAlg(target.alg));
    const after = family.map((record) => (record === target ? { ...record, revokedAt: now } : record));
    const signsAfter = scheduleSigningKeys(after, now, this.#policy.retentionMs).some(
      (key) => key.state === 'active',
    );
    const replacement = signsAfter ? null : await this.#newKey(now, target.alg as Algorithm);
    if (replacement !== null) this.#requireReadableByOthers(records);
    const revoked = await this.#store.revokeSigningKey(kid, now, replacement);
    // Revoked or deleted by someone else meanwhile: say what the store holds now.
    if (!revoked) return this.revoke(kid);
    await this.maintain();
    return { outcome: 'revoked', replacementKid: replacement?.kid ?? null };
  }

  /**
   * After the master key changed: seals every stored key with the current master key, from the
   * previous one (or from no sealing at all, when a master key is set for the first time). Each key
   * is replaced only if its row still holds what was read, so processes doing this at once never
   * overwrite each other; the key material, and so every token, stays as it is.
   */
  async reseal(): Promise<KeyResealing> {
    const masterKey = this.#masterKey;
    if (masterKey === null) throw new Error('LATCHKEY_MASTER_KEY is not set: there is nothing to seal with');
    const outcome: KeyResealing = { resealed: [], unchanged: [], unreadable: [] };
    for (const record of await this.#store.listSigningKeys()) {
      if (isSealedWith(masterKey, record.kid, record.privateKey)) {
        outcome.unchanged.push(record.kid);
        continue;
      }
      let text: string;
      try {
        text = this.#open(record);
      } catch (error) {
        outcome.unreadable.push({
          kid: record.kid,
          reason: reasonOf(error),
          sealed: isSealed(record.privateKey),
        });
        continue;
      }
      const sealed = sealPrivateKey(masterKey, record.kid, text);
      // Not replaced: another process re-sealed it (or deleted it) meanwhile; it is done either way.
      if (await this.#store.resealSigningKey(record.kid, record.privateKey, sealed)) {
        outcome.resealed.push(record.kid);
      } else {
        outcome.unchanged.push(record.kid);
      }
    }
    return outcome;
  }

  /**
   * Reads the keys from the store; keys already parsed are kept. A key that cannot be read is left
   * out and named in `problems`: the others, and every revocation, still take effect.
   */
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
    const problems: KeyLoadProblem[] = [];
    for (const { record, state, expiresAt } of schedule) {
      if (state === 'revoked' || expiresAt <= now) continue;
      const known = this.#privateKeys.get(record.kid);
      if (known !== undefined) {
        privateKeys.set(record.kid, known);
        continue;
      }
      try {
        privateKeys.set(record.kid, this.#parse(record));
      } catch (error) {
        problems.push({ kid: record.kid, reason: reasonOf(error), sealed: isSealed(record.privateKey) });
      }
    }
    this.#schedule = schedule;
    this.#foreign = scheduleSigningKeys(
      records.filter((record) => !own(record)),
      now,
      retentionMs,
    );
    this.#privateKeys = privateKeys;
    this.#problems = problems;
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

  async #insert(record: SigningKeyRecord): Promise<void> {
    // Only the CLI asks: a server's own maintenance needs no extra read of the keys.
    if (this.#matchStoredSealing) this.#requireReadableByOthers(await this.#store.listSigningKeys());
    await this.#store.insertSigningKey(record);
    await this.reload();
  }

  /**
   * With `matchStoredSealing`: a key is written only as the stored keys are (all sealed with this
   * master key, or none sealed), so the servers reading the store can read it too.
   */
  #requireReadableByOthers(records: readonly SigningKeyRecord[]): void {
    if (!this.#matchStoredSealing) return;
    const live = records.filter((record) => record.revokedAt === null);
    const sealed = live.filter((record) => isSealed(record.privateKey));
    const weSeal = this.#masterKey !== null;
    if (weSeal && live.length > 0 && sealed.length === 0) {
      throw new Error(
        'LATCHKEY_MASTER_KEY is set here, but the keys in the database are not encrypted: the servers ' +
          "could not read a key written now. Run this with the servers' environment.",
      );
    }
    if (!weSeal && sealed.length > 0) {
      throw new Error('the keys in the database are encrypted, but LATCHKEY_MASTER_KEY is not set here');
    }
    for (const record of sealed) this.#open(record);
  }

  /** A new key, sealed for the store, that signs with `alg` from `activatesAt`. */
  async #newKey(activatesAt: number, alg: Algorithm): Promise<SigningKeyRecord> {
    const { rotationMs, retentionMs } = this.#policy;
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

  #open(record: SigningKeyRecord): string {
    return openPrivateKey(this.#masterKey, record.kid, record.privateKey, this.#previousMasterKey);
  }

  #parse(record: SigningKeyRecord): Key {
    const alg = record.alg as Algorithm;
    const text = this.#open(record);
    if (!isSecretAlg(alg)) return importPrivatePEM(text, alg, { kid: record.kid });
    let jwk: unknown;
    try {
      jwk = JSON.parse(text);
    } catch {
      // JSON.parse's message quotes the text, which is the secret.
      throw new Error(`signing key ${record.kid} is stored in an unreadable form`);
    }
    return importJWK(jwk, { alg });
  }
}

/** Why a key could not be read, without any of its material. */
function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : 'unreadable';
}
