/**
 * Two instances on one PostgreSQL database: two stores, each with its own pool, racing on the same rows.
 * Whatever the interleaving, the outcome must be one SQLite could give by running the calls one after
 * another: one rotation per token, reuse detected as reuse, no session outliving a password change,
 * one winner among password changes made with the same old password.
 */
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SessionEndReason } from '../../src/auth/session-end-reasons.js';
import { decideRefresh } from '../../src/auth/sessions.js';
import { openPostgresStore } from '../../src/store/open.js';
import { openPostgresDatabase, withPostgresTransaction } from '../../src/store/sql/postgres.js';
import type { NewLoginSession, Store } from '../../src/store/types.js';
import { readCounter, recordFailure } from '../support/counters.js';
import { postgresTarget, type TestDatabase, untilLockWaits } from '../support/postgres.js';
import { newSession } from './conformance.js';

const T0 = 1_700_000_000_000;
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const POLICY = { idleTtlMs: 7 * DAY, graceMs: 10_000 };
const OLD_HASH = '$argon2id$v=19$old';

const target = await postgresTarget();
const databases: TestDatabase[] = [];

afterAll(async () => {
  await Promise.all(databases.map((database) => database.drop()));
});

/** The successor a token was rotated to, read without changing anything. */
async function successorOf(store: Store, hash: string): Promise<string | null> {
  let successor: string | null = null;
  await store.consumeRefreshToken(hash, ({ token }) => {
    successor = token.successorHash;
    return { action: 'reject' };
  });
  return successor;
}

/** `count` calls of `call`, half through each store, all started before any is awaited. */
function race<T>(stores: readonly Store[], count: number, call: (store: Store, i: number) => Promise<T>) {
  return Promise.all(Array.from({ length: count }, (_, i) => call(stores[i % stores.length] as Store, i)));
}

