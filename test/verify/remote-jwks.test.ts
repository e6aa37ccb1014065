/**
 * The issuer's JWKS as a resource server keeps it, against a real local server whose answers each
 * test controls and an injected clock: how long keys are kept (Cache-Control, clamped), what a
 * refresh costs, which keys of a set are taken, and that a revoked kid stays out.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JOSEError, VerifyError } from '../../src/errors.js';
import {
  type AsymmetricAlgorithm,
  createSigner,
  exportPublicJWK,
  generateKeyPair,
  type KeyPair,
} from '../../src/jwt/index.js';
import {
  createRemoteVerifier,
  type RemoteVerifier,
  type RemoteVerifierOptions,
} from '../../src/verify/index.js';
import { RemoteKeySet } from '../../src/verify/remote-jwks.js';
import {
  type ControlledServer,
  eventually,
  type Handler,
  json,
  routes,
  startControlledServer,
} from './controlled-server.js';

const ISSUER = 'https://issuer.example';
const AUDIENCE = 'https://orders.example';
const MINUTE = 60_000;

let first: KeyPair;
let second: KeyPair;
let unpublished: KeyPair;
let es384: KeyPair;
let rsa: KeyPair;

beforeAll(async () => {
  first = await generateKeyPair('ES256', { kid: 'es-1' });
  second = await generateKeyPair('ES256', { kid: 'es-2' });
  unpublished = await generateKeyPair('ES256', { kid: 'unpublished' });
  es384 = await generateKeyPair('ES384', { kid: 'es384-1' });
  rsa = await generateKeyPair('RS256', { kid: 'rs-1' });
});

/** The verifier's clock; a test moves it. Tokens are signed on the real clock and live for days. */
let clock = Date.now();

const servers: ControlledServer[] = [];
const verifiers: RemoteVerifier[] = [];

afterEach(async () => {
  for (const verifier of verifiers.splice(0)) verifier.close();
  await Promise.all(servers.splice(0).map((server) => server.close()));
  clock = Date.now();
});

async function serve(handler: Handler): Promise<ControlledServer> {
  const server = await startControlledServer(handler);
  servers.push(server);
  return server;
}

function jwksOf(...pairs: KeyPair[]) {
  return { keys: pairs.map((pair) => exportPublicJWK(pair.publicKey)) };
}

function sign(pair: KeyPair, header: Record<string, unknown> = {}): string {
  const token = createSigner({
    key: pair.privateKey,
    typ: 'at+jwt',
    issuer: ISSUER,
    audience: AUDIENCE,
    expiresInSeconds: 7 * 86_400,
  })({ sub: 'user-1' });
  if (Object.keys(header).length === 0) return token;
  // Another header (another kid): the signature no longer matches, which only matters if a key is found.
  const [encoded = '', payload, signature] = token.split('.');
  const merged = { ...JSON.parse(Buffer.from(encoded, 'base64url').toString()), ...header };
  return `${Buffer.from(JSON.stringify(merged)).toString('base64url')}.${payload}.${signature}`;
}

function verifierOf(server: ControlledServer, options: Partial<RemoteVerifierOptions> = {}): RemoteVerifier {
  const verifier = createRemoteVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    jwksUri: `${server.url}/jwks`,
    now: () => clock,
    ...options,
  });
  verifiers.push(verifier);
  return verifier;
}

/** A handler that answers only when the test lets it, to look at the verifier while a fetch runs. */
function held(then: Handler): { handler: Handler; release: () => void } {
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    handler: async (request, response) => {
      await gate;
      await then(request, response);
    },
    release,
  };
}

const jwksStatus = (verifier: RemoteVerifier) => {
  const status = verifier.status().jwks;
  if (status === null) throw new Error('the verifier has not started');
  return status;
};

async function verifyMany(verifier: RemoteVerifier, tokens: string[]) {
  return Promise.allSettled(tokens.map((token) => verifier.verify(token)));
}

