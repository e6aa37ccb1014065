import { beforeEach, describe, expect, it, vi } from 'vitest';
import { AccessTokens } from '../../src/auth/access-tokens.js';
import { DEFAULT_SESSION_POLICY } from '../../src/auth/options.js';
import { PasswordHasher } from '../../src/auth/passwords.js';
import { RevokedSessions } from '../../src/auth/revocations.js';
import { type AuthEvent, AuthService } from '../../src/auth/service.js';
import { SigningKeys } from '../../src/auth/signing-keys.js';
import { DEFAULT_THROTTLE, Throttle } from '../../src/auth/throttle.js';
import { AuthError, LatchkeyError } from '../../src/errors.js';
import { REVOCATION_REREAD } from '../../src/revocation-reread.js';
import type { AttemptsInFlight } from '../../src/store/attempts-in-flight.js';
import { MemoryStore } from '../../src/store/memory.js';

const FAST = { memoryCost: 1024, timeCost: 1, parallelism: 1 };
const T0 = 1_800_000_000_000;
const client = { ip: '10.0.0.1', userAgent: 'test' };

let now: number;
let store: MemoryStore;
let service: AuthService;
let events: AuthEvent[];
let revocations: RevokedSessions;

async function build(argon2 = FAST, inFlight?: AttemptsInFlight, sessions = DEFAULT_SESSION_POLICY) {
  const keys = new SigningKeys(
    store,
    { alg: 'ES256', rotationMs: 30 * 86_400_000, prePublishMs: 2 * 86_400_000, retentionMs: 930_000 },
    null,
    () => now,
  );
  await keys.maintain();
  revocations = new RevokedSessions(930_000);
  return new AuthService({
    store,
    passwords: new PasswordHasher({ argon2 }),
    throttle: new Throttle(store, DEFAULT_THROTTLE, inFlight),
    accessTokens: new AccessTokens(keys, {
      issuer: 'https://auth.example',
      audience: 'https://auth.example',
      clientId: 'latchkey',
      ttlSeconds: 900,
      clockToleranceSeconds: 30,
      now: () => now,
    }),
    revocations,
    refreshSecret: () => Buffer.alloc(32, 9),
    options: { sessions, throttle: DEFAULT_THROTTLE },
    now: () => now,
    onEvent: (event) => events.push(event),
  });
}

async function code(run: () => unknown): Promise<string> {
  try {
    await run();
  } catch (error) {
    if (error instanceof LatchkeyError) return error.code;
    throw error;
  }
  return 'none';
}

beforeEach(async () => {
  now = T0;
  store = new MemoryStore();
  events = [];
  service = await build();
  await service.register(' Alice@Example.com ', 'correct horse', client);
});

