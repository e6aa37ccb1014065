/**
 * The HTTP contract of DESIGN.md, row by row: every success and every listed error, with status, the
 * `{error, message}` shape, and the headers the contract promises (cookies, CSRF, Cache-Control,
 * Retry-After, WWW-Authenticate). Everything goes through `app.inject` on the real app.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminService } from '../../src/auth/admin.js';
import { decodeUnverified } from '../../src/jwt/index.js';
import { openSQLiteStore } from '../../src/store/sql/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { createTestApp, SAME_ORIGIN } from '../support/app.js';
import {
  BARE_CHALLENGE,
  bearer,
  closeApps,
  createClock,
  expectInvalidGrant,
  expectInvalidToken,
  expectProblem,
  INVALID_GRANT_MESSAGE,
  login,
  MISSING_TOKEN_MESSAGE,
  makeApp,
  me,
  nextIp,
  PASSWORD,
  REFRESH_TOKEN_SHAPE,
  type Response,
  refreshByBody,
  refreshCookie,
  registerUser,
  sessionIdOf,
  uniqueEmail,
} from './helpers.js';

afterEach(closeApps);

const TOKEN_RESPONSE_KEYS = ['access_token', 'expires_in', 'token_type'];

/** POST /auth/register with exactly this text as its JSON body. */
function registerRaw(app: FastifyInstance, body: string) {
  return app.inject({
    method: 'POST',
    url: '/auth/register',
    headers: { 'content-type': 'application/json' },
    payload: body,
  });
}

/** A registration of a fresh email from `remoteAddress`, with `X-Forwarded-For: forwarded` when given. */
function registerFrom(app: FastifyInstance, name: string, remoteAddress: string, forwarded?: string) {
  return app.inject({
    method: 'POST',
    url: '/auth/register',
    payload: { email: uniqueEmail(name), password: PASSWORD },
    remoteAddress,
    ...(forwarded === undefined ? {} : { headers: { 'x-forwarded-for': forwarded } }),
  });
}

function rawSetCookie(res: Response): string {
  const header = res.headers['set-cookie'];
  const all = Array.isArray(header) ? header : header === undefined ? [] : [header];
  const cookie = all.find((line) => line.startsWith('latchkey_refresh='));
  if (cookie === undefined) throw new Error('no latchkey_refresh cookie was set');
  return cookie;
}

function cookieAttributes(res: Response): string[] {
  return rawSetCookie(res)
    .split(';')
    .slice(1)
    .map((part) => part.trim());
}

function expectClearedCookie(res: Response): void {
  const cookie = res.cookies.find((c) => c.name === 'latchkey_refresh');
  expect(cookie?.value).toBe('');
  expect(cookie?.maxAge).toBe(0);
  expect(cookie?.path).toBe('/auth');
  expect(cookie?.httpOnly).toBe(true);
}

function refreshByCookie(app: FastifyInstance, token: string, headers: Record<string, string> = SAME_ORIGIN) {
  return app.inject({ method: 'POST', url: '/auth/refresh', cookies: { latchkey_refresh: token }, headers });
}

describe('POST /auth/register', () => {
  it('answers 201 with the user, its email normalised and nothing secret', async () => {
    const app = await makeApp();
    const before = Date.now();
    const res = await app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email: '  New.User@Example.COM ', password: PASSWORD },
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = res.json();
    expect(Object.keys(body)).toEqual(['user']);
    expect(Object.keys(body.user).sort()).toEqual(['created_at', 'email', 'id']);
    expect(body.user.email).toBe('new.user@example.com');
    expect(body.user.id).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    const created = Date.parse(body.user.created_at);
    expect(new Date(created).toISOString()).toBe(body.user.created_at);
    expect(created).toBeGreaterThanOrEqual(before - 1000);
    expect(created).toBeLessThanOrEqual(Date.now() + 1000);
    expect(res.body).not.toContain(PASSWORD);
    expect(res.body).not.toContain('argon2');
  });

  const badBodies: Array<[string, unknown, string | RegExp]> = [
    [
      'an email without @',
      { email: 'not-an-email', password: PASSWORD },
      'email must be a valid email address',
    ],
    [
      'an email with a space',
      { email: 'a b@example.com', password: PASSWORD },
      'email must be a valid email address',
    ],
    ['an empty email', { email: '', password: PASSWORD }, /email/],
    ['a blank email', { email: '   ', password: PASSWORD }, 'email must be a valid email address'],
    [
      'a 7-character password',
      { email: 'a@example.com', password: 'short12' },
      'password must be 8 to 1024 characters long',
    ],
    [
      'an empty password',
      { email: 'a@example.com', password: '' },
      'password must be 8 to 1024 characters long',
    ],
    ['a 1025-character password', { email: 'a@example.com', password: 'x'.repeat(1025) }, /password/],
    ['an email in an array', { email: ['a@b.c'], password: PASSWORD }, /email/],
    ['a numeric password', { email: 'a@example.com', password: 12345678 }, /password/],
    ['a boolean email', { email: true, password: PASSWORD }, /email/],
    ['a null password', { email: 'a@example.com', password: null }, /password/],
    ['an object email', { email: { $ne: '' }, password: PASSWORD }, /email/],
    [
      'an unknown property',
      { email: 'a@example.com', password: PASSWORD, admin: true },
      'body must NOT have additional properties: "admin" is not allowed',
    ],
    [
      'a look-alike email in fullwidth letters',
      { email: '\uff41lice@example.com', password: PASSWORD },
      'email must not contain characters that Unicode normalization changes (such as fullwidth letters or ligatures)',
    ],
    ['a missing email', { password: PASSWORD }, /required property 'email'/],
    ['a missing password', { email: 'a@example.com' }, /required property 'password'/],
    ['an array body', [{ email: 'a@example.com', password: PASSWORD }], /object/],
  ];

  it.each(badBodies)('answers 400 invalid_request for %s', async (_name, payload, message) => {
    const app = await makeApp();
    const res = await registerRaw(app, JSON.stringify(payload));
    expectProblem(res, 400, 'invalid_request', message);
    expect(res.body).not.toContain(PASSWORD);
  });

  it('answers 400 for a body that is not JSON, without quoting it', async () => {
    const app = await makeApp();
    const res = await registerRaw(app, `{"email": "a@example.com", "password": "${PASSWORD}"`);
    expectProblem(res, 400, 'invalid_request', 'request body is not valid JSON');
    expect(res.body).not.toContain(PASSWORD);
  });

  it('answers 400 for an empty JSON body and for no body at all', async () => {
    const app = await makeApp();
    // Empty with Content-Type: application/json is no body, as many clients send a POST without data.
    const empty = await registerRaw(app, '');
    expectProblem(empty, 400, 'invalid_request', /body must be object/);
    const none = await app.inject({ method: 'POST', url: '/auth/register' });
    expectProblem(none, 400, 'invalid_request', /body must be object/);
    const nullBody = await registerRaw(app, 'null');
    expectProblem(nullBody, 400, 'invalid_request', /body must be object/);
  });

  it('answers 409 email_taken for the same email, also in another case and with spaces', async () => {
    const app = await makeApp();
    await registerUser(app, 'taken@example.com');
    for (const email of [
      'taken@example.com',
      'TAKEN@Example.Com',
      '  taken@example.com  ',
      '\tTaken@EXAMPLE.com\n',
    ]) {
      const res = await app.inject({
        method: 'POST',
        url: '/auth/register',
        payload: { email, password: 'another password' },
        remoteAddress: nextIp(),
      });
      expectProblem(res, 409, 'email_taken', 'an account with this email exists already');
    }
  });

  it('answers 429 rate_limited with Retry-After after 20 registrations from one IP', async () => {
    const app = await makeApp();
    const ip = '192.0.2.10';
    for (let i = 0; i < 20; i += 1) {
      const res = await registerFrom(app, 'flood', ip);
      expect(res.statusCode).toBe(201);
    }
    const limited = await registerFrom(app, 'flood', ip);
    // The hour's window: the wait in words a person reads, the seconds in Retry-After.
    expectProblem(limited, 429, 'rate_limited', 'too many attempts; try again in 60 minutes');
    const retryAfter = Number(limited.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    const elsewhere = await registerFrom(app, 'other', '192.0.2.11');
    expect(elsewhere.statusCode).toBe(201);
  });

  it('refuses a look-alike email before the registration cap counts it', async () => {
    const app = await makeApp();
    const ip = '192.0.2.13';
    for (let i = 0; i < 25; i += 1) {
      const res = await app.inject({
        method: 'POST',
        url: '/auth/register',
        payload: { email: `\uff41lice${i}@example.com`, password: PASSWORD },
        remoteAddress: ip,
      });
      expectProblem(res, 400, 'invalid_request', /Unicode normalization changes/);
    }
    expect((await registerFrom(app, 'after-lookalikes', ip)).statusCode).toBe(201);
  });

  it('holds the registration cap for a burst from one IP sent at once', async () => {
    const app = await makeApp();
    const ip = '192.0.2.12';
    // All of them read the count before any has recorded itself: only the recorded count can decide.
    const answers = await Promise.all(Array.from({ length: 30 }, () => registerFrom(app, 'burst', ip)));
    const statuses = answers.map((res) => res.statusCode);
    expect(statuses.filter((status) => status === 201)).toHaveLength(20);
    expect(statuses.filter((status) => status === 429)).toHaveLength(10);
  });

  it('with LATCHKEY_TRUST_PROXY naming the proxy, counts the address it appended, whatever the client wrote before', async () => {
    const app = await makeApp({ LATCHKEY_TRUST_PROXY: '192.0.2.0/28' });
    const proxy = '192.0.2.5';
    for (let i = 0; i < 21; i += 1) {
      // A proxy that appends (nginx's $proxy_add_x_forwarded_for, cloud load balancers) after
      // whatever the client sent, trusted proxies of ours included.
      const res = await registerFrom(app, 'appended', proxy, `198.51.100.${i}, 192.0.2.9, 203.0.113.7`);
      expect(res.statusCode, res.body).toBe(i < 20 ? 201 : 429);
    }
    // Another client behind the same proxy has its own count; a request straight from a client (not
    // from a listed proxy) is counted by its own address, whatever X-Forwarded-For it sends.
    for (const [remoteAddress, forwarded] of [
      [proxy, '203.0.113.8'],
      ['198.51.100.200', '203.0.113.7'],
    ] as const) {
      const res = await registerFrom(app, 'appended', remoteAddress, forwarded);
      expect(res.statusCode, res.body).toBe(201);
    }
  });

  it.each([
    ['addresses of one IPv6 /64', (i: number) => `2001:db8:1:2::${i + 1}`],
    ['one address with the port a proxy appends', (i: number) => `203.0.113.9:${40_000 + i}`],
    ['one address spelled many ways', (i: number) => (i % 2 === 0 ? `::ffff:203.0.113.10` : `203.0.113.10`)],
    ['entries that are no address (counted as the proxy)', (i: number) => `unknown-${i}`],
  ])('counts %s as one client', async (_name, forwarded) => {
    const app = await makeApp({ LATCHKEY_TRUST_PROXY: '192.0.2.0/28' });
    const statuses: number[] = [];
    for (let i = 0; i < 21; i += 1) {
      const res = await registerFrom(app, 'spelled', '192.0.2.6', forwarded(i));
      statuses.push(res.statusCode);
    }
    expect(statuses.slice(0, 20).every((status) => status === 201)).toBe(true);
    expect(statuses[20]).toBe(429);
  });

  it('records the client address of a session in one spelling', async () => {
    const app = await makeApp({ LATCHKEY_TRUST_PROXY: '192.0.2.0/28' });
    const user = await registerUser(app);
    const { accessToken } = await login(app, user, {
      remoteAddress: '192.0.2.6',
      headers: { 'x-forwarded-for': '[2001:DB8:0:0::7]:5555' },
    });
    const res = await app.inject({ method: 'GET', url: '/auth/sessions', headers: bearer(accessToken) });
    expect(res.json().sessions[0].ip).toBe('2001:db8::7');
  });

  it('ignores X-Forwarded-For unless LATCHKEY_TRUST_PROXY is set', async () => {
    const app = await makeApp();
    for (let i = 0; i < 21; i += 1) {
      const res = await registerFrom(app, 'xff', '192.0.2.20', `198.51.100.${i}`);
      expect(res.statusCode).toBe(i < 20 ? 201 : 429);
    }
  });
});

