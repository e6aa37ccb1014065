/**
 * What an operator does to accounts from the console (the `latchkey` command), as one method each
 * taking plain values. Input is checked as the auth service checks it; the store does the change in one
 * atomic operation. A role change reaches the user's next access token, at their next login or refresh.
 */
import { AuthError } from '../errors.js';
import type { SessionRecord, SessionStore, UserRecord, UserStore } from '../store/types.js';
import { createAccount } from './accounts.js';
import { normalizeEmail } from './emails.js';
import type { PasswordHasher } from './passwords.js';
import { requireRoleName } from './roles.js';
import { SessionEndReason } from './session-end-reasons.js';

export interface AdminServiceDependencies {
  store: UserStore & SessionStore;
  /** For adding users; the same hashing as the server's, so a user added here logs in there. */
  passwords?: PasswordHasher;
  now?: () => number;
}

/** What disabling did: when the user was disabled (maybe before), and the sessions it revoked. */
export interface Disabled {
  user: UserRecord;
  /** The time the user was disabled already, or null when this call disabled them. */
  alreadySince: number | null;
  revokedSessions: string[];
}

export type SessionRevocation =
  | { outcome: 'revoked'; session: SessionRecord; owner: UserRecord | null }
  | { outcome: 'already-revoked'; session: SessionRecord }
  | { outcome: 'expired'; session: SessionRecord; owner: UserRecord | null }
  | { outcome: 'unknown' };

export interface UserRoles {
  /** Normalised, as stored. */
  email: string;
  /** In code-unit order. */
  roles: string[];
}

export interface RoleChange {
  email: string;
  role: string;
  /** False when there was nothing to do: the role was there already (add) or was not there (remove). */
  changed: boolean;
}

const userNotFound = (email: string) => new AuthError('ERR_USER_NOT_FOUND', `no user with email ${email}`);

export class AdminService {
  readonly #store: UserStore & SessionStore;
  readonly #passwords: PasswordHasher | null;
  readonly #now: () => number;

  constructor(dependencies: AdminServiceDependencies) {
    this.#store = dependencies.store;
    this.#passwords = dependencies.passwords ?? null;
    this.#now = dependencies.now ?? Date.now;
  }

  /** The user with this email, or null. */
  async findUser(emailInput: string): Promise<UserRecord | null> {
    return this.#store.findUserByEmail(normalizeEmail(emailInput));
  }

  /** Adds a user by the rules of registration (without its throttling: an operator is no stranger). */
  async addUser(emailInput: string, password: string): Promise<UserRecord> {
    if (this.#passwords === null) throw new TypeError('AdminService needs passwords to add users');
    return createAccount(this.#store, this.#passwords, emailInput, password, this.#now());
  }

  listUsers(): Promise<UserRecord[]> {
    return this.#store.listUsers();
  }

  /** Stops the user from logging in and revokes all their sessions (again, if disabled already). */
  async disableUser(emailInput: string): Promise<Disabled> {
    const user = await this.#requireUser(emailInput);
    const at = this.#now();
    if (user.disabledAt === null) await this.#store.setUserDisabled(user.id, at);
    // After disabling, so that no login can start a session the revocation would miss.
    const revokedSessions = await this.#store.revokeUserSessions(user.id, at, SessionEndReason.userDisabled);
    return { user, alreadySince: user.disabledAt, revokedSessions };
  }

  /** Lets a disabled user log in again; false when they were not disabled. */
  async enableUser(emailInput: string): Promise<{ user: UserRecord; changed: boolean }> {
    const user = await this.#requireUser(emailInput);
    if (user.disabledAt === null) return { user, changed: false };
    await this.#store.setUserDisabled(user.id, null);
    return { user, changed: true };
  }

  /** The user's sessions that are neither revoked nor expired, newest first. */
  async listUserSessions(emailInput: string): Promise<{ user: UserRecord; sessions: SessionRecord[] }> {
    const user = await this.#requireUser(emailInput);
    return { user, sessions: await this.#store.listActiveSessions(user.id, this.#now()) };
  }

  /** Revokes one session by its id (the sid claim). */
  async revokeSession(id: string): Promise<SessionRevocation> {
    const before = await this.#store.findSession(id);
    if (before === null) return { outcome: 'unknown' };
    if (before.revokedAt !== null) return { outcome: 'already-revoked', session: before };
    const after = await this.#store.revokeSession(id, this.#now(), SessionEndReason.revokedByAdmin);
    const owner = await this.#store.findUserById(before.userId);
    // The store revokes only live sessions: one that had ended on its own stays as it was.
    if (after === null || after.revokedAt === null) return { outcome: 'expired', session: before, owner };
    return { outcome: 'revoked', session: after, owner };
  }

  /** Revokes every live session of a user. */
  async revokeUserSessions(emailInput: string): Promise<{ user: UserRecord; revoked: string[] }> {
    const user = await this.#requireUser(emailInput);
    return {
      user,
      revoked: await this.#store.revokeUserSessions(user.id, this.#now(), SessionEndReason.revokedByAdmin),
    };
  }

  async listRoles(emailInput: string): Promise<UserRoles> {
    const user = await this.#requireUser(emailInput);
    return { email: user.email, roles: user.roles };
  }

  async addRole(emailInput: string, roleInput: string): Promise<RoleChange> {
    return this.#changeRole(emailInput, roleInput, (userId, role) => this.#store.addUserRole(userId, role));
  }

  async removeRole(emailInput: string, roleInput: string): Promise<RoleChange> {
    return this.#changeRole(emailInput, roleInput, (userId, role) =>
      this.#store.removeUserRole(userId, role),
    );
  }

  async #changeRole(
    emailInput: string,
    roleInput: string,
    change: (userId: string, role: string) => Promise<boolean | null>,
  ): Promise<RoleChange> {
    // Both checked before any lookup, so a typo in the role is named even for an unknown user.
    const email = normalizeEmail(emailInput);
    const role = requireRoleName(roleInput);
    const user = await this.#requireUser(email);
    const changed = await change(user.id, role);
    // Users are never deleted; null here would mean one vanished between the two calls.
    if (changed === null) throw userNotFound(user.email);
    return { email: user.email, role, changed };
  }

  async #requireUser(emailInput: string): Promise<UserRecord> {
    const email = normalizeEmail(emailInput);
    const user = await this.#store.findUserByEmail(email);
    if (user === null) throw userNotFound(email);
    return user;
  }
}
