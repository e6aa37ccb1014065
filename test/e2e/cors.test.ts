/**
 * CORS over a real socket, the way a browser app on another origin (a Vite dev server) talks to
 * Latchkey: a preflight, then the credentialed login and cookie refresh it allowed. fetch in Node
 * sends what we tell it, so the test plays the browser's part: it sends Origin and the cookie itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { field, type RunningServer, request, startServer } from './support.js';

const APP_ORIGIN = 'http://localhost:5173';
const PASSWORD = 'correct horse battery staple';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ LATCHKEY_ALLOWED_ORIGINS: APP_ORIGIN });
}, 60_000);

afterAll(async () => {
  await server?.close();
});

function preflight(path: string, origin: string): Promise<Response> {
  return fetch(new URL(path, server.baseUrl), {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    },
  });
}

/** The value of the refresh cookie a response sets, or null. */
function refreshCookieOf(headers: Headers): string | null {
  for (const line of headers.getSetCookie()) {
    const match = /^latchkey_refresh=([^;]*)/.exec(line);
    if (match !== null) return decodeURIComponent(match[1] ?? '');
  }
  return null;
}

describe('a browser app on an allowed origin, over a real socket', () => {
  it('gets its preflight answered, then logs in and refreshes with the cookie', async () => {
    const allowed = await preflight('/auth/login', APP_ORIGIN);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(allowed.headers.get('access-control-allow-credentials')).toBe('true');
    expect(allowed.headers.get('access-control-allow-methods')).toContain('POST');
    expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('content-type');
    expect(allowed.headers.get('vary')).toContain('Origin');
    expect(await allowed.text()).toBe('');

    const email = `cors-${Date.now()}@example.com`;
    const registered = await request(server.baseUrl, '/auth/register', {
      method: 'POST',
      body: { email, password: PASSWORD },
      headers: { origin: APP_ORIGIN },
    });
    expect(registered.status, JSON.stringify(registered.body)).toBe(201);

    const login = await request(server.baseUrl, '/auth/login', {
      method: 'POST',
      body: { email, password: PASSWORD },
      headers: { origin: APP_ORIGIN },
    });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    expect(login.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(login.headers.get('access-control-allow-credentials')).toBe('true');
    expect(login.headers.get('access-control-expose-headers')).toBe('Retry-After, WWW-Authenticate');
    const cookie = refreshCookieOf(login.headers);
    expect(cookie).not.toBeNull();

    const refreshed = await request(server.baseUrl, '/auth/refresh', {
      method: 'POST',
      headers: { origin: APP_ORIGIN, cookie: `latchkey_refresh=${cookie}` },
    });
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    expect(refreshed.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(field(refreshed, 'access_token')).toMatch(/^ey/);
    expect(refreshCookieOf(refreshed.headers)).not.toBe(cookie);
  });

  it("refuses the preflight of an origin that is not listed, even the server's own", async () => {
    for (const origin of ['https://evil.example', server.baseUrl]) {
      const refused = await preflight('/auth/login', origin);
      expect(refused.status).toBe(403);
      expect(await refused.json()).toEqual({
        error: 'origin_not_allowed',
        message: 'cross-origin request refused: Origin is not in LATCHKEY_ALLOWED_ORIGINS',
      });
      expect([...refused.headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([]);
      expect(refused.headers.get('vary')).toContain('Origin');
    }
  });
});
