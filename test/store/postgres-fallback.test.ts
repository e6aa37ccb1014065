/**
 * The PGlite fallback of test/support/postgres.ts, exercised on purpose: the probe points at a port
 * where nothing listens, so the helper starts PGlite behind pglite-socket, and the real `pg` driver and
 * the PostgreSQL store run on it: schemas kept apart per connection, concurrent queries from many
 * connections, transactions with row locks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/open.js';
import { readCounter, recordFailure } from '../support/counters.js';
import { freePort } from '../support/ports.js';
import { type PostgresTarget, resolvePostgresTarget } from '../support/postgres.js';

const T0 = 1_700_000_000_000;

describe('PostgreSQL tests without a server', () => {
  let target: PostgresTarget & { probe: string };
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    target = await resolvePostgresTarget({ host: '127.0.0.1', port }, false);
  }, 120_000);

  afterAll(async () => {
    await target?.close();
  });

  it('refuse to fall back when the server is required', async () => {
    await expect(resolvePostgresTarget({ host: '127.0.0.1', port }, true)).rejects.toThrow(
      `LATCHKEY_TEST_POSTGRES=server, but nothing answers at 127.0.0.1:${port} (ECONNREFUSED)`,
    );
  });

  it('fall back to PGlite over pglite-socket, and say so', () => {
    expect(target.kind).toBe('pglite');
    expect(target.probe).toBe('ECONNREFUSED');
    expect(target.description).toMatch(/^PGlite over pglite-socket at 127\.0\.0\.1:\d+$/);
  });

  it('run the store there, one schema per database, with concurrent connections', async () => {
    const [first, second] = await Promise.all([target.createDatabase(), target.createDatabase()]);
    const [a, b] = await Promise.all([openPostgresStore(first.url), openPostgresStore(second.url)]);
    try {
      await a.createUser({ id: 'u1', email: 'u1@example.com', passwordHash: 'phc', createdAt: T0 });
      expect(await b.findUserById('u1')).toBeNull();
      expect((await a.findUserById('u1'))?.email).toBe('u1@example.com');

      // Parameterized queries from many connections at once, interleaved with the other schema's.
      const roles = Array.from({ length: 20 }, (_, i) => `role-${String(i).padStart(2, '0')}`);
      const [added] = await Promise.all([
        Promise.all([...roles, ...roles].map((role) => a.addUserRole('u1', role))),
        Promise.all(roles.map((_, i) => recordFailure(b, 'k', 60_000, T0 + i))),
      ]);
      expect(added.filter((result) => result === true)).toHaveLength(20);
      expect((await a.findUserById('u1'))?.roles).toEqual(roles);
      expect((await readCounter(b, 'k', T0))?.count).toBe(20);
      expect(await readCounter(a, 'k', T0)).toBeNull();

      await a.createSession(
        {
          id: 's1',
          userId: 'u1',
          createdAt: T0,
          lastUsedAt: T0,
          expiresAt: T0 + 9,
          idleExpiresAt: T0 + 9,
          userAgent: null,
          ip: null,
        },
        'rt-1',
      );
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          a.consumeRefreshToken('rt-1', ({ token }) =>
            token.rotatedAt === null
              ? { action: 'rotate', successorHash: `rt-2-${i}`, now: T0 + 1, idleExpiresAt: T0 + 9 }
              : { action: 'repeat' },
          ),
        ),
      );
      expect(outcomes.filter((outcome) => outcome?.action === 'rotate')).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome?.action === 'repeat')).toHaveLength(9);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await Promise.all([first.drop(), second.drop()]);
    }
  });
}, 180_000);
