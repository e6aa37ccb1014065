/**
 * A resource server whose issuer goes away. A real Latchkey issuer publishes itself at the URL of a
 * small proxy in front of it (its `iss`, discovery, JWKS and feed all name the proxy), and the tests
 * close and reopen that proxy on the same port: known keys keep working, an unknown kid is still
 * a 401, the revocation feed past its bound is a 503 (or a 200 when failing open), and everything
 * comes back with the issuer. Every adapter, on real sockets, shares one verifier.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSigner, generateKeyPair } from '../../src/jwt/index.js';
import {
  createRemoteVerifier,
  type RemoteVerifier,
  type RemoteVerifierOptions,
  type RemoteVerifierStatus,
} from '../../src/verify/index.js';
import { field, type RunningServer, request, startServer } from '../e2e/support.js';
import { ADAPTER_NAMES, type RunningAdapter, startAdapter } from './adapters.js';
import {
  type ControlledServer,
  eventually,
  forwardTo,
  reservePort,
  startControlledServer,
} from './controlled-server.js';

const PASSWORD = 'correct horse battery staple';
const UNAVAILABLE = {
  error: 'unavailable',
  message: 'the token cannot be checked right now; try again shortly',
};

let latchkey: RunningServer;
/** The issuer's public URL: the proxy's port, whether or not the proxy is up. */
let issuerUrl: string;
let proxyPort: number;
let proxy: ControlledServer | null = null;
let email: string;
let accessToken: string;

/** The verifiers' clock: real time plus what a test skips. */
let skippedMs = 0;
const now = () => Date.now() + skippedMs;

async function proxyUp(): Promise<void> {
  proxy ??= await startControlledServer(forwardTo(latchkey.baseUrl), proxyPort);
}

async function proxyDown(): Promise<void> {
  await proxy?.close();
  proxy = null;
}

async function login(): Promise<string> {
  const response = await request(latchkey.baseUrl, '/auth/login', {
    method: 'POST',
    body: { email, password: PASSWORD, refresh_in: 'body' },
  });
  return field(response, 'access_token');
}

beforeAll(async () => {
  proxyPort = await reservePort();
  issuerUrl = `http://127.0.0.1:${proxyPort}`;
  latchkey = await startServer({ LATCHKEY_ISSUER: issuerUrl });
  email = `${randomUUID()}@example.com`;
  const registered = await request(latchkey.baseUrl, '/auth/register', {
    method: 'POST',
    body: { email, password: PASSWORD },
  });
  expect(registered.status).toBe(201);
  accessToken = await login();
}, 60_000);

afterAll(async () => {
  await proxyDown();
  await latchkey?.close();
});

const verifiers: RemoteVerifier[] = [];
const adapters: RunningAdapter[] = [];

afterEach(async () => {
  for (const verifier of verifiers.splice(0)) verifier.close();
  await Promise.all(adapters.splice(0).map((adapter) => adapter.close()));
  await proxyDown();
  skippedMs = 0;
});

/** One verifier of the issuer, behind every adapter. */
async function deploy(options: Partial<RemoteVerifierOptions> = {}) {
  const verifier = createRemoteVerifier({ issuer: issuerUrl, audience: issuerUrl, now, ...options });
  verifiers.push(verifier);
  const running = await Promise.all(ADAPTER_NAMES.map((name) => startAdapter(name, verifier)));
  adapters.push(...running);
  return { verifier, adapters: running };
}

/** The JWKS and the feed through the proxy, named explicitly (no discovery). */
const throughProxy = () => ({
  jwksUri: `${issuerUrl}/.well-known/jwks.json`,
  revocationFeedUri: `${issuerUrl}/.well-known/revoked-sessions`,
});

async function call(adapter: RunningAdapter, token: string | undefined) {
  const response = await fetch(
    `${adapter.url}/orders`,
    token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } },
  );
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: (await response.json()) as Record<string, unknown>,
  };
}