describe('two instances on one PostgreSQL database', () => {
  let a: Store;
  let b: Store;

  beforeEach(async () => {
    const database = await target.createDatabase();
    databases.push(database);
    // Opened together: both run the migrations' check at once, as two instances starting would.
    [a, b] = await Promise.all([openPostgresStore(database.url), openPostgresStore(database.url)]);
    await a.createUser({ id: 'u1', email: 'u1@example.com', passwordHash: OLD_HASH, createdAt: T0 });
    await a.createSession(newSession('s1'), 'rt-1');
  });

  afterEach(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('rotates a refresh token presented 20 times at once exactly once; the others repeat its successor', async () => {
    const at = T0 + MINUTE;
    const outcomes = await race([a, b], 20, (store, i) =>
      store.consumeRefreshToken('rt-1', (state) => decideRefresh(state, at + i, POLICY, `rt-2-${i}`)),
    );
    expect(outcomes.filter((outcome) => outcome?.action === 'rotate')).toHaveLength(1);
    const successor = await successorOf(b, 'rt-1');
    expect(successor).toMatch(/^rt-2-\d+$/);
    const repeats = outcomes.filter((outcome) => outcome?.action === 'repeat');
    expect(repeats).toHaveLength(19);
    for (const repeat of repeats) expect(repeat).toMatchObject({ successorHash: successor });
    // Only the one successor was stored, and it is current.
    for (let i = 0; i < 20; i++) {
      if (`rt-2-${i}` !== successor) expect(await successorOf(a, `rt-2-${i}`)).toBeNull();
    }
    const next = await b.consumeRefreshToken(successor ?? '', (state) =>
      decideRefresh(state, at + 30, POLICY, 'rt-3'),
    );
    expect(next?.action).toBe('rotate');
  });

  it('revokes the family once when a rotated token is reused from both instances after the grace window', async () => {
    await a.consumeRefreshToken('rt-1', (state) => decideRefresh(state, T0 + 1, POLICY, 'rt-2'));
    const late = T0 + 1 + POLICY.graceMs + 1;
    const outcomes = await race([a, b], 20, (store, i) =>
      store.consumeRefreshToken('rt-1', (state) => decideRefresh(state, late + i, POLICY, `unused-${i}`)),
    );
    const revocations = outcomes.filter((outcome) => outcome?.action === 'revoke');
    expect(revocations).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome?.action === 'reject')).toHaveLength(19);
    const session = await b.findSession('s1');
    expect(session).toMatchObject({ revokedReason: SessionEndReason.refreshTokenReuse });
    expect(revocations[0]?.session).toEqual(session);
    expect(await a.listRevokedSessionsSince(T0)).toEqual([{ id: 's1', revokedAt: session?.revokedAt }]);
    // The successor dies with its family.
    const successor = await b.consumeRefreshToken('rt-2', (state) =>
      decideRefresh(state, late + 50, POLICY, 'x'),
    );
    expect(successor?.action).toBe('reject');
  });

  it('ends the family whichever comes first: the reused token on one instance, its successor on the other', async () => {
    const late = T0 + 1 + POLICY.graceMs + 1;
    for (let round = 0; round < 10; round++) {
      const sid = `family-${round}`;
      await a.createSession(newSession(sid), `${sid}-1`);
      await a.consumeRefreshToken(`${sid}-1`, (state) => decideRefresh(state, T0 + 1, POLICY, `${sid}-2`));
      const [reuse, current] = await Promise.all([
        a.consumeRefreshToken(`${sid}-1`, (state) => decideRefresh(state, late, POLICY, 'unused')),
        b.consumeRefreshToken(`${sid}-2`, (state) => decideRefresh(state, late, POLICY, `${sid}-3`)),
      ]);
      // The two serial orders only: the reuse first (the successor is then refused), or the successor
      // first (rotated, and the family revoked right after). Either way the reuse ends the session.
      expect(reuse?.action).toBe('revoke');
      expect(['reject', 'rotate']).toContain(current?.action);
      expect(await b.findSession(sid)).toMatchObject({
        revokedAt: late,
        revokedReason: SessionEndReason.refreshTokenReuse,
      });
      if (current?.action === 'rotate') {
        const after = await a.consumeRefreshToken(`${sid}-3`, (state) =>
          decideRefresh(state, late, POLICY, 'x'),
        );
        expect(after?.action).toBe('reject');
      }
    }
  });

  it('never leaves a login session alive that raced a password change and lost', async () => {
    for (let round = 0; round < 10; round++) {
      const user = await a.findUserById('u1');
      const oldHash = user?.passwordHash ?? '';
      const newHash = `$argon2id$v=19$round-${round}`;
      const logins: Promise<NewLoginSession | null>[] = [];
      for (let i = 0; i < 6; i++) {
        const store = i % 2 === 0 ? a : b;
        logins.push(
          store.createLoginSession(
            newSession(`r${round}-s${i}`, { createdAt: T0 + round, lastUsedAt: T0 + round }),
            `rt-r${round}-${i}`,
            oldHash,
            { most: 10_000, reason: SessionEndReason.sessionLimit },
          ),
        );
      }
      const change = (round % 2 === 0 ? b : a).changePassword(
        'u1',
        oldHash,
        newHash,
        null,
        T0 + round,
        SessionEndReason.passwordChanged,
      );
      const [revoked, created] = await Promise.all([change, Promise.all(logins)]);
      const made = created.flatMap((login) => (login === null ? [] : [login.session]));
      // Every login that got a session was before the change in the serial order, so the change ended it.
      expect(revoked).not.toBeNull();
      for (const session of made) expect(revoked).toContain(session.id);
      expect(await a.listActiveSessions('u1', T0 + round)).toEqual([]);
      for (let i = 0; i < 6; i++) {
        const session = await b.findSession(`r${round}-s${i}`);
        if (session !== null) expect(session).toMatchObject({ revokedReason: 'password_changed' });
      }
      expect((await b.findUserById('u1'))?.passwordHash).toBe(newHash);
    }
  });

  it('keeps the live-session limit for logins of one user that race on two instances', async () => {
    const { passwordHash } = (await a.findUserById('u1')) ?? { passwordHash: '' };
    const limit = { most: 3, reason: SessionEndReason.sessionLimit };
    const before = (await a.listActiveSessions('u1', T0)).length;
    const logins = Array.from({ length: 12 }, (_, i) =>
      (i % 2 === 0 ? a : b).createLoginSession(
        newSession(`limited-${i}`, { createdAt: T0 + i, lastUsedAt: T0 + i }),
        `rt-limited-${i}`,
        passwordHash,
        limit,
      ),
    );
    const created = await Promise.all(logins);
    // Each login counted the ones committed before it (the user's row is locked): never more than 3.
    expect(await a.listActiveSessions('u1', T0 + 12)).toHaveLength(3);
    const ended = created.flatMap((login) => login?.ended ?? []);
    expect(ended).toHaveLength(before + 12 - 3);
    expect(new Set(ended).size).toBe(ended.length);
  });

  it("locks the user's row before the sessions when it revokes them all, as a login does", async () => {
    // A login that ends several sessions locks the user's row and then those sessions; logging out
    // everywhere in the other order could deadlock with it (PostgreSQL would break it after a second).
    await a.createSession(newSession('s2'), 'rt-2');
    const url = (databases.at(-1) as TestDatabase).url;
    const holder = new pg.Client({ connectionString: url });
    const other = new pg.Client({ connectionString: url });
    await Promise.all([holder.connect(), other.connect()]);
    try {
      await holder.query('BEGIN');
      await holder.query("SELECT id FROM users WHERE id = 'u1' FOR UPDATE");
      const revoking = b.revokeUserSessions('u1', T0 + MINUTE, SessionEndReason.logoutAll);
      await untilLockWaits(other, "locktype = 'transactionid'", 'revoking every session');
      // Waiting for the user's row, it holds none of the sessions' rows.
      const free = await other.query("SELECT id FROM sessions WHERE user_id = 'u1' FOR UPDATE NOWAIT");
      expect(free.rowCount).toBe(2);
      await holder.query('COMMIT');
      expect((await revoking).sort()).toEqual(['s1', 's2']);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await Promise.all([holder.end(), other.end()]);
    }
  });

  it('lets one of two password changes made with the same old password win', async () => {
    await a.createSession(newSession('keep-a'), 'rt-keep-a');
    await a.createSession(newSession('keep-b'), 'rt-keep-b');
    const [fromA, fromB] = await Promise.all([
      a.changePassword(
        'u1',
        OLD_HASH,
        '$argon2id$v=19$from-a',
        'keep-a',
        T0 + 5,
        SessionEndReason.passwordChanged,
      ),
      b.changePassword(
        'u1',
        OLD_HASH,
        '$argon2id$v=19$from-b',
        'keep-b',
        T0 + 5,
        SessionEndReason.passwordChanged,
      ),
    ]);
    const results = [fromA, fromB];
    expect(results.filter((result) => result === null)).toHaveLength(1);
    const aWon = fromA !== null;
    expect((await b.findUserById('u1'))?.passwordHash).toBe(
      aWon ? '$argon2id$v=19$from-a' : '$argon2id$v=19$from-b',
    );
    // The winner kept its own session and ended every other; the loser changed nothing.
    const kept = aWon ? 'keep-a' : 'keep-b';
    expect((await a.listActiveSessions('u1', T0 + 5)).map((session) => session.id)).toEqual([kept]);
    expect([...((aWon ? fromA : fromB) ?? [])].sort()).toEqual([aWon ? 'keep-b' : 'keep-a', 's1'].sort());
  });

  it('counts every failure recorded from both instances at once', async () => {
    await race([a, b], 30, (store, i) => recordFailure(store, 'login:u1', MINUTE, T0 + i));
    const counter = await readCounter(a, 'login:u1', T0 + 30);
    // The window starts with whichever failure committed first; the latest failure time is kept.
    expect(counter).toMatchObject({ count: 30, lastAt: T0 + 29 });
    expect(counter?.expiresAt).toBe((counter?.windowStartedAt ?? Number.NaN) + MINUTE);
    expect(await readCounter(b, 'login:u1', T0 + 30)).toEqual(counter);
  });
});

