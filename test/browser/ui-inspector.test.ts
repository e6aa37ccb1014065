/**
 * The token inspector's verdicts for every algorithm the server signs with, and for tokens signed by
 * the server's own key with claims it would never issue. One server per algorithm, started together;
 * /inspect verifies against the keys of the server that serves the page, so each token is pasted
 * into its own server's inspector. Waits are polls with deadlines, never fixed sleeps.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AsymmetricAlgorithm,
  createSigner,
  decodeUnverified,
  importPrivatePEM,
  type JWTPayload,
} from '../../src/jwt/index.js';
import { browserUnavailable, launchChromium } from './browser.js';
import { startUIServer, type UIServer } from './ui-server.js';

const PASSWORD = 'correct horse battery staple';
const ASYMMETRIC = ['ES256', 'EdDSA', 'RS256', 'PS256'] as const satisfies readonly AsymmetricAlgorithm[];
const ALGORITHMS = [...ASYMMETRIC, 'HS256'] as const;
type ServerAlgorithm = (typeof ALGORITHMS)[number];

const unavailable = browserUnavailable();
if (unavailable !== null) console.warn(unavailable);

let browser: Browser;
const servers = new Map<ServerAlgorithm, UIServer>();

beforeAll(async () => {
  if (unavailable !== null) return;
  const started = await Promise.all([
    launchChromium(),
    ...ALGORITHMS.map(async (alg) => servers.set(alg, await startUIServer({ LATCHKEY_ALG: alg }))),
  ]);
  browser = started[0];
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all([...servers.values()].map((server) => server.close()));
});

function serverFor(alg: ServerAlgorithm): UIServer {
  const server = servers.get(alg);
  if (server === undefined) throw new Error(`no ${alg} server`);
  return server;
}

/** A new account's access token, as the server issues it. */
async function accessToken(on: UIServer): Promise<string> {
  const email = `${randomUUID().slice(0, 8)}@example.com`;
  const body = (extra: object) => JSON.stringify({ email, password: PASSWORD, ...extra });
  const headers = { 'content-type': 'application/json' };
  const registered = await fetch(`${on.baseUrl}/auth/register`, { method: 'POST', headers, body: body({}) });
  expect(registered.status).toBe(201);
  const login = await fetch(`${on.baseUrl}/auth/login`, {
    method: 'POST',
    headers,
    body: body({ refresh_in: 'body' }),
  });
  expect(login.status).toBe(200);
  return ((await login.json()) as { access_token: string }).access_token;
}

/** The same token with its payload changed and its signature kept. */
function tampered(token: string): string {
  const [header = '', payload = '', signature = ''] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as JWTPayload;
  const forged = Buffer.from(JSON.stringify({ ...claims, roles: ['admin'] })).toString('base64url');
  return `${header}.${forged}.${signature}`;
}

/** The server's own signing key, read from its SQLite file (PEM: no LATCHKEY_MASTER_KEY is set). */
function signingKey(on: UIServer, kid: string) {
  const db = new Database(join(on.dataDir, 'latchkey.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT kid, alg, private_key FROM signing_keys WHERE kid = ?').get(kid) as
      | { kid: string; alg: AsymmetricAlgorithm; private_key: string }
      | undefined;
    if (row === undefined) throw new Error(`no signing key ${kid} in ${on.dataDir}`);
    return importPrivatePEM(row.private_key, row.alg, { kid: row.kid });
  } finally {
    db.close();
  }
}

/**
 * Opens /inspect on `on`, pastes the token, and returns the verdict once one is given. A fresh page
 * each time: after a second paste the previous verdict stays on screen until the new one replaces it.
 */
async function inspect(page: Page, on: UIServer, token: string) {
  await page.goto(`${on.baseUrl}/inspect`);
  await page.getByLabel('Access token (JWT)').fill(token);
  const verdict = page.locator('.verdict[data-verdict]');
  await verdict.waitFor();
  return {
    reason: await verdict.getAttribute('data-verdict'),
    text: (await verdict.textContent()) ?? '',
    claims: (await page.locator('.claims').textContent()) ?? '',
  };
}

