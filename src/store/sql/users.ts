/** The users part of the SQL store (see sql-store.ts). */
import type { Kysely } from 'kysely';
import { StoreError } from '../../errors.js';
import type { NewUser, UserRecord, UserStore } from '../user-store.js';
import { toUserRecords } from './rows.js';
import type { Database } from './schema.js';
import { revokeLiveSessions } from './sessions.js';
import { isUniqueViolation } from './unique-violation.js';
import { prepareUserBy, selectUsers } from './user-query.js';
import type { WriteStrategy, WriteTransaction } from './write-transaction.js';

export class SQLUserStore implements UserStore {
  readonly #db: Kysely<Database>;
  readonly #write: WriteTransaction;
  readonly #userById;
  readonly #userByEmail;

  constructor(db: Kysely<Database>, { write, read }: WriteStrategy) {
    this.#db = db;
    this.#write = write;
    this.#userById = prepareUserBy(db, 'id', read);
    this.#userByEmail = prepareUserBy(db, 'email', read);
  }

  async createUser(user: NewUser): Promise<UserRecord> {
    try {
      await this.#write((trx) =>
        trx
          .insertInto('users')
          .values({
            id: user.id,
            email: user.email,
            password_hash: user.passwordHash,
            created_at: user.createdAt,
            disabled_at: null,
          })
          .execute(),
      );
    } catch (error) {
      // The id is unique too; only a taken email is the caller's conflict.
      if (isUniqueViolation(error) && (await this.findUserByEmail(user.email)) !== null) {
        throw new StoreError('ERR_STORE_CONFLICT', 'email is taken', { cause: error });
      }
      throw error;
    }
    return {
      id: user.id,
      email: user.email,
      passwordHash: user.passwordHash,
      createdAt: user.createdAt,
      disabledAt: null,
      roles: [],
    };
  }

  findUserByEmail(email: string): Promise<UserRecord | null> {
    return this.#userByEmail(email);
  }

  findUserById(id: string): Promise<UserRecord | null> {
    return this.#userById(id);
  }

  async listUsers(): Promise<UserRecord[]> {
    const rows = await selectUsers(this.#db).orderBy('users.created_at').orderBy('users.id').execute();
    return toUserRecords(rows);
  }

  rehashPassword(userId: string, verifiedHash: string, passwordHash: string): Promise<boolean> {
    return this.#write((trx) => replacePasswordHash(trx, userId, verifiedHash, passwordHash));
  }

  async changePassword(
    userId: string,
    verifiedHash: string,
    passwordHash: string,
    keepSessionId: string | null,
    now: number,
    reason: string,
  ): Promise<string[] | null> {
    return this.#write(async (trx) => {
      if (!(await replacePasswordHash(trx, userId, verifiedHash, passwordHash))) return null;
      return revokeLiveSessions(trx, userId, now, reason, keepSessionId);
    });
  }

  async setUserDisabled(userId: string, disabledAt: number | null): Promise<boolean> {
    const result = await this.#write((trx) =>
      trx.updateTable('users').set({ disabled_at: disabledAt }).where('id', '=', userId).executeTakeFirst(),
    );
    return result.numUpdatedRows > 0n;
  }

  async addUserRole(userId: string, role: string): Promise<boolean | null> {
    return this.#write(async (trx) => {
      if (!(await userExists(trx, userId))) return null;
      const result = await trx
        .insertInto('user_roles')
        .values({ user_id: userId, role })
        .onConflict((conflict) => conflict.columns(['user_id', 'role']).doNothing())
        .executeTakeFirst();
      return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
    });
  }

  async removeUserRole(userId: string, role: string): Promise<boolean | null> {
    return this.#write(async (trx) => {
      const result = await trx
        .deleteFrom('user_roles')
        .where('user_id', '=', userId)
        .where('role', '=', role)
        .executeTakeFirst();
      if (result.numDeletedRows > 0n) return true;
      return (await userExists(trx, userId)) ? false : null;
    });
  }
}

async function userExists(db: Kysely<Database>, userId: string): Promise<boolean> {
  const row = await db.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
  return row !== undefined;
}

/** Replaces the password hash only while it is still `verifiedHash`; true when it did. */
async function replacePasswordHash(
  db: Kysely<Database>,
  userId: string,
  verifiedHash: string,
  passwordHash: string,
): Promise<boolean> {
  const result = await db
    .updateTable('users')
    .set({ password_hash: passwordHash })
    .where('id', '=', userId)
    .where('password_hash', '=', verifiedHash)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
