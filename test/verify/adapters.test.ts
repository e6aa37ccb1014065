/**
 * One table of cases through every adapter (Express, Fastify, Hono, node:http), each a real server on
 * a real socket verifying against a real Latchkey issuer through discovery: the right status, error
 * code and WWW-Authenticate, never a 5xx. Then what only a live issuer shows: a flood of unknown kids,
 * a logout-all, a key rotation and a key revocation on the issuer.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AdminService } from '../../src/auth/admin.js';
import {
  createSigner,
  exportPublicPEM,
  generateKeyPair,
  importSecret,
  type Key,
} from '../../src/jwt/index.js';
import {
  createRemoteVerifier,
  type RemoteVerifier,
  type RemoteVerifierOptions,
} from '../../src/verify/index.js';
import { field, type RunningServer, request, startServer } from '../e2e/support.js';
import { ADAPTER_NAMES, type RunningAdapter, startAdapter } from './adapters.js';

const PASSWORD = 'correct horse battery staple';
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

let issuer: RunningServer;
let user: { id: string; email: string };
let accessToken: string;

/** A fetch that counts the requests for each path, so the tests can see what the verifier fetched. */
function countingFetch() {
  const counts = new Map<string, number>();
  const fetcher = (input: string, init: RequestInit) => {
    const path = new URL(input).pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    return fetch(input, init);
  };
  return { fetcher, jwksFetches: () => counts.get('/.well-known/jwks.json') ?? 0 };
}

interface Deployment {
  adapters: RunningAdapter[];
  verifiers: RemoteVerifier[];
  jwksFetches: (() => number)[];
}

const deployments: Deployment[] = [];

/** Every adapter, each with its own verifier of the issuer. */
async function deploy(options: Partial<RemoteVerifierOptions> = {}): Promise<Deployment> {
  const deployment: Deployment = { adapters: [], verifiers: [], jwksFetches: [] };
  deployments.push(deployment);
  for (const name of ADAPTER_NAMES) {
    const { fetcher, jwksFetches } = countingFetch();
    const verifier = createRemoteVerifier({
      issuer: issuer.baseUrl,
      audience: issuer.baseUrl,
      revocations: { intervalMs: 200, maxStalenessMs: 1000 },
      fetch: fetcher,
      ...options,
    });
    deployment.verifiers.push(verifier);
    deployment.jwksFetches.push(jwksFetches);
    deployment.adapters.push(await startAdapter(name, verifier));
  }
  return deployment;
}

afterEach(async () => {
  for (const { adapters, verifiers } of deployments.splice(0)) {
    for (const verifier of verifiers) verifier.close();
    await Promise.all(adapters.map((adapter) => adapter.close()));
  }
});

async function login(email: string): Promise<{ accessToken: string; refreshToken: string }> {
  const response = await request(issuer.baseUrl, '/auth/login', {
    method: 'POST',
    body: { email, password: PASSWORD, refresh_in: 'body' },
  });
  return { accessToken: field(response, 'access_token'), refreshToken: field(response, 'refresh_token') };
}

beforeAll(async () => {
  issuer = await startServer();
  const email = `${randomUUID()}@example.com`;
  const registered = await request(issuer.baseUrl, '/auth/register', {
    method: 'POST',
    body: { email, password: PASSWORD },
  });
  user = { id: String((registered.body?.user as { id?: string } | undefined)?.id), email };
  accessToken = (await login(email)).accessToken;
}, 60_000);

afterAll(async () => {
  await issuer?.close();
});

/** A token signed with the issuer's real key, with claims a test chooses. */
function issuerSigned(
  claims: Record<string, unknown>,
  overrides: { expiresInSeconds?: number; now?: () => number; issuer?: string; audience?: string } = {},
) {
  return createSigner({
    key: issuer.app.latchkey.keys.signingKey,
    typ: 'at+jwt',
    issuer: overrides.issuer ?? issuer.baseUrl,
    audience: overrides.audience ?? issuer.baseUrl,
    expiresInSeconds: overrides.expiresInSeconds ?? 600,
    jti: true,
    ...(overrides.now === undefined ? {} : { now: overrides.now }),
  })({ sub: user.id, sid: 'not-a-session', client_id: 'latchkey', ...claims });
}

