/**
 * The API description (/openapi.json) held to the app it describes: every route is in it (but the web
 * UI's pages), every answer is described with a schema, error answers with the shared error schema,
 * the refresh cookie, the Origin rule and Bearer security are stated where they apply, and real
 * answers of the running app validate against what the document says about them.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { errorBodySchema, WIRE_ERROR_CODES } from '../../src/protocol.js';
import { openSQLiteStore } from '../../src/store/sql/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { createTestApp, SAME_ORIGIN } from '../support/app.js';
import {
  bearer,
  closeApps,
  login,
  makeApp,
  nextIp,
  PASSWORD,
  type Response,
  refreshCookie,
  registerUser,
  uniqueEmail,
} from './helpers.js';

afterEach(closeApps);

interface Parameter {
  in: string;
  name: string;
  required?: boolean;
  description?: string;
}

interface ResponseObject {
  description: string;
  headers?: Record<string, { description?: string; schema: { type: string } }>;
  content?: Record<string, { schema: Record<string, unknown> }>;
}

interface Operation {
  description?: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Parameter[];
  requestBody?: { required: boolean; content: Record<string, { schema: Record<string, unknown> }> };
  responses: Record<string, ResponseObject>;
}

interface OpenAPIDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

async function fetchDocument(app: FastifyInstance): Promise<OpenAPIDocument> {
  const res = await app.inject({ url: '/openapi.json' });
  expect(res.statusCode).toBe(200);
  return res.json() as OpenAPIDocument;
}

function operations(doc: OpenAPIDocument): Array<[method: string, path: string, Operation]> {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]): [string, string, Operation] => [method, path, operation]),
  );
}

function operation(doc: OpenAPIDocument, method: string, path: string): Operation {
  const found = doc.paths[path]?.[method];
  if (found === undefined) throw new Error(`${method} ${path} is not in the document`);
  return found;
}

/** Every route of the app as [method, path] (OpenAPI's `{param}` form), read from Fastify's route tree. */
function registeredRoutes(app: FastifyInstance): Array<[method: string, path: string]> {
  const segments: string[] = [];
  const routes: Array<[string, string]> = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│├└─\s]*[├└]── )(.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (match === null) continue;
    const [, indent = '', segment = '', methods] = match;
    segments.length = indent.length / 4 - 1;
    segments.push(segment);
    const path = segments.join('').replace(/:(\w+)/g, '{$1}');
    for (const method of methods?.split(', ') ?? []) routes.push([method.toLowerCase(), path]);
  }
  return routes;
}

