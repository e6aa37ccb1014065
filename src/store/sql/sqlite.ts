/**
 * Wires SQLite (better-sqlite3) to the SQL store: the embedded default. Nothing here knows a query.
 *
 * better-sqlite3 is synchronous, so a process waiting for another's write lock sleeps in SQLite's busy
 * handler. Open one store per file per process: a second store on the same file in the same process
 * would sleep while the first holds the lock across an `await`, and fail with SQLITE_BUSY.
 *
 * Writes are group-committed: each write transaction commits without waiting for the disk (WAL with
 * synchronous=NORMAL) and then waits for a flush of the WAL file that runs on libuv's thread pool and
 * covers every commit made before it began (group-sync.ts). So a write is answered only once it is on
 * disk, as with synchronous=FULL, but concurrent writes share one flush and the event loop never waits
 * for the disk: neither for those flushes nor for checkpoints (checkpointer.ts). The hottest writes
 * (`writeNow`: refreshes, logins) asked for in one turn of the event loop also share one transaction
 * and so one commit, each in a savepoint of its own (shared-commits.ts).
 */
import { existsSync, statSync } from 'node:fs';
import { type FileHandle, mkdir, open, realpath } from 'node:fs/promises';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { type CompiledQuery, Kysely, SqliteDialect } from 'kysely';
import { StoreError } from '../../errors.js';
import type { Store } from '../types.js';
import { causeChain } from './cause-chain.js';
import { Checkpointer } from './checkpointer.js';
import { GroupSync } from './group-sync.js';
import { assertSchemaCurrent, migrateToLatest } from './migrations.js';
import type { Database } from './schema.js';
import { prepareSessionQueries } from './session-queries.js';
import { SharedCommits } from './shared-commits.js';
import { createSQLStore } from './sql-store.js';
import { createSQLiteSessionWrites, type SyncWriteTransaction } from './sqlite-session-writes.js';
import { SQLiteStatements } from './sqlite-statements.js';
import { withSQLiteWriteLock } from './sqlite-write-lock.js';
import type { ReadQuery, WriteTransaction } from './write-transaction.js';

const IN_MEMORY = ':memory:';

export interface SQLiteOptions {
  /**
   * Move the WAL into the database file from a worker thread, and hear how each checkpoint went
   * (servers); without it SQLite checkpoints on its own, on the connection that commits (the CLI).
   */
  onCheckpoint?: (error: Error | null) => void;
  /**
   * Only a database this version made (the commands that read): create no file or directory, migrate
   * nothing, and refuse anything else.
   */
  existing?: boolean;
}

/** An open SQLite database: Kysely over it, and how to write to it. */
export interface SQLiteDatabase {
  db: Kysely<Database>;
  write: WriteTransaction;
  read: ReadQuery;
  /** A write transaction run synchronously on the connection, for the hottest writes (sqlite-session-writes.ts). */
  writeNow: SyncWriteTransaction;
  /** The connection itself, to prepare the statements `writeNow` runs. */
  connection: BetterSqlite3.Database;
  /** Throws when the database can no longer be trusted with writes (a flush failed). */
  check(): void;
  /** Ends the database's background work and closes it. */
  close(): Promise<void>;
}

/**
 * Opens (creating it and its directory if needed) and migrates the SQLite database at `path`. A file
 * or directory this process may not create or write, or a file that is no database, is a StoreError
 * naming the path: one line at start, not a stack trace.
 */
export async function openSQLiteDatabase(path: string, options: SQLiteOptions = {}): Promise<SQLiteDatabase> {
  try {
    return await openChecked(path, options);
  } catch (error) {
    throw openFailure(path, error) ?? error;
  }
}

function noLatchkeyDatabase(path: string): StoreError {
  return new StoreError(
    'ERR_STORE_DATABASE_MISSING',
    `${path} holds no Latchkey database: start the server or run \`latchkey migrate\` to create one`,
  );
}

// ENOENT and ELOOP: a symbolic link on the path into nothing (an unmounted volume, say).
const DENIED =
  /^(EACCES|EPERM|EROFS|ENOENT|ELOOP|ENAMETOOLONG|SQLITE_CANTOPEN|SQLITE_READONLY|SQLITE_PERM|SQLITE_AUTH)/;
const NOT_A_DATABASE = /^(ENOTDIR|EISDIR|EEXIST|SQLITE_NOTADB)/;