describe.skipIf(unavailable !== null)('the token inspector', () => {
  it.each(ASYMMETRIC)(
    'verifies a %s token against the published key and flags a tampered one',
    async (alg) => {
      const on = serverFor(alg);
      const token = await accessToken(on);
      const { header } = decodeUnverified(token);
      expect(header.alg).toBe(alg);
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const genuine = await inspect(page, on, token);
        expect(genuine.reason).toBe('valid');
        expect(genuine.text).toContain(
          `Valid. Signed with key ${String(header.kid)} (${alg}), which this server publishes; not expired; issued by this server.`,
        );

        const forged = await inspect(page, on, tampered(token));
        expect(forged.reason).toBe('bad signature');
        expect(forged.text).toBe(
          `Invalid: bad signature. The signature does not match the header and payload under key "${String(header.kid)}".`,
        );
      } finally {
        await context.close();
      }
    },
    30_000,
  );

  it('says an HS256 token cannot be checked in the page: its key is a secret the server never publishes', async () => {
    const on = serverFor('HS256');
    const token = await accessToken(on);
    expect(decodeUnverified(token).header.alg).toBe('HS256');
    const jwks = (await (await fetch(`${on.baseUrl}/.well-known/jwks.json`)).json()) as { keys: unknown[] };
    expect(jwks.keys).toEqual([]);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      // Neither "valid" (nothing here can know) nor "unknown key" (the key exists; it is secret).
      for (const pasted of [token, tampered(token)]) {
        const verdict = await inspect(page, on, pasted);
        expect(verdict.reason).toBe('secret key');
        expect(verdict.text).toBe(
          'Cannot be checked here. It is signed with HS256, a shared secret this server keeps to itself (it publishes no key for it), so no page can check it: only the server and the services holding the secret can.',
        );
      }
      // Pasted into a server that signs with key pairs, an HS256 token is simply signed by no key of it.
      const elsewhere = await inspect(page, serverFor('ES256'), token);
      expect(elsewhere.reason).toBe('unknown key');
    } finally {
      await context.close();
    }
  }, 30_000);

  it("names a wrong or missing issuer on a token signed with the server's own key; leaves the audience to the services", async () => {
    const on = serverFor('EdDSA');
    const token = await accessToken(on);
    const { header, payload } = decodeUnverified(token);
    const sign = createSigner({ key: signingKey(on, String(header.kid)), typ: 'at+jwt' });
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      // Re-signed with the claims unchanged: the key read from the store is the one that signs.
      expect((await inspect(page, on, sign(payload))).reason).toBe('valid');

      const otherIssuer = await inspect(page, on, sign({ ...payload, iss: 'https://elsewhere.example' }));
      expect(otherIssuer.reason).toBe('wrong issuer');
      expect(otherIssuer.text).toBe(
        `Invalid: wrong issuer. It was issued by https://elsewhere.example, not by ${on.baseUrl}.`,
      );

      const { iss: _dropped, ...withoutIssuer } = payload;
      const noIssuer = await inspect(page, on, sign(withoutIssuer));
      expect(noIssuer.reason).toBe('wrong issuer');
      expect(noIssuer.text).toBe(
        `Invalid: wrong issuer. It names no issuer (iss); this server's tokens name ${on.baseUrl}.`,
      );

      // The audience is the receiving service's check: the page is not that service, and the server
      // publishes no audience of its own (LATCHKEY_AUDIENCE is whatever the deployment's APIs expect).
      // So another audience gets no verdict, and the claim is explained instead.
      const otherAudience = await inspect(page, on, sign({ ...payload, aud: 'https://another-api.example' }));
      expect(otherAudience.reason).toBe('valid');
      expect(otherAudience.text).toContain("that service's check of the audience (aud)");
      expect(otherAudience.claims).toContain(
        'audience: the service meant to accept it; others must refuse it. Each service checks that it is named here; this page, which is not one of them, does not',
      );
      expect(otherAudience.claims).toContain('https://another-api.example');
    } finally {
      await context.close();
    }
  }, 30_000);
});
