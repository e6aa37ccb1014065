/**
 * latchkey/client from Node against a real Latchkey on a real socket, in body mode (Node has no
 * cookie jar): the account calls, single-flight refresh, the 401 retry, session loss, and errors.
 * The browser side (cookie mode, tabs) is in test/browser.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, LatchkeyClientError, type RefreshTokenStore } from '../../src/client/index.js';
import { type RunningServer, startServer } from '../e2e/support.js';

const PASSWORD = 'correct horse battery staple';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer();
}, 60_000);

afterAll(async () => {
  await server?.close();
});

function memoryStore(): RefreshTokenStore & { value: string | null } {
  return {
    value: null,
    get() {
      return this.value;
    },
    set(token) {
      this.value = token;
    },
  };
}

/** A client whose requests to each path are counted, with a clock the test can move. */
function countedClient(options: { clock?: { offsetMs: number } } = {}) {
  const counts = new Map<string, number>();
  const store = memoryStore();
  const clock = options.clock ?? { offsetMs: 0 };
  const client = createClient({
    baseUrl: server.baseUrl,
    refreshToken: store,
    now: () => Date.now() + clock.offsetMs,
    fetch: (input, init) => {
      const path = new URL(input instanceof Request ? input.url : String(input)).pathname;
      counts.set(path, (counts.get(path) ?? 0) + 1);
      return fetch(input, init);
    },
  });
  return { client, store, clock, count: (path: string) => counts.get(path) ?? 0 };
}

async function registeredEmail(): Promise<string> {
  const email = `${randomUUID()}@example.com`;
  const { client } = countedClient();
  const user = await client.register(email, PASSWORD);
  expect(user.email).toBe(email);
  return email;
}

