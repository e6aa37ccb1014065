import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestApp } from '../support/app.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('the pages outside the API', () => {
  it('serves the home page at /, with links to the API description and the keys', async () => {
    app = await createTestApp();
    const res = await app.inject({ url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toContain('<h1>Latchkey</h1>');
    expect(res.body).toContain('href="/openapi.json"');
    expect(res.body).toContain('href="/.well-known/jwks.json"');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
  });

  it('answers other non-API paths with an HTML 404 (they belong to the web UI), API paths with JSON', async () => {
    app = await createTestApp();
    const page = await app.inject({ url: '/settings/profile' });
    expect(page.statusCode).toBe(404);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const api = await app.inject({ url: '/api/nothing' });
    expect(api.statusCode).toBe(404);
    expect(api.json()).toEqual({ error: 'not_found', message: 'no such route' });
  });
});

describe('password hashing at capacity', () => {
  it('answers 503 overloaded with Retry-After instead of queueing without bound, then recovers', async () => {
    // Production argon2 parameters and one hash at a time, so a burst really fills the queue of 64.
    app = await createTestApp(
      { LATCHKEY_HASH_CONCURRENCY: '1' },
      { argon2: { memoryCost: 19456, timeCost: 2, parallelism: 1 } },
    );
    const server = app;
    const burst = await Promise.all(
      Array.from({ length: 90 }, (_, i) =>
        server.inject({
          method: 'POST',
          url: '/auth/login',
          remoteAddress: `198.51.100.${i + 1}`,
          payload: { email: `nobody${i}@example.com`, password: 'wrong password' },
        }),
      ),
    );
    const statuses = burst.map((res) => res.statusCode);
    expect(statuses.every((status) => status === 401 || status === 503)).toBe(true);
    const refused = burst.filter((res) => res.statusCode === 503);
    expect(refused.length).toBeGreaterThan(0);
    for (const res of refused) {
      expect(res.headers['retry-after']).toBe('1');
      expect(res.json()).toEqual({
        error: 'overloaded',
        message: 'the server is busy checking passwords; try again shortly',
      });
    }
    const after = await server.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email: 'late@example.com', password: 'correct horse' },
    });
    expect(after.statusCode).toBe(201);
  }, 60_000);
});
