/**
 * The PostgreSQL store: the conformance suite, then what only PostgreSQL has: int8 columns read as
 * checked numbers, text in byte order, the pool's settings, migrations that two instances start at
 * once, and a coded error for every way opening the store can fail. Each test gets a fresh schema.
 */
import { createServer } from 'node:net';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { ConfigError, loadConfig } from '../../src/server/config.js';
import { openPostgresStore } from '../../src/store/open.js';
import { openPostgresDatabase, parseInt8 } from '../../src/store/sql/postgres.js';
import { freePort } from '../support/ports.js';
import { postgresTarget, type TestDatabase, untilLockWaits } from '../support/postgres.js';
import { describeStoreConformance } from './conformance.js';

const T0 = 1_700_000_000_000;
const target = await postgresTarget();
const onServer = target.kind === 'server';

const databases: TestDatabase[] = [];
async function freshDatabase(): Promise<TestDatabase> {
  const database = await target.createDatabase();
  databases.push(database);
  return database;
}

afterAll(async () => {
  await Promise.all(databases.map((database) => database.drop()));
});

describeStoreConformance('PostgreSQL', async () => openPostgresStore((await freshDatabase()).url));

/** What opening `url` threw. */
async function openFailure(url: string): Promise<StoreError> {
  const error = await openPostgresStore(url).then(
    async (store) => {
      await store.close();
      return expect.fail('expected opening the store to fail');
    },
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(StoreError);
  return error as StoreError;
}

/** A URL for `database` that logs in as `user` instead. */
function asUser(database: TestDatabase, user: string): string {
  const url = new URL(database.url);
  url.username = user;
  return url.href;
}

describe('PostgreSQL store', () => {
  it('reads int8 times as numbers, and refuses one beyond the safe integers instead of rounding it', async () => {
    const database = await freshDatabase();
    const db = await openPostgresDatabase(database.url);
    try {
      const exact = Number.MAX_SAFE_INTEGER;
      const row = await sql<{
        a: unknown;
        b: unknown;
      }>`select ${String(exact)}::int8 as a, ${'-42'}::int8 as b`
        .execute(db)
        .then((result) => result.rows[0]);
      expect(row).toEqual({ a: exact, b: -42 });
      await expect(sql`select ${'9007199254740993'}::int8 as x`.execute(db)).rejects.toThrow(
        new RangeError(
          'an int8 value (9007199254740993) is outside the integers a JavaScript number holds exactly',
        ),
      );
      // The pool stays usable after a refused value.
      expect((await sql<{ one: number }>`select 1 as one`.execute(db)).rows).toEqual([{ one: 1 }]);
    } finally {
      await db.destroy();
    }
    expect(parseInt8('-9007199254740991')).toBe(-Number.MAX_SAFE_INTEGER);
    expect(() => parseInt8('-9007199254740992')).toThrow(RangeError);
  });

  it('fails a store read whose stored time is beyond the safe integers', async () => {
    const database = await freshDatabase();
    const store = await openPostgresStore(database.url);
    try {
      await store.createUser({ id: 'u1', email: 'u1@example.com', passwordHash: 'phc', createdAt: T0 });
      const raw = new pg.Client({ connectionString: database.url });
      await raw.connect();
      await raw
        .query(`update users set disabled_at = 9007199254740993 where id = 'u1'`)
        .finally(() => raw.end());
      await expect(store.findUserById('u1')).rejects.toThrow(RangeError);
    } finally {
      await store.close();
    }
  });

  it('keeps text in byte order (collation "C"), as SQLite does', async () => {
    const database = await freshDatabase();
    const db = await openPostgresDatabase(database.url);
    try {
      const columns = await sql<{ table_name: string; column_name: string; collation_name: string | null }>`
        select table_name, column_name, collation_name from information_schema.columns
        where table_schema = current_schema() and data_type = 'text' and table_name not like 'kysely%'
        order by table_name, column_name`.execute(db);
      expect(columns.rows.length).toBe(20);
      for (const column of columns.rows) expect(column).toMatchObject({ collation_name: 'C' });
    } finally {
      await db.destroy();
    }
    const store = await openPostgresStore(database.url);
    try {
      await store.createUser({ id: 'u1', email: 'u1@example.com', passwordHash: 'phc', createdAt: T0 });
      const times = { createdAt: T0, lastUsedAt: T0, expiresAt: T0 + 10, idleExpiresAt: T0 + 10 };
      for (const id of ['b', 'B', 'a', '_', 'A'])
        await store.createSession({ id, userId: 'u1', ...times, userAgent: null, ip: null }, `rt-${id}`);
      // Same creation time: the id decides, newest first, in code-unit order (upper case first).
      expect((await store.listActiveSessions('u1', T0)).map((session) => session.id)).toEqual([
        'b',
        'a',
        '_',
        'B',
        'A',
      ]);
    } finally {
      await store.close();
    }
  });

  it('keeps the revocation feed index in the feed order, of revoked sessions only', async () => {
    const database = await freshDatabase();
    const db = await openPostgresDatabase(database.url);
    try {
      const indexes = await sql<{ indexdef: string }>`
        select indexdef from pg_indexes
        where schemaname = current_schema() and tablename = 'sessions' and indexdef like '%revoked_at%'`.execute(
        db,
      );
      expect(indexes.rows.map((row) => row.indexdef.replace(/ ON \S+\.sessions /, ' ON sessions '))).toEqual([
        'CREATE INDEX sessions_revoked_idx ON sessions USING btree (revoked_at, id) WHERE (revoked_at IS NOT NULL)',
        'CREATE INDEX sessions_live_user_idx ON sessions USING btree (user_id) WHERE (revoked_at IS NULL)',
      ]);
    } finally {
      await db.destroy();
    }
  });

  it.skipIf(!onServer)(
    'migrates to the feed and live-session indexes with reads of sessions going on, only writes waiting',
    async () => {
      const database = await freshDatabase();
      await (await openPostgresDatabase(database.url)).destroy();
      const writer = new pg.Client({ connectionString: database.url });
      const reader = new pg.Client({ connectionString: database.url });
      await Promise.all([writer.connect(), reader.connect()]);
      let migrated: ReturnType<typeof openPostgresDatabase> | undefined;
      try {
        // The schema before 0004 (and 0005), and a write to sessions in progress that the index builds
        // wait for.
        await writer.query(
          'DROP INDEX sessions_revoked_idx; CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at); ' +
            'DROP INDEX sessions_live_user_idx; ' +
            "DELETE FROM kysely_migration WHERE name IN ('0004_revocation_feed_index', '0005_live_sessions_index')",
        );
        await writer.query('BEGIN');
        await writer.query('LOCK TABLE sessions IN ROW EXCLUSIVE MODE');
        migrated = openPostgresDatabase(database.url);
        await untilLockWaits(reader, "relation = 'sessions'::regclass", 'the migration');
        // A lock that holds reads, queued behind the write, would make this wait for it too.
        await reader.query("SET statement_timeout = '2s'");
        expect((await reader.query('select count(*)::int as n from sessions')).rows).toEqual([{ n: 0 }]);
        await writer.query('COMMIT');
        await (await migrated).destroy();
        migrated = undefined;
        const indexes = await reader.query<{ indexname: string }>(
          "select indexname from pg_indexes where schemaname = current_schema() and indexname like 'sessions_%' " +
            'order by indexname',
        );
        expect(indexes.rows.map((row) => row.indexname)).toEqual([
          'sessions_live_user_idx',
          'sessions_pkey',
          'sessions_revoked_idx',
          'sessions_user_id_idx',
        ]);
      } finally {
        // The write's end lets a migration still waiting finish, and its pool close.
        await writer.end();
        await migrated?.then(
          (db) => db.destroy(),
          () => {},
        );
        await reader.end();
      }
    },
  );

  it('opens no more connections than the pool size', async () => {
    const database = await freshDatabase();
    const db = await openPostgresDatabase(database.url, { poolSize: 2 });
    try {
      const pids = await Promise.all(
        Array.from({ length: 6 }, () =>
          sql<{ pid: number }>`select pg_backend_pid() as pid, pg_sleep(0.05)`
            .execute(db)
            .then((result) => result.rows[0]?.pid),
        ),
      );
      expect(new Set(pids).size).toBeLessThanOrEqual(2);
    } finally {
      await db.destroy();
    }
  });

  it.skipIf(!onServer)('sets the statement timeout, and a statement over it fails', async () => {
    const database = await freshDatabase();
    const db = await openPostgresDatabase(database.url, { statementTimeoutMs: 250 });
    try {
      expect((await sql`show statement_timeout`.execute(db)).rows).toEqual([{ statement_timeout: '250ms' }]);
      // A statement past its timeout says the database cannot serve now: 503, not 500.
      const timedOut = await sql`select pg_sleep(2)`.execute(db).then(
        () => expect.fail('expected the statement timeout'),
        (error: unknown) => error,
      );
      expect(timedOut).toBeInstanceOf(StoreError);
      expect(timedOut).toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
        message: 'PostgreSQL cannot serve the query: canceling statement due to statement timeout',
        cause: { code: '57014' },
      });
    } finally {
      await db.destroy();
    }
    const fallback = await openPostgresDatabase(database.url);
    try {
      expect((await sql`show statement_timeout`.execute(fallback)).rows).toEqual([
        { statement_timeout: '10s' },
      ]);
    } finally {
      await fallback.destroy();
    }
  });

  it.skipIf(!onServer)(
    'migrates without the statement timeout: waiting for another instance is no failure',
    async () => {
      const database = await freshDatabase();
      await (await openPostgresDatabase(database.url)).destroy();
      // Another instance busy with the migration tables for longer than the statement timeout.
      const other = new pg.Client({ connectionString: database.url });
      await other.connect();
      try {
        await other.query('begin');
        await other.query('lock table kysely_migration in access exclusive mode');
        const release = setTimeout(() => void other.query('commit'), 600);
        const started = performance.now();
        const db = await openPostgresDatabase(database.url, { statementTimeoutMs: 100 });
        clearTimeout(release);
        try {
          expect(performance.now() - started).toBeGreaterThanOrEqual(500);
          expect((await sql`show statement_timeout`.execute(db)).rows).toEqual([
            { statement_timeout: '100ms' },
          ]);
        } finally {
          await db.destroy();
        }
      } finally {
        await other.end();
      }
    },
  );

  it('refuses bad pool options when called, before connecting', async () => {
    const url = 'postgres://postgres@127.0.0.1:1/test';
    await expect(openPostgresDatabase(url, { poolSize: 0 })).rejects.toThrow(
      new TypeError('poolSize must be a whole number of at least 1'),
    );
    await expect(openPostgresDatabase(url, { statementTimeoutMs: -1 })).rejects.toThrow(
      new TypeError('statementTimeoutMs must be a whole number of milliseconds, 0 or more'),
    );
  });

  it('migrates once when four instances start on an empty database at the same time', async () => {
    const database = await freshDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(database.url)));
    try {
      await stores[0]?.createUser({ id: 'u1', email: 'u1@example.com', passwordHash: 'phc', createdAt: T0 });
      for (const store of stores) expect((await store.findUserById('u1'))?.email).toBe('u1@example.com');
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
    const db = new Kysely<{ kysely_migration: { name: string } }>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: database.url, max: 1 }) }),
    });
    try {
      const applied = await db.selectFrom('kysely_migration').select('name').orderBy('name').execute();
      expect(applied.map((row) => row.name)).toEqual([
        '0001_initial',
        '0002_signing_key_revocation',
        '0003_user_roles',
        '0004_revocation_feed_index',
        '0005_live_sessions_index',
      ]);
    } finally {
      await db.destroy();
    }
    // And a later start finds the schema as it is, keeping the data.
    const again = await openPostgresStore(database.url);
    try {
      expect((await again.findUserById('u1'))?.email).toBe('u1@example.com');
    } finally {
      await again.close();
    }
  });
});

