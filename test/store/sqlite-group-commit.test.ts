/**
 * Group commit on a real SQLite file: a write is answered only after a flush of the WAL that began
 * after its commit, concurrent writes share flushes, and nothing writes around the write transaction.
 * The flush (fdatasync on the thread pool) is observed by wrapping node:fs/promises' `open`.
 */
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readCounter, recordFailure } from '../support/counters.js';

const flushes = vi.hoisted(() => ({
  /** Paths flushed, in order. */
  paths: [] as string[],
  /** Paths opened, in order. */
  opened: [] as string[],
  /** Handles closed, by the path they were opened with. */
  closed: [] as string[],
  /** While set, the next flush fails with it (once). */
  failNext: null as Error | null,
  /** While set, every flush waits for it. */
  gate: null as Promise<void> | null,
}));

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof actual.open = async (...args) => {
    const handle = await actual.open(...args);
    flushes.opened.push(String(args[0]));
    const close = handle.close.bind(handle);
    handle.close = async () => {
      flushes.closed.push(String(args[0]));
      return close();
    };
    const datasync = handle.datasync.bind(handle);
    handle.datasync = async () => {
      flushes.paths.push(String(args[0]));
      if (flushes.gate !== null) await flushes.gate;
      const failure = flushes.failNext;
      if (failure !== null) {
        flushes.failNext = null;
        throw failure;
      }
      return datasync();
    };
    return handle;
  };
  return { ...actual, open };
});

const { openSQLiteDatabase, openSQLiteStore } = await import('../../src/store/sql/sqlite.js');

