/**
 * Interop with code nobody here wrote. (a) Tokens of a real Latchkey issuer pass `jose`'s
 * `jwtVerify` over its remote JWKS, and Auth0's `express-oauth2-jwt-bearer` configured only through
 * Latchkey's discovery document; both refuse them tampered. (b) `latchkey/verify` accepts what
 * `jose`'s `SignJWT` signs against a JWKS made with `jose`'s `exportJWK`, and refuses it when the
 * issuer, audience, algorithm, `typ` or key do not match.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { type CryptoKey, createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JOSEError, JWTClaimError } from '../../src/errors.js';
import type { AsymmetricAlgorithm } from '../../src/jwt/index.js';
import {
  createRemoteVerifier,
  type RemoteVerifier,
  type RemoteVerifierOptions,
} from '../../src/verify/index.js';
import { field, type RunningServer, request, startServer } from '../e2e/support.js';
import { type ControlledServer, json, startControlledServer } from './controlled-server.js';

/**
 * Loaded untyped: its declarations put its own `auth` on Express's Request, which clashes with
 * the one latchkey/verify/express declares, and both are in this program.
 */
const { auth } = createRequire(import.meta.url)('express-oauth2-jwt-bearer') as {
  auth: (options: { issuerBaseURL: string; audience: string }) => RequestHandler;
};

const PASSWORD = 'correct horse battery staple';

/** The same token with another `sub`, and the signature left as it was. */
function tampered(token: string): string {
  const [header, payload, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString());
  const forged = Buffer.from(JSON.stringify({ ...claims, sub: randomUUID() })).toString('base64url');
  return `${header}.${forged}.${signature}`;
}

describe.each(['ES256', 'RS256', 'PS256', 'EdDSA'])('tokens of a Latchkey issuer signing with %s', (alg) => {
  let issuer: RunningServer;
  let userId: string;
  let token: string;
  let api: Server;
  let apiUrl: string;

  beforeAll(async () => {
    issuer = await startServer({ LATCHKEY_ALG: alg });
    const email = `${randomUUID()}@example.com`;
    const registered = await request(issuer.baseUrl, '/auth/register', {
      method: 'POST',
      body: { email, password: PASSWORD },
    });
    userId = field({ ...registered, body: registered.body?.user as Record<string, unknown> }, 'id');
    const login = await request(issuer.baseUrl, '/auth/login', {
      method: 'POST',
      body: { email, password: PASSWORD, refresh_in: 'body' },
    });
    token = field(login, 'access_token');

    // An API protected by express-oauth2-jwt-bearer, told nothing but the issuer and the audience.
    const app = express();
    app.get('/orders', auth({ issuerBaseURL: issuer.baseUrl, audience: issuer.baseUrl }), (req, res) => {
      res.json({ sub: (req as unknown as { auth: { payload: { sub: string } } }).auth.payload.sub });
    });
    const errors: ErrorRequestHandler = (error, _req, res, _next) => {
      res
        .status(error.status ?? 500)
        .set(error.headers ?? {})
        .json({ error: error.code ?? 'internal' });
    };
    app.use(errors);
    api = createServer(app);
    api.listen(0, '127.0.0.1');
    await once(api, 'listening');
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  }, 60_000);

  afterAll(async () => {
    api?.closeAllConnections();
    await new Promise((resolve) => (api === undefined ? resolve(null) : api.close(resolve)));
    await issuer?.close();
  });

  it('jose accepts them with issuer, audience and typ at+jwt, and refuses them tampered', async () => {
    const keys = createRemoteJWKSet(new URL(`${issuer.baseUrl}/.well-known/jwks.json`));
    const options = { issuer: issuer.baseUrl, audience: issuer.baseUrl, typ: 'at+jwt' };
    const { payload, protectedHeader } = await jwtVerify(token, keys, options);
    expect(payload).toMatchObject({ sub: userId, iss: issuer.baseUrl, aud: issuer.baseUrl });
    expect(protectedHeader).toMatchObject({ alg, typ: 'at+jwt' });
    await expect(jwtVerify(tampered(token), keys, options)).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
    // And the claims are checked, not just the signature.
    await expect(
      jwtVerify(token, keys, { ...options, audience: 'https://other.example' }),
    ).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'aud',
    });
  });

  it('express-oauth2-jwt-bearer, configured through discovery, accepts them and refuses them tampered', async () => {
    const call = async (authorization?: string) => {
      const response = await fetch(
        `${apiUrl}/orders`,
        authorization === undefined ? {} : { headers: { authorization } },
      );
      return {
        status: response.status,
        challenge: response.headers.get('www-authenticate'),
        body: await response.json(),
      };
    };
    expect(await call(`Bearer ${token}`)).toEqual({ status: 200, challenge: null, body: { sub: userId } });
    const refused = await call(`Bearer ${tampered(token)}`);
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({ error: 'invalid_token' });
    // It names the failure (and advertises DPoP after it).
    expect(refused.challenge).toMatch(
      /^Bearer realm="api", error="invalid_token", error_description="signature verification failed"/,
    );
    expect((await call()).status).toBe(401);
  });
});

