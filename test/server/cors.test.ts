/**
 * CORS of the API paths (DESIGN "HTTP API"): browser apps on LATCHKEY_ALLOWED_ORIGINS get preflights
 * and credentialed answers with their origin echoed; every other origin, look-alikes included, gets
 * no CORS header and a refused preflight; the web UI is never shared; the CSRF check of cookie
 * requests is exactly as strict as before. Everything goes through `app.inject` on the real app.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  bearer,
  closeApps,
  expectProblem,
  login,
  makeApp,
  nextIp,
  PASSWORD,
  REFRESH_TOKEN_SHAPE,
  type Response,
  refreshCookie,
  registerUser,
} from './helpers.js';

afterEach(closeApps);

/** The default issuer's origin (http://localhost:3000), allowed without any configuration. */
const ISSUER_ORIGIN = 'http://localhost:3000';
const REFUSED_PREFLIGHT = 'cross-origin request refused: Origin is not in LATCHKEY_ALLOWED_ORIGINS';

/** Every endpoint a browser app calls across origins, with the method it calls it with. */
const ENDPOINTS: Array<[string, string]> = [
  ['POST', '/auth/login'],
  ['POST', '/auth/refresh'],
  ['GET', '/api/me'],
  ['GET', '/.well-known/jwks.json'],
  ['GET', '/.well-known/openid-configuration'],
  ['DELETE', '/auth/sessions/some-session'],
];

/** Origins that are not the default issuer's, though some look much like it. */
const DISALLOWED_ORIGINS: Array<[string, string]> = [
  ['a foreign site', 'https://evil.example'],
  ['another port', 'http://localhost:3001'],
  ['no port', 'http://localhost'],
  ['another scheme', 'https://localhost:3000'],
  ['a trailing slash', 'http://localhost:3000/'],
  ['a path', 'http://localhost:3000/app'],
  ['null (a sandboxed page or a file)', 'null'],
  ['the origin as a prefix of another host', 'http://localhost:3000.evil.com'],
  ['a subdomain', 'http://evil.localhost:3000'],
  ['another case', 'HTTP://LOCALHOST:3000'],
  ['two origins in one header', 'http://localhost:3000, https://evil.example'],
];

function preflight(
  app: FastifyInstance,
  url: string,
  origin: string,
  method = 'POST',
  requestHeaders = 'authorization,content-type',
): Promise<Response> {
  return app.inject({
    method: 'OPTIONS',
    url,
    headers: {
      origin,
      'access-control-request-method': method,
      'access-control-request-headers': requestHeaders,
    },
  });
}

const commaList = (value: unknown) =>
  String(value)
    .split(',')
    .map((part) => part.trim().toLowerCase());

function corsHeaderNames(res: Response): string[] {
  return Object.keys(res.headers).filter((name) => name.startsWith('access-control-'));
}

function expectVaryOrigin(res: Response): void {
  expect(commaList(res.headers.vary)).toContain('origin');
}

function expectNoCors(res: Response): void {
  expect(corsHeaderNames(res)).toEqual([]);
}

/** A successful preflight: 204, no body, the origin echoed, credentials, methods, headers, max-age. */
function expectPreflightAllowed(res: Response, origin: string, method: string): void {
  expect(res.statusCode, res.body).toBe(204);
  expect(res.body).toBe('');
  expect(res.headers['access-control-allow-origin']).toBe(origin);
  expect(res.headers['access-control-allow-credentials']).toBe('true');
  expect(commaList(res.headers['access-control-allow-methods'])).toEqual(['get', 'post', 'delete']);
  expect(commaList(res.headers['access-control-allow-methods'])).toContain(method.toLowerCase());
  expect(commaList(res.headers['access-control-allow-headers'])).toEqual(['authorization', 'content-type']);
  expect(res.headers['access-control-max-age']).toBe('7200');
  expect(res.headers['set-cookie']).toBeUndefined();
  expectVaryOrigin(res);
}

/** An actual answer a page on `origin` may read, including Retry-After and WWW-Authenticate. */
function expectReadableBy(res: Response, origin: string): void {
  expect(res.headers['access-control-allow-origin']).toBe(origin);
  expect(res.headers['access-control-allow-credentials']).toBe('true');
  expect(commaList(res.headers['access-control-expose-headers'])).toEqual([
    'retry-after',
    'www-authenticate',
  ]);
  // Preflight-only headers stay off actual answers.
  expect(res.headers['access-control-allow-methods']).toBeUndefined();
  expect(res.headers['access-control-max-age']).toBeUndefined();
  expectVaryOrigin(res);
}