describe('POST /auth/login', () => {
  it('sets the refresh cookie by default: HttpOnly, SameSite=Strict, Path=/auth, no Secure', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    for (const payload of [
      { email: user.email, password: PASSWORD },
      { email: user.email, password: PASSWORD, refresh_in: 'cookie' },
    ]) {
      const res = await app.inject({ method: 'POST', url: '/auth/login', payload });
      expect(res.statusCode).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      const body = res.json();
      expect(Object.keys(body).sort()).toEqual(TOKEN_RESPONSE_KEYS);
      expect(body.token_type).toBe('Bearer');
      expect(body.expires_in).toBe(900);
      expect(typeof body.access_token).toBe('string');
      expect(refreshCookie(res)).toMatch(REFRESH_TOKEN_SHAPE);
      const attributes = cookieAttributes(res);
      expect(attributes).toContain('HttpOnly');
      expect(attributes).toContain('SameSite=Strict');
      expect(attributes).toContain('Path=/auth');
      expect(attributes.some((a) => /^secure$/i.test(a))).toBe(false);
      expect(res.body).not.toContain(refreshCookie(res));
    }
  });

  it('marks the cookie Secure when the issuer is https', async () => {
    const app = await makeApp({ LATCHKEY_ISSUER: 'https://auth.example.com' });
    const user = await registerUser(app);
    const res = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: user.email, password: PASSWORD },
    });
    expect(res.statusCode).toBe(200);
    const attributes = cookieAttributes(res);
    expect(attributes).toContain('Secure');
    expect(attributes).toContain('HttpOnly');
    expect(attributes).toContain('SameSite=Strict');
    expect(attributes).toContain('Path=/auth');
  });

  it('returns the refresh token in the body and sets no cookie in body mode', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const res = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: user.email, password: PASSWORD, refresh_in: 'body' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['set-cookie']).toBeUndefined();
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual([...TOKEN_RESPONSE_KEYS, 'refresh_token'].sort());
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBe(900);
    expect(body.refresh_token).toMatch(REFRESH_TOKEN_SHAPE);
  });

  it('reports the configured LATCHKEY_ACCESS_TTL as expires_in', async () => {
    const app = await makeApp({ LATCHKEY_ACCESS_TTL: '60' });
    const user = await registerUser(app);
    const { res, accessToken } = await login(app, user);
    expect(res.json().expires_in).toBe(60);
    const { payload } = decodeUnverified(accessToken);
    expect((payload.exp as number) - (payload.iat as number)).toBe(60);
  });

  it('answers the same 401 invalid_credentials for an unknown email and a wrong password', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const unknown = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: 'nobody@example.com', password: PASSWORD },
    });
    const wrong = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: user.email, password: 'wrong password' },
    });
    expectProblem(unknown, 401, 'invalid_credentials', 'email or password is incorrect');
    expectProblem(wrong, 401, 'invalid_credentials', 'email or password is incorrect');
    expect(wrong.body).toBe(unknown.body);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    expect(unknown.headers['www-authenticate']).toBeUndefined();
    expect(wrong.headers['www-authenticate']).toBeUndefined();
  });

  it('logs in with the email in another case and with spaces', async () => {
    const app = await makeApp();
    const user = await registerUser(app, 'case@example.com');
    const res = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: ' CASE@Example.com ', password: user.password },
    });
    expect(res.statusCode).toBe(200);
  });

  const badLogins: Array<[string, unknown, string | RegExp]> = [
    [
      'an unknown refresh_in',
      { email: 'a@example.com', password: PASSWORD, refresh_in: 'header' },
      /refresh_in/,
    ],
    ['an email in an array', { email: ['a@example.com'], password: PASSWORD }, /email/],
    ['a numeric password', { email: 'a@example.com', password: 12345678 }, /password/],
    [
      'an unknown property',
      { email: 'a@example.com', password: PASSWORD, remember: true },
      /additional properties: "remember" is not allowed/,
    ],
    [
      'an unknown property with a long name',
      { email: 'a@example.com', password: PASSWORD, [`${'n'.repeat(64)}secret`]: 1 },
      `body must NOT have additional properties: "${'n'.repeat(64)}…" is not allowed`,
    ],
    ['a missing password', { email: 'a@example.com' }, /required property 'password'/],
    ['an invalid email', { email: 'nope', password: PASSWORD }, 'email must be a valid email address'],
  ];

  it.each(badLogins)('answers 400 invalid_request for %s', async (_name, payload, message) => {
    const app = await makeApp();
    const res = await app.inject({ method: 'POST', url: '/auth/login', payload: payload as object });
    expectProblem(res, 400, 'invalid_request', message);
  });

  it('throttles account+IP after 5 failures, even a right password, not the account elsewhere', async () => {
    const clock = createClock();
    const app = await makeApp({}, { now: clock.now });
    const user = await registerUser(app);
    const attacker = '203.0.113.7';
    for (let i = 0; i < 5; i += 1) {
      const res = await app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: user.email, password: `wrong password ${i}` },
        remoteAddress: attacker,
      });
      expectProblem(res, 401, 'invalid_credentials');
    }
    const throttled = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: user.email, password: PASSWORD },
      remoteAddress: attacker,
    });
    expect(throttled.headers['retry-after']).toMatch(/^[1-9][0-9]*$/);
    const wait = Number(throttled.headers['retry-after']);
    expectProblem(
      throttled,
      429,
      'rate_limited',
      `too many attempts; try again in ${wait < 120 ? `${wait} second${wait === 1 ? '' : 's'}` : `${Math.ceil(wait / 60)} minutes`}`,
    );
    expect(throttled.headers['set-cookie']).toBeUndefined();
    expect(throttled.body).not.toContain('access_token');

    const owner = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: user.email, password: PASSWORD },
      remoteAddress: '198.51.100.1',
    });
    expect(owner.statusCode).toBe(200);

    // The back-off ends: after Retry-After the right password works from the attacker's address too.
    clock.advance(Number(throttled.headers['retry-after']) * 1000 + 1);
    const later = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: user.email, password: PASSWORD },
      remoteAddress: attacker,
    });
    expect(later.statusCode).toBe(200);
  });
});

