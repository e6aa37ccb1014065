import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, SAME_ORIGIN, TEST_STORE } from '../support/app.js';

let app: FastifyInstance;
beforeAll(async () => {
  app = await createTestApp();
});
afterAll(async () => app.close());

describe('smoke', () => {
  it('runs on the store the test project names (SQLite, or PostgreSQL in the postgres project)', () => {
    expect(app.latchkey.config.database.kind).toBe(TEST_STORE);
  });

  it('registers, logs in, refreshes by cookie and reaches /api/me', async () => {
    const reg = await app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email: 'x@y.io', password: 'password1' },
    });
    expect(reg.statusCode).toBe(201);
    const login = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: 'x@y.io', password: 'password1' },
    });
    expect(login.statusCode).toBe(200);
    const cookie = login.cookies.find((c) => c.name === 'latchkey_refresh');
    expect(cookie?.httpOnly).toBe(true);
    const me = await app.inject({
      url: '/api/me',
      headers: { authorization: `Bearer ${login.json().access_token}` },
    });
    expect(me.json()).toMatchObject({ email: 'x@y.io' });
    const refresh = await app.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: { latchkey_refresh: cookie?.value ?? '' },
      headers: SAME_ORIGIN,
    });
    expect(refresh.statusCode).toBe(200);
    const noBody = await app.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: { latchkey_refresh: cookie?.value ?? '' },
    });
    expect(noBody.json()).toMatchObject({ error: 'csrf_rejected' });
    const coerced = await app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email: ['a@b.c'], password: 'password1' },
    });
    expect(coerced.statusCode).toBe(400);
    const text = await app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'text/plain' },
      payload: 'hi',
    });
    expect(text.statusCode).toBe(415);
    const bad = await app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: '{"password": "secret-pw',
    });
    expect(bad.json()).toEqual({ error: 'invalid_request', message: 'request body is not valid JSON' });
    const missing = await app.inject({ url: '/api/me' });
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="latchkey"');
  });
});
