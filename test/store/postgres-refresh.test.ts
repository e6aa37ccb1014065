/**
 * PostgreSQL's refresh path (src/store/sql/postgres-refresh.ts): how many statements a refresh sends,
 * and that a decision made on rows that changed before its write is made again on what is there now.
 * The statements are read where node-postgres sends them, in Client.prototype.query, which also lets
 * a test run another instance's write between a refresh's read and its write.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decideRefresh } from '../../src/auth/sessions.js';
import { openPostgresStore } from '../../src/store/open.js';
import type { RefreshTokenState, Store } from '../../src/store/types.js';
import { postgresTarget, type TestDatabase } from '../support/postgres.js';
import { newSession } from './conformance.js';

const T0 = 1_700_000_000_000;
const DAY = 86_400_000;
const POLICY = { idleTtlMs: 7 * DAY, graceMs: 10_000 };

const target = await postgresTarget();
const databases: TestDatabase[] = [];

afterAll(async () => {
  await Promise.all(databases.map((database) => database.drop()));
});

type Query = (this: pg.Client, ...args: unknown[]) => unknown;
const originalQuery = pg.Client.prototype.query as unknown as Query;

/** The SQL text of each query sent while `work` runs; `before` may delay one (and run others first). */
async function statementsOf(
  work: () => Promise<unknown>,
  before: (text: string) => Promise<void> = async () => {},
): Promise<string[]> {
  const texts: string[] = [];
  const patched: Query = function (this: pg.Client, ...args: unknown[]) {
    const [first] = args;
    const text = typeof first === 'string' ? first : String((first as { text?: unknown }).text);
    texts.push(text.replace(/\s+/g, ' ').trim());
    return before(text).then(() => originalQuery.apply(this, args));
  };
  (pg.Client.prototype as unknown as { query: Query }).query = patched;
  try {
    await work();
  } finally {
    (pg.Client.prototype as unknown as { query: Query }).query = originalQuery;
  }
  return texts;
}

describe('refresh on PostgreSQL', () => {
  let store: Store;
  let other: Store;

  beforeEach(async () => {
    const database = await target.createDatabase();
    databases.push(database);
    [store, other] = await Promise.all([openPostgresStore(database.url), openPostgresStore(database.url)]);
    await store.createUser({ id: 'u1', email: 'u1@example.com', passwordHash: 'h', createdAt: T0 });
    await store.createSession(newSession('s1'), 'rt-1');
  });

  afterEach(async () => {
    await Promise.all([store.close(), other.close()]);
  });

  it('rotates in two statements, with no BEGIN or COMMIT', async () => {
    const statements = await statementsOf(() =>
      store.consumeRefreshToken('rt-1', (state) => decideRefresh(state, T0 + 1, POLICY, 'rt-2')),
    );
    expect(statements).toHaveLength(2);
    expect(statements[0]).toMatch(/^SELECT /);
    expect(statements[1]).toMatch(/^WITH current AS MATERIALIZED/);
    expect(statements.join('\n')).not.toMatch(/\b(begin|start transaction|commit)\b/i);
  });

  it('repeats and rejects in one statement', async () => {
    await store.consumeRefreshToken('rt-1', (state) => decideRefresh(state, T0 + 1, POLICY, 'rt-2'));
    const repeat = await statementsOf(() =>
      store.consumeRefreshToken('rt-1', (state) => decideRefresh(state, T0 + 2, POLICY, 'rt-2')),
    );
    expect(repeat).toHaveLength(1);
    const reject = await statementsOf(() => store.consumeRefreshToken('rt-1', () => ({ action: 'reject' })));
    expect(reject).toHaveLength(1);
  });

  it('decides again when another instance revoked the session between the read and the write', async () => {
    const seen: RefreshTokenState[] = [];
    let interleaved = false;
    const statements = await statementsOf(
      async () => {
        const outcome = await store.consumeRefreshToken('rt-1', (state) => {
          seen.push(state);
          return decideRefresh(state, T0 + 1, POLICY, 'rt-2');
        });
        expect(outcome?.action).toBe('reject');
      },
      async (text) => {
        // The first write waits until the other instance's revocation has committed.
        if (interleaved || !text.includes('rotated AS')) return;
        interleaved = true;
        await other.revokeSession('s1', T0 + 1, 'logout');
      },
    );
    expect(interleaved).toBe(true);
    expect(seen.map(({ session }) => session.revokedAt)).toEqual([null, T0 + 1]);
    // The write that found the session changed wrote nothing: no successor, the token still current.
    expect(statements.filter((text) => text.includes('rotated AS'))).toHaveLength(1);
    let token: RefreshTokenState['token'] | null = null;
    await store.consumeRefreshToken('rt-1', (state) => {
      token = state.token;
      return { action: 'reject' };
    });
    expect(token).toMatchObject({ rotatedAt: null, successorHash: null });
    expect(await store.findSession('s1')).toMatchObject({ lastUsedAt: T0, revokedReason: 'logout' });
  });

  it('decides again when another instance rotated the token between the read and the write', async () => {
    let interleaved = false;
    let outcome: unknown = null;
    await statementsOf(
      async () => {
        outcome = await store.consumeRefreshToken('rt-1', (state) =>
          decideRefresh(state, T0 + 2, POLICY, 'rt-2-a'),
        );
      },
      async (text) => {
        if (interleaved || !text.includes('rotated AS')) return;
        interleaved = true;
        await other.consumeRefreshToken('rt-1', (state) => decideRefresh(state, T0 + 1, POLICY, 'rt-2-b'));
      },
    );
    expect(interleaved).toBe(true);
    // The other rotation won; this call repeated its successor rather than forking the family.
    expect(outcome).toMatchObject({ action: 'repeat', successorHash: 'rt-2-b' });
    expect((await store.findSession('s1'))?.lastUsedAt).toBe(T0 + 1);
  });
});