function flipSignature(token: string): string {
  const last = token.at(-2) === 'A' ? 'B' : 'A';
  return `${token.slice(0, -2)}${last}${token.slice(-1)}`;
}

interface Case {
  name: string;
  path?: string;
  authorization: () => string | Promise<string | undefined> | undefined;
  status: number;
  error?: string;
  challenge: RegExp;
}

const INVALID = /^Bearer realm="orders-api", error="invalid_token", error_description="[^"]+"$/;

function cases(): Case[] {
  const kid = issuer.app.latchkey.keys.signingKey.kid ?? '';
  return [
    {
      name: 'no Authorization header',
      authorization: () => undefined,
      status: 401,
      error: 'missing_token',
      challenge: /^Bearer realm="orders-api"$/,
    },
    {
      name: 'another scheme',
      authorization: () => 'Basic dXNlcjpwYXNz',
      status: 401,
      error: 'missing_token',
      challenge: /^Bearer realm="orders-api"$/,
    },
    {
      name: 'an empty Bearer token',
      authorization: () => 'Bearer ',
      status: 401,
      error: 'invalid_token',
      challenge: INVALID,
    },
    {
      name: 'a malformed token',
      authorization: () => 'Bearer not-a-jwt',
      status: 401,
      error: 'invalid_token',
      challenge: INVALID,
    },
    {
      name: 'a forged signature',
      authorization: () => `Bearer ${flipSignature(accessToken)}`,
      status: 401,
      error: 'invalid_token',
      challenge: INVALID,
    },
    {
      name: 'alg none',
      authorization: () => {
        const [, payload] = accessToken.split('.');
        return `Bearer ${b64({ alg: 'none', typ: 'at+jwt', kid })}.${payload}.`;
      },
      status: 401,
      error: 'invalid_token',
      challenge: INVALID,
    },
    {
      name: 'HS256 with the public key as the secret (algorithm confusion)',
      authorization: () => {
        const pem = exportPublicPEM(issuer.app.latchkey.keys.signingKey.toPublicKey());
        const secret: Key = importSecret(Buffer.from(pem), 'HS256', { kid });
        const token = createSigner({
          key: secret,
          typ: 'at+jwt',
          issuer: issuer.baseUrl,
          audience: issuer.baseUrl,
          expiresInSeconds: 600,
        })({ sub: user.id });
        return `Bearer ${token}`;
      },
      status: 401,
      error: 'invalid_token',
      challenge: INVALID,
    },
    {
      name: 'a key the issuer never published (unknown kid)',
      authorization: async () => {
        const { privateKey } = await generateKeyPair('ES256', { kid: randomBytes(16).toString('base64url') });
        return `Bearer ${createSigner({ key: privateKey, typ: 'at+jwt', issuer: issuer.baseUrl, audience: issuer.baseUrl, expiresInSeconds: 600 })({ sub: user.id })}`;
      },
      status: 401,
      error: 'invalid_token',
      challenge: INVALID,
    },
    {
      name: 'an expired token',
      authorization: () =>
        `Bearer ${issuerSigned({}, { expiresInSeconds: 60, now: () => Date.now() - 3_600_000 })}`,
      status: 401,
      error: 'invalid_token',
      challenge: INVALID,
    },
    {
      name: 'another audience',
      authorization: () => `Bearer ${issuerSigned({}, { audience: 'https://other.example' })}`,
      status: 401,
      error: 'invalid_token',
      challenge: INVALID,
    },
    {
      name: 'another issuer',
      authorization: () => `Bearer ${issuerSigned({}, { issuer: 'https://evil.example' })}`,
      status: 401,
      error: 'invalid_token',
      challenge: INVALID,
    },
    {
      name: 'a roles claim that is not a list',
      authorization: () => `Bearer ${issuerSigned({ roles: 'admin' })}`,
      status: 401,
      error: 'invalid_token',
      challenge: INVALID,
    },
    { name: 'a valid token', authorization: () => `Bearer ${accessToken}`, status: 200, challenge: /^$/ },
    {
      name: 'a valid token without the role admin',
      path: '/admin',
      authorization: () => `Bearer ${accessToken}`,
      status: 403,
      error: 'insufficient_scope',
      challenge:
        /^Bearer realm="orders-api", error="insufficient_scope", error_description="this route needs the role admin"$/,
    },
    {
      name: 'a valid token with the role admin',
      path: '/admin',
      authorization: () => `Bearer ${issuerSigned({ roles: ['admin'] })}`,
      status: 200,
      challenge: /^$/,
    },
    {
      name: 'a valid token without the scope orders:write',
      path: '/write',
      authorization: () => `Bearer ${issuerSigned({ scope: 'orders:read' })}`,
      status: 403,
      error: 'insufficient_scope',
      challenge:
        /^Bearer realm="orders-api", error="insufficient_scope", error_description="[^"]+", scope="orders:write"$/,
    },
    {
      name: 'a valid token with the scope orders:write',
      path: '/write',
      authorization: () => `Bearer ${issuerSigned({ scope: 'orders:read orders:write' })}`,
      status: 200,
      challenge: /^$/,
    },
  ];
}

