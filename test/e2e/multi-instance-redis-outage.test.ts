/**
 * Redis stopped under load (issue #11): three compiled instances, A, B and C, on one PostgreSQL schema,
 * with REDIS_URL pointing at a redis-server of this file's own (test/support/redis.ts), never the
 * machine's shared one at 6379, which other tests use meanwhile. Under steady load (refreshes,
 * /api/me, logins with right and wrong passwords, spread over A, B and C) Redis is killed with
 * SIGKILL, and later started again, empty, on the same port. Every instance must keep answering as
 * the contract says, keep its login limits through the store (DESIGN: nothing fails open), learn of
 * revocations by polling, say that Redis is gone, and use it again once it is back.
 *
 * The cases run in order, on one deployment, with the load running from the first to the last.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { type PrivateRedis, redisAvailability, startPrivateRedis, uniquePrefix } from '../support/redis.js';
import {
  deploymentEnv,
  FREE_FAILURES,
  freshAddress,
  type JSONResponse,
  type LatchkeyProcess,
  login,
  loginAttempt,
  logoutAllOnFirst,
  msUntil,
  PASSWORD,
  PROPAGATION_MS,
  refresh,
  register,
  reportPropagation,
  request,
  sleep,
  startInstances,
  type Tokens,
  tokensOf,
} from './support.js';

const DEPLOYMENT = 'PostgreSQL and a private Redis killed under load';
const WRONG = 'not the password';
/** How long an instance may take to notice that Redis died, or that it is back (it reconnects ≤ 2 s apart). */
const NOTICE_MS = 5000;
/** Attempts per address in the wrong-password load: the free failures, then refusals. */
const ATTEMPTS_PER_PAIR = FREE_FAILURES + 2;

// Where no Redis runs at all this says why it skips (and fails where CI requires Redis).
const redisServer = await redisAvailability();

type Phase = 'before' | 'away' | 'back';
const KINDS = ['refresh', 'me', 'login', 'wrong password'] as const;
type Kind = (typeof KINDS)[number];

/** The statuses of the wrong passwords sent for one account from one address, in order. */
interface Pair {
  statuses: number[];
  phases: Phase[];
}

/**
 * Clients that keep sending until stopped, each one request at a time with a short pause, spread
 * over the instances. Every answer is counted under the phase it was sent in; one that is not what
 * the contract says (or no answer at all) is kept, to be shown.
 */
class Load {
  phase: Phase = 'before';
  readonly counts = new Map<string, number>();
  readonly unexpected: string[] = [];
  readonly pairs: Pair[] = [];
  #running = true;
  #loops: Promise<void>[] = [];
  readonly #instances: readonly LatchkeyProcess[];

  constructor(instances: readonly LatchkeyProcess[]) {
    this.#instances = instances;
  }

  count(phase: Phase, kind: Kind, status?: number): number {
    let sum = 0;
    for (const [key, value] of this.counts) {
      const [p, k, s] = key.split('|');
      if (p === phase && k === kind && (status === undefined || s === String(status))) sum += value;
    }
    return sum;
  }

  /** Whether every kind of request was answered at least `times` in `phase`. */
  ranIn(phase: Phase, times: number): boolean {
    return KINDS.every((kind) => this.count(phase, kind) >= times);
  }

  /** A session refreshed over and over, its access token opening /api/me on the next instance. */
  refreshing(first: Tokens, address: string, offset: number): this {
    let tokens = first;
    return this.#loop(async (n) => {
      const answer = await this.#send('refresh', [200], () =>
        refresh(this.#at(offset + n), tokens.refreshToken, address),
      );
      if (answer?.status !== 200) return false;
      tokens = tokensOf(answer);
      const { accessToken } = tokens;
      const me = await this.#send('me', [200], () =>
        request(this.#at(offset + n + 1).baseUrl, '/api/me', { bearer: accessToken }),
      );
      return me !== null;
    });
  }

  /** The right password, again and again, from one address. */
  loggingIn(email: string, address: string, offset: number): this {
    return this.#loop(async (n) => {
      const answer = await this.#send('login', [200], () =>
        loginAttempt(this.#at(offset + n), email, PASSWORD, address),
      );
      return answer !== null;
    });
  }

  /**
   * Wrong passwords: ATTEMPTS_PER_PAIR from each address, then the next address, taking the accounts
   * in turn (so none reaches its own cap).
   */
  guessing(emails: readonly string[], offset: number): this {
    return this.#loop(async (n) => {
      const email = emails[n % emails.length] as string;
      const address = freshAddress();
      const pair: Pair = { statuses: [], phases: [] };
      this.pairs.push(pair);
      for (let attempt = 0; attempt < ATTEMPTS_PER_PAIR; attempt += 1) {
        const phase = this.phase;
        const answer = await this.#send('wrong password', [401, 429], () =>
          loginAttempt(this.#at(offset + n + attempt), email, WRONG, address),
        );
        if (answer === null) return false;
        pair.statuses.push(answer.status);
        pair.phases.push(phase);
        await sleep(10);
      }
      return true;
    });
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }

  #at(index: number): LatchkeyProcess {
    return this.#instances[index % this.#instances.length] as LatchkeyProcess;
  }

  /** Runs `step` until stopped or until it says the client cannot go on. */
  #loop(step: (n: number) => Promise<boolean>): this {
    this.#loops.push(
      (async () => {
        for (let n = 0; this.#running; n += 1) {
          if (!(await step(n))) return;
          await sleep(10);
        }
      })(),
    );
    return this;
  }

  async #send(
    kind: Kind,
    expected: readonly number[],
    send: () => Promise<JSONResponse>,
  ): Promise<JSONResponse | null> {
    const phase = this.phase;
    const tally = (status: string) => {
      const key = `${phase}|${kind}|${status}`;
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    };
    try {
      const answer = await send();
      tally(String(answer.status));
      if (!expected.includes(answer.status)) {
        this.unexpected.push(`${phase}: ${kind} answered ${answer.status} ${JSON.stringify(answer.body)}`);
      }
      return answer;
    } catch (error) {
      tally('no answer');
      this.unexpected.push(`${phase}: ${kind} got no answer (${String(error)})`);
      return null;
    }
  }
}