function openFailure(path: string, error: unknown): StoreError | null {
  if (error instanceof StoreError) return null;
  // The system's or SQLite's code, on the error or (a failed migration) on its cause.
  let code = causeChain(error)
    .map((cause) => (cause as { code?: unknown }).code)
    .find((own): own is string => typeof own === 'string');
  if (code === undefined) return null;
  // SQLite says only that it cannot open a directory, as it says for one it may not write.
  if (code.startsWith('SQLITE_CANTOPEN') && isDirectory(path)) code = 'EISDIR';
  if (DENIED.test(code)) {
    return new StoreError(
      'ERR_STORE_PERMISSION_DENIED',
      `cannot create or write the SQLite database ${path} (${code}): this user needs to be able to ` +
        'write it and its directory (LATCHKEY_DATA_DIR, or the path in DATABASE_URL)',
      { cause: error },
    );
  }
  if (NOT_A_DATABASE.test(code)) {
    return new StoreError(
      'ERR_STORE_DATABASE_MISSING',
      `${path} is not a SQLite database, or a part of its path is a file, not a directory (${code})`,
      { cause: error },
    );
  }
  return null;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The database holds password hashes, refresh-token hashes and, without a master key, the private
 * signing keys: a directory this creates is the owner's alone (0700), and so is a new database file
 * (0600), whose mode SQLite gives its -wal and -shm files too. What exists already keeps its mode: an
 * operator may have shared it on purpose (with a backup user, say).
 */
async function createPrivately(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // 'a' creates the file if it is missing and changes nothing if it is there; SQLite takes an empty
  // file for a new database.
  await (await open(path, 'a', 0o600)).close();
}

async function openChecked(path: string, options: SQLiteOptions): Promise<SQLiteDatabase> {
  const onDisk = path !== IN_MEMORY;
  const existing = options.existing === true;
  if (existing && !(onDisk && existsSync(path))) throw noLatchkeyDatabase(path);
  if (onDisk && !existing) await createPrivately(path);
  const database = new BetterSqlite3(path, { fileMustExist: existing });
  try {
    // First, so that even the switch to WAL waits for another process instead of failing.
    database.pragma('busy_timeout = 5000');
    // Readers never block the writer, nor the writer readers. A database that must exist already is
    // only read: every Latchkey database is in WAL mode, and one that is not is left as it is.
    const mode = existing
      ? database.pragma('journal_mode', { simple: true })
      : database.pragma('journal_mode = WAL', { simple: true });
    if (existing && mode !== 'wal') throw noLatchkeyDatabase(path);
    // A file system without the shared memory WAL needs keeps the rollback journal: our flush of the
    // WAL file would then make nothing durable.
    if (onDisk && mode !== 'wal')
      throw new Error(`SQLite cannot use WAL mode for ${path} (journal mode ${String(mode)})`);
    // Commits reach the WAL file at once and the disk with the next group flush, which every write
    // awaits before it is answered: nothing acknowledged is lost on power loss (a lost revocation
    // would be a security bug), and SQLite itself never waits for the disk on the event loop.
    database.pragma('synchronous = NORMAL');
    if (options.onCheckpoint !== undefined) database.pragma('wal_autocheckpoint = 0');
    database.pragma('foreign_keys = ON');
    // Times are milliseconds, exact in a double: rows carry plain numbers, as the schema says.
    database.defaultSafeIntegers(false);
  } catch (error) {
    database.close();
    throw error;
  }
  const statements = new SQLiteStatements(database);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: statements }) });
  // SQLite follows a symbolic link to the database and keeps its WAL beside the real file.
  const realPath = onDisk ? await realpath(path) : path;
  const wal = onDisk ? new WalFile(`${realPath}-wal`) : null;
  const durable = wal === null ? null : new GroupSync(() => wal.flush());
  /**
   * A failed flush may have dropped earlier commits' pages from the page cache while a later flush
   * succeeds (Linux reports a write-back error once), so nothing written after it could be trusted to
   * survive a crash either: from then on the database refuses writes until a restart, which
   * recovers from the WAL on disk.
   */
  let flushFailure: unknown = null;
  // A checkpoint that holds writes holds the connection: no write transaction is open or starts.
  const holdWrites = (work: () => Promise<void>) => db.connection().execute(() => work());
  const checkpointer =
    onDisk && options.onCheckpoint !== undefined
      ? new Checkpointer(path, options.onCheckpoint, holdWrites)
      : null;
  /** Resolves once every commit made so far is on disk; `commits` is how many writes it carries. */
  const madeDurable = async (commits = 1): Promise<void> => {
    if (durable !== null) {
      try {
        await durable.sync();
      } catch (error) {
        flushFailure ??= error;
        throw error;
      }
      // A flush that failed while this commit waited for a later one: the later one may succeed
      // (Linux reports a write-back error once) although pages before this commit's were lost, and
      // recovery stops at the first frame that does not check out. Not acknowledged, then.
      if (flushFailure !== null) throw brokenByFlush(flushFailure);
    }
    checkpointer?.committed(commits);
  };
  const write: WriteTransaction = async (work) => {
    if (flushFailure !== null) throw brokenByFlush(flushFailure);
    const result = await withSQLiteWriteLock(db, statements, work);
    await madeDurable();
    return result;
  };
  // Called inside an open transaction, better-sqlite3 runs it as a savepoint of that transaction.
  const transaction = database.transaction((work: () => unknown) => work());
  /** BEGIN IMMEDIATE, `work`, COMMIT; or ROLLBACK when `work` throws. */
  const immediately = <T>(work: () => T): T => {
    if (database.inTransaction) throw new Error('a write transaction is already open on the connection');
    return transaction.immediate(work) as T;
  };
  const read: ReadQuery = async <Row>(query: CompiledQuery<Row>) => {
    // Between transactions a read runs at once: better-sqlite3 is synchronous, so nothing can change
    // under it, and no open transaction can show it rows that may yet roll back. Inside one (another
    // caller's write holds the connection across its awaits) it waits its turn, as Kysely does.
    if (database.inTransaction) return (await db.executeQuery(query)).rows;
    return statements.prepare(query.sql).all(query.parameters) as Row[];
  };
  const shared = new SharedCommits({
    transaction: (work) =>
      // Between Kysely's uses of the connection: a write transaction of Kysely's holds it across its
      // awaits, and this one must not run inside it.
      db.connection().execute(async () => {
        if (flushFailure !== null) throw brokenByFlush(flushFailure);
        return immediately(work);
      }),
    savepoint: (work) => transaction(work) as ReturnType<typeof work>,
    open: () => database.inTransaction,
    durable: madeDurable,
  });
  const writeNow: SyncWriteTransaction = async (work) => {
    if (flushFailure !== null) throw brokenByFlush(flushFailure);
    return shared.run(() => work(database));
  };
  try {
    // Kysely runs SQLite migrations outside a transaction; under the write lock a failed migration
    // leaves nothing behind, and a second process starting at the same time waits and then finds the
    // schema up to date instead of creating the same tables again.
    if (existing) {
      await assertSchemaCurrent(db, path);
    } else {
      await write(migrateToLatest);
      // The WAL file exists now; its name in the directory must survive a power loss too.
      if (onDisk) await flushDirectory(dirname(realPath));
    }
  } catch (error) {
    await durable?.settled();
    await wal?.close();
    await checkpointer?.close();
    await db.destroy();
    throw error;
  }
  return {
    db,
    write,
    read,
    writeNow,
    connection: database,
    check() {
      if (flushFailure !== null) throw brokenByFlush(flushFailure);
    },
    async close() {
      await shared.settled();
      await durable?.settled();
      // Before the connection closes: as the last one, SQLite deletes the WAL file then.
      await wal?.close();
      await checkpointer?.close();
      await db.destroy();
    },
  };
}