describe('POST /auth/refresh', () => {
  it('rotates the cookie of a same-origin request and keeps the refresh token out of the body', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const first = await login(app, user, { mode: 'cookie' });
    const res = await refreshByCookie(app, first.refreshToken);
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(TOKEN_RESPONSE_KEYS);
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBe(900);
    const rotated = refreshCookie(res);
    expect(rotated).toMatch(REFRESH_TOKEN_SHAPE);
    expect(rotated).not.toBe(first.refreshToken);
    expect(cookieAttributes(res)).toEqual(
      expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Path=/auth']),
    );
    expect(sessionIdOf(body.access_token)).toBe(first.sessionId);
    expect((await me(app, body.access_token)).statusCode).toBe(200);
    // The rotated cookie works in turn.
    expect((await refreshByCookie(app, rotated as string)).statusCode).toBe(200);
  });

  it('rotates a body token and answers with the new one in the body, without a cookie', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const first = await login(app, user);
    const res = await refreshByBody(app, first.refreshToken);
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['set-cookie']).toBeUndefined();
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual([...TOKEN_RESPONSE_KEYS, 'refresh_token'].sort());
    expect(body.refresh_token).toMatch(REFRESH_TOKEN_SHAPE);
    expect(body.refresh_token).not.toBe(first.refreshToken);
    expect(sessionIdOf(body.access_token)).toBe(first.sessionId);
    expect((await refreshByBody(app, body.refresh_token)).statusCode).toBe(200);
  });

  it('answers a reuse inside the grace window with the same successor', async () => {
    const clock = createClock();
    const app = await makeApp({}, { now: clock.now });
    const user = await registerUser(app);
    const first = await login(app, user);
    const a = await refreshByBody(app, first.refreshToken);
    clock.advance(9_000);
    const b = await refreshByBody(app, first.refreshToken);
    expect(a.statusCode).toBe(200);
    expect(b.statusCode).toBe(200);
    expect(b.json().refresh_token).toBe(a.json().refresh_token);
    expect(sessionIdOf(b.json().access_token)).toBe(first.sessionId);
    expect((await refreshByBody(app, a.json().refresh_token)).statusCode).toBe(200);

    const cookieLogin = await login(app, user, { mode: 'cookie' });
    const c = await refreshByCookie(app, cookieLogin.refreshToken);
    const d = await refreshByCookie(app, cookieLogin.refreshToken);
    expect(refreshCookie(d)).toBe(refreshCookie(c));
  });

  it('revokes the whole family when a rotated token comes back after the grace window', async () => {
    const clock = createClock();
    const app = await makeApp({}, { now: clock.now });
    const user = await registerUser(app);
    const first = await login(app, user);
    const rotated = await refreshByBody(app, first.refreshToken);
    const successor = rotated.json().refresh_token as string;
    const successorAccess = rotated.json().access_token as string;
    clock.advance(10_001);

    expectInvalidGrant(await refreshByBody(app, first.refreshToken));
    expectInvalidGrant(await refreshByBody(app, successor));
    expectInvalidToken(await me(app, first.accessToken));
    expectInvalidToken(await me(app, successorAccess));
    const feed = await app.inject({ url: '/.well-known/revoked-sessions' });
    expect(feed.json().sessions.map((s: { sid: string }) => s.sid)).toContain(first.sessionId);
  });

  it('with LATCHKEY_REFRESH_GRACE=0 a reuse one moment later revokes the family', async () => {
    const clock = createClock();
    const app = await makeApp({ LATCHKEY_REFRESH_GRACE: '0' }, { now: clock.now });
    const user = await registerUser(app);
    const other = await login(app, user);
    const first = await login(app, user);
    const successor = (await refreshByBody(app, first.refreshToken)).json().refresh_token as string;
    clock.advance(1);
    expectInvalidGrant(await refreshByBody(app, first.refreshToken));
    expectInvalidGrant(await refreshByBody(app, successor));
    expectInvalidToken(await me(app, first.accessToken));
    // Only that family: the user's other session lives on.
    expect((await me(app, other.accessToken)).statusCode).toBe(200);
    expect((await refreshByBody(app, other.refreshToken)).statusCode).toBe(200);
  });

  it('refuses a reuse in cookie mode after the grace window and clears the cookie', async () => {
    const clock = createClock();
    const app = await makeApp({}, { now: clock.now });
    const user = await registerUser(app);
    const first = await login(app, user, { mode: 'cookie' });
    const successor = refreshCookie(await refreshByCookie(app, first.refreshToken)) as string;
    clock.advance(60_000);
    const reused = await refreshByCookie(app, first.refreshToken);
    expectInvalidGrant(reused);
    expectClearedCookie(reused);
    expectInvalidGrant(await refreshByCookie(app, successor));
  });

  it('answers 401 invalid_grant for an access token, garbage, an unknown token and no token', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const { accessToken } = await login(app, user);
    for (const token of [accessToken, 'garbage', `lk_rt_${'A'.repeat(43)}`, 'lk_rt_', 'x'.repeat(1024)]) {
      const res = await refreshByBody(app, token);
      expectInvalidGrant(res);
      expect(res.body).not.toContain(token);
    }
    expectInvalidGrant(await refreshByCookie(app, accessToken));
    const none = await app.inject({ method: 'POST', url: '/auth/refresh' });
    expectProblem(none, 401, 'invalid_grant', 'no refresh token: send the cookie or refresh_token');
  });

  it('answers 400 for a malformed refresh body', async () => {
    const app = await makeApp();
    for (const payload of [
      { refresh_token: '' },
      { refresh_token: 42 },
      { refresh_token: ['x'] },
      { token: 'x' },
    ]) {
      const res = await app.inject({ method: 'POST', url: '/auth/refresh', payload });
      expectProblem(res, 400, 'invalid_request');
    }
  });

  const csrfCases: Array<[string, Record<string, string>, number, string | null]> = [
    [
      'neither Origin nor Sec-Fetch-Site',
      {},
      403,
      'cookie request refused: it carries neither Origin nor Sec-Fetch-Site',
    ],
    [
      'a foreign Origin',
      { origin: 'https://evil.example' },
      403,
      'cross-site request refused: Origin is not allowed',
    ],
    ['Origin null', { origin: 'null' }, 403, 'cross-site request refused: Origin is not allowed'],
    ['the issuer origin on another port', { origin: 'http://localhost:3001' }, 403, null],
    [
      'a foreign Origin with Sec-Fetch-Site same-origin',
      { origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' },
      403,
      null,
    ],
    [
      'Sec-Fetch-Site cross-site',
      { 'sec-fetch-site': 'cross-site' },
      403,
      'cross-site request refused: Sec-Fetch-Site is not same-origin',
    ],
    ['Sec-Fetch-Site same-site', { 'sec-fetch-site': 'same-site' }, 403, null],
    ['Sec-Fetch-Site none', { 'sec-fetch-site': 'none' }, 403, null],
    ['the issuer Origin', { origin: 'http://localhost:3000' }, 200, null],
    ['the 127.0.0.1 twin of a localhost issuer', { origin: 'http://127.0.0.1:3000' }, 200, null],
    ['the [::1] twin of a localhost issuer', { origin: 'http://[::1]:3000' }, 200, null],
    ['Sec-Fetch-Site same-origin without Origin', { 'sec-fetch-site': 'same-origin' }, 200, null],
  ];

  it.each(csrfCases)('checks a cookie request with %s', async (_name, headers, status, message) => {
    const app = await makeApp();
    const user = await registerUser(app);
    const { refreshToken } = await login(app, user, { mode: 'cookie' });
    const res = await refreshByCookie(app, refreshToken, headers);
    if (status === 200) {
      expect(res.statusCode).toBe(200);
      expect(refreshCookie(res)).toMatch(REFRESH_TOKEN_SHAPE);
      return;
    }
    expectProblem(res, 403, 'csrf_rejected', message ?? undefined);
    expect(res.headers['set-cookie']).toBeUndefined();
    // A refused request does not use the token up.
    expect((await refreshByCookie(app, refreshToken)).statusCode).toBe(200);
  });

  it('checks cookie requests against LATCHKEY_ALLOWED_ORIGINS', async () => {
    const app = await makeApp({
      LATCHKEY_ALLOWED_ORIGINS: 'https://app.example.com, https://admin.example.com',
    });
    const user = await registerUser(app);
    const { refreshToken } = await login(app, user, { mode: 'cookie' });
    expectProblem(await refreshByCookie(app, refreshToken, SAME_ORIGIN), 403, 'csrf_rejected');
    const ok = await refreshByCookie(app, refreshToken, { origin: 'https://admin.example.com' });
    expect(ok.statusCode).toBe(200);
  });
});

