/**
 * What an operator does to accounts from the console (the `latchkey` command), as one method each
 * taking plain values. Input is checked as the auth service checks it; the store does the change in one
 * atomic operation. A role change reaches the user's next access token, at their next login or refresh.
 */
import { AuthError } from '../errors.js';
import type { Store, UserRecord } from '../store/types.js';
import { normalizeEmail } from './emails.js';
import { requireRoleName } from './roles.js';

export interface AdminServiceDependencies {
  store: Store;
}

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
  readonly #store: Store;

  constructor(dependencies: AdminServiceDependencies) {
    this.#store = dependencies.store;
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
