/**
 * With REDIS_URL, what a command changes is published as a server's own changes are: a subscriber on
 * the channel hears it, and a running instance that never polls the store learns of it at once. Without
 * a reachable Redis the command still succeeds, at once, and says so in one line; commands that change
 * nothing never try Redis at all.
 */
import { execFile } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/server/runtime.js';
import { freePort } from '../support/ports.js';
import { deleteKeys, REDIS_URL, redisAvailability, uniquePrefix } from '../support/redis.js';
import { CLIENT, createTestDatabase, PASSWORD, runCLI, type TestDatabase } from './run-cli.js';

const BIN = fileURLToPath(new URL('../../bin/latchkey.js', import.meta.url));
const EMAIL = 'ann@example.com';

const redis = await redisAvailability();
const prefixes: string[] = [];
afterAll(async () => {
  if (redis.available) await Promise.all(prefixes.map((prefix) => deleteKeys(REDIS_URL, prefix)));
});

let db: TestDatabase;
afterEach(async () => db.remove());

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A database with ann, and a server's first key in it. */
async function databaseWithUser(env: Record<string, string> = {}): Promise<TestDatabase> {
  const database = await createTestDatabase(env);
  await database.run(['migrate']);
  const added = await database.run(['users', 'add', EMAIL, '--password-stdin'], { stdin: PASSWORD });
  expect(added.code, added.stderr).toBe(0);
  return database;
}

const logins = (runtime: Runtime, count: number) =>
  Promise.all(Array.from({ length: count }, () => runtime.service.login(EMAIL, PASSWORD, CLIENT)));

describe.skipIf(!redis.available)('commands publish their changes over Redis (REDIS_URL)', () => {
  let prefix: string;
  let subscriber: Redis;
  let publisher: Redis;
  let heard: Record<string, unknown>[];

  beforeEach(async () => {
    prefix = uniquePrefix();
    prefixes.push(prefix);
    db = await databaseWithUser({ REDIS_URL, LATCHKEY_REDIS_PREFIX: prefix });
    heard = [];
    subscriber = new Redis(REDIS_URL);
    publisher = new Redis(REDIS_URL);
    subscriber.on('message', (_channel: string, text: string) => heard.push(JSON.parse(text)));
    await subscriber.subscribe(`${prefix}events`);
  });
  afterEach(() => {
    subscriber.disconnect();
    publisher.disconnect();
  });

  /**
   * Everything published on the channel from now until the command below has finished: a marker
   * published after it arrives after anything it published, as Redis keeps the order on a channel.
   */
  async function heardDuring(work: () => Promise<void>): Promise<Record<string, unknown>[]> {
    heard = [];
    await work();
    const marker = { type: 'marker', from: 'test' };
    await publisher.publish(`${prefix}events`, JSON.stringify(marker));
    await until(() => heard.some((message) => message.type === 'marker'), 5000);
    return heard.filter((message) => message.type !== 'marker');
  }

  const sessionsRevoked = (ids: string[]) => ({
    from: expect.any(String),
    type: 'sessions-revoked',
    sessions: ids.map((id) => ({ id, revokedAt: expect.any(Number) })),
  });

  it('sessions revoke <sid>: the session, at its stored revocation time; once', async () => {
    const [first] = await db.withRuntime((runtime) => logins(runtime, 2));
    const sid = first?.sessionId as string;
    const messages = await heardDuring(async () => {
      expect((await db.run(['sessions', 'revoke', sid])).code).toBe(0);
    });
    expect(messages).toEqual([sessionsRevoked([sid])]);
    const stored = await db.withRuntime(({ store }) => store.findSession(sid));
    expect(messages[0]?.sessions).toEqual([{ id: sid, revokedAt: stored?.revokedAt }]);
    // Revoked already: nothing changed, nothing to tell.
    expect(
      await heardDuring(async () => {
        expect((await db.run(['sessions', 'revoke', sid])).stdout).toMatch(/was revoked already/);
      }),
    ).toEqual([]);
  });

  it('users disable: every live session of the user', async () => {
    const sids = (await db.withRuntime((runtime) => logins(runtime, 2))).map((login) => login.sessionId);
    const messages = await heardDuring(async () => {
      const result = await db.run(['users', 'disable', EMAIL]);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toMatch(/revoked 2 sessions/);
    });
    expect(messages).toHaveLength(1);
    const published = ((messages[0]?.sessions ?? []) as { id: string }[]).map(({ id }) => id);
    expect([...published].sort()).toEqual([...sids].sort());
    expect(messages[0]).toEqual(sessionsRevoked(published));
  });

  it('sessions revoke --user: every live session of the user', async () => {
    const sids = (await db.withRuntime((runtime) => logins(runtime, 3))).map((login) => login.sessionId);
    const messages = await heardDuring(async () => {
      expect((await db.run(['sessions', 'revoke', '--user', EMAIL])).code).toBe(0);
    });
    expect(messages).toHaveLength(1);
    const published = ((messages[0]?.sessions ?? []) as { id: string }[]).map(({ id }) => id);
    expect([...published].sort()).toEqual([...sids].sort());
  });

  it('keys revoke and keys rotate: keys-changed', async () => {
    const kid = await db.withRuntime(async ({ keys }) => keys.signingKey.kid as string);
    for (const args of [
      ['keys', 'revoke', kid],
      ['keys', 'rotate'],
    ]) {
      const messages = await heardDuring(async () => {
        const result = await db.run(args);
        expect(result.code, result.stderr).toBe(0);
      });
      expect(messages).toEqual([{ from: expect.any(String), type: 'keys-changed' }]);
    }
  });

  it('commands that change nothing publish nothing', async () => {
    const messages = await heardDuring(async () => {
      for (const args of [
        ['keys', 'list'],
        ['users', 'list'],
        ['users', 'roles', EMAIL],
      ]) {
        expect((await db.run(args)).code, args.join(' ')).toBe(0);
      }
    });
    expect(messages).toEqual([]);
  });

  it('a running instance that never polls learns of a revoked session and a revoked key at once', async () => {
    // background: false (db.withRuntime): no store poll, so only the fan-out can tell this instance.
    await db.withRuntime(async (runtime) => {
      const [login] = await logins(runtime, 1);
      const sid = login?.sessionId as string;
      const kid = runtime.keys.signingKey.kid as string;
      expect(runtime.revocations.has(sid)).toBe(false);

      const revoked = await db.run(['sessions', 'revoke', sid]);
      expect(revoked.code).toBe(0);
      await until(() => runtime.revocations.has(sid), 2000);
      expect(() => runtime.service.authenticate(login?.accessToken as string)).toThrow(
        'the session of this token has been revoked',
      );

      expect((await db.run(['keys', 'revoke', kid])).code).toBe(0);
      const published = () => runtime.keys.verificationKeys.keys.map((key) => key.kid);
      await until(() => !published().includes(kid), 2000);
      expect(runtime.keys.signingKey.kid).not.toBe(kid);
    });
  });

  it('the command process exits as soon as it is done: the Redis connection is closed', async () => {
    const [login] = await db.withRuntime((runtime) => logins(runtime, 1));
    const messages = await heardDuring(async () => {
      const { stdout, stderr } = await promisify(execFile)(
        BIN,
        ['sessions', 'revoke', login?.sessionId as string],
        {
          env: { ...process.env, ...db.env },
          timeout: 20_000,
        },
      );
      expect(stdout).toBe(`revoked session ${login?.sessionId} of ${EMAIL}\n`);
      expect(stderr).toBe('');
    });
    expect(messages).toEqual([sessionsRevoked([login?.sessionId as string])]);
  });
});