describe('POST /auth/logout', () => {
  async function expectSessionEnded(app: FastifyInstance, accessToken: string, refreshToken: string) {
    expectInvalidToken(await me(app, accessToken));
    expectInvalidGrant(await refreshByBody(app, refreshToken));
  }

  it('ends the session of a same-origin cookie request and clears the cookie', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const { accessToken, refreshToken } = await login(app, user, { mode: 'cookie' });
    const res = await app.inject({
      method: 'POST',
      url: '/auth/logout',
      cookies: { latchkey_refresh: refreshToken },
      headers: SAME_ORIGIN,
    });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expectClearedCookie(res);
    await expectSessionEnded(app, accessToken, refreshToken);
  });

  it('ends the session of a refresh token in the body', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const { accessToken, refreshToken } = await login(app, user);
    const res = await app.inject({
      method: 'POST',
      url: '/auth/logout',
      payload: { refresh_token: refreshToken },
    });
    expect(res.statusCode).toBe(204);
    expectClearedCookie(res);
    await expectSessionEnded(app, accessToken, refreshToken);
  });

  it('ends the session of a Bearer access token', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const other = await login(app, user);
    const { accessToken, refreshToken } = await login(app, user);
    const res = await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(accessToken) });
    expect(res.statusCode).toBe(204);
    expectClearedCookie(res);
    await expectSessionEnded(app, accessToken, refreshToken);
    expect((await me(app, other.accessToken)).statusCode).toBe(200);
  });

  it('answers 204 and clears the cookie even with nothing, garbage, or a bad Bearer token', async () => {
    const app = await makeApp();
    const requests = [
      {},
      { payload: { refresh_token: 'garbage' } },
      { payload: { refresh_token: `lk_rt_${'B'.repeat(43)}` } },
      { headers: bearer('not.a.token') },
      { headers: bearer('') },
      { headers: { authorization: 'Basic Zm9vOmJhcg==' } },
    ];
    for (const extra of requests) {
      const res = await app.inject({ method: 'POST', url: '/auth/logout', ...extra });
      expect(res.statusCode).toBe(204);
      expectClearedCookie(res);
    }
  });

  it('answers 204 for a session that has ended already', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const { refreshToken } = await login(app, user);
    for (let i = 0; i < 2; i += 1) {
      const res = await app.inject({
        method: 'POST',
        url: '/auth/logout',
        payload: { refresh_token: refreshToken },
      });
      expect(res.statusCode).toBe(204);
    }
  });

  it('refuses a cookie logout without Origin or Sec-Fetch-Site (403), leaving the session', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const { accessToken, refreshToken } = await login(app, user, { mode: 'cookie' });
    for (const headers of [{}, { origin: 'https://evil.example' }]) {
      const res = await app.inject({
        method: 'POST',
        url: '/auth/logout',
        cookies: { latchkey_refresh: refreshToken },
        headers,
      });
      expectProblem(res, 403, 'csrf_rejected');
    }
    expect((await me(app, accessToken)).statusCode).toBe(200);
  });
});

describe('POST /auth/logout-all', () => {
  it('answers 401 without a valid Bearer token', async () => {
    const app = await makeApp();
    const none = await app.inject({ method: 'POST', url: '/auth/logout-all' });
    expectProblem(none, 401, 'missing_token', MISSING_TOKEN_MESSAGE);
    expect(none.headers['www-authenticate']).toBe(BARE_CHALLENGE);
    expectInvalidToken(
      await app.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer('x.y.z') }),
    );
  });

  it("revokes every session of the user and no other user's", async () => {
    const app = await makeApp();
    const alice = await registerUser(app);
    const bob = await registerUser(app);
    const a1 = await login(app, alice);
    const a2 = await login(app, alice, { mode: 'cookie' });
    const b1 = await login(app, bob);
    const res = await app.inject({
      method: 'POST',
      url: '/auth/logout-all',
      headers: bearer(a1.accessToken),
    });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    // The asking browser's refresh cookie belongs to a revoked session: it goes too.
    expectClearedCookie(res);
    for (const session of [a1, a2]) {
      expectInvalidToken(await me(app, session.accessToken));
      expectInvalidGrant(await refreshByBody(app, session.refreshToken));
    }
    expect((await me(app, b1.accessToken)).statusCode).toBe(200);
    expect((await refreshByBody(app, b1.refreshToken)).statusCode).toBe(200);
    // Logging in again starts a fresh, working session.
    expect((await me(app, (await login(app, alice)).accessToken)).statusCode).toBe(200);
  });
});

describe('GET /auth/sessions', () => {
  it('answers 401 without a Bearer token', async () => {
    const app = await makeApp();
    const res = await app.inject({ url: '/auth/sessions' });
    expectProblem(res, 401, 'missing_token', MISSING_TOKEN_MESSAGE);
    expect(res.headers['www-authenticate']).toBe(BARE_CHALLENGE);
    expectInvalidToken(await app.inject({ url: '/auth/sessions', headers: bearer('garbage') }));
  });

  it('holds LATCHKEY_MAX_SESSIONS_PER_USER live sessions: a login beyond it ends the least recently used', async () => {
    const clock = createClock();
    const app = await makeApp({ LATCHKEY_MAX_SESSIONS_PER_USER: '2' }, { now: clock.now });
    const user = await registerUser(app);
    const other = await registerUser(app);
    const others = await login(app, other);
    const first = await login(app, user);
    clock.advance(1_000);
    const second = await login(app, user);
    clock.advance(1_000);
    const third = await login(app, user);
    // The first one ends: its access token is refused at once, its refresh token is dead.
    expectInvalidToken(await me(app, first.accessToken));
    expectInvalidGrant(await refreshByBody(app, first.refreshToken));
    for (const kept of [second, third, others])
      expect((await me(app, kept.accessToken)).statusCode).toBe(200);
    const res = await app.inject({ url: '/auth/sessions', headers: bearer(third.accessToken) });
    const { sessions } = res.json() as { sessions: Array<{ id: string }> };
    expect(sessions.map((s) => s.id)).toEqual([third.sessionId, second.sessionId]);
    const metrics = await app.inject({ url: '/metrics' });
    expect(metrics.body).toContain('latchkey_sessions_revoked_total{reason="session_limit"} 1');
  });

  it('lists the active sessions newest first, with their fields and the current one marked', async () => {
    const clock = createClock();
    const app = await makeApp({}, { now: clock.now });
    const user = await registerUser(app);
    const other = await registerUser(app);
    await login(app, other);
    const logins = [];
    for (let i = 0; i < 3; i += 1) {
      clock.advance(60_000);
      logins.push(
        await login(app, user, {
          remoteAddress: `192.0.2.${100 + i}`,
          headers: { 'user-agent': `agent/${i}` },
        }),
      );
    }
    const caller = logins[1] as (typeof logins)[number];
    const res = await app.inject({ url: '/auth/sessions', headers: bearer(caller.accessToken) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const { sessions } = res.json() as { sessions: Array<Record<string, unknown>> };
    expect(sessions.map((s) => s.id)).toEqual(logins.map((l) => l.sessionId).reverse());
    for (const [index, session] of sessions.entries()) {
      const i = 2 - index;
      expect(Object.keys(session).sort()).toEqual([
        'created_at',
        'current',
        'id',
        'ip',
        'last_used_at',
        'user_agent',
      ]);
      expect(session.user_agent).toBe(`agent/${i}`);
      expect(session.ip).toBe(`192.0.2.${100 + i}`);
      expect(session.current).toBe(i === 1);
      expect(new Date(session.created_at as string).toISOString()).toBe(session.created_at);
      expect(new Date(session.last_used_at as string).toISOString()).toBe(session.last_used_at);
    }
    const created = sessions.map((s) => Date.parse(s.created_at as string));
    expect(created).toEqual([...created].sort((x, y) => y - x));
  });

  it('leaves out revoked sessions', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const kept = await login(app, user);
    const ended = await login(app, user);
    await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: ended.refreshToken } });
    const res = await app.inject({ url: '/auth/sessions', headers: bearer(kept.accessToken) });
    expect(res.json().sessions.map((s: { id: string }) => s.id)).toEqual([kept.sessionId]);
  });
});