async function call(adapter: RunningAdapter, path: string, authorization: string | undefined) {
  const response = await fetch(
    `${adapter.url}${path}`,
    authorization === undefined ? {} : { headers: { authorization } },
  );
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: JSON.parse(text) as Record<string, unknown>,
  };
}

describe('every adapter answers the same table of cases', () => {
  it.each(ADAPTER_NAMES.map((name, index) => [name, index] as const))(
    '%s',
    async (_name, index) => {
      const { adapters } = await deploy();
      const adapter = adapters[index] as RunningAdapter;
      for (const testCase of cases()) {
        const answer = await call(adapter, testCase.path ?? '/orders', await testCase.authorization());
        const label = `${adapter.name}: ${testCase.name}`;
        expect(answer.status, `${label}: ${JSON.stringify(answer.body)}`).toBe(testCase.status);
        expect(answer.headers.get('www-authenticate') ?? '', label).toMatch(testCase.challenge);
        if (testCase.status === 200) {
          expect((answer.body.claims as { sub?: string }).sub, label).toBe(user.id);
        } else {
          expect(answer.body, label).toEqual({ error: testCase.error, message: expect.any(String) });
          expect(answer.headers.get('content-type'), label).toMatch(/^application\/json/);
        }
      }
    },
    60_000,
  );
});