export async function openSQLiteStore(path: string, options: SQLiteOptions = {}): Promise<Store> {
  const database = await openSQLiteDatabase(path, options);
  // SQLite's write lock, taken at BEGIN, keeps every other writer out: no rows need locking.
  return createSQLStore(database.db, {
    write: database.write,
    read: database.read,
    ...createSQLiteSessionWrites(
      database.connection,
      prepareSessionQueries(database.db, false),
      database.writeNow,
    ),
    lockRows: false,
    check: database.check,
    close: database.close,
  });
}

/**
 * The WAL file, held open from its first flush to the database's close: opening and closing a file
 * handle costs the event loop several times what the fdatasync itself does (measured: about 180 µs
 * against 40 µs). SQLite keeps using the same file while any connection is open (a checkpoint
 * rewinds it, it does not replace it), and this process's connection stays open until `close()`.
 */
class WalFile {
  readonly #path: string;
  #handle: Promise<FileHandle> | null = null;

  constructor(path: string) {
    this.#path = path;
  }

  /**
   * fdatasync on the thread pool. Called after a commit only, so the file exists: a missing one is
   * an error (a flush of nothing would acknowledge a write that is not on disk).
   */
  async flush(): Promise<void> {
    this.#handle ??= open(this.#path, 'r');
    let handle: FileHandle;
    try {
      handle = await this.#handle;
    } catch (error) {
      this.#handle = null;
      throw error;
    }
    await handle.datasync();
  }

  async close(): Promise<void> {
    const handle = await this.#handle?.catch(() => null);
    this.#handle = null;
    await handle?.close();
  }
}

function brokenByFlush(cause: unknown): StoreError {
  return new StoreError(
    'ERR_STORE_UNAVAILABLE',
    'a flush of the SQLite WAL to disk failed, so later writes could not be made durable; restart Latchkey',
    { cause },
  );
}

/** fdatasync of a directory, so that a file created in it survives a power loss. */
async function flushDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
