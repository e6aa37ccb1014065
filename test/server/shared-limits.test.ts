/**
 * Several instances (apps in this process, each with its own runtime and connections) sharing one
 * PostgreSQL database, with and without Redis: the login limits hold for all of them together, also
 * for a burst sent to every instance at once; revocations and key changes reach every instance at
 * once through Redis; and an instance whose Redis dies keeps serving with its limits enforced.
 */
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { AuthEvent } from '../../src/auth/service.js';
import { createTestApp } from '../support/app.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import {
  deleteKeys,
  type PrivateRedis,
  REDIS_URL,
  redisAvailability,
  startPrivateRedis,
  uniquePrefix,
} from '../support/redis.js';

const redis = await redisAvailability();
const databases: TestDatabase[] = [];
const prefixes: string[] = [];
let apps: FastifyInstance[] = [];
let privateRedis: PrivateRedis | null = null;

afterEach(async () => {
  await Promise.all(apps.map((app) => app.close()));
  apps = [];
  await privateRedis?.kill();
  privateRedis = null;
});

afterAll(async () => {
  await Promise.all(databases.map((database) => database.drop()));
  if (redis.available) await Promise.all(prefixes.map((prefix) => deleteKeys(REDIS_URL, prefix)));
});

interface Instances {
  apps: FastifyInstance[];
  /** Every auth event of every instance. */
  events: AuthEvent[];
  /** Every log line of every instance, parsed. */
  logs: Record<string, unknown>[];
}

async function startInstances(count: number, env: Record<string, string>): Promise<Instances> {
  const database = await createTestDatabase();
  databases.push(database);
  const events: AuthEvent[] = [];
  const logs: Record<string, unknown>[] = [];
  const started: FastifyInstance[] = [];
  for (let i = 0; i < count; i += 1) {
    const stream = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line !== '') logs.push(JSON.parse(line));
        done();
      },
    });
    const app = await createTestApp(
      { DATABASE_URL: database.url, LATCHKEY_PG_POOL_SIZE: '4', ...env },
      { onEvent: (event) => events.push(event), logger: { level: 'info', stream } },
    );
    started.push(app);
    apps.push(app);
  }
  return { apps: started, events, logs };
}

function redisEnv(url = REDIS_URL): Record<string, string> {
  const prefix = uniquePrefix();
  prefixes.push(prefix);
  return { REDIS_URL: url, LATCHKEY_REDIS_PREFIX: prefix };
}

const EMAIL = 'ada@example.com';
const PASSWORD = 'correct horse battery staple';

async function register(app: FastifyInstance): Promise<void> {
  const res = await app.inject({
    method: 'POST',
    url: '/auth/register',
    payload: { email: EMAIL, password: PASSWORD },
    remoteAddress: '192.0.2.200',
  });
  expect(res.statusCode).toBe(201);
}

function login(app: FastifyInstance, password: string, ip = '198.51.100.7') {
  return app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email: EMAIL, password, refresh_in: 'body' },
    remoteAddress: ip,
  });
}

const passwordChecks = (events: AuthEvent[]) =>
  events.filter((event) => event.type === 'login_failed' && event.reason === 'wrong_password').length;

/** Sends `perInstance` wrong passwords to every instance at once; the statuses. */
/**
 * Where logins in flight are counted in the store, a burst gets at most the five checks one instance
 * allows, and may get fewer: an attempt refused a moment ago can still count as in flight for another
 * (the count errs on the side of refusing). The checks it did not get come one at a time afterwards,
 * and never more than five in all: then the right password is refused too.
 */
