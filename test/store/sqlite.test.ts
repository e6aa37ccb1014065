import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { type Compilable, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionEndReason } from '../../src/auth/session-end-reasons.js';
import { prepareSessionQueries } from '../../src/store/sql/session-queries.js';
import { revokedSessionsQuery } from '../../src/store/sql/sessions.js';
import { openSQLiteDatabase, openSQLiteStore } from '../../src/store/sql/sqlite.js';
import { createSQLiteSessionWrites } from '../../src/store/sql/sqlite-session-writes.js';
import type { RefreshOutcome, Store } from '../../src/store/types.js';
import { describeStoreConformance, newSession } from './conformance.js';

const T0 = 1_700_000_000_000;
const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONSUMER = fileURLToPath(new URL('./fixtures/consume-refresh-token.ts', import.meta.url));

let dir = '';
let files = 0;
/** A fresh database path in a directory that does not exist yet. */
/** User u1 with session s1 and its first refresh token rt-1. */
async function seedSession(store: Store): Promise<void> {
  await store.createUser({ id: 'u1', email: 'u1@example.com', passwordHash: 'phc', createdAt: T0 });
  const times = { createdAt: T0, lastUsedAt: T0, expiresAt: T0 + 10, idleExpiresAt: T0 + 5 };
  await store.createSession({ id: 's1', userId: 'u1', ...times, userAgent: null, ip: null }, 'rt-1');
}

const nextPath = (): string => join(dir, `store-${++files}`, 'latchkey.db');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'latchkey-store-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describeStoreConformance('SQLite file', () => openSQLiteStore(nextPath()));
describeStoreConformance('SQLite :memory:', () => openSQLiteStore(':memory:'));

interface Consumer {
  ready: Promise<void>;
  go(): void;
  outcomes: Promise<RefreshOutcome[]>;
}

/** Another process with its own store on `path`, consuming `hash` `calls` times once told to go. */
function startConsumer(path: string, hash: string, calls: number): Consumer {
  const child = spawn(process.execPath, ['--import', 'tsx', CONSUMER, path, hash, String(calls)], {
    cwd: PROJECT_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`consumer exited ${code}: ${stderr}`)),
    );
  });
  // Marked handled so that a test failing early reports its own error; whoever awaits still sees the failure.
  exited.catch(() => undefined);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const ready = lines.next().then(async ({ value }) => {
    if (value === 'ready') return;
    await exited;
    throw new Error(`consumer said ${JSON.stringify(value)} instead of ready`);
  });
  const outcomes = ready.then(async () => {
    const { value } = await lines.next();
    await exited;
    return JSON.parse(String(value)) as RefreshOutcome[];
  });
  outcomes.catch(() => undefined);
  return { ready, go: () => child.stdin.end('go\n'), outcomes };
}