describe('latchkey/client in Node (body mode)', () => {
  it('logs in, keeps the refresh token in the caller’s store, and calls the account routes', async () => {
    const email = await registeredEmail();
    const { client, store } = countedClient();
    const events: string[] = [];
    client.on('authenticated', () => events.push('authenticated'));
    await client.login(email, PASSWORD);
    expect(events).toEqual(['authenticated']);
    expect(client.authenticated).toBe(true);
    expect(store.value).toMatch(/^lk_rt_/);
    expect(await client.me()).toMatchObject({ email });
    const sessions = await client.sessions();
    expect(sessions).toHaveLength(1);
    expect(sessions[0]?.current).toBe(true);
    await client.changePassword(PASSWORD, `${PASSWORD} 2`);
    await expect(client.changePassword(PASSWORD, 'whatever whatever')).rejects.toMatchObject({
      code: 'invalid_credentials',
      status: 403,
    });
  });

  it('10 concurrent authFetch calls with an expired access token make exactly one refresh', async () => {
    const email = await registeredEmail();
    const { client, clock, count } = countedClient();
    await client.login(email, PASSWORD);
    clock.offsetMs = 3_600_000;
    const events: string[] = [];
    client.on('refreshed', () => events.push('refreshed'));
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => client.authFetch(`${server.baseUrl}/api/me`)),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(10).fill(200));
    expect(count('/auth/refresh')).toBe(1);
    expect(events).toEqual(['refreshed']);
  });

  it('on a 401 refreshes once and retries once, with the body sent again', async () => {
    const email = await registeredEmail();
    const { client, count } = countedClient();
    await client.login(email, PASSWORD);
    // The key that signed the token is revoked on the server: the token is refused, the session lives.
    await server.app.latchkey.keys.revoke(server.app.latchkey.keys.signingKey.kid ?? '');
    const response = await client.authFetch(`${server.baseUrl}/auth/password`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ current_password: PASSWORD, new_password: `${PASSWORD} 3` }),
    });
    expect(response.status).toBe(204);
    expect(count('/auth/refresh')).toBe(1);
    expect(count('/auth/password')).toBe(2);
  });

  it('tells of a lost session (sessionExpired) and then answers null and the 401', async () => {
    const email = await registeredEmail();
    const { client } = countedClient();
    await client.login(email, PASSWORD);
    const other = countedClient();
    await other.client.login(email, PASSWORD);
    await other.client.logoutAll();
    const events: string[] = [];
    client.on('sessionExpired', () => events.push('sessionExpired'));
    const response = await client.authFetch(`${server.baseUrl}/api/me`);
    expect(response.status).toBe(401);
    expect(events).toEqual(['sessionExpired']);
    expect(client.authenticated).toBe(false);
    expect(await client.getAccessToken()).toBeNull();
    await expect(client.authFetch(`${server.baseUrl}/api/me`)).rejects.toMatchObject({
      code: 'missing_token',
    });
  });

  it('logs out: the refresh token is gone from the store and dead on the server', async () => {
    const email = await registeredEmail();
    const { client, store } = countedClient();
    await client.login(email, PASSWORD);
    const refreshToken = store.value;
    const events: string[] = [];
    client.on('loggedOut', () => events.push('loggedOut'));
    await client.logout();
    expect(events).toEqual(['loggedOut']);
    expect(store.value).toBeNull();
    const reused = await fetch(`${server.baseUrl}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: refreshToken }),
    });
    expect(reused.status).toBe(401);
  });

  it('throws the contract’s codes: wrong password, taken email, weak password, no server', async () => {
    const email = await registeredEmail();
    const { client } = countedClient();
    const refusal = await client.login(email, 'wrong password!').catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(LatchkeyClientError);
    expect(refusal).toMatchObject({ code: 'invalid_credentials', status: 401 });
    await expect(client.register(email, PASSWORD)).rejects.toMatchObject({
      code: 'email_taken',
      status: 409,
    });
    await expect(client.register(`${randomUUID()}@example.com`, 'short')).rejects.toMatchObject({
      code: 'invalid_request',
      status: 400,
    });
    const offline = createClient({ baseUrl: 'http://127.0.0.1:1', refreshToken: memoryStore() });
    await expect(offline.login(email, PASSWORD)).rejects.toMatchObject({ code: 'network_error', status: 0 });
  });

  it('sends the access token to no origin but its own and resourceOrigins', async () => {
    const email = await registeredEmail();
    const { client, count } = countedClient();
    await client.login(email, PASSWORD);
    const refreshesBefore = count('/auth/refresh');
    await expect(client.authFetch('https://attacker.example/collect')).rejects.toThrow(
      'authFetch sends the access token only to resourceOrigins; https://attacker.example is not one',
    );
    await expect(
      client.authFetch(`${server.baseUrl.replace('127.0.0.1', 'localhost')}/api/me`),
    ).rejects.toThrow(TypeError);
    expect(count('/auth/refresh')).toBe(refreshesBefore);
    const api = createClient({
      baseUrl: server.baseUrl,
      refreshToken: memoryStore(),
      resourceOrigins: ['https://api.example'],
    });
    await expect(api.authFetch('https://api.example/orders')).rejects.toMatchObject({
      code: 'missing_token',
    });
  });

  it('never renews more than half a token’s lifetime ahead, so a short lifetime does not refresh every call', async () => {
    const email = await registeredEmail();
    const counts = new Map<string, number>();
    const client = createClient({
      baseUrl: server.baseUrl,
      refreshToken: memoryStore(),
      // Longer than the 900 s lifetime: taken as 450 s.
      refreshAheadSeconds: 1000,
      fetch: (input, init) => {
        const path = new URL(input instanceof Request ? input.url : String(input)).pathname;
        counts.set(path, (counts.get(path) ?? 0) + 1);
        return fetch(input, init);
      },
    });
    await client.login(email, PASSWORD);
    for (let call = 0; call < 5; call++) await client.me();
    expect(counts.get('/auth/refresh') ?? 0).toBe(0);
  });

  it('refuses bad options when it is made', () => {
    expect(() => createClient({ baseUrl: 'localhost:3000' })).toThrow('baseUrl must be an http(s) URL');
    expect(() => createClient({ baseUrl: 'http://x', refreshAheadSeconds: -1 })).toThrow(
      /refreshAheadSeconds/,
    );
    expect(() => createClient({ baseUrl: 'http://x', refreshToken: {} as RefreshTokenStore })).toThrow(
      /store/,
    );
  });
});

describe('logout the server does not answer', () => {
  /** A client whose POST /auth/logout fails as `failure` says; every other call reaches the server. */
  function failingLogout(failure: 'offline' | 503, store: RefreshTokenStore | null) {
    return createClient({
      baseUrl: server.baseUrl,
      ...(store === null ? {} : { refreshToken: store }),
      fetch: (input, init) => {
        const url = new URL(input instanceof Request ? input.url : String(input));
        if (url.pathname !== '/auth/logout') return fetch(input, init);
        if (failure === 'offline') return Promise.reject(new TypeError('fetch failed'));
        return Promise.resolve(
          new Response(JSON.stringify({ error: 'unavailable', message: 'down' }), {
            status: 503,
            headers: { 'content-type': 'application/json' },
          }),
        );
      },
    });
  }

  it.each(['offline', 503] as const)(
    'keeps the session in cookie mode (%s): the cookie would bring it back, so the user must know',
    async (failure) => {
      const email = await registeredEmail();
      // Cookie mode, as in a browser; Node keeps no cookie, so the session here is the access token.
      const client = failingLogout(failure, null);
      try {
        await client.login(email, PASSWORD);
        const events: string[] = [];
        client.on('loggedOut', () => events.push('loggedOut'));
        await expect(client.logout()).rejects.toMatchObject({
          code: failure === 'offline' ? 'network_error' : 'unavailable',
        });
        expect(events).toEqual([]);
        expect(client.authenticated).toBe(true);
        expect((await client.me()).email).toBe(email);
      } finally {
        client.close();
      }
    },
  );

  it('forgets the token in body mode all the same, and says the server was not told', async () => {
    const email = await registeredEmail();
    const store = memoryStore();
    const client = failingLogout(503, store);
    await client.login(email, PASSWORD);
    const events: string[] = [];
    client.on('loggedOut', () => events.push('loggedOut'));
    await expect(client.logout()).rejects.toMatchObject({ code: 'unavailable' });
    expect(events).toEqual(['loggedOut']);
    expect(store.value).toBeNull();
    expect(client.authenticated).toBe(false);
  });
});
