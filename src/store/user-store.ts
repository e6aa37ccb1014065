/**
 * The users part of the store: accounts, their password hashes and their roles. A password change
 * also ends the user's other sessions in the same transaction, so an implementation shares its
 * database with a `SessionStore`.
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

export interface UserStore {
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
   * revoked session ids, or null when the hash had changed. `reason` is what the revoked sessions keep
   * as `revokedReason`: the domain names it (src/auth/session-end-reasons.ts), the store keeps it as given.
   */
  changePassword(
    userId: string,
    verifiedHash: string,
    passwordHash: string,
    keepSessionId: string | null,
    now: number,
    reason: string,
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
}