async function metricOf(instance: LatchkeyProcess, name: string): Promise<number> {
  const text = await (await fetch(new URL('/metrics', instance.baseUrl))).text();
  const line = text.split('\n').find((entry) => entry.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

async function redisAvailableOn(instances: readonly LatchkeyProcess[], value: 0 | 1): Promise<boolean> {
  const values = await Promise.all(
    instances.map((instance) => metricOf(instance, 'latchkey_redis_available')),
  );
  return values.every((metric) => metric === value);
}

describe.runIf(redisServer.available)(`three instances on ${DEPLOYMENT}`, () => {
  const prefix = uniquePrefix();
  let redis: PrivateRedis;
  let database: TestDatabase;
  let all: LatchkeyProcess[];
  let a: LatchkeyProcess;
  let b: LatchkeyProcess;
  let c: LatchkeyProcess;
  let load: Load;
  /** An account whose failures from one address begin before Redis dies and go on while it is away. */
  const straddling = { email: '', address: freshAddress() };
  /** An account whose failures from one address all land while Redis is away. */
  const whileAway = { email: '', address: freshAddress() };

  /** A wrong password on each of `instances` in turn, from `address`: each one checked and refused. */
  async function failOver(instances: readonly LatchkeyProcess[], email: string, address: string) {
    for (const [index, instance] of instances.entries()) {
      const failed = await loginAttempt(instance, email, WRONG, address);
      expect(failed.status, `attempt ${index + 1} on ${instance.baseUrl}`).toBe(401);
      expect(failed.body?.error).toBe('invalid_credentials');
    }
  }

  /** Every instance makes the pair back off, for a wrong password and for the right one. */
  async function expectThrottledEverywhere(email: string, address: string) {
    for (const instance of all) {
      for (const password of [WRONG, PASSWORD]) {
        const throttled = await loginAttempt(instance, email, password, address);
        expect(throttled.status, `${instance.baseUrl} ${JSON.stringify(throttled.body)}`).toBe(429);
        expect(throttled.body?.error).toBe('rate_limited');
        // The pair's back-off, not the second an attempt in flight would have it wait.
        expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(1);
      }
    }
  }

  beforeAll(async () => {
    redis = await startPrivateRedis();
    database = await createTestDatabase();
    all = await startInstances(
      3,
      deploymentEnv(database.url, { REDIS_URL: redis.url, LATCHKEY_REDIS_PREFIX: prefix }),
    );
    [a, b, c] = all as [LatchkeyProcess, LatchkeyProcess, LatchkeyProcess];

    // The load's accounts and sessions, and the two accounts the cases count failures of.
    const at = (index: number) => all[index % 3] as LatchkeyProcess;
    const accounts = (count: number) =>
      Promise.all(
        Array.from({ length: count }, async (_, index) => {
          const address = freshAddress();
          return { email: await register(at(index), address), address };
        }),
      );
    const [refreshers, loggers, guessers, mine] = await Promise.all([
      accounts(3),
      accounts(2),
      accounts(8),
      accounts(2),
    ]);
    straddling.email = mine[0]?.email as string;
    whileAway.email = mine[1]?.email as string;
    const sessions = await Promise.all(
      refreshers.map(({ email, address }, index) => login(at(index), email, address)),
    );
    load = new Load(all);
    for (const [index, session] of sessions.entries()) {
      load.refreshing(session, refreshers[index]?.address as string, index);
    }
    for (const [index, { email, address }] of loggers.entries()) load.loggingIn(email, address, index);
    const emails = guessers.map(({ email }) => email);
    load.guessing(emails.slice(0, 4), 0).guessing(emails.slice(4), 1);
  }, 90_000);

  afterAll(async () => {
    await load?.stop();
    await Promise.all((all ?? []).map((instance) => instance.close()));
    await redis?.kill();
    await database?.drop();
  }, 30_000);

  it('under load, every instance counts in Redis while it runs', async () => {
    expect(await msUntil(async () => load.ranIn('before', 3), Date.now(), 15_000)).toBeLessThan(Infinity);
    expect(await redisAvailableOn(all, 1)).toBe(true);
    // Two failures before Redis dies: counted in Redis, and in the store beside it.
    await failOver([a, b], straddling.email, straddling.address);
    const client = new Redis(redis.url);
    try {
      const key = `${prefix}counter:login:pair:${straddling.email}|${straddling.address}`;
      expect(await client.hget(key, 'count')).toBe('2');
    } finally {
      client.disconnect();
    }
  });

  it('Redis killed under load: every instance says it is gone, in /metrics and in its log', async () => {
    load.phase = 'away';
    await redis.kill();
    const killedAt = Date.now();
    const noticedAfterMs = await msUntil(() => redisAvailableOn(all, 0), killedAt, NOTICE_MS);
    reportPropagation(DEPLOYMENT, 'Redis killed: latchkey_redis_available 0 on all three', noticedAfterMs);
    expect(noticedAfterMs).toBeLessThan(NOTICE_MS);
    for (const instance of all) {
      expect(instance.output(), instance.baseUrl).toMatch(
        /"msg":"Redis is unavailable: counting in the database until it is back"/,
      );
    }
  });

  it('while Redis is away, logout-all on A: B and C refuse the access tokens within a second', async () => {
    const { refusedAfterMs } = await logoutAllOnFirst(all, freshAddress());
    reportPropagation(DEPLOYMENT, 'Redis away, logout-all on A: refused on B and C', refusedAfterMs);
    expect(refusedAfterMs).toBeLessThan(PROPAGATION_MS);
    expect(await redisAvailableOn(all, 0)).toBe(true);
  });

  it('while Redis is away, failed logins spread over A, B and C count against one limit, through the store', async () => {
    // Two failures counted before Redis died: three more are checked, wherever they land, and no more.
    await failOver([c, a, b], straddling.email, straddling.address);
    await expectThrottledEverywhere(straddling.email, straddling.address);

    // Last, as the next case counts on this pair's back-off (15 s) not having ended yet.
    await failOver([a, b, c, a, b], whileAway.email, whileAway.address);
    await expectThrottledEverywhere(whileAway.email, whileAway.address);
    expect(await redisAvailableOn(all, 0)).toBe(true);
  });

  it('Redis started again: every instance uses it again; what the store counted meanwhile still holds', async () => {
    await redis.start();
    const startedAt = Date.now();
    const backAfterMs = await msUntil(() => redisAvailableOn(all, 1), startedAt, NOTICE_MS);
    reportPropagation(
      DEPLOYMENT,
      'Redis started again: latchkey_redis_available 1 on all three',
      backAfterMs,
    );
    expect(backAfterMs).toBeLessThan(NOTICE_MS);
    load.phase = 'back';

    // Redis came back empty: the failures counted while it was away still refuse the pair.
    await expectThrottledEverywhere(whileAway.email, whileAway.address);
    // New failures, spread over A, B and C, count against one limit, and in Redis again.
    const address = freshAddress();
    await failOver([b, c, a, b, c], whileAway.email, address);
    await expectThrottledEverywhere(whileAway.email, address);
    const client = new Redis(redis.url);
    try {
      const key = `${prefix}counter:login:pair:${whileAway.email}|${address}`;
      expect(await client.hget(key, 'count')).toBe(String(FREE_FAILURES));
    } finally {
      client.disconnect();
    }
    // The owner logs in from elsewhere, on each instance.
    for (const instance of all) await login(instance, whileAway.email, freshAddress());
  });

  it('under load, every request before, during and after the outage got its contract status', async () => {
    expect(await msUntil(async () => load.ranIn('back', 3), Date.now(), 15_000)).toBeLessThan(Infinity);
    await load.stop();
    const summary = [...load.counts.entries()].map(([key, value]) => `${key}: ${value}`).join(', ');
    process.stderr.write(`multi-instance on ${DEPLOYMENT}: load answered ${summary}\n`);
    expect(load.unexpected).toEqual([]);
    // The load ran through the outage: every kind of request, in every phase.
    for (const phase of ['before', 'away', 'back'] as const) {
      for (const kind of KINDS) {
        expect(load.count(phase, kind), `${kind} ${phase}`).toBeGreaterThan(0);
      }
    }
    // Passwords were checked while Redis was away, not only refused.
    expect(load.count('away', 'wrong password', 401)).toBeGreaterThan(0);
    // Each address's wrong passwords: the free failures checked, then refused, wherever they landed
    // and whatever happened to Redis meanwhile.
    const expected = [
      ...Array<number>(FREE_FAILURES).fill(401),
      ...Array<number>(ATTEMPTS_PER_PAIR - FREE_FAILURES).fill(429),
    ].join(' ');
    for (const pair of load.pairs) expect(pair.statuses.join(' '), pair.phases.join(' ')).toBe(expected);
    // Some addresses had failures counted in Redis before it died and in the store after.
    const across = load.pairs.filter((pair) => pair.phases[0] === 'before' && pair.phases.includes('away'));
    expect(across.length).toBeGreaterThan(0);
  });
});
