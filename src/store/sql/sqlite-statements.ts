/**
 * The better-sqlite3 database as Kysely's SQLite dialect sees it, with two additions:
 *
 * - Prepared statements are kept by their SQL text: preparing costs more than running a short query,
 *   and the store's queries are few. Queries whose text varies (an IN list) come and go in the cache.
 * - A statement that writes outside a write transaction throws. Commits are made durable by the write
 *   transaction (sqlite.ts), so a write that bypassed it could be acknowledged and then lost on power
 *   failure; this makes such a mistake fail loudly in the first test that runs it.
 */
import type { Database as BetterSqlite3Database, Statement } from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

const MAX_STATEMENTS = 256;
const PRAGMA_READ = /^\s*pragma\s+\w+\s*;?\s*$/i;

export class SQLiteStatements implements SqliteDatabase {
  readonly #database: BetterSqlite3Database;
  readonly #statements = new Map<string, SqliteStatement>();
  #writing = false;

  constructor(database: BetterSqlite3Database) {
    this.#database = database;
  }

  prepare(sql: string): SqliteStatement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#guarded(this.#database.prepare(sql));
      if (this.#statements.size >= MAX_STATEMENTS) {
        // Map keeps insertion order: the first key is the oldest.
        this.#statements.delete(this.#statements.keys().next().value as string);
      }
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * Runs `work` with writes allowed. The caller holds Kysely's only connection for the whole of it,
   * so no statement of another caller can run in between.
   */
  async writing<T>(work: () => Promise<T>): Promise<T> {
    this.#writing = true;
    try {
      return await work();
    } finally {
      this.#writing = false;
    }
  }

  close(): void {
    this.#statements.clear();
    this.#database.close();
  }

  #guarded(statement: Statement): SqliteStatement {
    // `readonly`, not `reader`: an INSERT … RETURNING reads rows too, and it writes. SQLite never
    // calls a pragma read-only, but one without a value only reads a setting.
    if (statement.readonly || PRAGMA_READ.test(statement.source)) return statement;
    const allowed = () => {
      if (!this.#writing) {
        throw new Error(`a write outside a write transaction would not be made durable: ${statement.source}`);
      }
    };
    return {
      reader: statement.reader,
      all: (parameters) => {
        allowed();
        return statement.all(parameters);
      },
      run: (parameters) => {
        allowed();
        return statement.run(parameters);
      },
      iterate: (parameters) => {
        allowed();
        return statement.iterate(parameters);
      },
    };
  }
}
