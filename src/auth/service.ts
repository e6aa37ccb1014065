/**
 * The auth service: every use case of the HTTP contract as one method taking plain values. It
 * combines the pure decisions (sessions.ts, throttle policy), one atomic store operation per change,
 * and the JWT core. It knows nothing of HTTP; failures are `AuthError`s with stable codes, or the
 * JWT core's errors for bad access tokens.
 */
import { randomBytes } from 'node:crypto';
import { AuthError } from '../errors.js';
import type { SessionRecord, SessionStore, UserRecord, UserStore } from '../store/types.js';
import type { AccessTokenClaims, AccessTokens } from './access-tokens.js';
import { createAccount } from './accounts.js';
import { newAccountEmail, normalizeEmail } from './emails.js';
import type { ResolvedAuthOptions } from './options.js';
import {
  MAX_PASSWORD_LENGTH,
  normalizePassword,
  type PasswordHasher,
  requireWellFormed,
} from './passwords.js';
import {
  deriveSuccessor,
  generateRefreshToken,
  hashRefreshToken,
  isRefreshTokenShape,
} from './refresh-tokens.js';
import type { RevokedSessions } from './revocations.js';
import { SessionEndReason } from './session-end-reasons.js';
import { decideRefresh } from './sessions.js';
import type { LoginAttempt, Throttle } from './throttle.js';

/** Where a request came from, as the edge determined it. */
export interface ClientContext {
  ip: string;
  userAgent: string | null;
}

export interface IssuedTokens {
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
  sessionId: string;
  /** When the refresh token stops working unless used: the session's idle (or absolute) end. */
  refreshExpiresAt: number;
}

export interface UserView {
  id: string;
  email: string;
  createdAt: number;
  /** As the store holds them now, which may be newer than the `roles` claim of a token. */
  roles: string[];
}

export interface Principal {
  userId: string;
  sessionId: string;
  claims: AccessTokenClaims;
}

/** What happened, for metrics and the security log; never carries a secret. */
export type AuthEvent =
  | { type: 'registered'; userId: string }
  | { type: 'login_succeeded'; userId: string; sessionId: string }
  | { type: 'login_failed'; reason: 'unknown_email' | 'wrong_password' | 'disabled' | 'changed_meanwhile' }
  | { type: 'login_throttled'; retryAfterSeconds: number }
  | { type: 'registration_throttled'; retryAfterSeconds: number }
  | { type: 'refreshed'; sessionId: string }
  | { type: 'refresh_rejected'; reason: 'unknown' | 'expired_or_revoked' | 'disabled' }
  | { type: 'refresh_reuse_detected'; sessionId: string; userId: string }
  | { type: 'sessions_revoked'; sessionIds: string[]; reason: SessionEndReason }
  | { type: 'password_changed'; userId: string };

export interface AuthServiceDependencies {
  store: UserStore & SessionStore;
  passwords: PasswordHasher;
  throttle: Throttle;
  accessTokens: AccessTokens;
  revocations: RevokedSessions;
  /**
   * Server secret from which refresh-token successors are derived; asked for at each refresh, so that
   * a process that never refreshes (the CLI) need not be able to open it.
   */
  refreshSecret: () => Buffer;
  options: ResolvedAuthOptions;
  now?: () => number;
  onEvent?: (event: AuthEvent) => void;
}

const MAX_USER_AGENT_LENGTH = 512;

const invalidCredentials = () => new AuthError('ERR_INVALID_CREDENTIALS', 'email or password is incorrect');
const invalidGrant = () => new AuthError('ERR_INVALID_GRANT', 'refresh token is invalid, expired or revoked');

function view(user: UserRecord): UserView {
  return { id: user.id, email: user.email, createdAt: user.createdAt, roles: user.roles };
}

/** A password as typed at login: normalised like at registration, but only the upper bound applies. */
function loginPassword(password: string, field: string): string {
  const normalized = requireWellFormed(password, field).normalize('NFKC');
  if ([...normalized].length > MAX_PASSWORD_LENGTH) {
    throw new AuthError(
      'ERR_INVALID_INPUT',
      `${field} must be at most ${MAX_PASSWORD_LENGTH} characters long`,
      {
        field,
      },
    );
  }
  return normalized;
}