describe('how long the keys are kept', () => {
  it('honours max-age: no refetch before it runs out, one background refetch after, old keys serving meanwhile', async () => {
    const server = await serve(json(jwksOf(first), { 'cache-control': 'public, max-age=120' }));
    const verifier = verifierOf(server);
    await expect(verifier.verify(sign(first))).resolves.toMatchObject({ sub: 'user-1' });
    const loaded = jwksStatus(verifier);
    expect(loaded.staleAt).toBe(clock + 2 * MINUTE);

    clock += 2 * MINUTE - 1;
    await verifyMany(
      verifier,
      Array.from({ length: 20 }, () => sign(first)),
    );
    expect(server.hits('/jwks')).toBe(1);

    // The issuer rotated; its answer takes as long as the test wants.
    const slow = held(json(jwksOf(first, second), { 'cache-control': 'max-age=120' }));
    server.answer(slow.handler);
    clock += 1;
    await expect(verifier.verify(sign(first))).resolves.toMatchObject({ sub: 'user-1' });
    await eventually('the background refetch reaches the issuer', () => server.hits('/jwks') === 2);
    const meanwhile = await verifyMany(
      verifier,
      Array.from({ length: 20 }, () => sign(first)),
    );
    expect(meanwhile.every((result) => result.status === 'fulfilled')).toBe(true);
    expect(server.hits('/jwks')).toBe(2);
    expect(jwksStatus(verifier).fetches).toBe(2);

    slow.release();
    await eventually('the refetched keys are in use', () => jwksStatus(verifier).keys === 2);
    expect(jwksStatus(verifier).staleAt).toBe(clock + 2 * MINUTE);
    await expect(verifier.verify(sign(second))).resolves.toMatchObject({ sub: 'user-1' });
    expect(server.hits('/jwks')).toBe(2);
  });

  it('keeps the old keys when the background refetch fails, and retries after the cooldown, not per request', async () => {
    const server = await serve(json(jwksOf(first), { 'cache-control': 'max-age=60' }));
    const verifier = verifierOf(server, { unknownKidCooldownMs: 10_000 });
    await verifier.verify(sign(first));

    server.answer((_request, response) => {
      response.writeHead(503).end();
    });
    clock += MINUTE;
    await expect(verifier.verify(sign(first))).resolves.toMatchObject({ sub: 'user-1' });
    await eventually('the failure is in the status', () => jwksStatus(verifier).lastError !== null);
    expect(jwksStatus(verifier)).toMatchObject({
      keys: 1,
      fetches: 2,
      lastError: `${server.url}/jwks: answered 503`,
      staleAt: clock + 10_000,
    });

    clock += 9_999;
    const meanwhile = await verifyMany(
      verifier,
      Array.from({ length: 20 }, () => sign(first)),
    );
    expect(meanwhile.every((result) => result.status === 'fulfilled')).toBe(true);
    expect(server.hits('/jwks')).toBe(2);

    server.answer(json(jwksOf(first), { 'cache-control': 'max-age=60' }));
    clock += 1;
    await verifier.verify(sign(first));
    await eventually('the retry succeeds', () => jwksStatus(verifier).lastError === null);
    expect(server.hits('/jwks')).toBe(3);
  });

  it.each(['max-age=0', 'no-store', 'no-cache', 'public, max-age=1'])(
    '%s is held for 30 s: no refetch storm',
    async (cacheControl) => {
      const server = await serve(json(jwksOf(first), { 'cache-control': cacheControl }));
      const verifier = verifierOf(server);
      await verifier.verify(sign(first));
      const { fetchedAt, staleAt } = jwksStatus(verifier);
      expect((staleAt ?? 0) - (fetchedAt ?? 0)).toBe(30_000);
      clock += 29_999;
      await verifyMany(
        verifier,
        Array.from({ length: 50 }, () => sign(first)),
      );
      expect(server.hits('/jwks')).toBe(1);
      clock += 1;
      await verifyMany(
        verifier,
        Array.from({ length: 50 }, () => sign(first)),
      );
      await eventually('one refetch', () => jwksStatus(verifier).fetchedAt === clock);
      expect(server.hits('/jwks')).toBe(2);
    },
  );

  it.each([
    ['no Cache-Control', {}, 10 * MINUTE],
    ['Cache-Control without max-age', { 'cache-control': 'public' }, 10 * MINUTE],
    ['max-age of a year', { 'cache-control': 'max-age=31536000' }, 24 * 60 * MINUTE],
  ])('%s: the keys are kept for the default or the bound', async (_name, headers, keptMs) => {
    const server = await serve(json(jwksOf(first), headers));
    const verifier = verifierOf(server);
    await verifier.ready();
    const { fetchedAt, staleAt } = jwksStatus(verifier);
    expect((staleAt ?? 0) - (fetchedAt ?? 0)).toBe(keptMs);
  });
});