// A deadlock needs two sessions holding locks at once; PGlite runs one transaction at a time.
describe.skipIf(target.kind !== 'server')('write transactions on PostgreSQL', () => {
  it('runs a transaction chosen as a deadlock victim again, and both finish', async () => {
    const database = await target.createDatabase();
    databases.push(database);
    const db = (await openPostgresDatabase(database.url)) as unknown as Kysely<{
      secrets: { name: string; value: string };
    }>;
    try {
      await db
        .insertInto('secrets')
        .values([
          { name: 'x', value: '0' },
          { name: 'y', value: '0' },
        ])
        .execute();
      let arrived = 0;
      let release: () => void = () => {};
      const bothLocked = new Promise<void>((resolve) => {
        release = resolve;
      });
      const attempts = { xy: 0, yx: 0 };
      const lockInOrder = (first: string, second: string, name: 'xy' | 'yx') =>
        withPostgresTransaction(db, async (trx) => {
          attempts[name] += 1;
          await trx.updateTable('secrets').set({ value: name }).where('name', '=', first).execute();
          if (attempts[name] === 1) {
            arrived += 1;
            if (arrived === 2) release();
            await bothLocked;
          }
          await trx.updateTable('secrets').set({ value: name }).where('name', '=', second).execute();
          return name;
        });
      expect(await Promise.all([lockInOrder('x', 'y', 'xy'), lockInOrder('y', 'x', 'yx')])).toEqual([
        'xy',
        'yx',
      ]);
      // One of the two lost the deadlock, was rolled back whole and ran again after the other committed.
      expect(attempts.xy + attempts.yx).toBe(3);
      const rows = await db.selectFrom('secrets').selectAll().orderBy('name').execute();
      const lastWriter = attempts.xy === 2 ? 'xy' : 'yx';
      expect(rows).toEqual([
        { name: 'x', value: lastWriter },
        { name: 'y', value: lastWriter },
      ]);
    } finally {
      await db.destroy();
    }
  });

  it('runs its transactions at READ COMMITTED even when the server defaults to a stricter level', async () => {
    const database = await target.createDatabase();
    databases.push(database);
    const url = new URL(database.url);
    const options = `${url.searchParams.get('options')} -c default_transaction_isolation=serializable`;
    url.searchParams.set('options', options);
    const check = new pg.Client({ connectionString: url.href });
    await check.connect();
    const level = await check.query('show default_transaction_isolation').finally(() => check.end());
    expect(level.rows).toEqual([{ default_transaction_isolation: 'serializable' }]);
    const db = await openPostgresDatabase(url.href);
    try {
      const inside = await withPostgresTransaction(db, (trx) =>
        sql<{ transaction_isolation: string }>`show transaction_isolation`.execute(trx),
      );
      expect(inside.rows).toEqual([{ transaction_isolation: 'read committed' }]);
    } finally {
      await db.destroy();
    }
  });
});