export class AuthService {
  readonly #d: Required<AuthServiceDependencies>;

  constructor(dependencies: AuthServiceDependencies) {
    this.#d = { now: Date.now, onEvent: () => {}, ...dependencies };
  }

  async register(emailInput: string, passwordInput: string, client: ClientContext): Promise<UserView> {
    // Refused before the throttle counts the attempt: a bad address costs no registration.
    const email = newAccountEmail(emailInput);
    const password = normalizePassword(passwordInput);
    const { store, throttle, passwords, now } = this.#d;
    await this.#throttled('registration_throttled', throttle.admitRegistration(client.ip, now()));
    const user = await createAccount(store, passwords, email, password, now());
    this.#d.onEvent({ type: 'registered', userId: user.id });
    return view(user);
  }

  async login(emailInput: string, passwordInput: string, client: ClientContext): Promise<IssuedTokens> {
    const email = normalizeEmail(emailInput);
    const password = loginPassword(passwordInput, 'password');
    const { throttle, now } = this.#d;
    const attempt = await this.#throttled('login_throttled', throttle.beginLogin(email, client.ip, now()));
    try {
      return await this.#checkedLogin(email, password, client, attempt);
    } finally {
      // Out of flight before the answer: the client's next attempt, sent on it, must not find this
      // one still counted (where the count is shared, its end takes a round trip).
      await attempt.end();
    }
  }