/** A refused preflight: 403 in the contract's shape, no CORS header, and still `Vary: Origin`. */
function expectPreflightRefused(res: Response): void {
  expectProblem(res, 403, 'origin_not_allowed', REFUSED_PREFLIGHT);
  expectNoCors(res);
  expectVaryOrigin(res);
}

describe('a preflight from an allowed origin', () => {
  it.each(ENDPOINTS)('is answered 204 for %s %s', async (method, url) => {
    const app = await makeApp();
    expectPreflightAllowed(await preflight(app, url, ISSUER_ORIGIN, method), ISSUER_ORIGIN, method);
  });

  it.each(['http://127.0.0.1:3000', 'http://[::1]:3000'])(
    'is answered for %s, a loopback twin of the localhost issuer',
    async (origin) => {
      const app = await makeApp();
      expectPreflightAllowed(await preflight(app, '/auth/refresh', origin), origin, 'POST');
    },
  );

  it('is answered on an unknown API path too, so the page can read the 404 that follows', async () => {
    const app = await makeApp();
    expectPreflightAllowed(await preflight(app, '/api/nothing-here', ISSUER_ORIGIN), ISSUER_ORIGIN, 'POST');
    const res = await app.inject({
      method: 'POST',
      url: '/api/nothing-here',
      headers: { origin: ISSUER_ORIGIN },
    });
    expectProblem(res, 404, 'not_found', 'no such route');
    expectReadableBy(res, ISSUER_ORIGIN);
  });
});

describe('credentialed requests from an allowed origin', () => {
  const origin = { origin: ISSUER_ORIGIN };

  it('POST /auth/login: the token response and its cookie, readable by the page', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const res = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: user.email, password: PASSWORD },
      headers: origin,
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(refreshCookie(res)).toMatch(REFRESH_TOKEN_SHAPE);
    expectReadableBy(res, ISSUER_ORIGIN);
  });

  it('POST /auth/login: a 429 with a Retry-After the page may read', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const ip = nextIp();
    const attempt = (password: string) =>
      app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: user.email, password },
        headers: origin,
        remoteAddress: ip,
      });
    for (let i = 0; i < 5; i += 1) {
      const failed = await attempt(`wrong password ${i}`);
      expectProblem(failed, 401, 'invalid_credentials');
      expectReadableBy(failed, ISSUER_ORIGIN);
    }
    const throttled = await attempt(PASSWORD);
    expectProblem(throttled, 429, 'rate_limited');
    expect(throttled.headers['retry-after']).toMatch(/^[1-9][0-9]*$/);
    expectReadableBy(throttled, ISSUER_ORIGIN);
  });

  it('POST /auth/refresh with the cookie: rotated, readable, and the CSRF check passed', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const { refreshToken } = await login(app, user, { mode: 'cookie' });
    const res = await app.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: { latchkey_refresh: refreshToken },
      headers: origin,
    });
    expect(res.statusCode, res.body).toBe(200);
    const rotated = refreshCookie(res);
    expect(rotated).toMatch(REFRESH_TOKEN_SHAPE);
    expect(rotated).not.toBe(refreshToken);
    expectReadableBy(res, ISSUER_ORIGIN);
  });

  it('GET /api/me: 200 with a token, and a 401 whose WWW-Authenticate the page may read', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const { accessToken } = await login(app, user);
    const ok = await app.inject({ url: '/api/me', headers: { ...origin, ...bearer(accessToken) } });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toEqual({ id: user.id, email: user.email, roles: [] });
    expectReadableBy(ok, ISSUER_ORIGIN);

    const refused = await app.inject({ url: '/api/me', headers: { ...origin, ...bearer('not.a.jwt') } });
    expectProblem(refused, 401, 'invalid_token');
    expect(refused.headers['www-authenticate']).toMatch(/^Bearer realm="latchkey", error="invalid_token"/);
    expectReadableBy(refused, ISSUER_ORIGIN);
  });

  it.each(['/.well-known/jwks.json', '/.well-known/openid-configuration'])(
    'GET %s: cacheable, and varying by Origin',
    async (url) => {
      const app = await makeApp();
      const res = await app.inject({ url, headers: origin });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['cache-control']).toMatch(/^public, max-age=\d+$/);
      expectReadableBy(res, ISSUER_ORIGIN);
    },
  );

  it('a request body the schema refuses: the 400 is readable too', async () => {
    const app = await makeApp();
    const res = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: ['a@example.com'], password: PASSWORD },
      headers: origin,
    });
    expectProblem(res, 400, 'invalid_request');
    expectReadableBy(res, ISSUER_ORIGIN);
  });
});

