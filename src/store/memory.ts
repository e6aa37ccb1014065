/**
 * The store in Maps, for unit tests of the domain, with the SQL store's semantics (the conformance suite
 * holds both to them). No method awaits anything, so each runs to its end before another starts: that
 * is its atomicity. Records go in and out as copies, so no caller can change what is stored.
 */
import { StoreError } from '../errors.js';
import { assertDistinctKeys } from './counter-store.js';
import { newSessionRecord } from './session-record.js';
import type {
  CounterFailure,
  CounterState,
  LiveSessionLimit,
  NewLoginSession,
  NewSession,
  NewUser,
  RefreshDecision,
  RefreshOutcome,
  RefreshTokenRecord,
  RefreshTokenState,
  RevokedSession,
  RevokedSessionsPage,
  SessionRecord,
  SigningKeyRecord,
  Store,
  UserRecord,
} from './types.js';

/** A user as kept here; the roles live in their own map, as in their own table. */
type StoredUser = Omit<UserRecord, 'roles'>;

export class MemoryStore implements Store {
  readonly #users = new Map<string, StoredUser>();
  readonly #roles = new Map<string, Set<string>>();
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #refreshTokens = new Map<string, RefreshTokenRecord>();
  readonly #counters = new Map<string, CounterState>();
  readonly #signingKeys = new Map<string, SigningKeyRecord>();
  readonly #secrets = new Map<string, string>();
  #closed = false;

  async createUser(user: NewUser): Promise<UserRecord> {
    if (this.#users.has(user.id)) throw new Error('a user with this id exists');
    for (const existing of this.#users.values()) {
      if (existing.email === user.email) throw new StoreError('ERR_STORE_CONFLICT', 'email is taken');
    }
    const record: StoredUser = {
      id: user.id,
      email: user.email,
      passwordHash: user.passwordHash,
      createdAt: user.createdAt,
      disabledAt: null,
    };
    this.#users.set(record.id, record);
    return this.#withRoles(record);
  }

  async findUserByEmail(email: string): Promise<UserRecord | null> {
    for (const user of this.#users.values()) {
      if (user.email === email) return this.#withRoles(user);
    }
    return null;
  }

  async findUserById(id: string): Promise<UserRecord | null> {
    return this.#userById(id);
  }

  #userById(id: string): UserRecord | null {
    const user = this.#users.get(id);
    return user === undefined ? null : this.#withRoles(user);
  }