/** Validates answers of the app against the schemas the document gives them. */
function createResponseChecker(doc: OpenAPIDocument) {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema(doc, 'openapi.json');
  const pointer = (...parts: string[]) =>
    parts.map((part) => part.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

  /** The answer has a documented status, media type, body and (the telling ones among its) headers. */
  return function expectDocumented(method: string, path: string, res: Response): void {
    const label = `${method.toUpperCase()} ${path} → ${res.statusCode}`;
    const response = operation(doc, method, path).responses[String(res.statusCode)];
    expect(response, `${label} is not documented: ${res.body}`).toBeDefined();
    if (response === undefined) return;
    for (const header of ['set-cookie', 'retry-after', 'www-authenticate']) {
      if (res.headers[header] === undefined) continue;
      const documented = Object.keys(response.headers ?? {}).map((name) => name.toLowerCase());
      expect(documented, `${label} sends ${header}`).toContain(header);
    }
    if (response.content === undefined) {
      expect(res.body, label).toBe('');
      return;
    }
    const contentType = String(res.headers['content-type']);
    const mediaType = Object.keys(response.content).find(
      (type) => type.split(';')[0] === contentType.split(';')[0],
    );
    expect(mediaType, `${label} answers ${contentType}`).toBeDefined();
    if (mediaType !== 'application/json') return;
    const validate = ajv.getSchema(
      `openapi.json#/${pointer('paths', path, method, 'responses', String(res.statusCode), 'content', mediaType, 'schema')}`,
    );
    expect(validate, label).toBeDefined();
    const valid = validate?.(res.json());
    expect(validate?.errors ?? [], `${label}: ${res.body}`).toEqual([]);
    expect(valid, label).toBe(true);
  };
}

describe('GET /openapi.json: routes', () => {
  let webRoot: string;
  beforeAll(async () => {
    webRoot = await mkdtemp(join(tmpdir(), 'latchkey-openapi-'));
    await mkdir(join(webRoot, 'assets'));
    await writeFile(join(webRoot, 'index.html'), '<!doctype html><title>UI</title>');
    await writeFile(join(webRoot, 'assets', 'index-abc123.js'), 'console.log(1);');
  });
  afterAll(async () => {
    await rm(webRoot, { recursive: true, force: true });
  });

  /** What the document deliberately leaves out: the pages of the web UI and the HEAD twins of GETs. */
  const isHidden = ([method, path]: [string, string]) =>
    method === 'head' || path === '/' || path === '/index.html' || path.startsWith('/assets/');

  it.each([
    ['without a built web UI', null],
    ['with a built web UI', 'built'],
  ])('describes every route the app has %s, and only those', async (_label, ui) => {
    const app = await makeApp({}, { webRoot: ui === null ? null : webRoot });
    const doc = await fetchDocument(app);
    const routes = registeredRoutes(app);
    // The route tree was read right: a route under a shared prefix, and the web UI's own.
    expect(routes).toContainEqual(['post', '/auth/logout-all']);
    expect(routes).toContainEqual(['delete', '/auth/sessions/{id}']);
    expect(routes).toContainEqual(['get', '/']);
    if (ui !== null) expect(routes).toContainEqual(['get', '/assets/index-abc123.js']);

    const documented = operations(doc).map(([method, path]) => [method, path]);
    const described = routes.filter((route) => !isHidden(route));
    expect(documented.sort()).toEqual(described.sort());
    for (const route of routes.filter(isHidden)) expect(documented).not.toContainEqual(route);
  });

  it('states which answers each operation can give', async () => {
    const doc = await fetchDocument(await makeApp());
    const statuses = Object.fromEntries(
      operations(doc).map(([method, path, op]) => [
        `${method.toUpperCase()} ${path}`,
        Object.keys(op.responses).map(Number),
      ]),
    );
    expect(statuses).toEqual({
      'POST /auth/register': [201, 400, 409, 413, 415, 429, 500, 503],
      'POST /auth/login': [200, 400, 401, 413, 415, 429, 500, 503],
      'POST /auth/refresh': [200, 400, 401, 403, 413, 415, 500, 503],
      'POST /auth/logout': [204, 400, 403, 413, 415, 500, 503],
      'POST /auth/logout-all': [204, 400, 401, 413, 415, 500, 503],
      'GET /auth/sessions': [200, 401, 500, 503],
      'DELETE /auth/sessions/{id}': [204, 400, 401, 404, 413, 415, 500, 503],
      'POST /auth/password': [204, 400, 401, 403, 413, 415, 429, 500, 503],
      'GET /api/me': [200, 401, 500, 503],
      'GET /.well-known/jwks.json': [200, 500, 503],
      'GET /.well-known/openid-configuration': [200, 500, 503],
      'GET /.well-known/revoked-sessions': [200, 400, 500, 503],
      'GET /healthz': [200, 500, 503],
      'GET /readyz': [200, 500, 503],
      'GET /metrics': [200, 500, 503],
      'GET /openapi.json': [200, 500, 503],
    });
  });
});

describe('GET /openapi.json: answers', () => {
  it('describes every answer in its own words, with a schema for every body', async () => {
    const doc = await fetchDocument(await makeApp());
    expect(JSON.stringify(doc)).not.toContain('Default Response');
    for (const [method, path, op] of operations(doc)) {
      for (const [status, response] of Object.entries(op.responses)) {
        const label = `${method} ${path} ${status}`;
        expect(response.description.length, label).toBeGreaterThan(5);
        if (status === '204') {
          expect(response.content, label).toBeUndefined();
          continue;
        }
        const media = Object.values(response.content ?? {});
        expect(media.length, label).toBe(1);
        expect(Object.keys(media[0]?.schema ?? {}).length, label).toBeGreaterThan(0);
      }
    }
  });

  it('describes every error answer by the shared error schema and the codes it carries', async () => {
    const doc = await fetchDocument(await makeApp());
    expect(doc.components.schemas.Error).toEqual(errorBodySchema);
    for (const [method, path, op] of operations(doc)) {
      expect(op.responses['500'], `${method} ${path}`).toBeDefined();
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) < 400) continue;
        const label = `${method} ${path} ${status}`;
        const schema = response.content?.['application/json']?.schema as {
          allOf: [{ $ref: string }, { properties: { error: { enum: string[] } } }];
        };
        expect(schema.allOf[0], label).toEqual({ $ref: '#/components/schemas/Error' });
        const codes = schema.allOf[1].properties.error.enum;
        expect(codes.length, label).toBeGreaterThan(0);
        for (const code of codes) expect(WIRE_ERROR_CODES, label).toContain(code);
        // The codes are named in the description too, for a person reading it.
        for (const code of codes) expect(response.description, label).toContain(`\`${code}\``);
      }
    }
  });

  it('names shared schemas for the success bodies of the wire protocol', async () => {
    const doc = await fetchDocument(await makeApp());
    const ref = (method: string, path: string, status: string) =>
      operation(doc, method, path).responses[status]?.content?.['application/json']?.schema.$ref;
    expect(ref('post', '/auth/login', '200')).toBe('#/components/schemas/TokenResponse');
    expect(ref('post', '/auth/refresh', '200')).toBe('#/components/schemas/TokenResponse');
    expect(ref('post', '/auth/register', '201')).toBe('#/components/schemas/UserResponse');
    expect(ref('get', '/auth/sessions', '200')).toBe('#/components/schemas/SessionsResponse');
    expect(ref('get', '/api/me', '200')).toBe('#/components/schemas/MeResponse');
    expect(ref('get', '/.well-known/jwks.json', '200')).toBe('#/components/schemas/JWKSet');
    expect(ref('get', '/.well-known/openid-configuration', '200')).toBe(
      '#/components/schemas/DiscoveryDocument',
    );
    expect(ref('get', '/.well-known/revoked-sessions', '200')).toBe('#/components/schemas/RevocationFeed');
    // OpenAPI 3.0 has no null type: a nullable session field is said its way.
    const sessions = doc.components.schemas.SessionsResponse as {
      properties: { sessions: { items: { properties: Record<string, unknown> } } };
    };
    expect(sessions.properties.sessions.items.properties.user_agent).toEqual({
      type: 'string',
      nullable: true,
    });
  });
});