describe('a disallowed origin', () => {
  it.each(DISALLOWED_ORIGINS)('with %s gets its preflight refused (403)', async (_name, origin) => {
    const app = await makeApp();
    for (const [method, url] of ENDPOINTS) expectPreflightRefused(await preflight(app, url, origin, method));
  });

  it.each(DISALLOWED_ORIGINS)(
    'with %s gets answers without any CORS header, and Vary: Origin',
    async (_name, origin) => {
      const app = await makeApp();
      const user = await registerUser(app);
      const { accessToken } = await login(app, user);
      const answers = [
        await app.inject({ url: '/.well-known/jwks.json', headers: { origin } }),
        await app.inject({ url: '/.well-known/openid-configuration', headers: { origin } }),
        await app.inject({ url: '/api/me', headers: { origin, ...bearer(accessToken) } }),
        await app.inject({ url: '/api/me', headers: { origin } }),
      ];
      // CORS is not access control: the server answers as usual, and the browser keeps it from the page.
      expect(answers.map((res) => res.statusCode)).toEqual([200, 200, 200, 401]);
      for (const res of answers) {
        expectNoCors(res);
        expectVaryOrigin(res);
      }
    },
  );

  it('is refused by a preflight for any method and any requested headers', async () => {
    const app = await makeApp();
    expectPreflightRefused(await preflight(app, '/api/me', 'https://evil.example', 'GET', ''));
    expectPreflightRefused(await preflight(app, '/auth/login', 'https://evil.example', 'PUT', 'x-anything'));
  });
});

describe('the CSRF check of cookie requests, unchanged by CORS', () => {
  async function cookieRefresh(app: FastifyInstance, refreshToken: string, origin: string) {
    return app.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: { latchkey_refresh: refreshToken },
      headers: { origin },
    });
  }

  it.each(DISALLOWED_ORIGINS)(
    'refuses a cookie refresh from %s (403 csrf_rejected), without CORS headers',
    async (_name, origin) => {
      const app = await makeApp();
      const user = await registerUser(app);
      const { refreshToken } = await login(app, user, { mode: 'cookie' });
      const res = await cookieRefresh(app, refreshToken, origin);
      expectProblem(res, 403, 'csrf_rejected', 'cross-site request refused: Origin is not allowed');
      expect(res.headers['set-cookie']).toBeUndefined();
      expectNoCors(res);
      expectVaryOrigin(res);
      // The refused request did not use the token up: the allowed origin still refreshes with it.
      const ok = await cookieRefresh(app, refreshToken, ISSUER_ORIGIN);
      expect(ok.statusCode, ok.body).toBe(200);
      expectReadableBy(ok, ISSUER_ORIGIN);
    },
  );

  it('refuses a cookie logout from a disallowed origin even after its preflight was asked', async () => {
    const app = await makeApp();
    const user = await registerUser(app);
    const { refreshToken } = await login(app, user, { mode: 'cookie' });
    expectPreflightRefused(await preflight(app, '/auth/logout', 'https://evil.example'));
    const res = await app.inject({
      method: 'POST',
      url: '/auth/logout',
      cookies: { latchkey_refresh: refreshToken },
      headers: { origin: 'https://evil.example' },
    });
    expectProblem(res, 403, 'csrf_rejected');
    expectNoCors(res);
    expect((await cookieRefresh(app, refreshToken, ISSUER_ORIGIN)).statusCode).toBe(200);
  });
});

describe('paths outside /auth, /api and /.well-known', () => {
  it.each(['/', '/openapi.json', '/healthz', '/readyz', '/metrics', '/authx', '/apis/me', '/login'])(
    'GET %s gets no CORS header, even from an allowed origin',
    async (url) => {
      const app = await makeApp();
      const res = await app.inject({ url, headers: { origin: ISSUER_ORIGIN } });
      expect(res.statusCode).toBeLessThan(500);
      expectNoCors(res);
      expect(res.headers.vary).toBeUndefined();
    },
  );

  it.each(['/', '/openapi.json', '/healthz'])(
    'a preflight of %s from an allowed origin is not answered (405, as OPTIONS of a GET route)',
    async (url) => {
      const app = await makeApp();
      const res = await preflight(app, url, ISSUER_ORIGIN, 'GET');
      expectProblem(res, 405, 'method_not_allowed', 'OPTIONS is not allowed here');
      expect(res.headers.allow).toBe('GET, HEAD');
      expectNoCors(res);
    },
  );
});