/** Every adapter's status for this token. */
async function statuses(running: RunningAdapter[], token: string | undefined): Promise<number[]> {
  return Promise.all(running.map(async (adapter) => (await call(adapter, token)).status));
}

async function expectEveryAdapter(running: RunningAdapter[], token: string | undefined, status: number) {
  for (const adapter of running) {
    const answer = await call(adapter, token);
    expect(answer.status, `${adapter.name}: ${JSON.stringify(answer.body)}`).toBe(status);
    if (status === 503) {
      expect(answer.body, adapter.name).toEqual(UNAVAILABLE);
      expect(answer.retryAfter, adapter.name).toBe('5');
    }
  }
}

/** A token with the issuer's claims, signed by a key it never published. */
async function unknownKidToken(): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256', { kid: randomUUID() });
  return createSigner({
    key: privateKey,
    typ: 'at+jwt',
    issuer: issuerUrl,
    audience: issuerUrl,
    expiresInSeconds: 600,
  })({ sub: 'someone' });
}

const jwksOf = (status: RemoteVerifierStatus) => {
  if (status.jwks === null) throw new Error('the verifier has not started');
  return status.jwks;
};

describe('the JWKS goes down', () => {
  it('known keys keep working, an unknown kid is a 401 not a 5xx, status() says why; it comes back', async () => {
    await proxyUp();
    const { verifier, adapters: running } = await deploy({ jwksUri: throughProxy().jwksUri });
    await expectEveryAdapter(running, accessToken, 200);

    await proxyDown();
    await expectEveryAdapter(running, accessToken, 200);
    const stranger = await unknownKidToken();
    for (const adapter of running) {
      const answer = await call(adapter, stranger);
      expect(answer.status, adapter.name).toBe(401);
      expect(answer.body.error, adapter.name).toBe('invalid_token');
    }
    const down = jwksOf(verifier.status());
    expect(down.keys).toBeGreaterThan(0);
    expect(down.lastError).toMatch(new RegExp(`^${issuerUrl}/\\.well-known/jwks\\.json: \\S`));

    // Past the JWKS max-age (300 s): the background refresh fails, the cached keys go on serving.
    skippedMs += 301_000;
    await expectEveryAdapter(running, accessToken, 200);
    // A failed refresh is retried one cooldown after it failed, which is later than the max-age.
    await eventually('the background refresh has failed', () => {
      const { fetches, fetchedAt, staleAt } = jwksOf(verifier.status());
      return fetches > down.fetches && (staleAt ?? 0) > (fetchedAt ?? 0) + 300_000;
    });
    expect(jwksOf(verifier.status()).lastError).toMatch(
      /^http:\/\/127\.0\.0\.1:\d+\/\.well-known\/jwks\.json: \S/,
    );
    await expectEveryAdapter(running, accessToken, 200);

    // The issuer is back; the next refresh (one cooldown after the failure) clears the error.
    await proxyUp();
    skippedMs += 30_000;
    await expectEveryAdapter(running, accessToken, 200);
    await eventually('the refresh succeeds', () => jwksOf(verifier.status()).lastError === null);
  });
});