const T0 = 1_700_000_000_000;
let dir = '';
let files = 0;
const nextPath = () => join(dir, `db-${++files}`, 'latchkey.db');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'latchkey-group-commit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('SQLite group commit', () => {
  it('answers a write only after the WAL holding its commit is flushed', async () => {
    const path = nextPath();
    const store = await openSQLiteStore(path);
    let open = () => {};
    try {
      flushes.gate = new Promise((resolve) => {
        open = resolve;
      });
      flushes.paths.length = 0;
      let answered = false;
      const write = store
        .createUser({ id: 'u1', email: 'u1@example.com', passwordHash: 'phc', createdAt: T0 })
        .then(() => {
          answered = true;
        });
      await settle();
      // Committed (another connection sees it) but not answered: its flush has not ended.
      const other = new BetterSqlite3(path, { readonly: true });
      expect(other.prepare('select count(*) as n from users').get()).toEqual({ n: 1 });
      other.close();
      expect(answered).toBe(false);
      expect(flushes.paths).toEqual([`${path}-wal`]);
      flushes.gate = null;
      open();
      await write;
      expect(answered).toBe(true);
    } finally {
      flushes.gate = null;
      open();
      await store.close();
    }
  });

  it('answers the writes of a shared commit (writeNow) only after one flush that holds them all', async () => {
    const path = nextPath();
    const database = await openSQLiteDatabase(path);
    let open = () => {};
    try {
      flushes.gate = new Promise((resolve) => {
        open = resolve;
      });
      flushes.paths.length = 0;
      let answered = 0;
      const writes = ['a', 'b', 'c'].map((name) =>
        database
          .writeNow((connection) => {
            connection.prepare('insert into secrets (name, value) values (?, ?)').run(name, 'v');
          })
          .then(() => {
            answered += 1;
          }),
      );
      await settle();
      const other = new BetterSqlite3(path, { readonly: true });
      expect(other.prepare('select count(*) as n from secrets').get()).toEqual({ n: 3 });
      other.close();
      expect(answered).toBe(0);
      expect(flushes.paths).toEqual([`${path}-wal`]);
      flushes.gate = null;
      open();
      await Promise.all(writes);
      expect(answered).toBe(3);
    } finally {
      flushes.gate = null;
      open();
      await database.close();
    }
  });

  it('lets concurrent writes share flushes', async () => {
    const store = await openSQLiteStore(nextPath());
    try {
      await store.createUser({ id: 'u1', email: 'u1@example.com', passwordHash: 'phc', createdAt: T0 });
      flushes.paths.length = 0;
      const writes = Array.from({ length: 50 }, (_, i) => recordFailure(store, `login:${i}`, 60_000, T0 + i));
      await Promise.all(writes);
      expect(flushes.paths.length).toBeGreaterThanOrEqual(1);
      // One flush for the first commit, one for all that came while it ran: never one per write.
      expect(flushes.paths.length).toBeLessThanOrEqual(3);
      for (let i = 0; i < 50; i++) expect(await readCounter(store, `login:${i}`, T0)).not.toBeNull();
    } finally {
      await store.close();
    }
  });

  it('opens the WAL file once, keeps it for every flush, and closes it with the database', async () => {
    const path = nextPath();
    const wal = `${path}-wal`;
    flushes.opened.length = 0;
    flushes.closed.length = 0;
    flushes.paths.length = 0;
    const store = await openSQLiteStore(path);
    for (let i = 0; i < 5; i++) await recordFailure(store, `login:${i}`, 60_000, T0 + i);
    expect(flushes.paths.filter((flushed) => flushed === wal).length).toBeGreaterThanOrEqual(6);
    expect(flushes.opened.filter((opened) => opened === wal)).toEqual([wal]);
    expect(flushes.closed).not.toContain(wal);
    await store.close();
    expect(flushes.closed.filter((closed) => closed === wal)).toEqual([wal]);
  });

  it('flushes the WAL beside the real file when the database path is a symbolic link', async () => {
    const real = nextPath();
    const link = join(dir, `link-${files}.db`);
    await mkdir(dirname(real), { recursive: true });
    new BetterSqlite3(real).close();
    await symlink(real, link);
    const store = await openSQLiteStore(link);
    try {
      flushes.paths.length = 0;
      await store.createUser({ id: 'u1', email: 'u1@example.com', passwordHash: 'phc', createdAt: T0 });
      expect(flushes.paths).toEqual([`${real}-wal`]);
    } finally {
      await store.close();
    }
  });

  it('refuses every write after a failed flush, and says so on ping, until a restart', async () => {
    const path = nextPath();
    const store = await openSQLiteStore(path);
    try {
      await store.createUser({ id: 'u1', email: 'u1@example.com', passwordHash: 'phc', createdAt: T0 });
      flushes.failNext = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      await expect(recordFailure(store, 'login:a', 60_000, T0)).rejects.toThrow('EIO');
      // The disk answers again, but what the failed flush held may be gone: nothing more is taken.
      await expect(recordFailure(store, 'login:b', 60_000, T0)).rejects.toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
      });
      await expect(store.ping()).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      expect(await store.findUserById('u1')).not.toBeNull();
      expect(await readCounter(store, 'login:b', T0)).toBeNull();
    } finally {
      flushes.failNext = null;
      await store.close();
    }
    const restarted = await openSQLiteStore(path);
    try {
      await restarted.ping();
      await recordFailure(restarted, 'login:b', 60_000, T0);
      expect(await readCounter(restarted, 'login:b', T0)).not.toBeNull();
    } finally {
      await restarted.close();
    }
  });

  it('does not acknowledge a write that waited for a later flush when an earlier flush failed', async () => {
    const store = await openSQLiteStore(nextPath());
    let open = () => {};
    try {
      await store.createUser({ id: 'u1', email: 'u1@example.com', passwordHash: 'phc', createdAt: T0 });
      flushes.gate = new Promise((resolve) => {
        open = resolve;
      });
      const first = recordFailure(store, 'login:a', 60_000, T0).then(
        () => 'acknowledged',
        (error: Error) => error.message,
      );
      await settle();
      // Committed while the first flush runs: it waits for the next one, which will succeed.
      const second = recordFailure(store, 'login:b', 60_000, T0).then(
        () => 'acknowledged',
        (error: { code?: string }) => error.code,
      );
      await settle();
      flushes.failNext = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      flushes.gate = null;
      open();
      expect(await first).toBe('EIO: i/o error, fdatasync');
      // Its frames follow pages the failed flush may have lost: recovery could stop before them.
      expect(await second).toBe('ERR_STORE_UNAVAILABLE');
    } finally {
      flushes.gate = null;
      flushes.failNext = null;
      open();
      await store.close();
    }
  });

  it('refuses a write with RETURNING made around the write transaction too', async () => {
    const database = await openSQLiteDatabase(nextPath());
    try {
      await expect(
        database.db.insertInto('secrets').values({ name: 'stray', value: 'x' }).returning('name').execute(),
      ).rejects.toThrow('a write outside a write transaction would not be made durable');
      const rows = await database.db.selectFrom('secrets').selectAll().where('name', '=', 'stray').execute();
      expect(rows).toEqual([]);
    } finally {
      await database.close();
    }
  });

  it('refuses a write made around the write transaction, and keeps nothing of it', async () => {
    const database = await openSQLiteDatabase(nextPath());
    try {
      await expect(
        database.db.insertInto('secrets').values({ name: 'stray', value: 'x' }).execute(),
      ).rejects.toThrow('a write outside a write transaction would not be made durable');
      const rows = await database.db.selectFrom('secrets').selectAll().where('name', '=', 'stray').execute();
      expect(rows).toEqual([]);
      await database.write((trx) => trx.insertInto('secrets').values({ name: 'kept', value: 'y' }).execute());
      const kept = await database.db
        .selectFrom('secrets')
        .select('value')
        .where('name', '=', 'kept')
        .execute();
      expect(kept).toEqual([{ value: 'y' }]);
    } finally {
      await database.close();
    }
  });

  it('flushes nothing for an in-memory database', async () => {
    const store = await openSQLiteStore(':memory:');
    try {
      flushes.paths.length = 0;
      await store.createUser({ id: 'u1', email: 'u1@example.com', passwordHash: 'phc', createdAt: T0 });
      expect(flushes.paths).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