describe('PostgreSQL start-up errors', () => {
  it.each([
    ['a port that is not a number', 'postgres://u:pw@db.internal:54x2/latchkey', 'its port must be a number'],
    [
      'a / in the password',
      'postgres://u:pa/ss@db.internal:5432/latchkey',
      'its port must be a number (is there a / or # in the password? percent-encode it: %2F, %23)',
    ],
    ['a port out of range', 'postgresql://u:pw@db.internal:70000/latchkey', 'its port must be from 1 to'],
    ['a space in the host', 'postgres://u:pw@db internal/latchkey', 'it is not a URL'],
    ['a bad % escape', 'postgres://u:50%off@db.internal/latchkey', 'its password has a % that does not'],
    ['a path of two parts', 'postgres://u@db.internal/latchkey/extra', 'its path must be one database name'],
  ])('ERR_STORE_URL_INVALID for %s, without repeating the URL', async (_, url, reason) => {
    const error = await openFailure(url);
    expect(error.code).toBe('ERR_STORE_URL_INVALID');
    expect(error.message).toMatch(/^the PostgreSQL URL is malformed: /);
    expect(error.message).toContain(reason);
    expect(error.message).not.toContain('pw');
    expect(error.message).not.toContain('50%off');
    // The server's configuration refuses it first, naming the variable.
    expect(() => loadConfig({ DATABASE_URL: url })).toThrow(new ConfigError('DATABASE_URL', error.message));
  });

  it('ERR_STORE_UNAVAILABLE when nothing listens at the address', async () => {
    const port = await freePort();
    const error = await openFailure(`postgres://postgres:secret@127.0.0.1:${port}/test`);
    expect(error.code).toBe('ERR_STORE_UNAVAILABLE');
    expect(error.message).toBe(
      `cannot reach PostgreSQL at 127.0.0.1:${port}/test: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    expect(error.cause).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('ERR_STORE_UNAVAILABLE when the server accepts the connection but never answers', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const error = await openPostgresStore(`postgres://postgres@127.0.0.1:${port}/test`, {
        connectTimeoutMs: 300,
      }).then(
        () => expect.fail('expected opening the store to fail'),
        (failure: unknown) => failure,
      );
      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
        message: `cannot reach PostgreSQL at 127.0.0.1:${port}/test: no answer within 300 ms`,
      });
    } finally {
      silent.close();
    }
  });

  it('ERR_STORE_DATABASE_MISSING when the search_path names no schema that exists', async () => {
    const database = await freshDatabase();
    const url = new URL(database.url);
    url.searchParams.set('options', `-c search_path=${database.schema}_missing`);
    const error = await openFailure(url.href);
    expect(error.code).toBe('ERR_STORE_DATABASE_MISSING');
    expect(error.message).toMatch(
      new RegExp(
        `^PostgreSQL at .+: no schema to create the tables in \\(the search_path, ${database.schema}_missing, names none that exists\\)$`,
      ),
    );
  });

  // PGlite has one user and one database, and takes every login: these need a real server.
  describe.skipIf(!onServer)('on a server', () => {
    it('ERR_STORE_AUTH_FAILED when the server refuses the login', async () => {
      const database = await freshDatabase();
      const error = await openFailure(asUser(database, 'latchkey_no_such_role'));
      expect(error.code).toBe('ERR_STORE_AUTH_FAILED');
      expect(error.message).toBe(
        'PostgreSQL at 127.0.0.1:5432/test refused the login: role "latchkey_no_such_role" does not exist',
      );
    });

    it('ERR_STORE_DATABASE_MISSING when the database does not exist', async () => {
      const error = await openFailure('postgres://postgres@127.0.0.1:5432/latchkey_no_such_database');
      expect(error.code).toBe('ERR_STORE_DATABASE_MISSING');
      expect(error.message).toBe(
        'PostgreSQL at 127.0.0.1:5432/latchkey_no_such_database: database "latchkey_no_such_database" does not exist',
      );
    });

    it('ERR_STORE_PERMISSION_DENIED when the role may not create tables in the schema', async () => {
      const database = await freshDatabase();
      const role = `${database.schema}_reader`;
      const admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      try {
        await admin.query(`create role "${role}" login`);
        await admin.query(`grant usage on schema "${database.schema}" to "${role}"`);
        const error = await openFailure(asUser(database, role));
        expect(error.code).toBe('ERR_STORE_PERMISSION_DENIED');
        expect(error.message).toBe(
          `PostgreSQL at 127.0.0.1:5432/test: the role may not create or change Latchkey's tables: permission denied for schema ${database.schema}`,
        );
      } finally {
        await admin.query(`drop owned by "${role}"`);
        await admin.query(`drop role "${role}"`);
        await admin.end();
      }
    });
  });
});
