/** The keys part of the SQL store (see sql-store.ts): signing keys and server secrets. */
import type { Kysely } from 'kysely';
import type { KeyStore, SigningKeyRecord } from '../key-store.js';
import { fromSigningKeyRecord, toSigningKeyRecord } from './rows.js';
import { type Database, SIGNING_KEY_COLUMNS } from './schema.js';
import type { WriteStrategy, WriteTransaction } from './write-transaction.js';

export class SQLKeyStore implements KeyStore {
  readonly #db: Kysely<Database>;
  readonly #write: WriteTransaction;

  constructor(db: Kysely<Database>, { write }: WriteStrategy) {
    this.#db = db;
    this.#write = write;
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const rows = await this.#db
      .selectFrom('signing_keys')
      .select(SIGNING_KEY_COLUMNS)
      .orderBy('created_at')
      .orderBy('kid')
      .execute();
    return rows.map(toSigningKeyRecord);
  }

  async insertSigningKey(key: SigningKeyRecord): Promise<boolean> {
    const result = await this.#write((trx) =>
      trx
        .insertInto('signing_keys')
        .values(fromSigningKeyRecord(key))
        .onConflict((conflict) => conflict.column('kid').doNothing())
        .executeTakeFirst(),
    );
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  async revokeSigningKey(kid: string, now: number, replacement: SigningKeyRecord | null): Promise<boolean> {
    return this.#write(async (trx) => {
      const revoked = await trx
        .updateTable('signing_keys')
        .set({ revoked_at: now })
        .where('kid', '=', kid)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (revoked.numUpdatedRows === 0n) return false;
      // A taken kid throws here and rolls the revocation back with it.
      if (replacement !== null)
        await trx.insertInto('signing_keys').values(fromSigningKeyRecord(replacement)).execute();
      return true;
    });
  }

  async resealSigningKey(kid: string, from: string, to: string): Promise<boolean> {
    const result = await this.#write((trx) =>
      trx
        .updateTable('signing_keys')
        .set({ private_key: to })
        .where('kid', '=', kid)
        .where('private_key', '=', from)
        .executeTakeFirst(),
    );
    return result.numUpdatedRows > 0n;
  }

  async deleteSigningKeys(kids: readonly string[]): Promise<number> {
    if (kids.length === 0) return 0;
    const result = await this.#write((trx) =>
      trx.deleteFrom('signing_keys').where('kid', 'in', kids).executeTakeFirst(),
    );
    return Number(result.numDeletedRows);
  }

  async replaceSecret(name: string, from: string, to: string): Promise<boolean> {
    const result = await this.#write((trx) =>
      trx
        .updateTable('secrets')
        .set({ value: to })
        .where('name', '=', name)
        .where('value', '=', from)
        .executeTakeFirst(),
    );
    return result.numUpdatedRows > 0n;
  }

  async ensureSecret(name: string, value: string): Promise<string> {
    await this.#write((trx) =>
      trx
        .insertInto('secrets')
        .values({ name, value })
        .onConflict((conflict) => conflict.column('name').doNothing())
        .execute(),
    );
    const row = await this.#db
      .selectFrom('secrets')
      .select('value')
      .where('name', '=', name)
      .executeTakeFirstOrThrow();
    return row.value;
  }
}