  async #checkedLogin(
    email: string,
    password: string,
    client: ClientContext,
    attempt: LoginAttempt,
  ): Promise<IssuedTokens> {
    const { store, passwords, now } = this.#d;
    const user = await store.findUserByEmail(email);
    if (user === null || user.disabledAt !== null) {
      await passwords.checkDummy(password);
      await attempt.failed(now());
      this.#d.onEvent({ type: 'login_failed', reason: user === null ? 'unknown_email' : 'disabled' });
      throw invalidCredentials();
    }
    const check = await passwords.check(user.passwordHash, password);
    if (!check.ok) {
      await attempt.failed(now());
      this.#d.onEvent({ type: 'login_failed', reason: 'wrong_password' });
      throw invalidCredentials();
    }
    let verifiedHash = user.passwordHash;
    if (check.needsRehash) {
      const rehashed = await passwords.hash(password);
      if (await store.rehashPassword(user.id, verifiedHash, rehashed)) verifiedHash = rehashed;
    }
    // The password was checked against what the store held then; a password change or disabling
    // that committed since wins, and this login ends as if the password had been wrong.
    const issued = await this.#startSession(user, client, verifiedHash);
    if (issued === null) {
      this.#d.onEvent({ type: 'login_failed', reason: 'changed_meanwhile' });
      throw invalidCredentials();
    }
    await attempt.succeeded();
    this.#d.onEvent({ type: 'login_succeeded', userId: user.id, sessionId: issued.sessionId });
    return issued;
  }

  async refresh(refreshToken: string): Promise<IssuedTokens> {
    // Anything not shaped like a refresh token (an access token, say) is refused before any lookup.
    if (!isRefreshTokenShape(refreshToken)) {
      this.#d.onEvent({ type: 'refresh_rejected', reason: 'unknown' });
      throw invalidGrant();
    }
    const { store, now, options, refreshSecret } = this.#d;
    const successor = deriveSuccessor(refreshSecret(), refreshToken);
    const successorHash = hashRefreshToken(successor);
    const at = now();
    const policy = { idleTtlMs: options.sessions.idleTtlMs, graceMs: options.sessions.refreshGraceMs };
    const outcome = await store.consumeRefreshToken(hashRefreshToken(refreshToken), (state) =>
      decideRefresh(state, at, policy, successorHash),
    );
    if (outcome === null) {
      this.#d.onEvent({ type: 'refresh_rejected', reason: 'unknown' });
      throw invalidGrant();
    }
    const { session } = outcome;
    switch (outcome.action) {
      case 'revoke':
        this.#d.revocations.add(session.id, session.revokedAt ?? at);
        this.#d.onEvent({ type: 'refresh_reuse_detected', sessionId: session.id, userId: session.userId });
        throw invalidGrant();
      case 'reject':
        this.#d.onEvent({ type: 'refresh_rejected', reason: 'expired_or_revoked' });
        throw invalidGrant();
      case 'repeat':
        // The stored successor must be the one we derive; anything else means a changed secret.
        if (outcome.successorHash !== successorHash) throw invalidGrant();
        break;
      case 'rotate':
        break;
    }
    // The user as read with the token: their roles now, and whether they may still refresh.
    const { user } = outcome;
    if (user === null || user.disabledAt !== null) {
      await this.#revoke([session.id], SessionEndReason.userDisabled);
      this.#d.onEvent({ type: 'refresh_rejected', reason: 'disabled' });
      throw invalidGrant();
    }
    this.#d.onEvent({ type: 'refreshed', sessionId: session.id });
    // The roles read just now, with the user: a role given or taken since the last token counts here.
    return this.#tokens(session, successor, user.roles);
  }

  /** Ends the session a refresh token belongs to. Unknown tokens are ignored: logout always succeeds. */
  async logout(refreshToken: string): Promise<void> {
    if (!isRefreshTokenShape(refreshToken)) return;
    const at = this.#d.now();
    const outcome = await this.#d.store.consumeRefreshToken(hashRefreshToken(refreshToken), () => ({
      action: 'revoke',
      now: at,
      reason: SessionEndReason.logout,
    }));
    if (outcome !== null) {
      this.#d.revocations.add(outcome.session.id, outcome.session.revokedAt ?? at);
      this.#d.onEvent({
        type: 'sessions_revoked',
        sessionIds: [outcome.session.id],
        reason: SessionEndReason.logout,
      });
    }
  }

  /** Ends one session by id (logout with an access token). */
  async endSession(sessionId: string): Promise<void> {
    await this.#revoke([sessionId], SessionEndReason.logout);
  }

  async logoutAll(userId: string): Promise<void> {
    const at = this.#d.now();
    const ids = await this.#d.store.revokeUserSessions(userId, at, SessionEndReason.logoutAll);
    this.#remember(ids, at, SessionEndReason.logoutAll);
  }

  /** Verifies an access token and that its session is not revoked. */
  authenticate(accessToken: string): Principal {
    const claims = this.#d.accessTokens.verify(accessToken);
    if (this.#d.revocations.has(claims.sid)) {
      throw new AuthError('ERR_SESSION_REVOKED', 'the session of this token has been revoked');
    }
    return { userId: claims.sub, sessionId: claims.sid, claims };
  }

  async getUser(userId: string): Promise<UserView> {
    return view(await this.#requireActiveUser(userId));
  }

  listSessions(userId: string): Promise<SessionRecord[]> {
    return this.#d.store.listActiveSessions(userId, this.#d.now());
  }

  /** Revokes one of the user's own sessions; another user's session is "not found", never "forbidden". */
  async revokeSession(userId: string, sessionId: string): Promise<void> {
    const session = await this.#d.store.findSession(sessionId);
    if (session === null || session.userId !== userId) {
      throw new AuthError('ERR_SESSION_NOT_FOUND', 'no such session');
    }
    await this.#revoke([sessionId], SessionEndReason.revokedByUser);
  }

  /** Changes the password and revokes every other session of the user. */
  async changePassword(principal: Principal, currentInput: string, nextInput: string, client: ClientContext) {
    const { store, passwords, throttle, now } = this.#d;
    const current = loginPassword(currentInput, 'current_password');
    const next = normalizePassword(nextInput, 'new_password');
    const user = await this.#requireActiveUser(principal.userId);
    // A stolen access token must not become a way to guess the password: same throttle as login.
    const attempt = await throttle.beginLogin(user.email, client.ip, now());
    try {
      if (!(await passwords.check(user.passwordHash, current)).ok) {
        await attempt.failed(now());
        throw new AuthError('ERR_WRONG_PASSWORD', 'current password is incorrect');
      }
    } finally {
      await attempt.end();
    }
    const hashed = await passwords.hash(next);
    // Stamped after the hash, which may wait behind a queue of logins: readers find a revocation by
    // re-reading a window of the past, so its time must be close to its commit (revocation-reread.ts).
    const at = now();
    const revoked = await store.changePassword(
      user.id,
      user.passwordHash,
      hashed,
      principal.sessionId,
      at,
      SessionEndReason.passwordChanged,
    );
    // Changed by someone else since the check: the password given is no longer the current one.
    if (revoked === null) throw new AuthError('ERR_WRONG_PASSWORD', 'current password is incorrect');
    this.#remember(revoked, at, SessionEndReason.passwordChanged);
    this.#d.onEvent({ type: 'password_changed', userId: user.id });
  }

  /** The account behind an access token; a deleted or disabled one ends what the token may do. */
  async #requireActiveUser(userId: string): Promise<UserRecord> {
    const user = await this.#d.store.findUserById(userId);
    if (user === null || user.disabledAt !== null) {
      throw new AuthError('ERR_SESSION_REVOKED', 'the account of this token no longer exists or is disabled');
    }
    return user;
  }

  /** Awaits a throttle check and reports a refusal as `type` before passing it on. */
  async #throttled<T>(type: 'login_throttled' | 'registration_throttled', check: Promise<T>): Promise<T> {
    try {
      return await check;
    } catch (error) {
      if (error instanceof AuthError && error.retryAfterSeconds !== undefined) {
        this.#d.onEvent({ type, retryAfterSeconds: error.retryAfterSeconds });
      }
      throw error;
    }
  }

  /** A session for a login that verified `verifiedHash`; null when the account changed since. */
  async #startSession(
    user: UserRecord,
    client: ClientContext,
    verifiedHash: string,
  ): Promise<IssuedTokens | null> {
    const { store, options, now } = this.#d;
    const at = now();
    const refreshToken = generateRefreshToken();
    const expiresAt = at + options.sessions.absoluteTtlMs;
    const created = await store.createLoginSession(
      {
        id: randomBytes(16).toString('base64url'),
        userId: user.id,
        createdAt: at,
        lastUsedAt: at,
        expiresAt,
        idleExpiresAt: Math.min(at + options.sessions.idleTtlMs, expiresAt),
        userAgent: client.userAgent === null ? null : client.userAgent.slice(0, MAX_USER_AGENT_LENGTH),
        ip: client.ip,
      },
      hashRefreshToken(refreshToken),
      verifiedHash,
      { most: options.sessions.maxLivePerUser, reason: SessionEndReason.sessionLimit },
    );
    if (created === null) return null;
    this.#remember(created.ended, at, SessionEndReason.sessionLimit);
    return this.#tokens(created.session, refreshToken, user.roles);
  }

  #tokens(session: SessionRecord, refreshToken: string, roles: readonly string[]): IssuedTokens {
    const { accessTokens } = this.#d;
    return {
      accessToken: accessTokens.issue(session.userId, session.id, roles),
      expiresIn: accessTokens.ttlSeconds,
      refreshToken,
      sessionId: session.id,
      refreshExpiresAt: session.idleExpiresAt,
    };
  }

  async #revoke(sessionIds: string[], reason: SessionEndReason): Promise<void> {
    const at = this.#d.now();
    const revoked: string[] = [];
    for (const id of sessionIds) {
      const session = await this.#d.store.revokeSession(id, at, reason);
      // Only sessions this call revoked: revoking twice is harmless but must not count twice.
      if (session !== null && session.revokedAt === at && session.revokedReason === reason)
        revoked.push(session.id);
    }
    this.#remember(revoked, at, reason);
  }

  #remember(sessionIds: string[], at: number, reason: SessionEndReason): void {
    if (sessionIds.length === 0) return;
    for (const id of sessionIds) this.#d.revocations.add(id, at);
    this.#d.onEvent({ type: 'sessions_revoked', sessionIds, reason });
  }
}