async function expectFiveChecksInAll(instances: Instances, statuses: number[]): Promise<void> {
  const checked = passwordChecks(instances.events);
  expect(checked, statuses.join(' ')).toBeLessThanOrEqual(5);
  expect(checked).toBeGreaterThan(0);
  expect(statuses.filter((status) => status === 401)).toHaveLength(checked);
  expect(statuses.filter((status) => status !== 401 && status !== 429)).toEqual([]);
  const apps = instances.apps;
  for (let i = checked; i < 5; i += 1) {
    expect((await login(apps[i % apps.length] as FastifyInstance, 'wrong password!')).statusCode).toBe(401);
  }
  expect(passwordChecks(instances.events)).toBe(5);
  expect((await login(apps[0] as FastifyInstance, PASSWORD)).statusCode).toBe(429);
}

async function burst(instances: Instances, perInstance: number): Promise<number[]> {
  const responses = await Promise.all(
    instances.apps.flatMap((app) => Array.from({ length: perInstance }, () => login(app, 'wrong password!'))),
  );
  return responses.map((res) => res.statusCode);
}

async function until(condition: () => Promise<boolean> | boolean, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!(await condition())) {
    if (performance.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return performance.now() - started;
}

async function metric(app: FastifyInstance, name: string): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const line = text.split('\n').find((entry) => entry.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

describe('instances on PostgreSQL without Redis', () => {
  it('a burst of wrong passwords sent to three instances at once gets the password checks of one', async () => {
    const instances = await startInstances(3, {});
    await register(instances.apps[0] as FastifyInstance);
    // Five free failures per account+IP, whichever instances they reach.
    await expectFiveChecksInAll(instances, await burst(instances, 10));
  });
});

describe.skipIf(!redis.available)('instances sharing Redis', () => {
  it('count failures in Redis: failures on one instance throttle the pair on the other', async () => {
    const instances = await startInstances(2, redisEnv());
    const [a, b] = instances.apps as [FastifyInstance, FastifyInstance];
    await register(a);
    for (let i = 0; i < 5; i += 1)
      expect((await login(i % 2 === 0 ? a : b, 'wrong password!')).statusCode).toBe(401);
    const refused = await login(b, PASSWORD);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ error: 'rate_limited' });
    expect((await login(a, PASSWORD)).statusCode).toBe(429);
    // Another IP is not locked out.
    expect((await login(a, PASSWORD, '198.51.100.8')).statusCode).toBe(200);
  });

  it('a burst of wrong passwords sent to three instances at once gets the password checks of one', async () => {
    const instances = await startInstances(3, redisEnv());
    await register(instances.apps[0] as FastifyInstance);
    const statuses = await burst(instances, 10);
    expect(passwordChecks(instances.events)).toBe(5);
    expect(statuses.filter((status) => status === 429)).toHaveLength(25);
  });

  it('a session revoked on one instance is refused by the other at once, without polling', async () => {
    // createTestApp turns background work off: no store polling, so only the fan-out can tell B.
    const instances = await startInstances(2, redisEnv());
    const [a, b] = instances.apps as [FastifyInstance, FastifyInstance];
    await register(a);
    const token = (await login(a, PASSWORD)).json().access_token as string;
    const me = () =>
      b.inject({ method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${token}` } });
    expect((await me()).statusCode).toBe(200);
    const started = performance.now();
    const res = await a.inject({
      method: 'POST',
      url: '/auth/logout-all',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode).toBe(204);
    await until(async () => (await me()).statusCode === 401, 2000);
    const elapsedMs = performance.now() - started;
    expect(elapsedMs).toBeLessThan(250);
    process.stdout.write(
      `revocation on A refused by B after ${elapsedMs.toFixed(1)} ms (logout-all included)\n`,
    );
  });

  it('a message on the channel is a cue to read the store, never a revocation of its own', async () => {
    const env = redisEnv();
    const instances = await startInstances(2, env);
    const [a, b] = instances.apps as [FastifyInstance, FastifyInstance];
    await register(a);
    const login1 = (await login(a, PASSWORD)).json();
    const token = login1.access_token as string;
    const sid = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).sid as string;
    const me = () =>
      b.inject({ method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${token}` } });
    // Whoever can publish on Redis sends a revocation the store does not hold, and a flood of cues.
    const publisher = new Redis(REDIS_URL);
    try {
      const channel = `${env.LATCHKEY_REDIS_PREFIX}events`;
      const forged = { from: 'x', type: 'sessions-revoked', sessions: [{ id: sid, revokedAt: 1e300 }] };
      await publisher.publish(channel, JSON.stringify(forged));
      await Promise.all(
        Array.from({ length: 500 }, () =>
          publisher.publish(channel, JSON.stringify({ from: 'x', type: 'keys-changed' })),
        ),
      );
      // Published in order: once B has seen the last message, it has acted on the forged one.
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      publisher.disconnect();
    }
    expect(b.latchkey.revocations.has(sid)).toBe(false);
    expect((await me()).statusCode).toBe(200);
    expect((await b.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });

  it('a key revoked on one instance leaves the other at once', async () => {
    const instances = await startInstances(2, redisEnv());
    const [a, b] = instances.apps as [FastifyInstance, FastifyInstance];
    const jwks = async (app: FastifyInstance) =>
      (
        (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json().keys as { kid: string }[]
      ).map(({ kid }) => kid);
    const [kid] = await jwks(b);
    expect(kid).toBeDefined();
    const revoked = await a.latchkey.keys.revoke(kid as string);
    expect(revoked.outcome).toBe('revoked');
    const elapsedMs = await until(async () => !(await jwks(b)).includes(kid as string), 2000);
    expect(elapsedMs).toBeLessThan(250);
    // B signs with the replacement A made.
    expect(b.latchkey.keys.hasSigningKey).toBe(true);
  });

  it('keep serving with limits enforced when Redis dies, show it, and use it again once it is back', async () => {
    privateRedis = await startPrivateRedis();
    const env = redisEnv(privateRedis.url);
    const prefix = env.LATCHKEY_REDIS_PREFIX as string;
    const instances = await startInstances(2, env);
    const [a, b] = instances.apps as [FastifyInstance, FastifyInstance];
    await register(a);
    expect(await metric(a, 'latchkey_redis_available')).toBe(1);
    await privateRedis.kill();
    await until(async () => (await metric(b, 'latchkey_redis_available')) === 0, 5000);
    // Serving: a right password logs in, on both.
    expect((await login(a, PASSWORD, '203.0.113.1')).statusCode).toBe(200);
    expect((await login(b, PASSWORD, '203.0.113.1')).statusCode).toBe(200);
    // Limits enforced across the instances through the store, also under a burst.
    await expectFiveChecksInAll(instances, await burst(instances, 10));
    expect((await login(b, PASSWORD)).statusCode).toBe(429);
    const away = instances.logs.filter((line) => String(line.msg).startsWith('Redis is unavailable'));
    expect(away).toHaveLength(2);

    await privateRedis.start();
    await until(
      async () =>
        (await metric(a, 'latchkey_redis_available')) === 1 &&
        (await metric(b, 'latchkey_redis_available')) === 1,
      10_000,
    );
    expect(instances.logs.filter((line) => String(line.msg).startsWith('Redis is back'))).toHaveLength(2);
    // Redis is empty after its restart: what the store counted meanwhile still holds.
    expect((await login(a, PASSWORD)).statusCode).toBe(429);
    expect((await login(b, PASSWORD)).statusCode).toBe(429);
    // And it counts again in Redis: another pair's failures on A throttle it on B.
    for (let i = 0; i < 5; i += 1)
      expect((await login(a, 'wrong password!', '203.0.113.9')).statusCode).toBe(401);
    expect((await login(b, PASSWORD, '203.0.113.9')).statusCode).toBe(429);
    const client = new Redis(privateRedis.url);
    try {
      expect(await client.hget(`${prefix}counter:login:pair:${EMAIL}|203.0.113.9`, 'count')).toBe('5');
    } finally {
      client.disconnect();
    }
  });
});