describe('SQLite store', () => {
  it('creates its directory and sets WAL, group-synced commits, foreign keys and a busy timeout', async () => {
    const database = await openSQLiteDatabase(nextPath());
    const { db } = database;
    try {
      expect((await sql`pragma journal_mode`.execute(db)).rows).toEqual([{ journal_mode: 'wal' }]);
      // NORMAL: commits do not wait for the disk; the write transaction's group flush does.
      expect((await sql`pragma synchronous`.execute(db)).rows).toEqual([{ synchronous: 1 }]);
      expect((await sql`pragma foreign_keys`.execute(db)).rows).toEqual([{ foreign_keys: 1 }]);
      expect((await sql`pragma busy_timeout`.execute(db)).rows).toEqual([{ timeout: 5000 }]);
    } finally {
      await database.close();
    }
  });

  it('reads each page of the revocation feed as ranges of its index, which holds revoked sessions only', async () => {
    const database = await openSQLiteDatabase(nextPath());
    const { db, connection } = database;
    const plan = (query: Compilable<unknown>) => {
      const { sql: text, parameters } = query.compile();
      return connection
        .prepare(`EXPLAIN QUERY PLAN ${text}`)
        .all(...(parameters as unknown[]))
        .map((row) => (row as { detail: string }).detail);
    };
    try {
      const after = { id: 'session-b', revokedAt: T0 + 20 };
      const firstPage = plan(revokedSessionsQuery(db, T0, { after: null, limit: 100 }));
      expect(firstPage).toEqual(['SEARCH sessions USING COVERING INDEX sessions_revoked_idx (revoked_at>?)']);
      const laterPage = plan(revokedSessionsQuery(db, T0, { after, limit: 100 })).join('\n');
      // The rest of `after`'s instant is one seek on both columns, not a scan of that instant.
      expect(laterPage).toContain('USING COVERING INDEX sessions_revoked_idx (revoked_at=? AND id>?)');
      expect(laterPage).toContain('USING COVERING INDEX sessions_revoked_idx (revoked_at>?)');
      // No scan of the table; what is sorted is each range's page, at most `limit` rows.
      expect(laterPage).not.toContain('SCAN sessions');
      // A live session (revoked_at NULL) has no entry in it: a login does not write to it.
      const index = connection
        .prepare("select sql from sqlite_master where type = 'index' and tbl_name = 'sessions'")
        .all()
        .map((row) => (row as { sql: string | null }).sql ?? '');
      expect(index.filter((text) => text.includes('revoked_at'))).toEqual([
        'CREATE INDEX "sessions_revoked_idx" on "sessions" ("revoked_at", "id") where "revoked_at" is not null',
        'CREATE INDEX "sessions_live_user_idx" on "sessions" ("user_id") where "revoked_at" is null',
      ]);
    } finally {
      await database.close();
    }
  });

  it("reads a user's live sessions, for a login's limit, from their index only", async () => {
    const database = await openSQLiteDatabase(nextPath());
    try {
      const { sql: text, parameters } = prepareSessionQueries(database.db, false).endLeastRecentlyUsed({
        userId: 'u1',
        now: T0,
        reason: 'session_limit',
        keep: 99,
      });
      const plan = database.connection
        .prepare(`EXPLAIN QUERY PLAN ${text}`)
        .all(...(parameters as unknown[]))
        .map((row) => (row as { detail: string }).detail)
        .join('\n');
      // Not the index of all the user's sessions, whose ended ones a day of logins would fill.
      expect(plan).toContain('SEARCH sessions USING INDEX sessions_live_user_idx (user_id=?)');
      expect(plan).not.toContain('SCAN sessions');
      // The count that tells most logins there is nothing to end, from the same index.
      const count = prepareSessionQueries(database.db, false).countUnrevoked({ userId: 'u1' });
      const countPlan = database.connection
        .prepare(`EXPLAIN QUERY PLAN ${count.sql}`)
        .all(...(count.parameters as unknown[]))
        .map((row) => (row as { detail: string }).detail);
      expect(countPlan).toEqual(['SEARCH sessions USING INDEX sessions_live_user_idx (user_id=?)']);
    } finally {
      await database.close();
    }
  });

  it("runs the session limit's UPDATE only for a login that may have a session to end", async () => {
    const database = await openSQLiteDatabase(nextPath());
    try {
      const queries = prepareSessionQueries(database.db, false);
      let updates = 0;
      const writes = createSQLiteSessionWrites(
        database.connection,
        {
          ...queries,
          endLeastRecentlyUsed: (values) => {
            updates++;
            return queries.endLeastRecentlyUsed(values);
          },
        },
        database.writeNow,
      );
      database.connection
        .prepare(
          "INSERT INTO users (id, email, password_hash, created_at) VALUES ('u1', 'u1@example.com', 'h1', 0)",
        )
        .run();
      const login = (id: string, minutes: number) => {
        const at = T0 + minutes * 60_000;
        return writes.createLoginSession(
          newSession(id, { createdAt: at, lastUsedAt: at }),
          `rt-${id}`,
          'h1',
          {
            most: 3,
            reason: SessionEndReason.sessionLimit,
          },
        );
      };
      for (const [index, id] of ['a', 'b', 'c'].entries()) {
        expect((await login(id, index + 1))?.ended).toEqual([]);
      }
      // Two unrevoked sessions or fewer before each of these: counted, and nothing more read.
      expect(updates).toBe(0);
      expect((await login('d', 4))?.ended).toEqual(['a']);
      expect(updates).toBe(1);
    } finally {
      await database.close();
    }
  });

  it("creates its directory and files for the owner alone, and leaves existing ones' modes as they are", async () => {
    const path = nextPath();
    // The usual umask, which left the files readable by every local user before.
    const umask = process.umask(0o022);
    try {
      const store = await openSQLiteStore(path);
      try {
        await seedSession(store);
        const modes = Object.fromEntries(
          await Promise.all(
            [dirname(path), path, `${path}-wal`, `${path}-shm`].map(async (file) => [
              file.slice(dirname(path).length),
              ((await stat(file)).mode & 0o777).toString(8),
            ]),
          ),
        );
        expect(modes).toEqual({
          '': '700',
          '/latchkey.db': '600',
          '/latchkey.db-wal': '600',
          '/latchkey.db-shm': '600',
        });
      } finally {
        await store.close();
      }
      // An operator's choice stands: a database made readable by a group on purpose stays so.
      await chmod(path, 0o640);
      await chmod(dirname(path), 0o750);
      await (await openSQLiteStore(path)).close();
      expect((await stat(path)).mode & 0o777).toBe(0o640);
      expect((await stat(dirname(path))).mode & 0o777).toBe(0o750);
    } finally {
      process.umask(umask);
    }
  });

  it('leaves the file in WAL mode for every later connection', async () => {
    const path = nextPath();
    await (await openSQLiteStore(path)).close();
    const raw = new BetterSqlite3(path, { readonly: true });
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      raw.close();
    }
  });

  it('keeps its data across close and reopen', async () => {
    const path = nextPath();
    const first = await openSQLiteStore(path);
    await seedSession(first);
    await first.revokeSession('s1', T0 + 1, 'logout');
    await first.close();

    const second = await openSQLiteStore(path);
    try {
      expect((await second.findUserByEmail('u1@example.com'))?.id).toBe('u1');
      expect(await second.findSession('s1')).toMatchObject({ revokedAt: T0 + 1, revokedReason: 'logout' });
    } finally {
      await second.close();
    }
  });

  it('names the migration that failed, and leaves no part of it behind', async () => {
    const path = nextPath();
    await mkdir(dirname(path));
    const raw = new BetterSqlite3(path);
    raw.exec('create table sessions (id text)');
    raw.close();

    const error = await openSQLiteStore(path).then(
      () => expect.fail('expected the migration to fail'),
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('database schema update failed at migration 0001_initial');
    expect((error as Error).cause).toBeInstanceOf(Error);

    const check = new BetterSqlite3(path, { readonly: true });
    try {
      const tables = check.prepare("select name from sqlite_master where type = 'table'").pluck().all();
      expect(tables).toEqual(['sessions']);
    } finally {
      check.close();
    }
  });

  it('lets exactly one of two processes rotate a token both consume at once', async () => {
    const path = nextPath();
    const store = await openSQLiteStore(path);
    try {
      await seedSession(store);

      const consumers = [startConsumer(path, 'rt-1', 10), startConsumer(path, 'rt-1', 10)];
      await Promise.all(consumers.map((consumer) => consumer.ready));
      for (const consumer of consumers) consumer.go();
      const outcomes = (await Promise.all(consumers.map((consumer) => consumer.outcomes))).flat();

      let winner: string | null = null;
      await store.consumeRefreshToken('rt-1', ({ token }) => {
        winner = token.successorHash;
        return { action: 'reject' };
      });
      expect(winner).toMatch(/^rt-1-\d+-\d+$/);
      expect(outcomes.filter((outcome) => outcome.action === 'rotate')).toHaveLength(1);
      const repeats = outcomes.filter((outcome) => outcome.action === 'repeat');
      expect(repeats).toHaveLength(19);
      for (const repeat of repeats) expect(repeat.successorHash).toBe(winner);
    } finally {
      await store.close();
    }
  });
});