describe('DELETE /auth/sessions/:id', () => {
  it("revokes one of the user's sessions: 204, and its tokens stop working", async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const caller = await login(app, user);
    const target = await login(app, user);
    const res = await app.inject({
      method: 'DELETE',
      url: `/auth/sessions/${target.sessionId}`,
      headers: bearer(caller.accessToken),
    });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expectInvalidToken(await me(app, target.accessToken));
    expectInvalidGrant(await refreshByBody(app, target.refreshToken));
    expect((await me(app, caller.accessToken)).statusCode).toBe(200);
    // DELETE is idempotent for the owner.
    const again = await app.inject({
      method: 'DELETE',
      url: `/auth/sessions/${target.sessionId}`,
      headers: bearer(caller.accessToken),
    });
    expect(again.statusCode).toBe(204);
  });

  it("answers 404 not_found for an unknown id and for another user's session", async () => {
    const app = await makeApp();
    const alice = await registerUser(app);
    const bob = await registerUser(app);
    const a = await login(app, alice);
    const b = await login(app, bob);
    for (const id of ['no-such-session', b.sessionId]) {
      const res = await app.inject({
        method: 'DELETE',
        url: `/auth/sessions/${id}`,
        headers: bearer(a.accessToken),
      });
      expectProblem(res, 404, 'not_found', 'no such session');
    }
    expect((await me(app, b.accessToken)).statusCode).toBe(200);
    expect((await refreshByBody(app, b.refreshToken)).statusCode).toBe(200);
  });

  it('answers 400 invalid_request for an id with a NUL character, on every store', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const { accessToken } = await login(app, user);
    for (const id of ['%00', 'abc%00def']) {
      const res = await app.inject({
        method: 'DELETE',
        url: `/auth/sessions/${id}`,
        headers: bearer(accessToken),
      });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json()).toMatchObject({ error: 'invalid_request' });
    }
    expect((await me(app, accessToken)).statusCode).toBe(200);
  });

  it('answers 401 without a Bearer token', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const { sessionId } = await login(app, user);
    const res = await app.inject({ method: 'DELETE', url: `/auth/sessions/${sessionId}` });
    expectProblem(res, 401, 'missing_token', MISSING_TOKEN_MESSAGE);
    expectInvalidToken(
      await app.inject({ method: 'DELETE', url: `/auth/sessions/${sessionId}`, headers: bearer('a.b.c') }),
    );
  });
});

describe('POST /auth/password', () => {
  const change = (app: FastifyInstance, accessToken: string, payload: unknown) =>
    app.inject({
      method: 'POST',
      url: '/auth/password',
      headers: { ...bearer(accessToken), 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    });

  it('changes the password, keeps the current session and revokes the others', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const current = await login(app, user);
    const other = await login(app, user, { mode: 'cookie' });
    const res = await change(app, current.accessToken, {
      current_password: PASSWORD,
      new_password: 'a new passphrase',
    });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');

    expect((await me(app, current.accessToken)).statusCode).toBe(200);
    expect((await refreshByBody(app, current.refreshToken)).statusCode).toBe(200);
    expectInvalidToken(await me(app, other.accessToken));
    expectInvalidGrant(await refreshByBody(app, other.refreshToken));

    const old = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: user.email, password: PASSWORD },
    });
    expectProblem(old, 401, 'invalid_credentials', 'email or password is incorrect');
    await login(app, { email: user.email, password: 'a new passphrase' });
  });

  it('answers 403 invalid_credentials for a wrong current password and changes nothing', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const current = await login(app, user);
    const other = await login(app, user);
    const res = await change(app, current.accessToken, {
      current_password: 'not my password',
      new_password: 'a new passphrase',
    });
    expectProblem(res, 403, 'invalid_credentials', 'current password is incorrect');
    expect(res.headers['www-authenticate']).toBeUndefined();
    expect((await me(app, other.accessToken)).statusCode).toBe(200);
    await login(app, user);
  });

  const badChanges: Array<[string, unknown, string | RegExp]> = [
    [
      'a 7-character new password',
      { current_password: PASSWORD, new_password: 'short12' },
      'new_password must be 8 to 1024 characters long',
    ],
    [
      'a 1025-character new password',
      { current_password: PASSWORD, new_password: 'y'.repeat(1025) },
      /new_password/,
    ],
    ['a missing new password', { current_password: PASSWORD }, /required property 'new_password'/],
    [
      'a numeric current password',
      { current_password: 1, new_password: 'a new passphrase' },
      /current_password/,
    ],
    [
      'an unknown property',
      { current_password: PASSWORD, new_password: 'a new passphrase', x: 1 },
      /additional properties: "x" is not allowed/,
    ],
  ];

  it.each(badChanges)('answers 400 invalid_request for %s', async (_name, payload, message) => {
    const app = await makeApp();
    const user = await registerUser(app);
    const current = await login(app, user);
    expectProblem(await change(app, current.accessToken, payload), 400, 'invalid_request', message);
    await login(app, user);
  });

  it('answers 401 without a Bearer token', async () => {
    const app = await makeApp();
    const res = await app.inject({
      method: 'POST',
      url: '/auth/password',
      payload: { current_password: PASSWORD, new_password: 'a new passphrase' },
    });
    expectProblem(res, 401, 'missing_token', MISSING_TOKEN_MESSAGE);
    expect(res.headers['www-authenticate']).toBe(BARE_CHALLENGE);
  });
});

describe('GET /api/me', () => {
  it('answers 200 {id, email} for a valid Bearer token, whatever the case of the scheme', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const { accessToken } = await login(app, user);
    const res = await me(app, accessToken);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id: user.id, email: user.email, roles: [] });
    const lower = await app.inject({ url: '/api/me', headers: { authorization: `bearer ${accessToken}` } });
    expect(lower.statusCode).toBe(200);
  });

  it.each([
    ['no Authorization header', undefined],
    ['Basic credentials', 'Basic Zm9vOmJhcg=='],
    ['another scheme', 'Token abc.def.ghi'],
    ['a bare token without scheme', 'abc.def.ghi'],
  ])('answers 401 missing_token without an error attribute for %s', async (_name, authorization) => {
    const app = await makeApp();
    const res = await app.inject({
      url: '/api/me',
      ...(authorization === undefined ? {} : { headers: { authorization } }),
    });
    expectProblem(res, 401, 'missing_token', MISSING_TOKEN_MESSAGE);
    expect(res.headers['www-authenticate']).toBe(BARE_CHALLENGE);
  });

  it('answers 401 invalid_token for malformed, expired and wrongly signed tokens', async () => {
    const clock = createClock();
    const app = await makeApp({}, { now: clock.now });
    const user = await registerUser(app);
    const { accessToken } = await login(app, user);
    const [h, p, s] = accessToken.split('.') as [string, string, string];
    const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    for (const token of ['garbage', 'a.b', 'a.b.c', '', `${h}.${p}.${flipped}`, `${h}.${p}.`]) {
      const res = await app.inject({ url: '/api/me', headers: { authorization: `Bearer ${token}` } });
      expectInvalidToken(res);
      if (token !== '') expect(res.body + String(res.headers['www-authenticate'])).not.toContain(token);
    }
    clock.advance((900 + 30 + 1) * 1000);
    expectInvalidToken(await me(app, accessToken));
  });
});