describe('against a live issuer', () => {
  it('a flood of 1,000 random kids costs each verifier at most one JWKS fetch, and never a 5xx', async () => {
    const { adapters, jwksFetches } = await deploy();
    for (const adapter of adapters)
      expect((await call(adapter, '/orders', `Bearer ${accessToken}`)).status).toBe(200);
    const before = jwksFetches.map((count) => count());
    const { privateKey } = await generateKeyPair('ES256');
    const tokens = Array.from({ length: 1000 }, () =>
      createSigner({
        key: privateKey,
        typ: 'at+jwt',
        issuer: issuer.baseUrl,
        audience: issuer.baseUrl,
        expiresInSeconds: 600,
      }),
    ).map((sign, index) => {
      // A new kid per token: the header names it, the key set has none of them.
      const token = sign({ sub: user.id });
      const [, payload, signature] = token.split('.');
      return `${b64({ alg: 'ES256', typ: 'at+jwt', kid: `random-${index}-${randomUUID()}` })}.${payload}.${signature}`;
    });
    for (const adapter of adapters) {
      for (let start = 0; start < tokens.length; start += 100) {
        const statuses = await Promise.all(
          tokens
            .slice(start, start + 100)
            .map(async (token) => (await call(adapter, '/orders', `Bearer ${token}`)).status),
        );
        expect(new Set(statuses)).toEqual(new Set([401]));
      }
    }
    jwksFetches.forEach((count, index) => {
      expect(count() - (before[index] ?? 0), adapters[index]?.name).toBeLessThanOrEqual(1);
    });
  }, 120_000);

  it('refuses a session’s tokens within one poll interval of a logout-all on the issuer', async () => {
    const { adapters } = await deploy();
    const session = await login(user.email);
    for (const adapter of adapters)
      expect((await call(adapter, '/orders', `Bearer ${session.accessToken}`)).status).toBe(200);
    const loggedOut = await request(issuer.baseUrl, '/auth/logout-all', {
      method: 'POST',
      bearer: session.accessToken,
    });
    expect(loggedOut.status).toBe(204);
    const at = Date.now();
    const refusedAfter: number[] = [];
    for (const adapter of adapters) {
      for (;;) {
        const answer = await call(adapter, '/orders', `Bearer ${session.accessToken}`);
        if (answer.status === 401) {
          expect(answer.body.error).toBe('invalid_token');
          refusedAfter.push(Date.now() - at);
          break;
        }
        expect(answer.status).toBe(200);
        if (Date.now() - at > 5000) throw new Error(`${adapter.name} still accepts the token after 5 s`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    // One poll interval (200 ms), plus the poll's own request and the issuer's one-second sync.
    expect(Math.max(...refusedAfter)).toBeLessThan(1500);
    accessToken = (await login(user.email)).accessToken;
  }, 30_000);

  it('picks up a key rotated on the issuer, and still accepts the old key’s tokens', async () => {
    const { adapters } = await deploy();
    const old = accessToken;
    for (const adapter of adapters)
      expect((await call(adapter, '/orders', `Bearer ${old}`)).status).toBe(200);
    await issuer.app.latchkey.keys.rotate(0);
    const renewed = (await login(user.email)).accessToken;
    expect(renewed.split('.')[0]).not.toBe(old.split('.')[0]);
    for (const adapter of adapters) {
      expect((await call(adapter, '/orders', `Bearer ${renewed}`)).status, adapter.name).toBe(200);
      expect((await call(adapter, '/orders', `Bearer ${old}`)).status, adapter.name).toBe(200);
    }
    accessToken = renewed;
  }, 30_000);

  it('refuses a revoked key’s tokens within a poll interval, though its JWKS copy still has the key', async () => {
    const { adapters, verifiers } = await deploy();
    for (const adapter of adapters)
      expect((await call(adapter, '/orders', `Bearer ${accessToken}`)).status).toBe(200);
    const kid = issuer.app.latchkey.keys.signingKey.kid ?? '';
    expect(verifiers[0]?.status().jwks?.keys).toBeGreaterThan(0);
    await issuer.app.latchkey.keys.revoke(kid);
    const at = Date.now();
    for (const adapter of adapters) {
      while ((await call(adapter, '/orders', `Bearer ${accessToken}`)).status === 200) {
        if (Date.now() - at > 5000)
          throw new Error(`${adapter.name} still accepts the revoked key after 5 s`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    expect(Date.now() - at).toBeLessThan(1500);
    accessToken = (await login(user.email)).accessToken;
    for (const adapter of adapters)
      expect((await call(adapter, '/orders', `Bearer ${accessToken}`)).status).toBe(200);
  }, 30_000);

  it('a role given on the issuer reaches the next token, and opens /admin', async () => {
    const { adapters } = await deploy();
    await new AdminService({ store: issuer.app.latchkey.store }).addRole(user.email, 'admin');
    const withRole = (await login(user.email)).accessToken;
    for (const adapter of adapters) {
      const answer = await call(adapter, '/admin', `Bearer ${withRole}`);
      expect(answer.status, adapter.name).toBe(200);
      expect((answer.body.claims as { roles?: string[] }).roles).toEqual(['admin']);
    }
  }, 30_000);
});