describe('a kid the keys do not have', () => {
  it('many tokens of a newly published kid at once share one refetch, and all pass', async () => {
    const server = await serve(json(jwksOf(first), { 'cache-control': 'max-age=300' }));
    const verifier = verifierOf(server);
    await verifier.ready();
    server.answer(json(jwksOf(first, second), { 'cache-control': 'max-age=300' }));
    const results = await verifyMany(
      verifier,
      Array.from({ length: 50 }, () => sign(second)),
    );
    expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
    expect(server.hits('/jwks')).toBe(2);
  });

  it('many unknown kids at once cost one refetch, then none until the cooldown has passed', async () => {
    const server = await serve(json(jwksOf(first), { 'cache-control': 'max-age=300' }));
    const verifier = verifierOf(server, { unknownKidCooldownMs: 5_000 });
    await verifier.ready();
    const forged = () => sign(unpublished, { kid: `random-${randomUUID()}` });
    const results = await verifyMany(verifier, Array.from({ length: 50 }, forged));
    for (const result of results) {
      expect(result.status).toBe('rejected');
      const reason = (result as PromiseRejectedResult).reason;
      expect(reason).toBeInstanceOf(JOSEError);
      expect(reason).toMatchObject({
        code: 'ERR_JWKS_NO_MATCHING_KEY',
        message: "no key in the key set matches the token's kid and alg ES256",
      });
    }
    expect(server.hits('/jwks')).toBe(2);

    clock += 4_999;
    await verifyMany(verifier, Array.from({ length: 50 }, forged));
    expect(server.hits('/jwks')).toBe(2);
    clock += 1;
    await verifyMany(verifier, Array.from({ length: 50 }, forged));
    expect(server.hits('/jwks')).toBe(3);
  });
});