describe('roles in access tokens', () => {
  /** The roles claim of an access token; undefined when it has none. */
  const rolesOf = (accessToken: string) => decodeUnverified(accessToken).payload.roles;
  /** Roles change as `latchkey users roles` changes them: through the admin service, on the app's store. */
  const adminOf = (app: FastifyInstance) => new AdminService({ store: app.latchkey.store });

  it('gives a user without roles no roles claim, and /api/me an empty list', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const { accessToken, refreshToken } = await login(app, user);
    expect(Object.hasOwn(decodeUnverified(accessToken).payload, 'roles')).toBe(false);
    const refreshed = await refreshByBody(app, refreshToken);
    expect(refreshed.statusCode).toBe(200);
    const next = (refreshed.json() as { access_token: string }).access_token;
    expect(Object.hasOwn(decodeUnverified(next).payload, 'roles')).toBe(false);
    expect((await me(app, next)).json()).toEqual({ id: user.id, email: user.email, roles: [] });
  });

  it('carries a role added after login in the next refresh and in a new login, and in /api/me', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const first = await login(app, user);
    await adminOf(app).addRole(user.email, 'admin');
    await adminOf(app).addRole(user.email, 'billing:read');

    // The token in hand says what was true at its issue; /api/me says what is true now.
    expect(rolesOf(first.accessToken)).toBeUndefined();
    expect((await me(app, first.accessToken)).json()).toEqual({
      id: user.id,
      email: user.email,
      roles: ['admin', 'billing:read'],
    });

    const refreshed = await refreshByBody(app, first.refreshToken);
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    const refreshedToken = (refreshed.json() as { access_token: string }).access_token;
    expect(rolesOf(refreshedToken)).toEqual(['admin', 'billing:read']);
    expect((await me(app, refreshedToken)).statusCode).toBe(200);

    const second = await login(app, user, { mode: 'cookie', remoteAddress: nextIp() });
    expect(rolesOf(second.accessToken)).toEqual(['admin', 'billing:read']);
  });

  it('drops a removed role at the next refresh, and the claim with the last role', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    await adminOf(app).addRole(user.email, 'admin');
    await adminOf(app).addRole(user.email, 'editor');
    const { accessToken, refreshToken } = await login(app, user);
    expect(rolesOf(accessToken)).toEqual(['admin', 'editor']);

    await adminOf(app).removeRole(user.email, 'admin');
    const once = await refreshByBody(app, refreshToken);
    expect(once.statusCode, once.body).toBe(200);
    const onceBody = once.json() as { access_token: string; refresh_token: string };
    expect(rolesOf(onceBody.access_token)).toEqual(['editor']);

    await adminOf(app).removeRole(user.email, 'editor');
    const twice = await refreshByBody(app, onceBody.refresh_token);
    expect(twice.statusCode, twice.body).toBe(200);
    const twiceToken = (twice.json() as { access_token: string }).access_token;
    expect(Object.hasOwn(decodeUnverified(twiceToken).payload, 'roles')).toBe(false);
    expect((await me(app, twiceToken)).json()).toMatchObject({ roles: [] });
  });

  it("keeps one user's roles out of another user's tokens", async () => {
    const app = await makeApp();
    const ann = await registerUser(app);
    const bob = await registerUser(app);
    await adminOf(app).addRole(ann.email, 'admin');
    expect(rolesOf((await login(app, ann)).accessToken)).toEqual(['admin']);
    expect(rolesOf((await login(app, bob)).accessToken)).toBeUndefined();
  });
});

describe('discovery documents', () => {
  it('publishes the JWKS: public keys with kid, alg ES256, use sig, cacheable', async () => {
    const app = await makeApp();
    const res = await app.inject({ url: '/.well-known/jwks.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toMatch(/\bpublic\b/);
    expect(res.headers['cache-control']).toMatch(/max-age=\d+/);
    const { keys } = res.json() as { keys: Array<Record<string, unknown>> };
    expect(keys.length).toBeGreaterThanOrEqual(1);
    for (const key of keys) {
      expect(key.kty).toBe('EC');
      expect(key.crv).toBe('P-256');
      expect(key.alg).toBe('ES256');
      expect(key.use).toBe('sig');
      expect(typeof key.kid).toBe('string');
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(secret);
    }
  });

  it('publishes the discovery document', async () => {
    const app = await makeApp({ LATCHKEY_ISSUER: 'https://auth.example.com' });
    const res = await app.inject({ url: '/.well-known/openid-configuration' });
    expect(res.statusCode).toBe(200);
    // Only fields whose meaning is true of Latchkey: no token_endpoint (OAuth's form-encoded grants).
    expect(res.json()).toEqual({
      issuer: 'https://auth.example.com',
      jwks_uri: 'https://auth.example.com/.well-known/jwks.json',
      id_token_signing_alg_values_supported: ['ES256'],
      access_token_signing_alg_values_supported: ['ES256'],
      revocation_feed_uri: 'https://auth.example.com/.well-known/revoked-sessions',
      login_endpoint: 'https://auth.example.com/auth/login',
      refresh_endpoint: 'https://auth.example.com/auth/refresh',
      logout_endpoint: 'https://auth.example.com/auth/logout',
    });
  });

  it('lists a revoked session in the revocation feed', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const kept = await login(app, user);
    const ended = await login(app, user);
    const empty = await app.inject({ url: '/.well-known/revoked-sessions' });
    expect(empty.statusCode).toBe(200);
    expect(empty.json().sessions).toEqual([]);
    await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(ended.accessToken) });
    const res = await app.inject({ url: '/.well-known/revoked-sessions' });
    expect(res.statusCode).toBe(200);
    const sids = res.json().sessions.map((s: { sid: string }) => s.sid);
    expect(sids).toContain(ended.sessionId);
    expect(sids).not.toContain(kept.sessionId);
    const bad = await app.inject({ url: '/.well-known/revoked-sessions?since=yesterday' });
    expectProblem(bad, 400, 'invalid_request');
  });

  it('pages the revocation feed with limit and next, a logout-all of many sessions included', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const sessions = [];
    for (let i = 0; i < 5; i++) sessions.push(await login(app, user));
    const logoutAll = await app.inject({
      method: 'POST',
      url: '/auth/logout-all',
      headers: bearer((sessions[0] as { accessToken: string }).accessToken),
    });
    expect(logoutAll.statusCode).toBe(204);
    const whole = (await app.inject({ url: '/.well-known/revoked-sessions' })).json();
    expect(whole.sessions).toHaveLength(5);
    expect(whole.next).toBeUndefined();

    const pages: { sid: string }[][] = [];
    let query = 'limit=2';
    for (;;) {
      const page = await app.inject({ url: `/.well-known/revoked-sessions?${query}` });
      expect(page.statusCode).toBe(200);
      const body = page.json();
      expect(body.sessions.length).toBeLessThanOrEqual(2);
      pages.push(body.sessions);
      if (body.next === undefined) break;
      expect(body.next).toMatch(/^[0-9]+\.[A-Za-z0-9_-]+$/);
      query = `limit=2&after=${encodeURIComponent(body.next)}`;
    }
    expect(pages.map((page) => page.length)).toEqual([2, 2, 1]);
    expect(pages.flat()).toEqual(whole.sessions);

    for (const refused of [
      'limit=0',
      'limit=10001',
      'limit=-1',
      'limit=two',
      'after=1.abc',
      'limit=2&after=x',
    ]) {
      expectProblem(
        await app.inject({ url: `/.well-known/revoked-sessions?${refused}` }),
        400,
        'invalid_request',
      );
    }
  });
});