  async listUsers(): Promise<UserRecord[]> {
    return [...this.#users.values()]
      .sort((a, b) => a.createdAt - b.createdAt || compareText(a.id, b.id))
      .map((user) => this.#withRoles(user));
  }

  async rehashPassword(userId: string, verifiedHash: string, passwordHash: string): Promise<boolean> {
    return this.#replacePasswordHash(userId, verifiedHash, passwordHash);
  }

  async changePassword(
    userId: string,
    verifiedHash: string,
    passwordHash: string,
    keepSessionId: string | null,
    now: number,
    reason: string,
  ): Promise<string[] | null> {
    if (!this.#replacePasswordHash(userId, verifiedHash, passwordHash)) return null;
    return this.#revokeLiveSessions(userId, now, reason, keepSessionId);
  }

  async setUserDisabled(userId: string, disabledAt: number | null): Promise<boolean> {
    const user = this.#users.get(userId);
    if (user === undefined) return false;
    user.disabledAt = disabledAt;
    return true;
  }

  async addUserRole(userId: string, role: string): Promise<boolean | null> {
    if (!this.#users.has(userId)) return null;
    let roles = this.#roles.get(userId);
    if (roles === undefined) {
      roles = new Set();
      this.#roles.set(userId, roles);
    }
    if (roles.has(role)) return false;
    roles.add(role);
    return true;
  }

  async removeUserRole(userId: string, role: string): Promise<boolean | null> {
    if (!this.#users.has(userId)) return null;
    return this.#roles.get(userId)?.delete(role) ?? false;
  }

  async createLoginSession(
    session: NewSession,
    refreshTokenHash: string,
    verifiedHash: string,
    limit: LiveSessionLimit,
  ): Promise<NewLoginSession | null> {
    const user = this.#users.get(session.userId);
    if (user === undefined || user.disabledAt !== null || user.passwordHash !== verifiedHash) return null;
    const now = session.createdAt;
    const ending = this.#liveSessions(session.userId, now)
      .sort((a, b) => b.lastUsedAt - a.lastUsedAt || compareText(b.id, a.id))
      .slice(Math.max(limit.most - 1, 0));
    // Stored first: a session that cannot be (its id taken) must end none, as a rolled-back transaction.
    const created = await this.createSession(session, refreshTokenHash);
    for (const old of ending) {
      old.revokedAt = now;
      old.revokedReason = limit.reason;
    }
    return { session: created, ended: ending.map((old) => old.id) };
  }

  async createSession(session: NewSession, refreshTokenHash: string): Promise<SessionRecord> {
    if (this.#sessions.has(session.id)) throw new Error('a session with this id exists');
    if (this.#refreshTokens.has(refreshTokenHash)) throw new Error('a refresh token with this hash exists');
    const record = newSessionRecord(session);
    this.#sessions.set(record.id, record);
    this.#refreshTokens.set(refreshTokenHash, {
      hash: refreshTokenHash,
      sessionId: session.id,
      createdAt: session.createdAt,
      rotatedAt: null,
      successorHash: null,
    });
    return { ...record };
  }

  async findSession(id: string): Promise<SessionRecord | null> {
    return copyOrNull(this.#sessions.get(id));
  }

  async listActiveSessions(userId: string, now: number): Promise<SessionRecord[]> {
    return this.#liveSessions(userId, now)
      .sort((a, b) => b.createdAt - a.createdAt || compareText(b.id, a.id))
      .map((session) => ({ ...session }));
  }

  /** The user's sessions that are neither revoked nor expired at `now`: the records themselves. */
  #liveSessions(userId: string, now: number): SessionRecord[] {
    return [...this.#sessions.values()].filter(
      (session) =>
        session.userId === userId &&
        session.revokedAt === null &&
        session.expiresAt > now &&
        session.idleExpiresAt > now,
    );
  }

  async consumeRefreshToken(
    hash: string,
    decide: (state: RefreshTokenState) => RefreshDecision,
  ): Promise<RefreshOutcome | null> {
    const token = this.#refreshTokens.get(hash);
    if (token === undefined) return null;
    const session = this.#sessions.get(token.sessionId);
    if (session === undefined) throw new Error('refresh token without a session');
    const decision = decide({ token: { ...token }, session: { ...session } });
    switch (decision.action) {
      case 'rotate':
        if (token.rotatedAt !== null)
          throw new Error('cannot rotate a refresh token that was already rotated');
        if (this.#refreshTokens.has(decision.successorHash)) {
          throw new Error('a refresh token with this hash exists');
        }
        token.rotatedAt = decision.now;
        token.successorHash = decision.successorHash;
        this.#refreshTokens.set(decision.successorHash, {
          hash: decision.successorHash,
          sessionId: session.id,
          createdAt: decision.now,
          rotatedAt: null,
          successorHash: null,
        });
        session.lastUsedAt = decision.now;
        session.idleExpiresAt = decision.idleExpiresAt;
        return { action: 'rotate', session: { ...session }, user: this.#userById(session.userId) };
      case 'repeat':
        if (token.successorHash === null) {
          throw new Error('cannot repeat a refresh token that was never rotated: it has no successor');
        }
        return {
          action: 'repeat',
          session: { ...session },
          user: this.#userById(session.userId),
          successorHash: token.successorHash,
        };
      case 'revoke':
        revokeIfLive(session, decision.now, decision.reason);
        return { action: 'revoke', session: { ...session } };
      case 'reject':
        return { action: 'reject', session: { ...session } };
    }
  }

  async revokeSession(id: string, now: number, reason: string): Promise<SessionRecord | null> {
    const session = this.#sessions.get(id);
    if (session === undefined) return null;
    revokeIfLive(session, now, reason);
    return { ...session };
  }

  async revokeUserSessions(
    userId: string,
    now: number,
    reason: string,
    exceptSessionId?: string,
  ): Promise<string[]> {
    return this.#revokeLiveSessions(userId, now, reason, exceptSessionId ?? null);
  }

  async listRevokedSessionsSince(since: number, page?: RevokedSessionsPage): Promise<RevokedSession[]> {
    const revoked: RevokedSession[] = [];
    for (const session of this.#sessions.values()) {
      if (session.revokedAt !== null && session.revokedAt >= since) {
        revoked.push({ id: session.id, revokedAt: session.revokedAt });
      }
    }
    const order = (a: RevokedSession, b: RevokedSession) =>
      a.revokedAt - b.revokedAt || compareText(a.id, b.id);
    revoked.sort(order);
    if (page === undefined) return revoked;
    const { after } = page;
    const from = after === null ? 0 : revoked.findIndex((session) => order(session, after) > 0);
    return from === -1 ? [] : revoked.slice(from, from + page.limit);
  }

  async deleteExpiredSessions(before: number): Promise<number> {
    const deleted = new Set<string>();
    for (const session of this.#sessions.values()) {
      if (
        session.expiresAt < before ||
        session.idleExpiresAt < before ||
        (session.revokedAt !== null && session.revokedAt < before)
      ) {
        deleted.add(session.id);
      }
    }
    for (const id of deleted) this.#sessions.delete(id);
    for (const token of [...this.#refreshTokens.values()]) {
      if (deleted.has(token.sessionId)) this.#refreshTokens.delete(token.hash);
    }
    return deleted.size;
  }

  async recordFailures(failures: readonly CounterFailure[], now: number): Promise<CounterState[]> {
    assertDistinctKeys(failures.map(({ key }) => key));
    return failures.map(({ key, windowMs }) => {
      const counter = this.#counters.get(key);
      const next: CounterState =
        counter === undefined || now >= counter.expiresAt
          ? { count: 1, windowStartedAt: now, lastAt: now, expiresAt: now + windowMs }
          : { ...counter, count: counter.count + 1, lastAt: Math.max(counter.lastAt, now) };
      this.#counters.set(key, next);
      return { ...next };
    });
  }

  async readCounters(keys: readonly string[], now: number): Promise<(CounterState | null)[]> {
    return keys.map((key) => {
      const counter = this.#counters.get(key);
      return counter === undefined || now >= counter.expiresAt ? null : { ...counter };
    });
  }

  async clearCounter(key: string): Promise<void> {
    this.#counters.delete(key);
  }

  async deleteExpiredCounters(before: number): Promise<number> {
    let deleted = 0;
    for (const [key, counter] of this.#counters) {
      if (counter.expiresAt < before) {
        this.#counters.delete(key);
        deleted += 1;
      }
    }
    return deleted;
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return [...this.#signingKeys.values()]
      .sort((a, b) => a.createdAt - b.createdAt || compareText(a.kid, b.kid))
      .map((key) => ({ ...key }));
  }

  async insertSigningKey(key: SigningKeyRecord): Promise<boolean> {
    if (this.#signingKeys.has(key.kid)) return false;
    this.#signingKeys.set(key.kid, { ...key });
    return true;
  }

  async revokeSigningKey(kid: string, now: number, replacement: SigningKeyRecord | null): Promise<boolean> {
    const key = this.#signingKeys.get(kid);
    if (key === undefined || key.revokedAt !== null) return false;
    if (replacement !== null && this.#signingKeys.has(replacement.kid))
      throw new Error('a signing key with this kid exists');
    key.revokedAt = now;
    if (replacement !== null) this.#signingKeys.set(replacement.kid, { ...replacement });
    return true;
  }

  async resealSigningKey(kid: string, from: string, to: string): Promise<boolean> {
    const key = this.#signingKeys.get(kid);
    if (key === undefined || key.privateKey !== from) return false;
    key.privateKey = to;
    return true;
  }

  async deleteSigningKeys(kids: readonly string[]): Promise<number> {
    let deleted = 0;
    for (const kid of kids) if (this.#signingKeys.delete(kid)) deleted += 1;
    return deleted;
  }

  async replaceSecret(name: string, from: string, to: string): Promise<boolean> {
    if (this.#secrets.get(name) !== from) return false;
    this.#secrets.set(name, to);
    return true;
  }

  async ensureSecret(name: string, value: string): Promise<string> {
    const stored = this.#secrets.get(name);
    if (stored !== undefined) return stored;
    this.#secrets.set(name, value);
    return value;
  }

  async ping(): Promise<void> {
    if (this.#closed) throw new StoreError('ERR_STORE_UNAVAILABLE', 'the store is closed');
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  /** A copy of the user with their roles, in code-unit order as the SQL store gives them. */
  #withRoles(user: StoredUser): UserRecord {
    return { ...user, roles: [...(this.#roles.get(user.id) ?? [])].sort() };
  }

  /** Replaces the password hash only while it is still `verifiedHash`; true when it did. */
  #replacePasswordHash(userId: string, verifiedHash: string, passwordHash: string): boolean {
    const user = this.#users.get(userId);
    if (user?.passwordHash !== verifiedHash) return false;
    user.passwordHash = passwordHash;
    return true;
  }

  #revokeLiveSessions(userId: string, now: number, reason: string, exceptSessionId: string | null): string[] {
    const revoked: string[] = [];
    for (const session of this.#sessions.values()) {
      if (session.userId !== userId || session.id === exceptSessionId || session.revokedAt !== null) continue;
      revokeIfLive(session, now, reason);
      revoked.push(session.id);
    }
    return revoked;
  }
}

/** A revoked session keeps its first revocation, as in the SQL store. */
function revokeIfLive(session: SessionRecord, now: number, reason: string): void {
  if (session.revokedAt !== null) return;
  session.revokedAt = now;
  session.revokedReason = reason;
}

function copyOrNull<T extends object>(record: T | undefined): T | null {
  return record === undefined ? null : { ...record };
}

/** Code-unit order, as SQLite's default BINARY collation sorts text. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