describe('GET /openapi.json: the refresh cookie, the Origin rule, Bearer tokens', () => {
  it.each(['/auth/refresh', '/auth/logout'])(
    'says %s reads the cookie, checks Origin for it, and takes its body optionally',
    async (path) => {
      const doc = await fetchDocument(await makeApp());
      const op = operation(doc, 'post', path);
      expect(op.requestBody?.required).toBe(false);
      const parameters = op.parameters ?? [];
      const cookie = parameters.find((p) => p.in === 'cookie');
      expect(cookie).toMatchObject({ name: 'latchkey_refresh', required: false });
      expect(cookie?.description).toContain('Path=/auth; HttpOnly; SameSite=Strict');
      const origin = parameters.find((p) => p.in === 'header' && p.name === 'Origin');
      expect(origin).toMatchObject({ required: false });
      expect(origin?.description).toContain('`http://localhost:3000`');
      expect(origin?.description).toContain('csrf_rejected');
      expect(parameters.find((p) => p.in === 'header' && p.name === 'Sec-Fetch-Site')?.description).toContain(
        '`same-origin`',
      );
      expect(op.description).toContain('403 `csrf_rejected`');
      expect(op.responses['403']?.content?.['application/json']?.schema).toMatchObject({
        allOf: [{}, { properties: { error: { enum: ['csrf_rejected'] } } }],
      });
    },
  );

  it('names the configured allowed origins in the Origin rule', async () => {
    const doc = await fetchDocument(
      await makeApp({
        LATCHKEY_ISSUER: 'https://auth.example.com',
        LATCHKEY_ALLOWED_ORIGINS: 'https://app.example.com',
      }),
    );
    const origin = operation(doc, 'post', '/auth/refresh').parameters?.find((p) => p.name === 'Origin');
    expect(origin?.description).toContain('`https://app.example.com`');
    expect(origin?.description).not.toContain('localhost');
  });

  it('documents the Set-Cookie of login and refresh, and the deleting one of refresh and logout', async () => {
    const doc = await fetchDocument(await makeApp());
    const setCookie = (method: string, path: string, status: string) =>
      operation(doc, method, path).responses[status]?.headers?.['Set-Cookie']?.description ?? '';
    for (const [path, status] of [
      ['/auth/login', '200'],
      ['/auth/refresh', '200'],
    ] as const) {
      expect(setCookie('post', path, status)).toContain(
        'latchkey_refresh=<refresh token>; Max-Age=<seconds until the session',
      );
      expect(setCookie('post', path, status)).toContain('Path=/auth; HttpOnly; SameSite=Strict`');
    }
    for (const [path, status] of [
      ['/auth/refresh', '401'],
      ['/auth/logout', '204'],
    ] as const) {
      expect(setCookie('post', path, status)).toContain('latchkey_refresh=; Max-Age=0;');
    }
    expect(setCookie('post', '/auth/register', '201')).toBe('');
  });

  it('states the Secure attribute of the cookie when the issuer is https', async () => {
    const doc = await fetchDocument(await makeApp({ LATCHKEY_ISSUER: 'https://auth.example.com' }));
    const header = operation(doc, 'post', '/auth/login').responses['200']?.headers?.['Set-Cookie'];
    expect(header?.description).toContain('Path=/auth; HttpOnly; SameSite=Strict; Secure`');
  });

  it('sets the cookie with exactly the attributes the document states', async () => {
    for (const issuer of ['http://localhost:3000', 'https://auth.example.com']) {
      const app = await makeApp({ LATCHKEY_ISSUER: issuer });
      const doc = await fetchDocument(app);
      const user = await registerUser(app);
      const { res } = await login(app, user, { mode: 'cookie' });
      const attributes = (header: string) =>
        header
          .split('; ')
          .slice(1)
          .filter((attribute) => !/^(Max-Age|Expires)=/.test(attribute))
          .sort();
      const sent = attributes(String(res.headers['set-cookie']));
      const description = operation(doc, 'post', '/auth/login').responses['200']?.headers?.['Set-Cookie']
        ?.description as string;
      const stated = attributes(/`([^`]+)`/.exec(description)?.[1] ?? '');
      expect(sent).toEqual(stated);
    }
  });

  it('requires Bearer security exactly where a request without a token gets missing_token', async () => {
    const app = await makeApp();
    const doc = await fetchDocument(app);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    const bearerOnly = [{ bearerAuth: [] }];
    const protectedOps: string[] = [];
    for (const [method, path, op] of operations(doc)) {
      // Any body the schema accepts, so that validation lets the request through to the guard.
      const schema = op.requestBody?.content['application/json']?.schema as
        | { required?: string[] }
        | undefined;
      const payload = Object.fromEntries((schema?.required ?? []).map((name) => [name, 'x']));
      const res = await app.inject({
        method: method.toUpperCase() as 'GET',
        url: path.replace('{id}', 'some-session'),
        ...(op.requestBody === undefined ? {} : { payload }),
        remoteAddress: nextIp(),
      });
      const missingToken = res.statusCode === 401 && res.json().error === 'missing_token';
      expect(missingToken, `${method} ${path}`).toBe(
        JSON.stringify(op.security) === JSON.stringify(bearerOnly),
      );
      if (missingToken) protectedOps.push(`${method.toUpperCase()} ${path}`);
    }
    expect(protectedOps.sort()).toEqual([
      'DELETE /auth/sessions/{id}',
      'GET /api/me',
      'GET /auth/sessions',
      'POST /auth/logout-all',
      'POST /auth/password',
    ]);
    // Logout takes a Bearer token, but does not need one.
    expect(operation(doc, 'post', '/auth/logout').security).toEqual([{}, { bearerAuth: [] }]);
  });

  it('marks a request body optional exactly where the app takes a request without one', async () => {
    const app = await makeApp();
    const doc = await fetchDocument(app);
    const withBody = operations(doc).filter(([, , op]) => op.requestBody !== undefined);
    expect(withBody.length).toBeGreaterThan(3);
    for (const [method, path, op] of withBody) {
      const res = await app.inject({
        method: method.toUpperCase() as 'POST',
        url: path,
        remoteAddress: nextIp(),
      });
      const refused = res.statusCode === 400 && res.json().message === 'body must be object';
      expect(refused, `${method} ${path}: ${res.body}`).toBe(op.requestBody?.required);
    }
  });
});

describe('GET /openapi.json: real answers validate against it', () => {
  it('for registration, login, refresh and logout', async () => {
    const app = await makeApp();
    const expectDocumented = createResponseChecker(await fetchDocument(app));
    const post = (url: string, options: InjectOptions = {}) =>
      app.inject({ method: 'POST', url, remoteAddress: nextIp(), ...options });

    const email = uniqueEmail();
    expectDocumented(
      'post',
      '/auth/register',
      await post('/auth/register', { payload: { email, password: PASSWORD } }),
    );
    for (const res of [
      await post('/auth/register', { payload: { email, password: PASSWORD } }),
      await post('/auth/register', { payload: { email: 'not an email', password: PASSWORD } }),
      await post('/auth/register', { payload: { email: ['a@example.com'], password: PASSWORD } }),
      await post('/auth/register', { payload: { email, password: 'p'.repeat(70 * 1024) } }),
      await post('/auth/register', { payload: 'email=x', headers: { 'content-type': 'text/plain' } }),
    ]) {
      expect(res.statusCode).toBeGreaterThanOrEqual(400);
      expectDocumented('post', '/auth/register', res);
    }
    const flood = '192.0.2.77';
    let limited: Response | undefined;
    for (let i = 0; i < 21; i += 1) {
      limited = await post('/auth/register', {
        payload: { email: uniqueEmail('flood'), password: PASSWORD },
        remoteAddress: flood,
      });
    }
    expect(limited?.statusCode).toBe(429);
    expect(limited?.headers['retry-after']).toBeDefined();
    expectDocumented('post', '/auth/register', limited as Response);

    const user = { email, password: PASSWORD };
    const cookieLogin = await post('/auth/login', { payload: user });
    expect(cookieLogin.statusCode).toBe(200);
    expect(cookieLogin.headers['set-cookie']).toBeDefined();
    expectDocumented('post', '/auth/login', cookieLogin);
    const bodyLogin = await post('/auth/login', { payload: { ...user, refresh_in: 'body' } });
    expect(bodyLogin.json().refresh_token).toMatch(/^lk_rt_/);
    expectDocumented('post', '/auth/login', bodyLogin);
    expectDocumented('post', '/auth/login', await post('/auth/login', { payload: { ...user, extra: 1 } }));
    const attacker = '203.0.113.77';
    let throttled: Response | undefined;
    for (let i = 0; i < 6; i += 1) {
      throttled = await post('/auth/login', {
        payload: { email, password: `wrong password ${i}` },
        remoteAddress: attacker,
      });
      if (i < 5) {
        expect(throttled.statusCode).toBe(401);
        expectDocumented('post', '/auth/login', throttled);
      }
    }
    expect(throttled?.statusCode).toBe(429);
    expectDocumented('post', '/auth/login', throttled as Response);

    const cookie = refreshCookie(cookieLogin) as string;
    const byCookie = await post('/auth/refresh', {
      cookies: { latchkey_refresh: cookie },
      headers: SAME_ORIGIN,
    });
    expect(byCookie.statusCode).toBe(200);
    expect(byCookie.headers['set-cookie']).toBeDefined();
    expectDocumented('post', '/auth/refresh', byCookie);
    const byBody = await post('/auth/refresh', {
      payload: { refresh_token: bodyLogin.json().refresh_token },
    });
    expect(byBody.json().refresh_token).toMatch(/^lk_rt_/);
    expectDocumented('post', '/auth/refresh', byBody);
    const deadCookie = await post('/auth/refresh', {
      cookies: { latchkey_refresh: `lk_rt_${'A'.repeat(43)}` },
      headers: SAME_ORIGIN,
    });
    expect(deadCookie.statusCode).toBe(401);
    expect(deadCookie.headers['set-cookie']).toContain('Max-Age=0');
    expectDocumented('post', '/auth/refresh', deadCookie);
    expectDocumented('post', '/auth/refresh', await post('/auth/refresh'));
    const crossSite = await post('/auth/refresh', {
      cookies: { latchkey_refresh: refreshCookie(byCookie) as string },
      headers: { origin: 'https://evil.example' },
    });
    expect(crossSite.statusCode).toBe(403);
    expectDocumented('post', '/auth/refresh', crossSite);

    const logout = await post('/auth/logout', {
      cookies: { latchkey_refresh: refreshCookie(byCookie) as string },
      headers: SAME_ORIGIN,
    });
    expect(logout.statusCode).toBe(204);
    expectDocumented('post', '/auth/logout', logout);
    expectDocumented(
      'post',
      '/auth/logout',
      await post('/auth/logout', {
        cookies: { latchkey_refresh: 'x' },
        headers: { 'sec-fetch-site': 'cross-site' },
      }),
    );
  });

  it('for the routes of a logged-in user', async () => {
    const app = await makeApp();
    const expectDocumented = createResponseChecker(await fetchDocument(app));
    const user = await registerUser(app);
    const first = await login(app, user);
    const { accessToken } = await login(app, user);
    const get = (url: string, token?: string) =>
      app.inject({ url, ...(token === undefined ? {} : { headers: bearer(token) }) });

    expectDocumented('get', '/api/me', await get('/api/me', accessToken));
    expectDocumented('get', '/api/me', await get('/api/me'));
    expectDocumented('get', '/api/me', await get('/api/me', 'not.a.token'));
    const sessions = await get('/auth/sessions', accessToken);
    expect(sessions.json().sessions).toHaveLength(2);
    expectDocumented('get', '/auth/sessions', sessions);
    expectDocumented('get', '/auth/sessions', await get('/auth/sessions', 'not.a.token'));

    const remove = (id: string) =>
      app.inject({ method: 'DELETE', url: `/auth/sessions/${id}`, headers: bearer(accessToken) });
    expectDocumented('delete', '/auth/sessions/{id}', await remove(first.sessionId));
    expectDocumented('delete', '/auth/sessions/{id}', await remove('no-such-session'));
    expectDocumented('delete', '/auth/sessions/{id}', await remove('x'.repeat(129)));
    expectDocumented('delete', '/auth/sessions/{id}', await remove('%00'));

    const change = (payload: Record<string, unknown>) =>
      app.inject({ method: 'POST', url: '/auth/password', headers: bearer(accessToken), payload });
    expectDocumented(
      'post',
      '/auth/password',
      await change({ current_password: 'wrong one', new_password: 'x' }),
    );
    expectDocumented(
      'post',
      '/auth/password',
      await change({ current_password: PASSWORD, new_password: 'short' }),
    );
    const changed = await change({ current_password: PASSWORD, new_password: 'another horse battery' });
    expect(changed.statusCode).toBe(204);
    expectDocumented('post', '/auth/password', changed);

    const all = await app.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(accessToken) });
    expect(all.statusCode).toBe(204);
    expectDocumented('post', '/auth/logout-all', all);
    const revoked = await get('/api/me', accessToken);
    expect(revoked.headers['www-authenticate']).toContain('error="invalid_token"');
    expectDocumented('get', '/api/me', revoked);
    expectDocumented(
      'post',
      '/auth/logout-all',
      await app.inject({ method: 'POST', url: '/auth/logout-all' }),
    );
  });

  it('for discovery and operations', async () => {
    const app = await makeApp();
    const doc = await fetchDocument(app);
    const expectDocumented = createResponseChecker(doc);
    const user = await registerUser(app);
    const { refreshToken } = await login(app, user);
    await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: refreshToken } });

    const feed = await app.inject({ url: '/.well-known/revoked-sessions' });
    expect(feed.json().sessions).toHaveLength(1);
    expectDocumented('get', '/.well-known/revoked-sessions', feed);
    expectDocumented(
      'get',
      '/.well-known/revoked-sessions',
      await app.inject({ url: '/.well-known/revoked-sessions?since=x' }),
    );
    expectDocumented(
      'get',
      '/.well-known/openid-configuration',
      await app.inject({ url: '/.well-known/openid-configuration' }),
    );
    expectDocumented('get', '/.well-known/jwks.json', await app.inject({ url: '/.well-known/jwks.json' }));
    expectDocumented('get', '/healthz', await app.inject({ url: '/healthz' }));
    expectDocumented('get', '/readyz', await app.inject({ url: '/readyz' }));
    const metrics = await app.inject({ url: '/metrics' });
    expect(metrics.body).toContain('latchkey_logins_total');
    expectDocumented('get', '/metrics', metrics);
    const served = await app.inject({ url: '/openapi.json' });
    expectDocumented('get', '/openapi.json', served);
    // The document's own schema lets every field of it through.
    expect(served.json()).toEqual(app.swagger());
  });

  it('for /readyz when the database does not answer', async () => {
    const store = await openSQLiteStore(':memory:');
    const down = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'ping') return () => Promise.reject(new Error('db down'));
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Store;
    const app = await createTestApp({}, { store: down });
    try {
      const expectDocumented = createResponseChecker(await fetchDocument(app));
      const res = await app.inject({ url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expectDocumented('get', '/readyz', res);
    } finally {
      await app.close();
      await store.close();
    }
  });

  it('for an unexpected fault', async () => {
    const app = await makeApp();
    const expectDocumented = createResponseChecker(await fetchDocument(app));
    const { accessToken } = await login(app, await registerUser(app));
    app.latchkey.service.getUser = () => Promise.reject(new Error('boom'));
    const res = await app.inject({ url: '/api/me', headers: bearer(accessToken) });
    expect(res.json()).toEqual({ error: 'internal_error', message: 'internal server error' });
    expectDocumented('get', '/api/me', res);
  });

  it.each(['ES256', 'EdDSA', 'RS256', 'PS256', 'HS256'])(
    'for the key set with %s, every member of every key kept',
    async (alg) => {
      const app = await makeApp({ LATCHKEY_ALG: alg });
      const expectDocumented = createResponseChecker(await fetchDocument(app));
      const res = await app.inject({ url: '/.well-known/jwks.json' });
      expectDocumented('get', '/.well-known/jwks.json', res);
      const published = app.latchkey.keys.verificationKeys.toJWKS();
      expect(res.json()).toEqual(JSON.parse(JSON.stringify(published)));
      expect(published.keys.length).toBe(alg === 'HS256' ? 0 : 1);
    },
  );
});
