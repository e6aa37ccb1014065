/**
 * Token attacks at the HTTP edge: every forged, confused, expired, malformed or oversized token sent
 * to the protected route gets 401 `invalid_token` with an RFC 6750 challenge, never a 5xx, and the
 * answer never repeats the token. Tokens "signed by the right key" use the server's own private key,
 * so that only the one property under test is wrong.
 */
import { createHmac, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigner, decodeUnverified, importPrivatePEM, type Key, signJWS } from '../../src/jwt/index.js';
import { createTestApp } from '../support/app.js';
import { createClock, expectInvalidToken, login, me, registerUser, type TestUser } from './helpers.js';

const ISSUER = 'http://localhost:3000';

let app: FastifyInstance;
let user: TestUser;
let validToken: string;
/** The claims of a real access token: a forged token differs from them only where a case says so. */
let claims: Record<string, unknown>;
let serverKey: Key;
let kid: string;
let publicJwk: Record<string, unknown>;

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A token from raw parts: any header, any payload, any signature segment. */
const compact = (header: unknown, payload: unknown, signature = '') =>
  `${b64(header)}.${b64(payload)}.${signature}`;

/** HS256 over the signing input with `secret`, as a library that trusts the token's alg would verify it. */
function hmacToken(
  secret: string | Buffer,
  header: Record<string, unknown>,
  payload: unknown,
  hash = 'sha256',
) {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`;
}

/** Signed by the server's own key with the given extra header parameters. */
const ownKey = (payload: unknown, header: Record<string, unknown> = { typ: 'at+jwt' }) =>
  signJWS(JSON.stringify(payload), serverKey, header);

/** An attacker's own ES256 key. */
function attackerKey(keyId?: string): Key {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return importPrivatePEM(pem, 'ES256', keyId === undefined ? {} : { kid: keyId });
}

/** Re-encodes the last character of a segment so that it decodes to the same bytes but is not canonical. */
function nonCanonical(segment: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = segment[segment.length - 1] as string;
  const index = alphabet.indexOf(last);
  // With 4 (or 2) unused low bits in the last character, setting the lowest one changes no byte.
  if (segment.length % 4 === 1 || segment.length % 4 === 0) throw new Error('segment has no spare bits');
  return segment.slice(0, -1) + (alphabet[index | 1] as string);
}

beforeAll(async () => {
  app = await createTestApp();
  user = await registerUser(app);
  validToken = (await login(app, user)).accessToken;
  claims = { ...decodeUnverified(validToken).payload };
  serverKey = app.latchkey.keys.signingKey;
  const jwks = (await app.inject({ url: '/.well-known/jwks.json' })).json() as {
    keys: Array<Record<string, unknown>>;
  };
  publicJwk = jwks.keys[0] as Record<string, unknown>;
  kid = publicJwk.kid as string;
});
afterAll(async () => app.close());

function expectRejected(res: Awaited<ReturnType<typeof me>>, token: string): void {
  expect(res.statusCode).toBeLessThan(500);
  expectInvalidToken(res);
  const answer = `${res.body}\n${String(res.headers['www-authenticate'])}`;
  if (token.length >= 8) expect(answer).not.toContain(token);
  const signature = token.split('.')[2];
  if (signature !== undefined && signature.length >= 8) expect(answer).not.toContain(signature);
}

describe('the harness', () => {
  it('accepts a token that the server key signs with the right header and claims', async () => {
    const res = await me(app, ownKey(claims));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id: user.id, email: user.email, roles: [] });
    expect((await me(app, validToken)).statusCode).toBe(200);
  });
});

describe('token attacks on /api/me', () => {
  const cases: Array<[string, () => string]> = [
    // Forged signatures.
    [
      'a flipped signature bit',
      () => {
        const [h, p, s] = validToken.split('.') as [string, string, string];
        const bytes = Buffer.from(s, 'base64url');
        bytes[5] = (bytes[5] as number) ^ 1;
        return `${h}.${p}.${bytes.toString('base64url')}`;
      },
    ],
    [
      'changed claims under the original signature',
      () => {
        const [h, , s] = validToken.split('.') as [string, string, string];
        return `${h}.${b64({ ...claims, sub: 'someone-else' })}.${s}`;
      },
    ],
    ['an empty signature', () => `${validToken.split('.').slice(0, 2).join('.')}.`],
    [
      'an attacker key claiming the server kid',
      () => signJWS(JSON.stringify(claims), attackerKey(kid), { typ: 'at+jwt' }),
    ],
    ['an attacker key without kid', () => signJWS(JSON.stringify(claims), attackerKey(), { typ: 'at+jwt' })],
    [
      'an attacker key embedded as a jwk header',
      () => {
        const key = attackerKey();
        const jwk = createPublicKey(key.keyObject).export({ format: 'jwk' });
        return signJWS(JSON.stringify(claims), key, { typ: 'at+jwt', jwk });
      },
    ],
    ['a jku header', () => ownKey(claims, { typ: 'at+jwt', jku: 'https://evil.example/jwks.json' })],
    ['an x5u header', () => ownKey(claims, { typ: 'at+jwt', x5u: 'https://evil.example/cert.pem' })],
    ['a crit header', () => ownKey(claims, { typ: 'at+jwt', crit: ['exp'], exp: 1 })],
    // alg none in every casing, with and without a signature.
    ...['none', 'None', 'NONE', 'nOnE', 'NoNe'].flatMap(
      (alg): Array<[string, () => string]> => [
        [`alg "${alg}" without signature`, () => compact({ alg, typ: 'at+jwt', kid }, claims)],
        [`alg "${alg}" without kid`, () => compact({ alg, typ: 'at+jwt' }, claims)],
        [
          `alg "${alg}" with the original signature`,
          () => compact({ alg, typ: 'at+jwt', kid }, claims, validToken.split('.')[2]),
        ],
      ],
    ),
    // HS256 keyed with the server's public key (algorithm confusion).
    [
      'HS256 with the public key as SPKI PEM',
      () => hmacToken(spkiPem(), { alg: 'HS256', typ: 'at+jwt', kid }, claims),
    ],
    [
      'HS256 with the public key as SPKI PEM without the final newline',
      () => hmacToken(spkiPem().trimEnd(), { alg: 'HS256', typ: 'at+jwt', kid }, claims),
    ],
    [
      'HS256 with the public key as SPKI PEM, no kid',
      () => hmacToken(spkiPem(), { alg: 'HS256', typ: 'at+jwt' }, claims),
    ],
    [
      'HS512 with the public key as SPKI PEM',
      () => hmacToken(spkiPem(), { alg: 'HS512', typ: 'at+jwt', kid }, claims, 'sha512'),
    ],
    [
      'HS256 with the public key as JWK JSON text',
      () => hmacToken(JSON.stringify(publicJwk), { alg: 'HS256', typ: 'at+jwt', kid }, claims),
    ],
    [
      'HS256 with the public key as SPKI DER',
      () => hmacToken(spkiDer(), { alg: 'HS256', typ: 'at+jwt', kid }, claims),
    ],
    [
      'HS256 with the public key as the raw EC point',
      () => hmacToken(rawPoint(), { alg: 'HS256', typ: 'at+jwt', kid }, claims),
    ],
    ['RS256 with the server kid', () => compact({ alg: 'RS256', typ: 'at+jwt', kid }, claims, 'c2ln')],
    ['ES384 with the server kid', () => compact({ alg: 'ES384', typ: 'at+jwt', kid }, claims, 'c2ln')],
    ['an unknown alg', () => compact({ alg: 'ES256K', typ: 'at+jwt', kid }, claims, 'c2ln')],
    [
      'the deepest header that fits in 16 KiB, frozen before the signature is checked',
      () => {
        // Header text, not an object: JSON.stringify itself overflows at this depth.
        const nested = (depth: number) =>
          compact(
            `{"alg":"ES256","typ":"at+jwt","kid":${JSON.stringify(kid)},"x":${'['.repeat(depth)}${']'.repeat(depth)}}`,
            'e30',
            'c2ln',
          );
        let depth = 5000;
        while (nested(depth + 1).length <= 16 * 1024) depth += 1;
        return nested(depth);
      },
    ],
    // Key selection.
    ['a kid the server does not know', () => ownKey(claims, { typ: 'at+jwt', kid: 'no-such-kid' })],
    ['an empty kid', () => ownKey(claims, { typ: 'at+jwt', kid: '' })],
    ['a numeric kid', () => ownKey(claims, { typ: 'at+jwt', kid: 1 })],
    // Claims and type, signed by the right key.
    ['typ JWT instead of at+jwt', () => ownKey(claims, { typ: 'JWT' })],
    ['no typ', () => ownKey(claims, {})],
    ['typ application/jwt', () => ownKey(claims, { typ: 'application/jwt' })],
    ['a wrong aud', () => ownKey({ ...claims, aud: 'https://other.example' })],
    [
      'an aud list without the server',
      () => ownKey({ ...claims, aud: ['https://a.example', 'https://b.example'] }),
    ],
    ['no aud', () => ownKey({ ...claims, aud: undefined })],
    ['a wrong iss', () => ownKey({ ...claims, iss: 'https://evil.example' })],
    ['the issuer with a trailing slash', () => ownKey({ ...claims, iss: `${ISSUER}/` })],
    ['no iss', () => ownKey({ ...claims, iss: undefined })],
    ['an exp in the past', () => ownKey({ ...claims, exp: Math.floor(Date.now() / 1000) - 31 })],
    ['no exp', () => ownKey({ ...claims, exp: undefined })],
    ['exp as a string', () => ownKey({ ...claims, exp: String(claims.exp) })],
    ['an nbf in the future', () => ownKey({ ...claims, nbf: Math.floor(Date.now() / 1000) + 3600 })],
    // Only a stolen key makes these: longer lives than this server gives (15 min) are refused.
    [
      'an iat 10 days ago with an exp 10 years ahead',
      () => {
        const now = Math.floor(Date.now() / 1000);
        return ownKey({ ...claims, iat: now - 10 * 86400, exp: now + 10 * 365 * 86400 });
      },
    ],
    [
      'an iat 16 minutes ago (past the lifetime and the tolerance) with an exp ahead',
      () => ownKey({ ...claims, iat: Math.floor(Date.now() / 1000) - 16 * 60 }),
    ],
    ['an iat an hour ahead', () => ownKey({ ...claims, iat: Math.floor(Date.now() / 1000) + 3600 })],
    ['no iat', () => ownKey({ ...claims, iat: undefined })],
    ['no sid', () => ownKey({ ...claims, sid: undefined })],
    ['no sub', () => ownKey({ ...claims, sub: undefined })],
    ['no client_id', () => ownKey({ ...claims, client_id: undefined })],
    // Only a holder of the key (or, with HS256, of the shared secret) can make these; still no 5xx.
    ['sid as a number', () => ownKey({ ...claims, sid: 1 })],
    ['client_id as a number', () => ownKey({ ...claims, client_id: 5 })],
    ['sub as a number', () => ownKey({ ...claims, sub: 7 })],
    ['roles as a string', () => ownKey({ ...claims, roles: 'admin' })],
    ['roles as a list with a number', () => ownKey({ ...claims, roles: ['admin', 1] })],
    ['roles as null', () => ownKey({ ...claims, roles: null })],
    ['a payload that is not JSON', () => ownKey('not json')],
    ['a payload that is a JSON array', () => ownKey([claims])],
    // Malformed.
    ['two segments', () => validToken.split('.').slice(0, 2).join('.')],
    ['four segments', () => `${validToken}.${validToken.split('.')[2]}`],
    ['garbage', () => 'garbage'],
    ['dots only', () => '..'],
    ['a header that is not JSON', () => `${b64('{alg')}.${b64(claims)}.c2ln`],
    ['a header that is a JSON string', () => `${b64('"ES256"')}.${b64(claims)}.c2ln`],
    ['a token with spaces inside', () => validToken.replace('.', ' . ')],
    [
      'a non-canonical signature',
      () => {
        const [h, p, s] = validToken.split('.') as [string, string, string];
        return `${h}.${p}.${nonCanonical(s)}`;
      },
    ],
    ['a padded signature', () => `${validToken}==`],
    [
      'standard base64 instead of base64url in the payload',
      () => {
        const [h, , s] = validToken.split('.') as [string, string, string];
        const payload = Buffer.from(JSON.stringify({ ...claims, pad: '\u00ff\u00fe>>?' })).toString('base64');
        return `${h}.${payload}.${s}`;
      },
    ],
    [
      'a padded header',
      () => {
        const [h, p, s] = validToken.split('.') as [string, string, string];
        return `${h}${'='.repeat((4 - (h.length % 4)) % 4 || 4)}.${p}.${s}`;
      },
    ],
    // Oversized.
    ['a 16 KiB + 1 garbage token', () => 'a'.repeat(16 * 1024 + 1)],
    ['an oversized token signed by the right key', () => ownKey({ ...claims, pad: 'x'.repeat(16 * 1024) })],
    ['a 1 MiB token', () => `${'e'.repeat(512 * 1024)}.${'e'.repeat(512 * 1024)}.c2ln`],
  ];

  function spkiPem(): string {
    return createPublicKey({ key: publicJwk, format: 'jwk' })
      .export({ type: 'spki', format: 'pem' })
      .toString();
  }
  function spkiDer(): Buffer {
    return createPublicKey({ key: publicJwk, format: 'jwk' }).export({ type: 'spki', format: 'der' });
  }
  function rawPoint(): Buffer {
    const x = Buffer.from(publicJwk.x as string, 'base64url');
    const y = Buffer.from(publicJwk.y as string, 'base64url');
    return Buffer.concat([Buffer.from([4]), x, y]);
  }

  it.each(cases)('rejects %s', async (_name, build) => {
    const token = build();
    const res = await app.inject({ url: '/api/me', headers: { authorization: `Bearer ${token}` } });
    expectRejected(res, token);
  });

  it('rejects them on every Bearer route, not only /api/me', async () => {
    const token = hmacToken(spkiPem(), { alg: 'HS256', typ: 'at+jwt', kid }, claims);
    const routes = [
      { method: 'GET' as const, url: '/auth/sessions' },
      { method: 'POST' as const, url: '/auth/logout-all' },
      { method: 'DELETE' as const, url: `/auth/sessions/${claims.sid as string}` },
      {
        method: 'POST' as const,
        url: '/auth/password',
        payload: { current_password: 'whatever1', new_password: 'whatever2' },
      },
    ];
    for (const route of routes) {
      const res = await app.inject({ ...route, headers: { authorization: `Bearer ${token}` } });
      expectRejected(res, token);
    }
    expect((await me(app, validToken)).statusCode).toBe(200);
  });
});

describe('expiry on an injected clock', () => {
  it('accepts a token inside the clock tolerance and rejects it after', async () => {
    const clock = createClock();
    const timed = await createTestApp({}, { now: clock.now });
    try {
      const someone = await registerUser(timed);
      const { accessToken } = await login(timed, someone);
      clock.advance(900 * 1000 + 29_000);
      expect((await me(timed, accessToken)).statusCode).toBe(200);
      clock.advance(2_000);
      expectRejected(await me(timed, accessToken), accessToken);
      // A token the server signs itself with a past exp is refused the same way.
      const signer = createSigner({
        key: timed.latchkey.keys.signingKey,
        typ: 'at+jwt',
        issuer: ISSUER,
        audience: ISSUER,
        expiresInSeconds: 60,
        jti: true,
        now: () => clock.now() - 10 * 60_000,
      });
      const { sid, client_id, sub } = decodeUnverified(accessToken).payload;
      const stale = signer({ sub: String(sub), sid, client_id });
      expectRejected(await me(timed, stale), stale);
    } finally {
      await timed.close();
    }
  });
});
