/**
 * Refresh-token rotation under concurrency, over a real socket: many tabs refreshing with the same
 * token at once all get the one successor; a rotated token presented after the grace window is
 * treated as theft, and the whole family (its refresh tokens and its access tokens) dies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  claimsOf,
  field,
  type JSONResponse,
  type RunningServer,
  request,
  sleep,
  startServer,
} from './support.js';

const PASSWORD = 'correct horse battery staple';
const PARALLEL = 20;

async function loginInBodyMode(server: RunningServer, email: string): Promise<JSONResponse> {
  const registered = await request(server.baseUrl, '/auth/register', {
    method: 'POST',
    body: { email, password: PASSWORD },
  });
  expect(registered.status, JSON.stringify(registered.body)).toBe(201);
  const login = await request(server.baseUrl, '/auth/login', {
    method: 'POST',
    body: { email, password: PASSWORD, refresh_in: 'body' },
  });
  expect(login.status, JSON.stringify(login.body)).toBe(200);
  return login;
}

function refreshWith(server: RunningServer, refreshToken: string): Promise<JSONResponse> {
  return request(server.baseUrl, '/auth/refresh', { method: 'POST', body: { refresh_token: refreshToken } });
}

async function expectMeStatus(server: RunningServer, accessToken: string, status: 200 | 401): Promise<void> {
  const me = await request(server.baseUrl, '/api/me', { bearer: accessToken });
  expect(me.status, JSON.stringify(me.body)).toBe(status);
  if (status === 401) {
    expect(me.body?.error).toBe('invalid_token');
    expect(me.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  }
}

function expectInvalidGrant(response: JSONResponse): void {
  expect(response.status, JSON.stringify(response.body)).toBe(401);
  expect(response.body).toMatchObject({ error: 'invalid_grant' });
  expect(typeof response.body?.message).toBe('string');
}

describe(`${PARALLEL} parallel refreshes with one token (default 10 s grace window)`, () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer();
  }, 60_000);

  afterAll(async () => {
    await server?.close();
  });

  it('body mode: no 5xx, one successor for all, and that successor works afterwards', async () => {
    const login = await loginInBodyMode(server, 'parallel-body@example.com');
    const original = field(login, 'refresh_token');
    const sid = claimsOf(field(login, 'access_token')).sid;

    const responses = await Promise.all(
      Array.from({ length: PARALLEL }, () => refreshWith(server, original)),
    );
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status >= 500)).toEqual([]);
    // Every request arrived well inside the grace window, so every one is a success.
    expect(statuses).toEqual(Array.from({ length: PARALLEL }, () => 200));
    const successors = new Set(responses.map((response) => field(response, 'refresh_token')));
    expect(successors.size).toBe(1);
    const [successor = ''] = successors;
    expect(successor).toMatch(/^lk_rt_/);
    expect(successor).not.toBe(original);

    // Each answer carries a fresh access token of the same session, and each of them works.
    const accessTokens = responses.map((response) => field(response, 'access_token'));
    expect(new Set(accessTokens.map((token) => claimsOf(token).jti)).size).toBe(PARALLEL);
    for (const token of accessTokens) expect(claimsOf(token).sid).toBe(sid);
    await Promise.all(accessTokens.map((token) => expectMeStatus(server, token, 200)));

    const next = await refreshWith(server, successor);
    expect(next.status, JSON.stringify(next.body)).toBe(200);
    const third = field(next, 'refresh_token');
    expect(third).not.toBe(successor);
    expect(third).not.toBe(original);
    expect(claimsOf(field(next, 'access_token')).sid).toBe(sid);
    await expectMeStatus(server, field(next, 'access_token'), 200);
  });

  it('cookie mode: every parallel answer sets the same successor cookie', async () => {
    const email = 'parallel-cookie@example.com';
    const registered = await request(server.baseUrl, '/auth/register', {
      method: 'POST',
      body: { email, password: PASSWORD },
    });
    expect(registered.status).toBe(201);
    const login = await request(server.baseUrl, '/auth/login', {
      method: 'POST',
      body: { email, password: PASSWORD },
    });
    expect(login.status).toBe(200);
    const cookieOf = (response: JSONResponse) =>
      response.headers
        .getSetCookie()
        .map((line) => /^latchkey_refresh=([^;]*)/.exec(line)?.[1])
        .find((value) => value !== undefined);
    const original = cookieOf(login) ?? '';
    expect(original).toMatch(/^lk_rt_/);

    const headers = { cookie: `latchkey_refresh=${original}`, origin: server.baseUrl };
    const responses = await Promise.all(
      Array.from({ length: PARALLEL }, () =>
        request(server.baseUrl, '/auth/refresh', { method: 'POST', headers }),
      ),
    );
    expect(responses.map((response) => response.status)).toEqual(Array.from({ length: PARALLEL }, () => 200));
    const successors = new Set(responses.map(cookieOf));
    expect(successors.size).toBe(1);
    const [successor = ''] = successors;
    expect(successor).toMatch(/^lk_rt_/);
    expect(successor).not.toBe(original);

    const next = await request(server.baseUrl, '/auth/refresh', {
      method: 'POST',
      headers: { cookie: `latchkey_refresh=${successor}`, origin: server.baseUrl },
    });
    expect(next.status).toBe(200);
    expect(cookieOf(next)).not.toBe(successor);
  });
});

describe('reuse after the grace window (LATCHKEY_REFRESH_GRACE=1)', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer({ LATCHKEY_REFRESH_GRACE: '1' });
  }, 60_000);

  afterAll(async () => {
    await server?.close();
  });

  it('revokes the whole family: the successor and every access token of the session', async () => {
    const login = await loginInBodyMode(server, 'reuse@example.com');
    const original = field(login, 'refresh_token');
    const firstAccess = field(login, 'access_token');

    const rotated = await refreshWith(server, original);
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    const successor = field(rotated, 'refresh_token');
    const secondAccess = field(rotated, 'access_token');
    await expectMeStatus(server, secondAccess, 200);

    // The only timing in these tests: the window is 1 s, and this waits comfortably past it.
    await sleep(1_300);

    expectInvalidGrant(await refreshWith(server, original));
    expectInvalidGrant(await refreshWith(server, successor));
    await expectMeStatus(server, secondAccess, 401);
    await expectMeStatus(server, firstAccess, 401);

    // The family stays dead: the stolen token does not come back to life on a second try either.
    expectInvalidGrant(await refreshWith(server, original));
  });

  it('leaves the other sessions of the same user alone', async () => {
    const email = 'reuse-other-session@example.com';
    const victim = await loginInBodyMode(server, email);
    const other = await request(server.baseUrl, '/auth/login', {
      method: 'POST',
      body: { email, password: PASSWORD, refresh_in: 'body' },
    });
    expect(other.status).toBe(200);

    const original = field(victim, 'refresh_token');
    expect((await refreshWith(server, original)).status).toBe(200);
    await sleep(1_300);
    expectInvalidGrant(await refreshWith(server, original));

    await expectMeStatus(server, field(victim, 'access_token'), 401);
    await expectMeStatus(server, field(other, 'access_token'), 200);
    const otherRefresh = await refreshWith(server, field(other, 'refresh_token'));
    expect(otherRefresh.status, JSON.stringify(otherRefresh.body)).toBe(200);
  });
});
