import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp } from '../support/app.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('the pages outside the API, without a built web UI', () => {
  it('serves the home page at /, with links to the API description and the keys', async () => {
    app = await createTestApp({}, { webRoot: null });
    const res = await app.inject({ url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toContain('<h1>Latchkey</h1>');
    expect(res.body).toContain('href="/openapi.json"');
    expect(res.body).toContain('href="/.well-known/jwks.json"');
    expect(res.body).toContain('npm run build');
    const policy = res.headers['content-security-policy'];
    expect(policy).toContain("default-src 'self'");
    // Its one inline style is allowed by its hash, and nothing else inline is.
    expect(policy).toMatch(/style-src 'self' 'sha256-[A-Za-z0-9+/]+=*'/);
    expect(policy).not.toContain('unsafe-inline');
  });

  it('answers other non-API paths with an HTML 404 (they belong to the web UI), API paths with JSON', async () => {
    app = await createTestApp({}, { webRoot: null });
    const page = await app.inject({ url: '/settings/profile' });
    expect(page.statusCode).toBe(404);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const api = await app.inject({ url: '/api/nothing' });
    expect(api.statusCode).toBe(404);
    expect(api.json()).toEqual({ error: 'not_found', message: 'no such route' });
  });
});

describe('the built web UI', () => {
  let webRoot: string;
  beforeAll(async () => {
    webRoot = await mkdtemp(join(tmpdir(), 'latchkey-web-'));
    await mkdir(join(webRoot, 'assets'));
    await writeFile(join(webRoot, 'index.html'), '<!doctype html><title>UI</title><div id="app"></div>');
    await writeFile(join(webRoot, 'assets', 'index-abc123.js'), 'console.log(1);');
  });
  afterAll(async () => {
    await rm(webRoot, { recursive: true, force: true });
  });

  it('serves index.html at / uncached, under a policy without inline script or style', async () => {
    app = await createTestApp({}, { webRoot });
    const res = await app.inject({ url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toContain('<div id="app">');
    expect(res.headers['cache-control']).toBe('no-cache');
    const policy = String(res.headers['content-security-policy']);
    expect(policy).toContain("script-src 'self'");
    expect(policy).toMatch(/style-src 'self'(;|$)/);
    expect(policy).not.toContain('unsafe-inline');
  });

  it('serves hashed assets as immutable for a year', async () => {
    app = await createTestApp({}, { webRoot });
    const res = await app.inject({ url: '/assets/index-abc123.js' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^(text|application)\/javascript/);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  });

  it.each(['/login', '/dashboard', '/inspect', '/some/deep/page?x=1'])(
    'answers the UI path %s with index.html and 200, for the page to route',
    async (url) => {
      app = await createTestApp({}, { webRoot });
      const res = await app.inject({ url });
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('<div id="app">');
      expect(res.headers['cache-control']).toBe('no-cache');
    },
  );

  it.each([
    '/assets/index-OLDHASH.js',
    '/assets/',
    '/favicon.ico',
    '/robots.txt',
    '/healthz/',
    '/readyz/',
    '/metrics/',
    '/openapi.json/',
  ])('answers %s, which no page is, with a 404 and not the page', async (url) => {
    app = await createTestApp({}, { webRoot });
    const res = await app.inject({ url });
    expect(res.statusCode).toBe(404);
    expect(res.body).not.toContain('<div id="app">');
  });

  it.each([
    ['GET', '/api/nothing'],
    ['GET', '/auth/nothing'],
    ['GET', '/.well-known/nothing'],
    ['GET', '/assets/missing.js/../../api/x'],
    ['POST', '/login'],
  ])('keeps the JSON 404 for %s %s', async (method, url) => {
    app = await createTestApp({}, { webRoot });
    const res = await app.inject({ method: method as 'GET', url });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'not_found', message: 'no such route' });
  });

  it('falls back to the plain home page when the directory holds no index.html', async () => {
    app = await createTestApp({}, { webRoot: join(webRoot, 'assets') });
    const res = await app.inject({ url: '/' });
    expect(res.body).toContain('<h1>Latchkey</h1>');
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