describe('AuthService', () => {
  it('registers with a normalised email and refuses the same email in another spelling', async () => {
    expect((await store.findUserByEmail('alice@example.com'))?.passwordHash).toMatch(/^\$argon2id\$/);
    expect(await code(() => service.register('ALICE@example.com', 'another password', client))).toBe(
      'ERR_EMAIL_TAKEN',
    );
    expect(await code(() => service.register('bob@example.com', 'short', client))).toBe('ERR_INVALID_INPUT');
  });

  it('answers unknown email, wrong password and disabled account alike', async () => {
    expect(await code(() => service.login('nobody@example.com', 'correct horse', client))).toBe(
      'ERR_INVALID_CREDENTIALS',
    );
    expect(await code(() => service.login('alice@example.com', 'wrong horse', client))).toBe(
      'ERR_INVALID_CREDENTIALS',
    );
    const user = await store.findUserByEmail('alice@example.com');
    await store.setUserDisabled(user?.id ?? '', now);
    expect(await code(() => service.login('alice@example.com', 'correct horse', client))).toBe(
      'ERR_INVALID_CREDENTIALS',
    );
    expect(events.filter((event) => event.type === 'login_failed').map((event) => event.type)).toHaveLength(
      3,
    );
  });

  it('issues an RFC 9068 access token and a session on login', async () => {
    const issued = await service.login('alice@example.com', 'correct horse', client);
    const principal = service.authenticate(issued.accessToken);
    expect(principal.sessionId).toBe(issued.sessionId);
    expect(principal.claims).toMatchObject({
      iss: 'https://auth.example',
      client_id: 'latchkey',
      exp: T0 / 1000 + 900,
    });
    expect(issued.refreshToken).toMatch(/^lk_rt_/);
    const [session] = await service.listSessions(principal.userId);
    expect(session).toMatchObject({ id: issued.sessionId, ip: '10.0.0.1', userAgent: 'test' });
  });

  it('puts the roles of the store into the tokens of every login and refresh, and none without roles', async () => {
    const userId = (await store.findUserByEmail('alice@example.com'))?.id ?? '';
    const first = await service.login('alice@example.com', 'correct horse', client);
    expect(Object.hasOwn(service.authenticate(first.accessToken).claims, 'roles')).toBe(false);

    await store.addUserRole(userId, 'editor');
    await store.addUserRole(userId, 'admin');
    // The token already issued keeps what it says; the next one, from a refresh, has the roles.
    expect(service.authenticate(first.accessToken).claims.roles).toBeUndefined();
    now += 1000;
    const refreshed = await service.refresh(first.refreshToken);
    expect(service.authenticate(refreshed.accessToken).claims.roles).toEqual(['admin', 'editor']);
    const login = await service.login('alice@example.com', 'correct horse', client);
    expect(service.authenticate(login.accessToken).claims.roles).toEqual(['admin', 'editor']);
    expect((await service.getUser(userId)).roles).toEqual(['admin', 'editor']);

    await store.removeUserRole(userId, 'admin');
    now += 1000;
    const again = await service.refresh(refreshed.refreshToken);
    expect(service.authenticate(again.accessToken).claims.roles).toEqual(['editor']);
    await store.removeUserRole(userId, 'editor');
    now += 1000;
    const none = await service.refresh(again.refreshToken);
    expect(Object.hasOwn(service.authenticate(none.accessToken).claims, 'roles')).toBe(false);
  });

  it('rehashes on login when the parameters changed', async () => {
    const before = (await store.findUserByEmail('alice@example.com'))?.passwordHash;
    service = await build({ ...FAST, timeCost: 2 });
    await service.login('alice@example.com', 'correct horse', client);
    const after = (await store.findUserByEmail('alice@example.com'))?.passwordHash;
    expect(after).not.toBe(before);
    expect(after).toMatch(/t=2/);
  });

  it('rotates refresh tokens, repeats inside the grace window, and revokes the family on later reuse', async () => {
    const login = await service.login('alice@example.com', 'correct horse', client);
    const first = await service.refresh(login.refreshToken);
    expect(first.sessionId).toBe(login.sessionId);
    now += 10_000;
    const repeated = await service.refresh(login.refreshToken);
    expect(repeated.refreshToken).toBe(first.refreshToken);
    const second = await service.refresh(first.refreshToken);
    now += 10_001;
    expect(await code(() => service.refresh(login.refreshToken))).toBe('ERR_INVALID_GRANT');
    expect(events).toContainEqual({
      type: 'refresh_reuse_detected',
      sessionId: login.sessionId,
      userId: expect.any(String),
    });
    expect(await code(() => service.refresh(second.refreshToken))).toBe('ERR_INVALID_GRANT');
    expect(await code(() => service.authenticate(second.accessToken))).toBe('ERR_SESSION_REVOKED');
  });

  it('refuses unknown, malformed and idle-expired refresh tokens', async () => {
    const login = await service.login('alice@example.com', 'correct horse', client);
    expect(await code(() => service.refresh(login.accessToken))).toBe('ERR_INVALID_GRANT');
    expect(await code(() => service.refresh(`lk_rt_${'A'.repeat(43)}`))).toBe('ERR_INVALID_GRANT');
    now += DEFAULT_SESSION_POLICY.idleTtlMs;
    expect(await code(() => service.refresh(login.refreshToken))).toBe('ERR_INVALID_GRANT');
  });

  it('ends the session of a disabled user on refresh', async () => {
    const login = await service.login('alice@example.com', 'correct horse', client);
    await store.setUserDisabled(service.authenticate(login.accessToken).userId, now);
    expect(await code(() => service.refresh(login.refreshToken))).toBe('ERR_INVALID_GRANT');
    expect(await code(() => service.authenticate(login.accessToken))).toBe('ERR_SESSION_REVOKED');
  });

  it('logs out by refresh token and by session, and everywhere', async () => {
    const a = await service.login('alice@example.com', 'correct horse', client);
    const b = await service.login('alice@example.com', 'correct horse', client);
    await service.logout(a.refreshToken);
    await service.logout('not a token');
    expect(await code(() => service.authenticate(a.accessToken))).toBe('ERR_SESSION_REVOKED');
    expect(service.authenticate(b.accessToken).sessionId).toBe(b.sessionId);
    const c = await service.login('alice@example.com', 'correct horse', client);
    await service.logoutAll(service.authenticate(c.accessToken).userId);
    expect(await code(() => service.authenticate(b.accessToken))).toBe('ERR_SESSION_REVOKED');
    expect(await code(() => service.authenticate(c.accessToken))).toBe('ERR_SESSION_REVOKED');
  });

  it('ends the least recently used session when a login goes over the live-session limit', async () => {
    service = await build(FAST, undefined, { ...DEFAULT_SESSION_POLICY, maxLivePerUser: 2 });
    const a = await service.login('alice@example.com', 'correct horse', client);
    now += 1_000;
    const b = await service.login('alice@example.com', 'correct horse', client);
    now += 1_000;
    // Used since b was made: a is now the more recently used of the two.
    const a2 = await service.refresh(a.refreshToken);
    now += 1_000;
    events.length = 0;
    const c = await service.login('alice@example.com', 'correct horse', client);
    expect(events).toContainEqual({
      type: 'sessions_revoked',
      sessionIds: [b.sessionId],
      reason: 'session_limit',
    });
    // Its access token is refused at once on this instance, and its refresh token is dead.
    expect(await code(() => service.authenticate(b.accessToken))).toBe('ERR_SESSION_REVOKED');
    expect(await code(() => service.refresh(b.refreshToken))).toBe('ERR_INVALID_GRANT');
    expect(service.authenticate(a2.accessToken).sessionId).toBe(a.sessionId);
    expect(service.authenticate(c.accessToken).sessionId).toBe(c.sessionId);
    const userId = service.authenticate(c.accessToken).userId;
    expect((await service.listSessions(userId)).map(({ id }) => id).sort()).toEqual(
      [a.sessionId, c.sessionId].sort(),
    );
  });

  it("revokes only the user's own sessions by id", async () => {
    await service.register('bob@example.com', 'bob password', client);
    const alice = await service.login('alice@example.com', 'correct horse', client);
    const bob = await service.login('bob@example.com', 'bob password', client);
    const bobId = service.authenticate(bob.accessToken).userId;
    expect(await code(() => service.revokeSession(bobId, alice.sessionId))).toBe('ERR_SESSION_NOT_FOUND');
    expect(await code(() => service.revokeSession(bobId, 'nope'))).toBe('ERR_SESSION_NOT_FOUND');
    expect(service.authenticate(alice.accessToken).sessionId).toBe(alice.sessionId);
    await service.revokeSession(bobId, bob.sessionId);
    expect(await code(() => service.authenticate(bob.accessToken))).toBe('ERR_SESSION_REVOKED');
  });

  it('changes the password, keeps the current session and revokes the others', async () => {
    const current = await service.login('alice@example.com', 'correct horse', client);
    const other = await service.login('alice@example.com', 'correct horse', client);
    const principal = service.authenticate(current.accessToken);
    expect(await code(() => service.changePassword(principal, 'wrong', 'new password!', client))).toBe(
      'ERR_WRONG_PASSWORD',
    );
    expect(await code(() => service.changePassword(principal, 'correct horse', 'short', client))).toBe(
      'ERR_INVALID_INPUT',
    );
    await service.changePassword(principal, 'correct horse', 'new password!', client);
    expect(service.authenticate(current.accessToken).sessionId).toBe(current.sessionId);
    expect(await code(() => service.authenticate(other.accessToken))).toBe('ERR_SESSION_REVOKED');
    expect(await code(() => service.login('alice@example.com', 'correct horse', client))).toBe(
      'ERR_INVALID_CREDENTIALS',
    );
    expect((await service.login('alice@example.com', 'new password!', client)).refreshToken).toMatch(
      /^lk_rt_/,
    );
  });

  it('stamps the sessions a password change revokes after hashing the new password, not before', async () => {
    const current = await service.login('alice@example.com', 'correct horse', client);
    const other = await service.login('alice@example.com', 'correct horse', client);
    // The hash may wait behind a queue of logins: readers that re-read a window of past revocations
    // must find the revocation's time close to its commit.
    const hash = PasswordHasher.prototype.hash;
    const slowHash = vi.spyOn(PasswordHasher.prototype, 'hash').mockImplementation(async function (
      this: PasswordHasher,
      password: string,
    ) {
      now += 20_000;
      return hash.call(this, password);
    });
    try {
      const hashed = now + 20_000;
      await service.changePassword(
        service.authenticate(current.accessToken),
        'correct horse',
        'new password!',
        client,
      );
      expect((await store.findSession(other.sessionId))?.revokedAt).toBe(hashed);
    } finally {
      slowHash.mockRestore();
    }
  });

  /** Holds `store[method]` at its first call until `release()`; `reached` settles when it is held. */
  function hold(method: 'createLoginSession' | 'rehashPassword') {
    const original = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>;
    let release!: () => void;
    let reach!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const reached = new Promise<void>((resolve) => {
      reach = resolve;
    });
    (store as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      reach();
      await gate;
      return original(...args);
    };
    return { reached, release };
  }

  it.each([
    ['before its session is stored', 'createLoginSession', FAST],
    ['before its rehash is stored', 'rehashPassword', { ...FAST, timeCost: 2 }],
  ] as const)(
    'lets a password change win over a login with the old password held %s',
    async (_, method, argon2) => {
      const owner = service.authenticate(
        (await service.login('alice@example.com', 'correct horse', client)).accessToken,
      );
      service = await build(argon2);
      const held = hold(method);
      const attacker = code(() => service.login('alice@example.com', 'correct horse', client));
      await held.reached;
      await service.changePassword(owner, 'correct horse', 'new password!', client);
      held.release();
      expect(await attacker).toBe('ERR_INVALID_CREDENTIALS');
      expect(events).toContainEqual({ type: 'login_failed', reason: 'changed_meanwhile' });
      // The change stands: the old password is refused, the new one works, and no stray session lives.
      expect(await code(() => service.login('alice@example.com', 'correct horse', client))).toBe(
        'ERR_INVALID_CREDENTIALS',
      );
      expect((await service.listSessions(owner.userId)).map((session) => session.id)).toEqual([
        owner.sessionId,
      ]);
      expect((await service.login('alice@example.com', 'new password!', client)).refreshToken).toMatch(
        /^lk_rt_/,
      );
    },
  );

  it('lets only one of two password changes made with the same old password through', async () => {
    const owner = service.authenticate(
      (await service.login('alice@example.com', 'correct horse', client)).accessToken,
    );
    const results = await Promise.all(
      ['first password!', 'second password!'].map((next) =>
        code(() => service.changePassword(owner, 'correct horse', next, client)),
      ),
    );
    expect([...results].sort()).toEqual(['ERR_WRONG_PASSWORD', 'none']);
    const winner = results[0] === 'none' ? 'first password!' : 'second password!';
    const loser = winner === 'first password!' ? 'second password!' : 'first password!';
    expect(await code(() => service.login('alice@example.com', loser, client))).toBe(
      'ERR_INVALID_CREDENTIALS',
    );
    expect((await service.login('alice@example.com', winner, client)).refreshToken).toMatch(/^lk_rt_/);
  });

  it('lets disabling win over a login held before its session is stored', async () => {
    const held = hold('createLoginSession');
    const login = code(() => service.login('alice@example.com', 'correct horse', client));
    await held.reached;
    const user = await store.findUserByEmail('alice@example.com');
    await store.setUserDisabled(user?.id as string, now);
    held.release();
    expect(await login).toBe('ERR_INVALID_CREDENTIALS');
    expect(await service.listSessions(user?.id as string)).toEqual([]);
  });

  it('throttles before checking the password, so even the right one waits', async () => {
    for (let i = 0; i < 5; i += 1)
      await code(() => service.login('alice@example.com', 'wrong horse', client));
    const error = await service.login('alice@example.com', 'correct horse', client).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect(error).toMatchObject({ code: 'ERR_RATE_LIMITED', retryAfterSeconds: 15 });
    expect(events.at(-1)).toEqual({ type: 'login_throttled', retryAfterSeconds: 15 });
    expect(
      (await service.login('alice@example.com', 'correct horse', { ...client, ip: '10.0.0.2' })).sessionId,
    ).toBeTruthy();
  });

  it('counts logins in flight, so a burst sent at once gets no more guesses than one sent in turn', async () => {
    const burst = await Promise.all(
      Array.from({ length: 20 }, () => code(() => service.login('alice@example.com', 'wrong horse', client))),
    );
    expect(burst.filter((result) => result === 'ERR_INVALID_CREDENTIALS')).toHaveLength(5);
    expect(burst.filter((result) => result === 'ERR_RATE_LIMITED')).toHaveLength(15);
    // The five failures are on record: the right password now waits its back-off, as after five in turn.
    expect(await code(() => service.login('alice@example.com', 'correct horse', client))).toBe(
      'ERR_RATE_LIMITED',
    );
    now += 15_000;
    expect((await service.login('alice@example.com', 'correct horse', client)).sessionId).toBeTruthy();
  });

  it('answers a login or a password change only once its attempt has left the flight', async () => {
    // Where the count is shared, an end takes a round trip: answering before it lands would have the
    // client's next attempt, sent on the answer, find this one still in flight.
    let inFlight = 0;
    service = await build(FAST, {
      async admit() {
        inFlight += 1;
        return async () => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          inFlight -= 1;
        };
      },
    });
    expect(await code(() => service.login('alice@example.com', 'wrong horse', client))).toBe(
      'ERR_INVALID_CREDENTIALS',
    );
    expect(inFlight).toBe(0);
    const { accessToken } = await service.login('alice@example.com', 'correct horse', client);
    expect(inFlight).toBe(0);
    const principal = service.authenticate(accessToken);
    expect(await code(() => service.changePassword(principal, 'wrong horse', 'new password!', client))).toBe(
      'ERR_WRONG_PASSWORD',
    );
    expect(inFlight).toBe(0);
    await service.changePassword(principal, 'correct horse', 'new password!', client);
    expect(inFlight).toBe(0);
  });

  it('frees the in-flight count however a login ends', async () => {
    // Five logins that fail for the store, not the password, must not leave the pair blocked.
    const findUser = store.findUserByEmail.bind(store);
    store.findUserByEmail = async () => {
      throw new Error('store down');
    };
    for (let i = 0; i < 6; i += 1)
      await expect(service.login('alice@example.com', 'correct horse', client)).rejects.toThrow('store down');
    store.findUserByEmail = findUser;
    expect((await service.login('alice@example.com', 'correct horse', client)).sessionId).toBeTruthy();
  });

  it('learns a revocation whose commit trailed its time by 20 s, syncing every second meanwhile', async () => {
    const login = await service.login('alice@example.com', 'correct horse', client);
    let at = now + 1000;
    for (; at <= now + 20_000; at += 1000) await revocations.sync(store, at);
    // Another instance stamped it at `now` and waited for a lock before its commit.
    await store.revokeSession(login.sessionId, now, 'elsewhere');
    const committedAt = at;
    for (; at <= committedAt + REVOCATION_REREAD.deepEveryMs; at += 1000) await revocations.sync(store, at);
    expect(await code(() => service.authenticate(login.accessToken))).toBe('ERR_SESSION_REVOKED');
  });

  it('reads a mass revocation again a few times, not on every sync of the deep window', async () => {
    await revocations.sync(store, now);
    const ids = (
      await Promise.all([1, 2, 3].map(() => service.login('alice@example.com', 'correct horse', client)))
    ).map((login) => login.sessionId);
    await store.revokeUserSessions(
      (await store.findUserByEmail('alice@example.com'))?.id ?? '',
      now + 100,
      'logout_all',
    );
    const list = store.listRevokedSessionsSince.bind(store);
    let times = 0;
    store.listRevokedSessionsSince = async (since, page) => {
      const listed = await list(since, page);
      if (listed.some(({ id }) => id === ids[0])) times += 1;
      return listed;
    };
    // Twice a second for a minute, as an instance syncs.
    for (let at = now + 500; at <= now + 60_000; at += 500) await revocations.sync(store, at);
    const { recentMs, deepMs, deepEveryMs } = REVOCATION_REREAD;
    expect(times).toBeGreaterThan(0);
    // 10 + 4 + 1 = 15; it was 60 when every sync re-read the deep window.
    expect(times).toBeLessThanOrEqual(recentMs / 500 + (deepMs + deepEveryMs) / deepEveryMs + 1);
  });

  it('learns revocations made by another instance through the store', async () => {
    const login = await service.login('alice@example.com', 'correct horse', client);
    await store.revokeSession(login.sessionId, now, 'elsewhere');
    expect(service.authenticate(login.accessToken).sessionId).toBe(login.sessionId);
    await revocations.sync(store, now + 1000);
    expect(await code(() => service.authenticate(login.accessToken))).toBe('ERR_SESSION_REVOKED');
  });
});
