/**
 * A stolen signing key, shut out: two instances on one SQLite file, and `latchkey keys revoke` run
 * as an operator would run it (its own process view of the database). Tokens signed by the key —
 * genuine ones and ones forged with a made-up session — are refused by both instances within a
 * second, neither JWKS lists it any more, and sessions carry on through a refresh.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigner } from '../../src/jwt/index.js';
import { runCLI } from '../cli/run-cli.js';
import { claimsOf, field, type RunningServer, request, startServer } from './support.js';

const PASSWORD = 'correct horse battery staple';

let a: RunningServer;
let b: RunningServer;
let env: Record<string, string>;

beforeAll(async () => {
  a = await startServer();
  env = {
    LATCHKEY_ISSUER: a.baseUrl,
    DATABASE_URL: `sqlite:${a.dataDir}/latchkey.sqlite`,
    LATCHKEY_DATA_DIR: a.dataDir,
  };
  b = await startServer(env);
}, 60_000);

afterAll(async () => {
  await b?.close();
  await a?.close();
});

const cli = (args: string[]) => runCLI(args, env);

const status = async (server: RunningServer, token: string) =>
  (await request(server.baseUrl, '/api/me', { bearer: token })).status;

const publishedKids = async (server: RunningServer) => {
  const jwks = await request(server.baseUrl, '/.well-known/jwks.json');
  return ((jwks.body?.keys ?? []) as { kid: string }[]).map((key) => key.kid);
};

describe('latchkey keys revoke, with two instances on one database', () => {
  it('refuses the revoked key’s tokens on both within a second; refresh goes on with the new key', async () => {
    const email = `${randomUUID()}@example.com`;
    const registered = await request(a.baseUrl, '/auth/register', {
      method: 'POST',
      body: { email, password: PASSWORD },
    });
    expect(registered.status).toBe(201);
    const login = await request(a.baseUrl, '/auth/login', {
      method: 'POST',
      body: { email, password: PASSWORD, refresh_in: 'body' },
    });
    const accessToken = field(login, 'access_token');
    const refreshToken = field(login, 'refresh_token');
    const claims = claimsOf(accessToken);

    // The attacker holds the signing key and mints a token for a session that never existed.
    const stolen = a.app.latchkey.keys.signingKey;
    const stolenKid = stolen.kid ?? '';
    const forged = createSigner({
      key: stolen,
      typ: 'at+jwt',
      issuer: a.baseUrl,
      audience: a.baseUrl,
      expiresInSeconds: 900,
      jti: true,
    })({ sub: claims.sub as string, sid: 'made-up-session', client_id: 'latchkey' });
    for (const server of [a, b]) {
      expect(await status(server, forged)).toBe(200);
      expect(await status(server, accessToken)).toBe(200);
      expect(await publishedKids(server)).toContain(stolen.kid);
    }

    const revoked = await cli(['keys', 'revoke', stolenKid]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const revokedAt = Date.now();
    const [first, second] = revoked.stdout.split('\n');
    expect(first).toBe(`revoked signing key ${stolen.kid}`);
    const replacement = /^new signing key (\S+) signs from now on$/.exec(second ?? '')?.[1];
    expect(replacement).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(revoked.stdout).toContain('What to do next:');

    // Both instances learn of it from the store: poll until both refuse, and time it.
    let refusedAfterMs = Number.POSITIVE_INFINITY;
    while (Date.now() - revokedAt < 3000) {
      const statuses = await Promise.all([a, b].map((server) => status(server, forged)));
      if (statuses.every((code) => code === 401)) {
        refusedAfterMs = Date.now() - revokedAt;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(refusedAfterMs).toBeLessThan(1000);
    for (const server of [a, b]) {
      const me = await request(server.baseUrl, '/api/me', { bearer: accessToken });
      expect(me.status).toBe(401);
      expect(me.body?.error).toBe('invalid_token');
      expect(me.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
      const kids = await publishedKids(server);
      expect(kids).not.toContain(stolen.kid);
      expect(kids).toContain(replacement);
      // Resource servers polling the revocation feed learn of the key without waiting for the JWKS.
      const feed = await request(server.baseUrl, `/.well-known/revoked-sessions?since=${revokedAt - 60_000}`);
      expect(feed.body?.keys).toEqual([{ kid: stolenKid, revoked_at: expect.any(Number) }]);
    }

    // The session is untouched: a refresh on the other instance gets a token of the new key.
    const refreshed = await request(b.baseUrl, '/auth/refresh', {
      method: 'POST',
      body: { refresh_token: refreshToken },
    });
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    const renewed = field(refreshed, 'access_token');
    const header = JSON.parse(Buffer.from(renewed.split('.')[0] ?? '', 'base64url').toString()) as {
      kid: string;
    };
    expect(header.kid).toBe(replacement);
    expect(await status(a, renewed)).toBe(200);
    expect(await status(b, renewed)).toBe(200);

    const listed = await cli(['keys', 'list']);
    expect(listed.stdout).toMatch(new RegExp(`^${stolen.kid} +ES256 +revoked `, 'm'));
    expect(listed.stdout).toMatch(new RegExp(`^${replacement} +ES256 +active `, 'm'));
  }, 30_000);
});
