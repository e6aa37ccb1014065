/** The query that reads users with their roles (users.ts), by id or by email, compiled once. */
import type { Kysely } from 'kysely';
import type { UserRecord } from '../user-store.js';
import { prepareQuery } from './prepared-query.js';
import { toUserRecords } from './rows.js';
import { type Database, USER_COLUMNS } from './schema.js';
import type { ReadQuery } from './write-transaction.js';

/**
 * Users with their roles in one query: login and refresh read the user anyway, and learn the roles
 * for the `roles` claim with it. The rows of one user are adjacent, as toUserRecords needs them.
 */
export function selectUsers(db: Kysely<Database>) {
  return db
    .selectFrom('users')
    .leftJoin('user_roles', 'user_roles.user_id', 'users.id')
    .select(USER_COLUMNS.map((column) => `users.${column}` as const))
    .select('user_roles.role');
}

/** One user by id or by (normalised) email, compiled once. */
export function prepareUserBy(db: Kysely<Database>, column: 'id' | 'email', read: ReadQuery) {
  const query = prepareQuery(['value'], ({ value }) => selectUsers(db).where(`users.${column}`, '=', value));
  return async (value: string): Promise<UserRecord | null> =>
    toUserRecords(await read(query({ value })))[0] ?? null;
}
