/**
 * The whole flow over a real socket, in both refresh-token modes: register → login → /api/me →
 * refresh → logout → the old tokens are refused. The access token is also checked the way a
 * resource server would check it: with a verifier built only from the JWKS fetched over HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, importJWKS } from '../../src/jwt/index.js';
import { claimsOf, field, type JSONResponse, type RunningServer, request, startServer } from './support.js';

const COOKIE = 'latchkey_refresh';
const PASSWORD = 'correct horse battery staple';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer();
}, 60_000);

afterAll(async () => {
  await server?.close();
});

/** The refresh cookie a response sets: its value and its attributes, lower-cased. */
function refreshCookie(response: JSONResponse): { value: string; attributes: string[] } | null {
  for (const line of response.headers.getSetCookie()) {
    const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
    const separator = pair.indexOf('=');
    if (pair.slice(0, separator) !== COOKIE) continue;
    return {
      value: decodeURIComponent(pair.slice(separator + 1)),
      attributes: attributes.map((a) => a.toLowerCase()),
    };
  }
  return null;
}

function expectTokenResponse(response: JSONResponse): void {
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  expect(response.body).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
  expect(response.headers.get('cache-control')).toContain('no-store');
}

async function expectInvalidToken(accessToken: string): Promise<void> {
  const me = await request(server.baseUrl, '/api/me', { bearer: accessToken });
  expect(me.status).toBe(401);
  expect(me.body?.error).toBe('invalid_token');
  expect(me.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
}

async function expectMe(accessToken: string, user: { id: string; email: string }): Promise<void> {
  const me = await request(server.baseUrl, '/api/me', { bearer: accessToken });
  expect(me.status, JSON.stringify(me.body)).toBe(200);
  expect(me.body).toEqual({ id: user.id, email: user.email, roles: [] });
}

async function register(email: string): Promise<{ id: string; email: string }> {
  const response = await request(server.baseUrl, '/auth/register', {
    method: 'POST',
    body: { email, password: PASSWORD },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  const user = response.body?.user as { id: string; email: string; created_at: string };
  expect(user.email).toBe(email);
  return { id: user.id, email: user.email };
}

describe('the full flow over a real socket', () => {
  it('cookie mode: the refresh token lives only in an HttpOnly cookie sent back with Origin', async () => {
    const origin = { origin: server.baseUrl };
    const user = await register('cookie-mode@example.com');

    const login = await request(server.baseUrl, '/auth/login', {
      method: 'POST',
      body: { email: user.email, password: PASSWORD },
    });
    expectTokenResponse(login);
    expect(login.body).not.toHaveProperty('refresh_token');
    const first = refreshCookie(login);
    expect(first?.value).toMatch(/^lk_rt_[A-Za-z0-9_-]{43}$/);
    expect(first?.attributes).toEqual(expect.arrayContaining(['httponly', 'samesite=strict', 'path=/auth']));
    expect(first?.attributes).not.toContain('secure');
    const access1 = field(login, 'access_token');
    await expectMe(access1, user);

    // The cookie alone is not enough: a request without Origin, or from another origin, is refused
    // before the token is looked at, so the token stays usable.
    const cookieHeader = (value: string) => ({ cookie: `${COOKIE}=${value}` });
    const bare = await request(server.baseUrl, '/auth/refresh', {
      method: 'POST',
      headers: cookieHeader(first?.value ?? ''),
    });
    expect(bare.status).toBe(403);
    expect(bare.body?.error).toBe('csrf_rejected');
    const crossSite = await request(server.baseUrl, '/auth/refresh', {
      method: 'POST',
      headers: { ...cookieHeader(first?.value ?? ''), origin: 'http://evil.example' },
    });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body?.error).toBe('csrf_rejected');

    const refreshed = await request(server.baseUrl, '/auth/refresh', {
      method: 'POST',
      headers: { ...cookieHeader(first?.value ?? ''), ...origin },
    });
    expectTokenResponse(refreshed);
    expect(refreshed.body).not.toHaveProperty('refresh_token');
    const second = refreshCookie(refreshed);
    expect(second?.value).toMatch(/^lk_rt_/);
    expect(second?.value).not.toBe(first?.value);
    const access2 = field(refreshed, 'access_token');
    expect(access2).not.toBe(access1);
    expect(claimsOf(access2).sid).toBe(claimsOf(access1).sid);
    expect(claimsOf(access2).jti).not.toBe(claimsOf(access1).jti);
    await expectMe(access2, user);

    const logout = await request(server.baseUrl, '/auth/logout', {
      method: 'POST',
      headers: { ...cookieHeader(second?.value ?? ''), ...origin },
    });
    expect(logout.status).toBe(204);
    const cleared = refreshCookie(logout);
    expect(cleared?.value).toBe('');
    expect(cleared?.attributes).toEqual(expect.arrayContaining(['path=/auth']));

    await expectInvalidToken(access2);
    await expectInvalidToken(access1);
    for (const old of [second?.value ?? '', first?.value ?? '']) {
      const again = await request(server.baseUrl, '/auth/refresh', {
        method: 'POST',
        headers: { ...cookieHeader(old), ...origin },
      });
      expect(again.status).toBe(401);
      expect(again.body?.error).toBe('invalid_grant');
    }
  });

  it('body mode: the refresh token travels in JSON and no cookie is set', async () => {
    const user = await register('body-mode@example.com');

    const login = await request(server.baseUrl, '/auth/login', {
      method: 'POST',
      body: { email: user.email, password: PASSWORD, refresh_in: 'body' },
    });
    expectTokenResponse(login);
    expect(refreshCookie(login)).toBeNull();
    const refresh1 = field(login, 'refresh_token');
    expect(refresh1).toMatch(/^lk_rt_[A-Za-z0-9_-]{43}$/);
    const access1 = field(login, 'access_token');
    await expectMe(access1, user);

    // An access token is not a refresh token.
    const confused = await request(server.baseUrl, '/auth/refresh', {
      method: 'POST',
      body: { refresh_token: access1 },
    });
    expect(confused.status).toBe(401);
    expect(confused.body?.error).toBe('invalid_grant');

    const refreshed = await request(server.baseUrl, '/auth/refresh', {
      method: 'POST',
      body: { refresh_token: refresh1 },
    });
    expectTokenResponse(refreshed);
    expect(refreshCookie(refreshed)).toBeNull();
    const refresh2 = field(refreshed, 'refresh_token');
    expect(refresh2).toMatch(/^lk_rt_/);
    expect(refresh2).not.toBe(refresh1);
    const access2 = field(refreshed, 'access_token');
    expect(claimsOf(access2).sid).toBe(claimsOf(access1).sid);
    expect(claimsOf(access2).jti).not.toBe(claimsOf(access1).jti);
    await expectMe(access2, user);

    const logout = await request(server.baseUrl, '/auth/logout', {
      method: 'POST',
      body: { refresh_token: refresh2 },
    });
    expect(logout.status).toBe(204);
    expect(logout.body).toBeNull();

    await expectInvalidToken(access2);
    await expectInvalidToken(access1);
    for (const old of [refresh2, refresh1]) {
      const again = await request(server.baseUrl, '/auth/refresh', {
        method: 'POST',
        body: { refresh_token: old },
      });
      expect(again.status).toBe(401);
      expect(again.body?.error).toBe('invalid_grant');
    }
  });

  it('logout with only the Bearer access token ends its session', async () => {
    const user = await register('bearer-logout@example.com');
    const login = await request(server.baseUrl, '/auth/login', {
      method: 'POST',
      body: { email: user.email, password: PASSWORD, refresh_in: 'body' },
    });
    expectTokenResponse(login);
    const access = field(login, 'access_token');
    await expectMe(access, user);

    const logout = await request(server.baseUrl, '/auth/logout', { method: 'POST', bearer: access });
    expect(logout.status).toBe(204);
    await expectInvalidToken(access);
    const again = await request(server.baseUrl, '/auth/refresh', {
      method: 'POST',
      body: { refresh_token: field(login, 'refresh_token') },
    });
    expect(again.status).toBe(401);
    expect(again.body?.error).toBe('invalid_grant');
  });

  it('a resource server verifies the access token with nothing but the published JWKS', async () => {
    const user = await register('resource-server@example.com');
    const login = await request(server.baseUrl, '/auth/login', {
      method: 'POST',
      body: { email: user.email, password: PASSWORD, refresh_in: 'body' },
    });
    expectTokenResponse(login);
    const access = field(login, 'access_token');

    const discovery = await request(server.baseUrl, '/.well-known/openid-configuration');
    expect(discovery.status).toBe(200);
    expect(discovery.body?.issuer).toBe(server.baseUrl);
    const jwksUri = field(discovery, 'jwks_uri');
    expect(jwksUri).toBe(`${server.baseUrl}/.well-known/jwks.json`);

    const jwksResponse = await fetch(jwksUri);
    expect(jwksResponse.status).toBe(200);
    expect(jwksResponse.headers.get('cache-control')).toMatch(/max-age=\d+/);
    const jwks = (await jwksResponse.json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys.length).toBeGreaterThan(0);
    for (const key of jwks.keys) {
      expect(key).toMatchObject({ alg: 'ES256', use: 'sig', kty: 'EC' });
      expect(typeof key.kid).toBe('string');
      expect(key).not.toHaveProperty('d');
    }

    // Built once, from public material only; the token decides nothing about how it is checked.
    const verify = createVerifier({
      key: importJWKS(jwks),
      issuer: server.baseUrl,
      audience: server.baseUrl,
      typ: 'at+jwt',
      requiredClaims: ['exp', 'iat', 'sub', 'jti', 'sid', 'client_id'],
    });
    const { header, payload } = verify(access);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    expect(jwks.keys.map((key) => key.kid)).toContain(header.kid);
    expect(payload).toMatchObject({
      iss: server.baseUrl,
      aud: server.baseUrl,
      sub: user.id,
      client_id: 'latchkey',
    });
    expect(typeof payload.sid).toBe('string');
    expect((payload.exp as number) - (payload.iat as number)).toBe(900);

    // One changed character of the payload, and the signature no longer matches.
    const [head = '', body = '', signature = ''] = access.split('.');
    const claims = claimsOf(access);
    const forgedBody = Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url');
    expect(body).not.toBe(forgedBody);
    expect(() => verify(`${head}.${forgedBody}.${signature}`)).toThrow();
    // And a verifier for another audience refuses the genuine token.
    const otherAudience = createVerifier({
      key: importJWKS(jwks),
      issuer: server.baseUrl,
      audience: 'https://api.other',
    });
    expect(() => otherAudience(access)).toThrow();
  });
});
