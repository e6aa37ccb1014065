/**
 * One deployment of three instances, A, B and C: compiled servers, each its own process on its own
 * loopback port, sharing one PostgreSQL schema, as three machines behind a load balancer would. What
 * one instance does, the others must honour: sessions, refresh-token reuse, logout-all, login limits,
 * key rotation and key revocation; and killing one in the middle of writes loses nothing it
 * acknowledged.
 *
 * They share one issuer, one master key and a trusted proxy's X-Forwarded-For (`deploymentEnv` in
 * ./support.ts says why).
 *
 * Every case runs once per variant: PostgreSQL alone, and PostgreSQL with Redis.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { deleteKeys, REDIS_URL, redisAvailability } from '../support/redis.js';
import {
  allAnswer,
  claimsOf,
  deploymentEnv,
  FREE_FAILURES,
  freshAddress,
  ISSUER,
  type LatchkeyProcess,
  login,
  logoutAllOnFirst,
  msUntil,
  PASSWORD,
  PROPAGATION_MS,
  post,
  REFRESH_GRACE_SECONDS,
  refresh,
  register,
  reportPropagation,
  request,
  runLatchkeyCommand,
  sleep,
  startInstances,
  tokensOf,
} from './support.js';

interface Variant {
  name: string;
  enabled: boolean;
  /** REDIS_URL and a LATCHKEY_REDIS_PREFIX of this run's own. */
  redis: boolean;
}

// Without a reachable Redis the Redis variant says why it skips (and fails where CI requires Redis).
const redisServer = await redisAvailability();

const VARIANTS: readonly Variant[] = [
  { name: 'PostgreSQL', enabled: true, redis: false },
  { name: 'PostgreSQL and Redis', enabled: redisServer.available, redis: true },
];

function kidOf(token: string): string {
  const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as {
    kid?: unknown;
  };
  return String(header.kid);
}

async function publishedKids(instance: LatchkeyProcess): Promise<string[]> {
  const jwks = await request(instance.baseUrl, '/.well-known/jwks.json');
  return ((jwks.body?.keys ?? []) as { kid: string }[]).map((key) => key.kid).sort();
}