describe('the revocation feed goes down', () => {
  it('past maxStalenessMs, fail-closed answers 503 with Retry-After; bad tokens are still 401; it comes back', async () => {
    await proxyUp();
    const { verifier, adapters: running } = await deploy({
      ...throughProxy(),
      revocations: { intervalMs: 50, maxStalenessMs: 10_000 },
    });
    await expectEveryAdapter(running, accessToken, 200);

    await proxyDown();
    // Within the bound the last answer still counts.
    await expectEveryAdapter(running, accessToken, 200);
    skippedMs += 10_001;
    await expectEveryAdapter(running, accessToken, 503);
    await eventually('a failed poll shows', () => verifier.status().revocations?.lastError != null);
    expect(verifier.status().revocations).toMatchObject({
      state: 'unavailable',
      mode: 'fail-closed',
      lastError: expect.stringMatching(
        new RegExp(`^${issuerUrl}/\\.well-known/revoked-sessions\\?since=\\d+&limit=1000: \\S`),
      ),
    });
    // What is wrong with the request itself is still said as it is.
    await expectEveryAdapter(running, undefined, 401);
    await expectEveryAdapter(running, `${accessToken.slice(0, -4)}AAAA`, 401);
    await expectEveryAdapter(running, await unknownKidToken(), 401);

    await proxyUp();
    await eventually('every adapter answers 200 again', async () =>
      (await statuses(running, accessToken)).every((status) => status === 200),
    );
    expect(verifier.status().revocations).toMatchObject({ state: 'fresh', lastError: null });
  });

  it('fail-open answers 200 while it is down, and still refuses the sessions it knew were revoked', async () => {
    await proxyUp();
    const { verifier, adapters: running } = await deploy({
      ...throughProxy(),
      revocations: { intervalMs: 50, maxStalenessMs: 10_000, onUnavailable: 'fail-open' },
    });
    const revoked = await login();
    const loggedOut = await request(latchkey.baseUrl, '/auth/logout-all', {
      method: 'POST',
      bearer: revoked,
    });
    expect(loggedOut.status).toBe(204);
    accessToken = await login();
    await eventually('the logout reaches the verifier', async () =>
      (await statuses(running, revoked)).every((status) => status === 401),
    );
    await expectEveryAdapter(running, accessToken, 200);

    await proxyDown();
    skippedMs += 10_001;
    expect(verifier.status().revocations).toMatchObject({ state: 'unavailable', mode: 'fail-open' });
    await expectEveryAdapter(running, accessToken, 200);
    await expectEveryAdapter(running, revoked, 401);

    await proxyUp();
    await eventually('the feed is fresh again', () => verifier.status().revocations?.state === 'fresh');
    await expectEveryAdapter(running, accessToken, 200);
  });
});

describe('the issuer is unreachable when the resource server starts', () => {
  it('answers 503, not 401 and not a crash, and works once the issuer appears', async () => {
    const { verifier, adapters: running } = await deploy({
      revocations: { intervalMs: 50, maxStalenessMs: 10_000 },
    });
    await expectEveryAdapter(running, accessToken, 503);
    // A bad request is still a 401 while nothing is known.
    await expectEveryAdapter(running, undefined, 401);
    expect(verifier.status()).toMatchObject({
      ready: false,
      jwks: null,
      revocations: null,
      lastError: `the issuer's discovery document cannot be had: ${issuerUrl}/.well-known/openid-configuration: ECONNREFUSED`,
    });

    await proxyUp();
    // A failed start is retried at most once a second.
    skippedMs += 1000;
    await eventually('every adapter answers 200', async () =>
      (await statuses(running, accessToken)).every((status) => status === 200),
    );
    expect(verifier.status()).toMatchObject({ ready: true, lastError: null });
    expect(verifier.status().revocations?.state).toBe('fresh');
  });

  it('an issuer that takes connections and never answers is a 503 within timeoutMs, not a hang', async () => {
    const silent = await startControlledServer(() => {});
    try {
      const verifier = createRemoteVerifier({
        issuer: silent.url,
        audience: silent.url,
        timeoutMs: 300,
      });
      verifiers.push(verifier);
      const adapter = await startAdapter('node', verifier);
      adapters.push(adapter);
      const started = Date.now();
      const answer = await call(adapter, accessToken);
      expect(answer).toEqual({ status: 503, retryAfter: '5', body: UNAVAILABLE });
      expect(Date.now() - started).toBeLessThan(5000);
      expect(verifier.status().lastError).toBe(
        `the issuer's discovery document cannot be had: ${silent.url}/.well-known/openid-configuration: no answer within 300 ms`,
      );
    } finally {
      await silent.close();
    }
  });
});