describe('OPTIONS that is not a preflight', () => {
  it('without Access-Control-Request-Method is a 405 like any method a route does not take, readable by its origin', async () => {
    const app = await makeApp();
    const allowed = await app.inject({
      method: 'OPTIONS',
      url: '/auth/login',
      headers: { origin: ISSUER_ORIGIN },
    });
    expectProblem(allowed, 405, 'method_not_allowed', 'OPTIONS is not allowed here');
    expect(allowed.headers.allow).toBe('POST');
    expectReadableBy(allowed, ISSUER_ORIGIN);
    const foreign = await app.inject({
      method: 'OPTIONS',
      url: '/auth/login',
      headers: { origin: 'https://evil.example' },
    });
    expectProblem(foreign, 405, 'method_not_allowed', 'OPTIONS is not allowed here');
    expectNoCors(foreign);
    expectVaryOrigin(foreign);
  });

  it('without Origin is a 405 without CORS headers', async () => {
    const app = await makeApp();
    const res = await app.inject({
      method: 'OPTIONS',
      url: '/auth/login',
      headers: { 'access-control-request-method': 'POST' },
    });
    expectProblem(res, 405, 'method_not_allowed', 'OPTIONS is not allowed here');
    expectNoCors(res);
    expectVaryOrigin(res);
  });
});

describe('Vary: Origin', () => {
  it('is on every answer of an API path, with or without Origin, allowed or not', async () => {
    const app = await makeApp();
    const cases: Array<[string, string, Record<string, string>]> = [
      ['GET', '/.well-known/jwks.json', {}],
      ['GET', '/.well-known/revoked-sessions', {}],
      ['GET', '/.well-known/nothing', {}],
      ['GET', '/api/me', {}],
      ['POST', '/auth/refresh', {}],
      ['GET', '/.well-known/jwks.json', { origin: 'https://evil.example' }],
      ['GET', '/.well-known/jwks.json?x=1', { origin: ISSUER_ORIGIN }],
      ['POST', '/auth/register', { origin: ISSUER_ORIGIN, 'content-type': 'text/plain' }],
    ];
    for (const [method, url, headers] of cases) {
      const res = await app.inject({ method: method as 'GET' | 'POST', url, headers, payload: '' });
      expect(res.statusCode, `${method} ${url}`).toBeLessThan(500);
      expectVaryOrigin(res);
      expect(res.headers['access-control-allow-origin'], url).toBe(
        headers.origin === ISSUER_ORIGIN ? ISSUER_ORIGIN : undefined,
      );
    }
  });
});

describe('LATCHKEY_ALLOWED_ORIGINS with several origins', () => {
  const ORIGINS = ['https://app.example.com', 'http://localhost:5173', 'https://admin.example.com:8443'];

  async function appWithOrigins() {
    return makeApp({ LATCHKEY_ALLOWED_ORIGINS: ORIGINS.join(', ') });
  }

  it.each(ORIGINS)('answers %s with exactly its own origin, never the list or *', async (origin) => {
    const app = await appWithOrigins();
    expectPreflightAllowed(await preflight(app, '/auth/login', origin), origin, 'POST');
    const res = await app.inject({ url: '/.well-known/jwks.json', headers: { origin } });
    expectReadableBy(res, origin);
  });

  it('no longer allows the issuer origin once the list is set', async () => {
    const app = await appWithOrigins();
    expectPreflightRefused(await preflight(app, '/auth/login', ISSUER_ORIGIN));
    expectNoCors(await app.inject({ url: '/.well-known/jwks.json', headers: { origin: ISSUER_ORIGIN } }));
  });

  it('lets the CSRF check accept a cookie refresh from a listed origin and refuse the issuer', async () => {
    const app = await appWithOrigins();
    const user = await registerUser(app);
    const { refreshToken } = await login(app, user, { mode: 'cookie' });
    const refused = await app.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: { latchkey_refresh: refreshToken },
      headers: { origin: ISSUER_ORIGIN },
    });
    expectProblem(refused, 403, 'csrf_rejected');
    expectNoCors(refused);
    const ok = await app.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: { latchkey_refresh: refreshToken },
      headers: { origin: 'http://localhost:5173' },
    });
    expect(ok.statusCode, ok.body).toBe(200);
    expectReadableBy(ok, 'http://localhost:5173');
  });
});