describe('commands with REDIS_URL where no Redis listens', () => {
  let env: Record<string, string>;
  beforeEach(async () => {
    db = await databaseWithUser();
    env = { ...db.env, REDIS_URL: `redis://127.0.0.1:${await freePort()}` };
  });

  it('succeed at once, change the store, and say in one line that Redis was not told', async () => {
    const [first, second] = await db.withRuntime((runtime) => logins(runtime, 2));
    const commands = [
      ['sessions', 'revoke', first?.sessionId as string],
      ['keys', 'rotate', '--now'],
      ['users', 'disable', EMAIL],
    ];
    for (const args of commands) {
      const started = performance.now();
      const result = await runCLI(args, env);
      const elapsedMs = performance.now() - started;
      expect(result.code, result.stderr).toBe(0);
      const [warning, ...others] = result.stderr.split('\n');
      expect(warning).toMatch(
        /^latchkey: could not tell the running servers through Redis \(.*ECONNREFUSED.*\); they learn of the change from the database within a second$/,
      );
      expect(others.join('\n')).not.toMatch(/redis/i);
      // A refused connection is not tried again: no wait for Redis (generous for a busy machine).
      expect(elapsedMs, args.join(' ')).toBeLessThan(2500);
    }
    await db.withRuntime(async ({ store }) => {
      expect((await store.findSession(first?.sessionId as string))?.revokedReason).toBe('revoked_by_admin');
      expect((await store.findSession(second?.sessionId as string))?.revokedReason).toBe('user_disabled');
      expect((await store.findUserByEmail(EMAIL))?.disabledAt).not.toBeNull();
    });
  });

  it('try a Redis that hangs up once, and do not wait for it', async () => {
    let connections = 0;
    const hangingUp = createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => hangingUp.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = hangingUp.address() as AddressInfo;
      const [login] = await db.withRuntime((runtime) => logins(runtime, 1));
      const result = await runCLI(['sessions', 'revoke', login?.sessionId as string], {
        ...db.env,
        REDIS_URL: `redis://127.0.0.1:${port}`,
      });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toMatch(
        /^latchkey: could not tell the running servers through Redis \(.+\); .*\n$/,
      );
      expect(connections).toBe(1);
    } finally {
      await new Promise((resolve) => hangingUp.close(resolve));
    }
  });

  it('that change nothing never try Redis', async () => {
    for (const args of [
      ['keys', 'list'],
      ['users', 'list'],
      ['users', 'roles', EMAIL],
      ['token', 'inspect', 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln'],
    ]) {
      const result = await runCLI(args, env);
      expect(result.stderr, args.join(' ')).not.toMatch(/redis/i);
    }
  });
});