describe('which keys of a set are taken', () => {
  async function load(body: unknown, algorithms: readonly AsymmetricAlgorithm[]) {
    const server = await serve(json(body));
    const keySet = new RemoteKeySet({
      jwksUri: `${server.url}/jwks`,
      algorithms,
      fetch: (input, init) => fetch(input, init),
      timeoutMs: 2000,
      maxBytes: 1024 * 1024,
      cooldownMs: 30_000,
      defaultMaxAgeMs: 10 * MINUTE,
      minMaxAgeMs: 30_000,
      maxMaxAgeMs: 24 * 60 * MINUTE,
      now: () => clock,
    });
    return { server, keySet };
  }

  it('skips keys for other uses, secrets, refused algorithms, shared kids and broken keys, and keeps the rest', async () => {
    const twinA = await generateKeyPair('ES256', { kid: 'twin' });
    const twinB = await generateKeyPair('ES256', { kid: 'twin' });
    const body = {
      keys: [
        exportPublicJWK(first.publicKey),
        { ...exportPublicJWK(unpublished.publicKey), kid: 'enc-1', use: 'enc' },
        { kty: 'oct', kid: 'hmac-1', alg: 'HS256', k: Buffer.alloc(32, 7).toString('base64url') },
        exportPublicJWK(es384.publicKey),
        exportPublicJWK(twinA.publicKey),
        exportPublicJWK(twinB.publicKey),
        { kty: 'EC', crv: 'P-256', kid: 'broken', x: 'AAAA', y: 'AAAA' },
        'not a key',
        exportPublicJWK(second.publicKey),
      ],
    };
    const { keySet } = await load(body, ['ES256', 'RS256']);
    await keySet.ensureLoaded();
    expect(keySet.keys.keys.map((key) => [key.kid, key.alg, key.kind])).toEqual([
      ['es-1', 'ES256', 'public'],
      ['es-2', 'ES256', 'public'],
    ]);
    expect(keySet.status().skipped).toEqual([
      'kid hmac-1: a secret (oct) key in a public key set',
      'kid es384-1: ES384 is not among the accepted algorithms',
      expect.stringMatching(/^kid broken: JWK rejected: /),
      expect.stringMatching(/^key 7: /),
      'kid twin: used by 2 keys',
    ]);
  });

  it.each([
    [['RS256', 'ES256'], 'RS256'],
    [['PS256', 'ES256'], 'PS256'],
    [['RS256', 'PS256', 'ES256'], null],
    [['ES256'], null],
  ] as const)('an RSA key without alg, with algorithms %j: bound to %s', async (algorithms, bound) => {
    const { alg: _alg, ...withoutAlg } = exportPublicJWK(rsa.publicKey);
    const { keySet } = await load({ keys: [withoutAlg, exportPublicJWK(first.publicKey)] }, algorithms);
    await keySet.ensureLoaded();
    const kids = keySet.keys.keys.map((key) => [key.kid, key.alg]);
    if (bound === null) {
      expect(kids).toEqual([['es-1', 'ES256']]);
      expect(keySet.status().skipped).toEqual([
        'kid rs-1: an RSA key without alg needs exactly one RSA algorithm in algorithms',
      ]);
    } else {
      expect(kids).toEqual([
        ['rs-1', bound],
        ['es-1', 'ES256'],
      ]);
      expect(keySet.status().skipped).toEqual([]);
    }
  });

  it('an RSA key without alg is refused when algorithms holds two RSA algorithms', async () => {
    const { alg: _alg, ...withoutAlg } = exportPublicJWK(rsa.publicKey);
    const { server, keySet } = await load({ keys: [withoutAlg] }, ['RS256', 'PS256']);
    const error = await keySet.ensureLoaded().then(
      () => null,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(VerifyError);
    expect(error).toMatchObject({
      code: 'ERR_JWKS_UNAVAILABLE',
      message: `the issuer's keys cannot be had: ${server.url}/jwks: no usable key (kid rs-1: an RSA key without alg needs exactly one RSA algorithm in algorithms)`,
    });
  });

  it.each([
    [{ keys: 'none' }, 'not a JWK Set'],
    [[], 'not a JWK Set'],
    [null, 'not a JWK Set'],
    [{ keys: [] }, 'no usable key (empty)'],
  ])('%j is no key set: ERR_JWKS_UNAVAILABLE', async (body, why) => {
    const { server, keySet } = await load(body, ['ES256']);
    const error = await keySet.ensureLoaded().then(
      () => null,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(VerifyError);
    expect(error).toMatchObject({
      code: 'ERR_JWKS_UNAVAILABLE',
      message: `the issuer's keys cannot be had: ${server.url}/jwks: ${why}`,
    });
    expect(keySet.status().lastError).toBe(`${server.url}/jwks: ${why}`);
  });
});

describe('a kid the revocation feed names', () => {
  it('is refused at once and never taken back from a later fetch of the JWKS', async () => {
    const revokedKids: string[] = [];
    const server = await serve(
      routes({
        '/jwks': json(jwksOf(first, second), { 'cache-control': 'max-age=60' }),
        '/feed': (request, response) =>
          json({
            generated_at: Date.now(),
            retention_seconds: 930,
            sessions: [],
            keys: revokedKids.map((kid) => ({ kid, revoked_at: Date.now() })),
          })(request, response),
      }),
    );
    const verifier = verifierOf(server, {
      revocationFeedUri: `${server.url}/feed`,
      revocations: { intervalMs: 20, maxStalenessMs: 60 * MINUTE },
      unknownKidCooldownMs: 1000,
    });
    await expect(verifier.verify(sign(first))).resolves.toMatchObject({ sub: 'user-1' });

    revokedKids.push('es-1');
    await eventually('the revoked kid is refused', () =>
      verifier.verify(sign(first)).then(
        () => false,
        (error: unknown) => error instanceof JOSEError && error.code === 'ERR_JWKS_NO_MATCHING_KEY',
      ),
    );
    expect(jwksStatus(verifier).keys).toBe(1);
    // Its tokens do not even cost a refetch: the kid is known to be revoked.
    const hits = server.hits('/jwks');
    clock += 1000;
    await expect(verifier.verify(sign(first))).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
    expect(server.hits('/jwks')).toBe(hits);

    // The JWKS still lists it; the feed forgets it once no token of it can be alive.
    revokedKids.length = 0;
    clock += MINUTE;
    await verifier.verify(sign(second));
    await eventually('a background refetch ran', () => server.hits('/jwks') === hits + 1);
    await eventually('and finished', () => jwksStatus(verifier).fetchedAt === clock);
    await expect(verifier.verify(sign(first))).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
    await expect(verifier.verify(sign(second))).resolves.toMatchObject({ sub: 'user-1' });
    expect(jwksStatus(verifier).keys).toBe(1);
  });
});

describe('the claims a token must carry', () => {
  /** A token of `first` with these claims (iss, aud and typ as the verifier expects), signed now. */
  function tokenWith(claims: Record<string, unknown>, expiresInSeconds?: number): string {
    return createSigner({
      key: first.privateKey,
      typ: 'at+jwt',
      issuer: ISSUER,
      audience: AUDIENCE,
      now: () => clock,
      ...(expiresInSeconds === undefined ? {} : { expiresInSeconds }),
    })(claims);
  }

  it('are exp, iat and sub, and naming more adds to them rather than replacing them', async () => {
    const server = await serve(routes({ '/jwks': json(jwksOf(first)) }));
    // A lone string as well as a list: JavaScript callers pass either.
    for (const requiredClaims of [undefined, ['sid'], 'sid', []] as (string[] | string | undefined)[]) {
      const verifier = verifierOf(
        server,
        requiredClaims === undefined ? {} : ({ requiredClaims } as Partial<RemoteVerifierOptions>),
      );
      const missing = (claims: Record<string, unknown>, expiresIn?: number) =>
        verifier.verify(tokenWith(claims, expiresIn)).then(
          () => null,
          (error: unknown) => (error as { claim?: string }).claim ?? error,
        );
      const label = JSON.stringify(requiredClaims);
      // No exp: valid forever, had the verifier let it through.
      expect(await missing({ sub: 'user-1', sid: 's-1' }), label).toBe('exp');
      expect(await missing({ sid: 's-1' }, 300), label).toBe('sub');
      expect(await missing({ sub: 'user-1', sid: 's-1' }, 300), label).toBeNull();
      const sidRequired = requiredClaims !== undefined && requiredClaims.length > 0;
      expect(await missing({ sub: 'user-1' }, 300), label).toBe(sidRequired ? 'sid' : null);
    }
  });
});