describe('operations', () => {
  it('answers /healthz and /readyz with 200', async () => {
    const app = await makeApp();
    const health = await app.inject({ url: '/healthz' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ status: 'ok' });
    const ready = await app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready' });
  });

  it('answers /readyz with 503 when the database does not answer', async () => {
    const store = await openSQLiteStore(':memory:');
    let down = false;
    const flaky = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'ping') return () => (down ? Promise.reject(new Error('db down')) : target.ping());
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Store;
    const app = await createTestApp({}, { store: flaky });
    try {
      expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
      down = true;
      const res = await app.inject({ url: '/readyz' });
      expectProblem(res, 503, 'unavailable');
      expect(res.body).not.toContain('db down');
      expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await app.close();
      await store.close();
    }
  });

  it('serves Prometheus metrics with login counts and request latency', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    await login(app, user);
    const res = await app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toContain('# TYPE latchkey_logins_total counter');
    expect(res.body).toMatch(/^latchkey_logins_total\{result="success"\} 1$/m);
    expect(res.body).toContain('# TYPE latchkey_http_request_duration_seconds histogram');
    expect(res.body).toMatch(/^latchkey_http_request_duration_seconds_count\{[^}]*route="\/auth\/login"/m);
    // No REDIS_URL, no Redis series: a 0 would read as "Redis is down" to an alert.
    expect(res.body).not.toContain('latchkey_redis_available');
  });
});

describe('edge errors', () => {
  it.each([
    ['GET', '/auth/nope'],
    ['POST', '/auth/nope'],
    ['GET', '/auth'],
    ['GET', '/api/nope'],
    ['GET', '/.well-known/nope'],
    ['GET', '/auth/login/extra'],
    ['POST', '/somewhere/else'],
  ])('answers %s %s with JSON 404 not_found', async (method, url) => {
    const app = await makeApp();
    const res = await app.inject({ method: method as 'GET', url });
    expectProblem(res, 404, 'not_found', 'no such route');
  });

  it.each([
    ['GET', '/auth/login', 'POST'],
    ['PUT', '/auth/login?x=1', 'POST'],
    ['DELETE', '/api/me', 'GET, HEAD'],
    ['PUT', '/auth/sessions/abc', 'DELETE'],
    ['DELETE', '/auth/sessions', 'GET, HEAD'],
    ['POST', '/.well-known/jwks.json', 'GET, HEAD'],
    ['POST', '/healthz', 'GET, HEAD'],
    ['OPTIONS', '/auth/refresh', 'POST'],
    ['GET', '/auth/lo%67in', 'POST'],
    ['GET', '/auth/login#fragment', 'POST'],
    ['GET', 'http://localhost:3000/auth/login', 'POST'],
    ['PUT', '/auth/sessions/a%2Fb', 'DELETE'],
  ])('answers %s %s, a path taking other methods, with 405 and Allow: %s', async (method, url, allow) => {
    const app = await makeApp();
    const res = await app.inject({ method: method as 'GET', url });
    expectProblem(res, 405, 'method_not_allowed', `${method} is not allowed here`);
    expect(res.headers.allow).toBe(allow);
  });

  it.each([
    ['GET', '/auth/%ZZ'],
    ['DELETE', '/auth/sessions/%E0%A4%A'],
    ['GET', '/%C0'],
  ])('answers %s %s (bad percent-encoding) with JSON 400 invalid_request', async (method, url) => {
    const app = await makeApp();
    const res = await app.inject({ method: method as 'GET', url });
    expectProblem(res, 400, 'invalid_request', 'the request URL is malformed');
  });

  it.each(['gzip', 'br', 'deflate, gzip'])(
    'answers 415 unsupported_media_type for a body with Content-Encoding: %s, and creates nothing',
    async (encoding) => {
      const app = await makeApp();
      const email = uniqueEmail('compressed');
      const payload = JSON.stringify({ email, password: PASSWORD });
      const res = await app.inject({
        method: 'POST',
        url: '/auth/register',
        headers: { 'content-type': 'application/json', 'content-encoding': encoding },
        payload: gzipSync(payload),
      });
      expectProblem(res, 415, 'unsupported_media_type', 'request bodies must not be compressed');
      // Nothing was registered: the same email is still free.
      await registerUser(app, email);
    },
  );

  it('answers 415 for a compressed Transfer-Encoding on a real connection', async () => {
    const app = await makeApp();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    const body = gzipSync(JSON.stringify({ email: uniqueEmail('te'), password: PASSWORD }));
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString();
    });
    socket.write(
      'POST /auth/register HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Type: application/json\r\n' +
        `Transfer-Encoding: gzip, chunked\r\n\r\n${body.length.toString(16)}\r\n`,
    );
    socket.write(body);
    socket.end('\r\n0\r\n\r\n');
    await once(socket, 'close');
    expect(answer).toMatch(/^HTTP\/1\.1 415 /);
    expect(JSON.parse(answer.split('\r\n\r\n')[1] ?? '')).toEqual({
      error: 'unsupported_media_type',
      message: 'request bodies must not be compressed',
    });
  });

  it.each(['iso-8859-1', 'utf-16', 'latin1'])('answers 415 for charset=%s', async (charset) => {
    const app = await makeApp();
    const res = await app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': `application/json; charset=${charset}` },
      payload: JSON.stringify({ email: 'a@example.com', password: PASSWORD }),
    });
    expectProblem(res, 415, 'unsupported_media_type', 'request body must be JSON in UTF-8');
  });

  it('refuses bytes that are not UTF-8 rather than replacing them, so passwords never collide', async () => {
    const app = await makeApp();
    const email = uniqueEmail('latin');
    const latin1 = Buffer.concat([
      Buffer.from(`{"email":"${email}","password":"`),
      Buffer.alloc(8, 0xe9),
      Buffer.from('"}'),
    ]);
    const res = await app.inject({
      method: 'POST',
      url: '/auth/register',
      headers: { 'content-type': 'application/json' },
      payload: latin1,
      remoteAddress: nextIp(),
    });
    expectProblem(res, 400, 'invalid_request', 'request body is not valid UTF-8');
    await registerUser(app, email);
  });

  it('reads charset=UTF-8 (quoted or not) and a leading byte-order mark as plain JSON', async () => {
    const app = await makeApp();
    for (const [contentType, prefix] of [
      ['application/json; charset=UTF-8', ''],
      ['application/json;charset="utf-8"', ''],
      ['application/json', '\uFEFF'],
    ]) {
      const res = await app.inject({
        method: 'POST',
        url: '/auth/register',
        headers: { 'content-type': contentType as string },
        payload: `${prefix}${JSON.stringify({ email: uniqueEmail('utf8'), password: PASSWORD })}`,
        remoteAddress: nextIp(),
      });
      expect(res.statusCode, res.body).toBe(201);
    }
    const poisoned = await app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: '\uFEFF{"email":"a@example.com","__proto__":{}}',
    });
    expectProblem(
      poisoned,
      400,
      'invalid_request',
      'request body must not use the property names __proto__ or constructor.prototype',
    );
  });

  it('reads a body with Content-Encoding: identity as it is', async () => {
    const app = await makeApp();
    const res = await app.inject({
      method: 'POST',
      url: '/auth/register',
      headers: { 'content-type': 'application/json', 'content-encoding': 'identity' },
      payload: JSON.stringify({ email: uniqueEmail('identity'), password: PASSWORD }),
      remoteAddress: nextIp(),
    });
    expect(res.statusCode, res.body).toBe(201);
  });

  it.each([
    ['__proto__', '{"__proto__": {"polluted": true}, "email": "a@example.com", "password": "p"}'],
    ['constructor.prototype', '{"constructor": {"prototype": {"polluted": true}}, "email": "a@example.com"}'],
  ])('answers 400 invalid_request naming %s, and pollutes nothing', async (_key, payload) => {
    const app = await makeApp();
    const res = await app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    expectProblem(
      res,
      400,
      'invalid_request',
      'request body must not use the property names __proto__ or constructor.prototype',
    );
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('takes an empty JSON body as none: cookie-mode refresh and logout work, login says what is missing', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const { refreshToken } = await login(app, user, { mode: 'cookie' });
    const emptyJson = { 'content-type': 'application/json', ...SAME_ORIGIN };
    const refreshed = await app.inject({
      method: 'POST',
      url: '/auth/refresh',
      headers: { ...emptyJson, cookie: `latchkey_refresh=${refreshToken}` },
      payload: ' \n',
    });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    const next = refreshCookie(refreshed);
    expect(next).toBeDefined();
    const loggedOut = await app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { ...emptyJson, cookie: `latchkey_refresh=${next}` },
      payload: '',
    });
    expect(loggedOut.statusCode, loggedOut.body).toBe(204);
    expectInvalidGrant(await refreshByCookie(app, next as string));
    const noCredentials = await app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: '',
    });
    expectProblem(noCredentials, 400, 'invalid_request', 'body must be object');
  });

  it('answers 413 payload_too_large for a body over 64 KiB', async () => {
    const app = await makeApp();
    const res = await app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email: 'big@example.com', password: 'p'.repeat(70 * 1024) },
    });
    expectProblem(res, 413, 'payload_too_large', 'request body is larger than 64 KiB');
  });

  it.each([
    ['text/plain', 'email=a@example.com'],
    ['application/x-www-form-urlencoded', 'email=a%40example.com&password=x'],
    ['multipart/form-data; boundary=x', '--x--'],
    ['application/xml', '<a/>'],
  ])('answers 415 unsupported_media_type for %s', async (contentType, payload) => {
    const app = await makeApp();
    const res = await app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': contentType },
      payload,
    });
    expectProblem(res, 415, 'unsupported_media_type', 'request body must be application/json');
  });
});