describe('latchkey/verify and tokens jose signs', () => {
  const ISSUER = 'https://issuer.example';
  const AUDIENCE = 'https://orders.example';

  interface JoseKey {
    alg: 'ES256' | 'RS256';
    kid: string;
    privateKey: CryptoKey;
    publicKey: CryptoKey;
  }

  const keys: Record<'ES256' | 'RS256', JoseKey> = {} as never;
  /** Another key pair per algorithm, published nowhere. */
  const impostors: Record<'ES256' | 'RS256', JoseKey> = {} as never;
  let jwks: ControlledServer;

  beforeAll(async () => {
    for (const alg of ['ES256', 'RS256'] as const) {
      keys[alg] = { alg, kid: `${alg.toLowerCase()}-${randomUUID()}`, ...(await generateKeyPair(alg)) };
      impostors[alg] = { ...keys[alg], ...(await generateKeyPair(alg)) };
    }
    // A JWKS as other servers publish one: exportJWK, plus kid, alg and use.
    const published = await Promise.all(
      Object.values(keys).map(async ({ alg, kid, publicKey }) => ({
        ...(await exportJWK(publicKey)),
        kid,
        alg,
        use: 'sig',
      })),
    );
    jwks = await startControlledServer(json({ keys: published }, { 'cache-control': 'max-age=300' }));
  });

  afterAll(async () => {
    await jwks?.close();
  });

  const verifiers: RemoteVerifier[] = [];
  afterEach(() => {
    for (const verifier of verifiers.splice(0)) verifier.close();
  });

  function verifierOf(options: Partial<RemoteVerifierOptions> = {}): RemoteVerifier {
    const verifier = createRemoteVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      jwksUri: `${jwks.url}/jwks`,
      ...options,
    });
    verifiers.push(verifier);
    return verifier;
  }

  interface Signing {
    key?: JoseKey;
    header?: Record<string, unknown>;
    issuer?: string;
    audience?: string;
    expiresAt?: number;
  }

  function signWithJose(alg: 'ES256' | 'RS256', signing: Signing = {}): Promise<string> {
    const key = signing.key ?? keys[alg];
    return new SignJWT({ sub: 'user-1', sid: 'session-1', client_id: 'latchkey' })
      .setProtectedHeader({ alg: key.alg, kid: keys[alg].kid, typ: 'at+jwt', ...signing.header })
      .setIssuer(signing.issuer ?? ISSUER)
      .setAudience(signing.audience ?? AUDIENCE)
      .setIssuedAt()
      .setJti(randomUUID())
      .setExpirationTime(signing.expiresAt ?? '5m')
      .sign(key.privateKey);
  }

  describe.each(['ES256', 'RS256'] as const)('%s', (alg) => {
    it('accepts a token jose signed', async () => {
      await expect(verifierOf().verify(await signWithJose(alg))).resolves.toMatchObject({
        sub: 'user-1',
        sid: 'session-1',
        iss: ISSUER,
        aud: AUDIENCE,
      });
    });

    it.each<[string, () => Promise<string>, Partial<RemoteVerifierOptions>, unknown, string, string]>([
      [
        'another issuer',
        () => signWithJose(alg, { issuer: 'https://evil.example' }),
        {},
        JWTClaimError,
        'ERR_JWT_CLAIM_INVALID',
        '"iss" claim is not an accepted issuer',
      ],
      [
        'another audience',
        () => signWithJose(alg, { audience: 'https://other.example' }),
        {},
        JWTClaimError,
        'ERR_JWT_CLAIM_INVALID',
        '"aud" claim does not name an accepted audience',
      ],
      [
        'an algorithm the verifier does not accept',
        () => signWithJose(alg),
        { algorithms: alg === 'ES256' ? ['RS256', 'PS256'] : ['ES256', 'EdDSA'] },
        JOSEError,
        'ERR_JWKS_NO_MATCHING_KEY',
        `no key in the key set matches the token's kid and alg ${alg}`,
      ],
      [
        'typ JWT',
        () => signWithJose(alg, { header: { typ: 'JWT' } }),
        {},
        JWTClaimError,
        'ERR_JWT_TYP_INVALID',
        'token type ("typ" header) must be application/at+jwt',
      ],
      [
        'no typ',
        () => signWithJose(alg, { header: { typ: undefined } }),
        {},
        JWTClaimError,
        'ERR_JWT_TYP_INVALID',
        'token type ("typ" header) must be application/at+jwt',
      ],
      [
        'another key under the same kid',
        () => signWithJose(alg, { key: impostors[alg] }),
        {},
        JOSEError,
        'ERR_JWS_SIGNATURE_INVALID',
        'signature verification failed',
      ],
      [
        'an expired token',
        () => signWithJose(alg, { expiresAt: Math.floor(Date.now() / 1000) - 3600 }),
        {},
        JWTClaimError,
        'ERR_JWT_EXPIRED',
        '"exp" claim timestamp check failed: the token has expired',
      ],
    ])('refuses %s', async (_name, sign, options, type, code, message) => {
      const error = await verifierOf(options)
        .verify(await sign())
        .then(
          () => null,
          (reason: unknown) => reason,
        );
      expect(error).toBeInstanceOf(type);
      expect(error).toMatchObject({ code, message });
    });
  });

  it('refuses an RS256 token whose kid names the ES256 key (the alg comes from the key)', async () => {
    const token = await new SignJWT({ sub: 'user-1' })
      .setProtectedHeader({ alg: 'RS256', kid: keys.ES256.kid, typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(keys.RS256.privateKey);
    await expect(verifierOf().verify(token)).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
  });

  it('takes an RSA key exported by jose without alg when algorithms holds exactly RS256', async () => {
    const bare = await startControlledServer(
      json({ keys: [{ ...(await exportJWK(keys.RS256.publicKey)), kid: keys.RS256.kid }] }),
    );
    try {
      const token = await signWithJose('RS256');
      const verify = (algorithms: readonly AsymmetricAlgorithm[]) =>
        verifierOf({ jwksUri: `${bare.url}/jwks`, algorithms }).verify(token);
      await expect(verify(['RS256', 'ES256'])).resolves.toMatchObject({ sub: 'user-1' });
      await expect(verify(['RS256', 'PS256'])).rejects.toMatchObject({ code: 'ERR_JWKS_UNAVAILABLE' });
    } finally {
      await bare.close();
    }
  });
});
