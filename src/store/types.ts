/**
 * The storage interface of the auth domain. Methods are named for what the domain needs and each is
 * one atomic operation; every implementation (SQLite, PostgreSQL, memory) passes the one conformance
 * suite in test/store/conformance.ts. All times are milliseconds since the epoch. Expected absence is
 * `null`; a broken rule (a duplicate email) is a `StoreError`.
 */

export interface UserRecord {
  id: string;
  /** Normalised: trimmed and lower-cased. Unique. */
  email: string;
  /** PHC string (argon2id). */
  passwordHash: string;
  createdAt: number;
  disabledAt: number | null;
  /**
   * What the user may do, as the `roles` claim of their access tokens carries it: distinct, in
   * code-unit order (the same in every store, whatever a database's collation). Read with the user,
   * so that login and refresh learn them without a query of their own.
   */
  roles: string[];
}

export type NewUser = Omit<UserRecord, 'disabledAt' | 'roles'>;

/** One login: a refresh-token family. Its id is the `sid` claim of every access token it yields. */
export interface SessionRecord {
  id: string;
  userId: string;
  createdAt: number;
  lastUsedAt: number;
  /** End of the absolute lifetime; no refresh extends it. */
  expiresAt: number;
  /** End of the idle lifetime; every rotation moves it, never past `expiresAt`. */
  idleExpiresAt: number;
  userAgent: string | null;
  ip: string | null;
  revokedAt: number | null;
  revokedReason: string | null;
}

export type NewSession = Omit<SessionRecord, 'revokedAt' | 'revokedReason'>;

/** A refresh token, known only by its SHA-256 hash. */
export interface RefreshTokenRecord {
  hash: string;
  sessionId: string;
  createdAt: number;
  /** When it was exchanged for its successor; null while it is the family's current token. */
  rotatedAt: number | null;
  successorHash: string | null;
}

/** What the store found for a presented refresh token: the input of the domain's pure decision. */
export interface RefreshTokenState {
  token: RefreshTokenRecord;
  session: SessionRecord;
}

/** The domain's verdict on a presented refresh token, which the store carries out atomically. */
export type RefreshDecision =
  /** Mark the token rotated, store its successor, and move the session's use and idle times. */
  | { action: 'rotate'; successorHash: string; now: number; idleExpiresAt: number }
  /** A repeat inside the grace window: change nothing; the caller hands out the same successor. */
  | { action: 'repeat' }
  /** A rotated token used again after the grace window: revoke the whole family, and keep that. */
  | { action: 'revoke'; now: number; reason: string }
  /** Expired or revoked session: change nothing. */
  | { action: 'reject' };

export type RefreshOutcome =
  | { action: 'rotate'; session: SessionRecord }
  | { action: 'repeat'; session: SessionRecord; successorHash: string }
  | { action: 'revoke'; session: SessionRecord }
  | { action: 'reject'; session: SessionRecord };

/** A fixed-window counter of failures (throttling), shared by every instance through the store. */
export interface CounterState {
  count: number;
  windowStartedAt: number;
  /** The latest failure counted: failures recorded at once by several instances may commit in any order. */
  lastAt: number;
  /** When the window ends and the counter is forgotten. */
  expiresAt: number;
}

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

export interface RevokedSession {
  id: string;
  revokedAt: number;
}

/**
 * The throttle's fixed-window failure counters. The SQL stores keep them in a table; with REDIS_URL
 * they are read from Redis while it is up (src/store/redis/), and written to the store as well.
 */
export interface CounterStore {
  /** Counts one failure under `key` in a window of `windowMs` (a new window once it has ended). */
  recordFailure(key: string, windowMs: number, now: number): Promise<CounterState>;
  /** The counter under `key`, or null when there is none or its window has ended. */
  readCounter(key: string, now: number): Promise<CounterState | null>;
  clearCounter(key: string): Promise<void>;
  /** Deletes counters whose window ended before `before`; the number deleted. */
  deleteExpiredCounters(before: number): Promise<number>;
}