describe('GET /openapi.json', () => {
  const contractRoutes: Array<[string, string]> = [
    ['post', '/auth/register'],
    ['post', '/auth/login'],
    ['post', '/auth/refresh'],
    ['post', '/auth/logout'],
    ['post', '/auth/logout-all'],
    ['get', '/auth/sessions'],
    ['delete', '/auth/sessions/{id}'],
    ['post', '/auth/password'],
    ['get', '/api/me'],
    ['get', '/.well-known/jwks.json'],
    ['get', '/.well-known/openid-configuration'],
    ['get', '/healthz'],
    ['get', '/readyz'],
    ['get', '/metrics'],
  ];

  it('describes every route of the contract', async () => {
    const app = await makeApp();
    const res = await app.inject({ url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toMatch(/^3\./);
    for (const [method, path] of contractRoutes) {
      expect(doc.paths[path], path).toBeDefined();
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    }
    const register = doc.paths['/auth/register']?.post as { requestBody?: unknown };
    expect(JSON.stringify(register.requestBody)).toContain('additionalProperties');
  });
});

describe('access tokens', () => {
  it('carry the RFC 9068 header and claims, and keep sid across refreshes', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const before = Math.floor(Date.now() / 1000);
    const first = await login(app, user);
    const { header, payload } = decodeUnverified(first.accessToken);
    expect(header).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: expect.any(String) });
    const jwks = (await app.inject({ url: '/.well-known/jwks.json' })).json() as {
      keys: Array<{ kid: string }>;
    };
    expect(jwks.keys.map((k) => k.kid)).toContain(header.kid);
    expect(Object.keys(payload).sort()).toEqual([
      'aud',
      'client_id',
      'exp',
      'iat',
      'iss',
      'jti',
      'sid',
      'sub',
    ]);
    expect(payload.iss).toBe('http://localhost:3000');
    expect(payload.aud).toBe('http://localhost:3000');
    expect(payload.sub).toBe(user.id);
    expect(payload.client_id).toBe('latchkey');
    expect(typeof payload.jti).toBe('string');
    expect(typeof payload.sid).toBe('string');
    const iat = payload.iat as number;
    expect(Number.isInteger(iat)).toBe(true);
    expect(iat).toBeGreaterThanOrEqual(before);
    expect(iat).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect((payload.exp as number) - iat).toBe(900);

    const refreshed = await refreshByBody(app, first.refreshToken);
    const next = decodeUnverified(refreshed.json().access_token).payload;
    expect(next.sid).toBe(payload.sid);
    expect(next.jti).not.toBe(payload.jti);
    const second = decodeUnverified((await login(app, user)).accessToken).payload;
    expect(second.sid).not.toBe(payload.sid);
  });

  it('use the configured audience and client id', async () => {
    const app = await makeApp({
      LATCHKEY_ISSUER: 'https://auth.example.com',
      LATCHKEY_AUDIENCE: 'https://api.example.com',
      LATCHKEY_CLIENT_ID: 'web-app',
    });
    const user = await registerUser(app);
    const { accessToken } = await login(app, user);
    const { payload } = decodeUnverified(accessToken);
    expect(payload).toMatchObject({
      iss: 'https://auth.example.com',
      aud: 'https://api.example.com',
      client_id: 'web-app',
    });
    expect((await me(app, accessToken)).statusCode).toBe(200);
  });

  it.each([
    ['EdDSA', 'OKP'],
    ['RS256', 'RSA'],
    ['PS256', 'RSA'],
  ])('are signed with %s when LATCHKEY_ALG says so', async (alg, kty) => {
    const app = await makeApp({ LATCHKEY_ALG: alg });
    const user = await registerUser(app);
    const { accessToken } = await login(app, user);
    const { header } = decodeUnverified(accessToken);
    expect(header.alg).toBe(alg);
    const { keys } = (await app.inject({ url: '/.well-known/jwks.json' })).json() as {
      keys: Array<Record<string, unknown>>;
    };
    expect(keys.map((k) => k.kid)).toContain(header.kid);
    for (const key of keys) {
      expect(key).toMatchObject({ alg, kty, use: 'sig' });
      expect(key).not.toHaveProperty('d');
    }
    const discovery = (await app.inject({ url: '/.well-known/openid-configuration' })).json();
    expect(discovery.id_token_signing_alg_values_supported).toEqual([alg]);
    expect((await me(app, accessToken)).statusCode).toBe(200);
  });

  it('are advertised, during a change of LATCHKEY_ALG, with every algorithm whose tokens are valid', async () => {
    const store = await openSQLiteStore(':memory:');
    const before = await createTestApp({ LATCHKEY_ALG: 'ES256' }, { store });
    const after = await createTestApp({ LATCHKEY_ALG: 'EdDSA' }, { store });
    try {
      const user = await registerUser(before);
      const { accessToken } = await login(before, user);
      expect(decodeUnverified(accessToken).header.alg).toBe('ES256');
      // The instance started with EdDSA signs with it, and the ES256 key's tokens stay valid there.
      expect(decodeUnverified((await login(after, user)).accessToken).header.alg).toBe('EdDSA');
      expect((await me(after, accessToken)).statusCode).toBe(200);
      const discovery = (await after.inject({ url: '/.well-known/openid-configuration' })).json();
      expect([...discovery.id_token_signing_alg_values_supported].sort()).toEqual(['ES256', 'EdDSA']);
      expect([...discovery.access_token_signing_alg_values_supported].sort()).toEqual(['ES256', 'EdDSA']);
    } finally {
      await after.close();
      await before.close();
      await store.close();
    }
  });

  it('are HS256 with an empty JWKS when LATCHKEY_ALG=HS256', async () => {
    const app = await makeApp({ LATCHKEY_ALG: 'HS256' });
    const user = await registerUser(app);
    const { accessToken, refreshToken } = await login(app, user);
    expect(decodeUnverified(accessToken).header).toMatchObject({ alg: 'HS256', typ: 'at+jwt' });
    const jwks = await app.inject({ url: '/.well-known/jwks.json' });
    expect(jwks.statusCode).toBe(200);
    expect(jwks.json()).toEqual({ keys: [] });
    expect((await me(app, accessToken)).statusCode).toBe(200);
    const refreshed = await refreshByBody(app, refreshToken);
    expect(decodeUnverified(refreshed.json().access_token).header.alg).toBe('HS256');
  });
});

describe('error bodies', () => {
  it('never carry a password or a refresh token', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const { refreshToken } = await login(app, user);
    const responses = [
      await app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: user.email, password: 'Wr0ng-Secret!' },
      }),
      await app.inject({
        method: 'POST',
        url: '/auth/login',
        headers: { 'content-type': 'application/json' },
        payload: '{"email":"x@example.com","password":"Wr0ng-Secret!"',
      }),
      await app.inject({
        method: 'POST',
        url: '/auth/refresh',
        payload: { refresh_token: refreshToken, extra: 1 },
      }),
      await refreshByCookie(app, refreshToken, { origin: 'https://evil.example' }),
    ];
    for (const res of responses) {
      expect(res.statusCode).toBeGreaterThanOrEqual(400);
      expect(res.statusCode).toBeLessThan(500);
      expect(res.body).not.toContain('Wr0ng-Secret!');
      expect(res.body).not.toContain(refreshToken);
    }
    expect(INVALID_GRANT_MESSAGE).not.toContain('lk_rt_');
  });
});