for (const variant of VARIANTS) {
  describe.runIf(variant.enabled)(`three instances on ${variant.name}`, () => {
    let database: TestDatabase;
    let env: Record<string, string>;
    let a: LatchkeyProcess;
    let b: LatchkeyProcess;
    let c: LatchkeyProcess;
    let all: LatchkeyProcess[];
    /** Reads the shared database directly, to see what the instances wrote. */
    let direct: pg.Pool;
    const redisPrefix = `lk_e2e_${process.pid}_${randomBytes(4).toString('hex')}:`;

    beforeAll(async () => {
      database = await createTestDatabase();
      env = deploymentEnv(
        database.url,
        variant.redis ? { REDIS_URL, LATCHKEY_REDIS_PREFIX: redisPrefix } : {},
      );
      all = await startInstances(3, env);
      [a, b, c] = all as [LatchkeyProcess, LatchkeyProcess, LatchkeyProcess];
      direct = new pg.Pool({ connectionString: database.url, max: 2 });
    }, 90_000);

    afterAll(async () => {
      await Promise.all((all ?? []).map((instance) => instance.close()));
      await direct?.end();
      await database?.drop();
      if (variant.redis) await deleteKeys(REDIS_URL, redisPrefix);
    }, 30_000);

    it('is one deployment: one issuer, one discovery document and one JWKS on every instance', async () => {
      const documents = await Promise.all(
        all.map((instance) => request(instance.baseUrl, '/.well-known/openid-configuration')),
      );
      for (const document of documents) {
        expect(document.status).toBe(200);
        expect(document.body).toEqual(documents[0]?.body);
      }
      expect(documents[0]?.body?.issuer).toBe(ISSUER);
      expect(documents[0]?.body?.jwks_uri).toBe(`${ISSUER}/.well-known/jwks.json`);
      // Started at once on an empty database, they agree on one set of keys within a sync. (More than
      // one of them may create a first key meanwhile: each then publishes the others' at its next sync.)
      const startedAt = Date.now();
      const agreedAfterMs = await msUntil(async () => {
        const kids = await Promise.all(all.map(publishedKids));
        return (kids[0]?.length ?? 0) > 0 && kids.every((set) => set.join() === kids[0]?.join());
      }, startedAt);
      reportPropagation(variant.name, 'one JWKS on all three', agreedAfterMs);
      expect(agreedAfterMs).toBeLessThan(PROPAGATION_MS);
    });

    it('registers and logs in on A; B and C accept the access token', async () => {
      const address = freshAddress();
      const email = await register(a, address);
      const { accessToken } = await login(a, email, address);
      const claims = claimsOf(accessToken);
      expect(claims.iss).toBe(ISSUER);
      expect(claims.aud).toBe(ISSUER);
      for (const instance of [b, c]) {
        const me = await request(instance.baseUrl, '/api/me', { bearer: accessToken });
        expect(me.status, JSON.stringify(me.body)).toBe(200);
        expect(me.body).toEqual({ id: claims.sub, email, roles: [] });
      }
    });

    it('refreshed on B, the old refresh token reused on C: the family is revoked on every instance', async () => {
      const address = freshAddress();
      const email = await register(a, address);
      const first = await login(a, email, address);
      const second = tokensOf(await refresh(b, first.refreshToken, address));
      expect(await allAnswer(all, [first.accessToken, second.accessToken], 200)).toBe(true);

      // Past the grace window, a rotated token used again means it was stolen.
      await sleep(REFRESH_GRACE_SECONDS * 1000 + 300);
      const reused = await refresh(c, first.refreshToken, address);
      const reusedAt = Date.now();
      expect(reused.status).toBe(401);
      expect(reused.body).toEqual({
        error: 'invalid_grant',
        message: 'refresh token is invalid, expired or revoked',
      });
      const refusedAfterMs = await msUntil(
        () => allAnswer(all, [first.accessToken, second.accessToken], 401),
        reusedAt,
      );
      reportPropagation(
        variant.name,
        'refresh-token reuse: access tokens refused on all three',
        refusedAfterMs,
      );
      expect(refusedAfterMs).toBeLessThan(PROPAGATION_MS);

      // The newest refresh token of the family is dead too, wherever it is presented.
      for (const instance of all) {
        const next = await refresh(instance, second.refreshToken, address);
        expect(next.status, instance.baseUrl).toBe(401);
        expect(next.body?.error).toBe('invalid_grant');
      }
    });

    it('logout-all on A: B and C refuse the access tokens of every session within a second', async () => {
      const address = freshAddress();
      const { sessions, accessTokens, refusedAfterMs } = await logoutAllOnFirst(all, address);
      reportPropagation(variant.name, 'logout-all on A: access tokens refused on B and C', refusedAfterMs);
      expect(refusedAfterMs).toBeLessThan(PROPAGATION_MS);
      expect(await allAnswer([a], accessTokens, 401)).toBe(true);
      const me = await request(c.baseUrl, '/api/me', { bearer: sessions[1]?.accessToken as string });
      expect(me.body?.error).toBe('invalid_token');
      expect(me.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
      for (const [index, session] of sessions.entries()) {
        const next = await refresh(all[(index + 1) % 3] as LatchkeyProcess, session.refreshToken, address);
        expect(next.status).toBe(401);
      }
    });

    it('failed logins spread over A, B and C count against one limit', async () => {
      const address = freshAddress();
      const email = await register(a, address);
      const wrong = { email, password: 'not the password', refresh_in: 'body' };
      for (let attempt = 0; attempt < FREE_FAILURES; attempt++) {
        const failed = await post(all[attempt % 3] as LatchkeyProcess, '/auth/login', wrong, address);
        expect(failed.status, `attempt ${attempt + 1}`).toBe(401);
        expect(failed.body?.error).toBe('invalid_credentials');
      }
      // The next attempt, wherever it lands, waits: even with the right password.
      for (const instance of all) {
        for (const password of ['not the password', PASSWORD]) {
          const throttled = await post(instance, '/auth/login', { ...wrong, password }, address);
          expect(throttled.status, instance.baseUrl).toBe(429);
          expect(throttled.body?.error).toBe('rate_limited');
          expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
        }
      }
      // The limit is this address's: the owner logs in from elsewhere.
      await login(c, email, freshAddress());
    });

    describe('logins in flight shared between instances', () => {
      it('a burst of wrong passwords sent to all three at once gets no more checks than one instance allows', async () => {
        const address = freshAddress();
        const email = await register(a, address);
        const wrong = { email, password: 'not the password', refresh_in: 'body' };
        // Three times what one instance lets through, a third to each, all at once.
        const burst = await Promise.all(
          Array.from({ length: 3 * FREE_FAILURES }, (_, index) =>
            post(all[index % 3] as LatchkeyProcess, '/auth/login', wrong, address),
          ),
        );
        const statuses = burst.map((answer) => answer.status);
        // A 401 is a password checked; a 429 was refused before any check.
        const checked = statuses.filter((status) => status === 401).length;
        expect(statuses.filter((status) => status !== 401 && status !== 429)).toEqual([]);
        expect(checked, statuses.join(' ')).toBeLessThanOrEqual(FREE_FAILURES);
        expect(checked).toBeGreaterThan(0);
        // Without Redis the burst may get fewer (an attempt refused a moment ago can still count as in
        // flight for another): the rest come one at a time, five in all, and then the limit holds for
        // the right password too.
        for (let i = checked; i < FREE_FAILURES; i++) {
          expect((await post(all[i % 3] as LatchkeyProcess, '/auth/login', wrong, address)).status).toBe(401);
        }
        const next = await post(b, '/auth/login', { ...wrong, password: PASSWORD }, address);
        expect(next.status).toBe(429);
      });
    });

    it('a key rotated through the CLI signs on A, B and C within a second; tokens of the old key stay valid', async () => {
      const address = freshAddress();
      const email = await register(a, address);
      const before = await login(a, email, address);
      const oldKid = kidOf(before.accessToken);
      // A session on each instance, to see what each signs with.
      const sessions = [
        await login(a, email, address),
        await login(b, email, address),
        await login(c, email, address),
      ];

      const rotated = await runLatchkeyCommand(['keys', 'rotate', '--now'], env);
      const rotatedAt = Date.now();
      expect(rotated.code, rotated.stderr).toBe(0);
      const newKid = rotated.stdout.trim();
      expect(newKid).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(newKid).not.toBe(oldKid);

      // The command wrote to the database from a process of its own: each instance refreshes its own
      // session until all three sign with the new key.
      const signsWithNewKey = async () => {
        const answers = await Promise.all(
          sessions.map((session, index) =>
            refresh(all[index] as LatchkeyProcess, session.refreshToken, address),
          ),
        );
        for (const [index, answer] of answers.entries()) sessions[index] = tokensOf(answer);
        return sessions.every((session) => kidOf(session.accessToken) === newKid);
      };
      const signingAfterMs = await msUntil(signsWithNewKey, rotatedAt);
      reportPropagation(variant.name, 'keys rotate --now: all three sign with the new key', signingAfterMs);
      expect(signingAfterMs).toBeLessThan(PROPAGATION_MS);

      // Every instance publishes both keys and accepts tokens of both, whoever signed them.
      for (const instance of all) {
        const kids = await publishedKids(instance);
        expect(kids).toContain(oldKid);
        expect(kids).toContain(newKid);
      }
      const fresh = sessions.map((session) => session.accessToken);
      expect(await allAnswer(all, [before.accessToken, ...fresh], 200)).toBe(true);
    });

    it('a key revoked through the CLI is refused by A, B and C within a second', async () => {
      const address = freshAddress();
      const email = await register(a, address);
      const session = await login(a, email, address);
      const revokedKid = kidOf(session.accessToken);
      expect(await allAnswer(all, [session.accessToken], 200)).toBe(true);

      const revoked = await runLatchkeyCommand(['keys', 'revoke', revokedKid], env);
      const revokedAt = Date.now();
      expect(revoked.code, revoked.stderr).toBe(0);
      expect(revoked.stdout.split('\n')[0]).toBe(`revoked signing key ${revokedKid}`);
      const replacement = /^new signing key (\S+) signs from now on$/m.exec(revoked.stdout)?.[1];
      expect(replacement).toMatch(/^[A-Za-z0-9_-]{43}$/);

      // The command wrote to the database from a process of its own: A learns of it as B and C do.
      const refusedAfterMs = await msUntil(() => allAnswer(all, [session.accessToken], 401), revokedAt);
      reportPropagation(variant.name, 'keys revoke: its tokens refused on all three', refusedAfterMs);
      expect(refusedAfterMs).toBeLessThan(PROPAGATION_MS);
      for (const instance of all) expect(await publishedKids(instance)).not.toContain(revokedKid);

      // The session itself is untouched: refreshed on C, it gets a token of the replacement key.
      const renewed = tokensOf(await refresh(c, session.refreshToken, address));
      expect(kidOf(renewed.accessToken)).toBe(replacement);
      expect(await allAnswer(all, [renewed.accessToken], 200)).toBe(true);
    });

    // Last: B does not come back.
    it('B killed with SIGKILL during concurrent refreshes and registrations loses no acknowledged write', async () => {
      const chains = await Promise.all(
        Array.from({ length: 4 }, async () => {
          const address = freshAddress();
          const email = await register(b, address);
          const tokens = await login(b, email, address);
          return {
            email,
            address,
            ...tokens,
            sid: String(claimsOf(tokens.accessToken).sid),
            acknowledged: 0,
          };
        }),
      );
      const registrations = Array.from({ length: 40 }, () => ({
        email: `${randomUUID()}@example.com`,
        address: freshAddress(),
      }));
      const acknowledgedUsers: typeof registrations = [];
      const unexpected: string[] = [];
      let networkFailures = 0;
      let killed: Promise<void> | null = null;
      const killB = () => {
        killed ??= b.kill('SIGKILL');
      };
      /** A request to B that may meet it dead: a network failure is `null`. */
      const toB = async (path: string, body: unknown, address: string) => {
        try {
          return await post(b, path, body, address);
        } catch {
          networkFailures += 1;
          return null;
        }
      };

      const registerLoop = async (index: number) => {
        await sleep(index * 20);
        const user = registrations[index] as (typeof registrations)[number];
        const answer = await toB('/auth/register', { email: user.email, password: PASSWORD }, user.address);
        if (answer === null) return;
        if (answer.status === 201) {
          acknowledgedUsers.push(user);
          if (acknowledgedUsers.length >= 8) killB();
        } else if (answer.status !== 503) {
          // A 503 is the hasher refusing under overload: an honest "not done", not a lost write.
          unexpected.push(`register ${answer.status} ${JSON.stringify(answer.body)}`);
        }
      };
      const refreshLoop = async (chain: (typeof chains)[number]) => {
        while (killed === null) {
          const answer = await toB('/auth/refresh', { refresh_token: chain.refreshToken }, chain.address);
          if (answer === null) return;
          if (answer.status !== 200) {
            unexpected.push(`refresh ${answer.status} ${JSON.stringify(answer.body)}`);
            return;
          }
          Object.assign(chain, tokensOf(answer));
          chain.acknowledged += 1;
        }
      };
      await Promise.all([
        ...registrations.map((_, index) => registerLoop(index)),
        ...chains.map(refreshLoop),
      ]).finally(killB);
      await killed;

      const rotations = chains.reduce((sum, chain) => sum + chain.acknowledged, 0);
      process.stderr.write(
        `multi-instance on ${variant.name}: SIGKILL after ${acknowledgedUsers.length} registrations and ` +
          `${rotations} refreshes acknowledged; ${networkFailures} requests cut off\n`,
      );
      expect(unexpected).toEqual([]);
      // The kill landed in the middle: some writes were acknowledged, others cut off.
      expect(acknowledgedUsers.length).toBeGreaterThanOrEqual(8);
      expect(acknowledgedUsers.length).toBeLessThan(registrations.length);
      expect(networkFailures).toBeGreaterThan(0);
      for (const chain of chains) expect(chain.acknowledged).toBeGreaterThan(0);

      // A and C serve on.
      for (const instance of [a, c]) {
        expect((await request(instance.baseUrl, '/readyz')).status).toBe(200);
      }
      // Every acknowledged registration: the account logs in on A or C.
      for (const [index, user] of acknowledgedUsers.entries()) {
        await login(index % 2 === 0 ? a : c, user.email, user.address);
      }
      // Every acknowledged rotation: its refresh token is in the database, in its session, which is
      // live; its access token opens /api/me on A and C; and the chain goes on from there.
      for (const chain of chains) {
        const { rows } = await direct.query<{ session_id: string; rotated_at: unknown; revoked_at: unknown }>(
          `select t.session_id, t.rotated_at, s.revoked_at from refresh_tokens t
           join sessions s on s.id = t.session_id where t.hash = $1`,
          [createHash('sha256').update(chain.refreshToken).digest('base64url')],
        );
        expect(rows, chain.email).toHaveLength(1);
        expect(rows[0]?.session_id).toBe(chain.sid);
        expect(rows[0]?.revoked_at).toBeNull();
        expect(await allAnswer([a, c], [chain.accessToken], 200)).toBe(true);
        // Had a rotation committed without its answer reaching us, the token acknowledged last was
        // rotated already; presenting it after the grace window would rightly revoke the family.
        if (rows[0]?.rotated_at === null) tokensOf(await refresh(a, chain.refreshToken, chain.address));
      }
    }, 90_000);
  });
}
