/** The keys part of the store: the issuer's signing keys, and named server secrets. */

export interface SigningKeyRecord {
  kid: string;
  alg: string;
  /** Public JWK as JSON text. */
  publicJwk: string;
  /** Private key as stored: PKCS#8 PEM, or its AES-256-GCM envelope when a master key is configured. */
  privateKey: string;
  createdAt: number;
  /** From this time the key may sign; it is published in the JWKS before that. */
  activatesAt: number;
  /** After this time the key signs nothing new. */
  retiresAt: number;
  /**
   * After this time no token it signed can still be valid: it leaves the JWKS and may be deleted. A
   * key that a newer one replaced earlier leaves sooner (src/auth/key-schedule.ts).
   */
  expiresAt: number;
  /** When it was revoked (compromised): from then on it neither signs nor verifies anything. */
  revokedAt: number | null;
}

export interface KeyStore {
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  /** Adds a signing key; false (and nothing changed) when its kid exists. */
  insertSigningKey(key: SigningKeyRecord): Promise<boolean>;
  /**
   * Marks a key revoked at `now` and, in the same transaction, adds `replacement` when given, so no
   * reader ever sees the revoked key as the newest with nothing to sign with after it. False (and
   * nothing changed) when there is no such key or it was revoked already; a replacement whose kid
   * exists throws, and nothing changes either.
   */
  revokeSigningKey(kid: string, now: number, replacement: SigningKeyRecord | null): Promise<boolean>;
  /**
   * Replaces a key's stored private key (`from`) with the same key sealed anew (`to`, after the
   * master key changed): false, and nothing changed, when there is no such key or what is stored is
   * no longer `from` (another process re-sealed it first).
   */
  resealSigningKey(kid: string, from: string, to: string): Promise<boolean>;
  /** Deletes these keys; the number deleted. */
  deleteSigningKeys(kids: readonly string[]): Promise<number>;

  /** The value stored under `name`, storing `value` first if there is none (first writer wins). */
  ensureSecret(name: string, value: string): Promise<string>;
  /**
   * Replaces the secret `name` with `to` (the same secret sealed anew) only if it still holds `from`:
   * false, and nothing changed, when another process replaced it first.
   */
  replaceSecret(name: string, from: string, to: string): Promise<boolean>;
}