export interface Store extends CounterStore {
  /** Throws `StoreError` ERR_STORE_CONFLICT when the email is taken. */
  createUser(user: NewUser): Promise<UserRecord>;
  findUserByEmail(email: string): Promise<UserRecord | null>;
  findUserById(id: string): Promise<UserRecord | null>;
  listUsers(): Promise<UserRecord[]>;
  /**
   * Replaces the password hash a login just verified (rehash with new parameters), only if it is
   * still the stored one: a password change that committed meanwhile must not be undone. True
   * when it was replaced.
   */
  rehashPassword(userId: string, verifiedHash: string, passwordHash: string): Promise<boolean>;
  /**
   * Sets a new password hash and revokes every other session of the user, in one transaction, only
   * if the stored hash is still `verifiedHash`, the one the current password was checked against:
   * of two changes made with the same old password, the second must not overwrite the first. The
   * revoked session ids, or null when the hash had changed.
   */
  changePassword(
    userId: string,
    verifiedHash: string,
    passwordHash: string,
    keepSessionId: string | null,
    now: number,
  ): Promise<string[] | null>;
  /** Disables (`disabledAt` a time) or enables (`null`) a user; false when there is no such user. */
  setUserDisabled(userId: string, disabledAt: number | null): Promise<boolean>;
  /**
   * Gives a user a role: true when added, false when the user had it already, null when there is no
   * such user. Role names are the domain's to check (src/auth/roles.ts); the store keeps any string.
   */
  addUserRole(userId: string, role: string): Promise<boolean | null>;
  /** Takes a role away: true when removed, false when the user lacked it, null for an unknown user. */
  removeUserRole(userId: string, role: string): Promise<boolean | null>;

  /** Stores a new session with its first refresh token, in one transaction. */
  createSession(session: NewSession, refreshTokenHash: string): Promise<SessionRecord>;
  /**
   * `createSession` for a login that verified `verifiedHash`: in the same transaction, only if the
   * user still has that hash and is not disabled. `null` when a password change or disabling
   * committed after the check, so that the login cannot outlive it.
   */
  createLoginSession(
    session: NewSession,
    refreshTokenHash: string,
    verifiedHash: string,
  ): Promise<SessionRecord | null>;
  findSession(id: string): Promise<SessionRecord | null>;
  /** Sessions of a user that are neither revoked nor expired at `now`, newest first. */
  listActiveSessions(userId: string, now: number): Promise<SessionRecord[]>;
  /**
   * Looks up a refresh token and its session, asks `decide` what to do, and does it, all in one
   * transaction, so two uses of one token can never both rotate it. `null` for an unknown token.
   */
  consumeRefreshToken(
    hash: string,
    decide: (state: RefreshTokenState) => RefreshDecision,
  ): Promise<RefreshOutcome | null>;
  /** Revokes one session; the session as it is afterwards, or null if there is none. */
  revokeSession(id: string, now: number, reason: string): Promise<SessionRecord | null>;
  /** Revokes every live session of a user (but `exceptSessionId`); the ids it revoked. */
  revokeUserSessions(
    userId: string,
    now: number,
    reason: string,
    exceptSessionId?: string,
  ): Promise<string[]>;
  /** Sessions revoked at or after `since`, for the revocation feed of every instance. */
  listRevokedSessionsSince(since: number): Promise<RevokedSession[]>;
  /** Deletes sessions (and their tokens) that expired before `before`; the number deleted. */
  deleteExpiredSessions(before: number): Promise<number>;

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
  /** Deletes these keys; the number deleted. */
  deleteSigningKeys(kids: readonly string[]): Promise<number>;

  /** The value stored under `name`, storing `value` first if there is none (first writer wins). */
  ensureSecret(name: string, value: string): Promise<string>;

  /** Throws when the database cannot answer (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
