/**
 * `createRemoteVerifier` itself: every bad option is a TypeError when it is built, and every way
 * discovery can go wrong is a VerifyError (503 through an adapter, never 401, never a 500), against a
 * real local server playing the issuer. Then what `status()` says before and after it starts.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VerifyError } from '../../src/errors.js';
import { createSigner, exportPublicJWK, generateKeyPair, type KeyPair } from '../../src/jwt/index.js';
import {
  createRemoteVerifier,
  type RemoteVerifier,
  type RemoteVerifierOptions,
} from '../../src/verify/index.js';
import { type RunningAdapter, startAdapter } from './adapters.js';
import {
  type ControlledServer,
  eventually,
  json,
  routes,
  startControlledServer,
} from './controlled-server.js';

const AUDIENCE = 'https://orders.example';
const DISCOVERY = '/.well-known/openid-configuration';

let pair: KeyPair;
beforeAll(async () => {
  pair = await generateKeyPair('ES256', { kid: 'es-1' });
});

let clock = Date.now();
const servers: ControlledServer[] = [];
const verifiers: RemoteVerifier[] = [];
const adapters: RunningAdapter[] = [];

afterEach(async () => {
  for (const verifier of verifiers.splice(0)) verifier.close();
  await Promise.all([...adapters.splice(0), ...servers.splice(0)].map((running) => running.close()));
  clock = Date.now();
});

function verifierOf(options: RemoteVerifierOptions): RemoteVerifier {
  const verifier = createRemoteVerifier({ now: () => clock, ...options });
  verifiers.push(verifier);
  return verifier;
}

/** The TypeError that building a verifier with these options throws. */
function buildError(options: unknown): unknown {
  try {
    createRemoteVerifier(options as RemoteVerifierOptions);
  } catch (error) {
    return error;
  }
  return null;
}

describe('options are checked when the verifier is built', () => {
  const valid = { issuer: 'https://issuer.example', audience: AUDIENCE };
  const HTTPS = 'must use https (http only for loopback, or with allowInsecureHttp)';
  const AUDIENCES = 'audience must be a non-empty string or a non-empty array of them';
  const ALGORITHMS =
    'algorithms must be a non-empty list of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA';

  it.each<[string, Record<string, unknown>, string]>([
    ['issuer missing', { issuer: undefined }, 'issuer must be an absolute URL'],
    ['issuer not a URL', { issuer: 'issuer.example' }, 'issuer must be an absolute URL'],
    ['issuer not http(s)', { issuer: 'ftp://issuer.example' }, 'issuer must be an http(s) URL'],
    ['issuer a URL object', { issuer: new URL('https://issuer.example') }, 'issuer must be an http(s) URL'],
    ['http issuer on another host', { issuer: 'http://issuer.example' }, `issuer ${HTTPS}`],
    ['http issuer on a private address', { issuer: 'http://10.0.0.7:3000' }, `issuer ${HTTPS}`],
    ['http jwksUri on another host', { jwksUri: 'http://keys.example/jwks.json' }, `jwksUri ${HTTPS}`],
    [
      'revocationFeedUri relative',
      { revocationFeedUri: '/feed' },
      'revocationFeedUri must be an absolute URL',
    ],
    ['audience missing', { audience: undefined }, AUDIENCES],
    ['audience empty', { audience: '' }, AUDIENCES],
    ['no audiences', { audience: [] }, AUDIENCES],
    ['an empty audience among others', { audience: [AUDIENCE, ''] }, AUDIENCES],
    ['audience a number', { audience: 42 }, AUDIENCES],
    ['no algorithms', { algorithms: [] }, ALGORITHMS],
    ['HS256', { algorithms: ['ES256', 'HS256'] }, ALGORITHMS],
    ['none', { algorithms: ['none'] }, ALGORITHMS],
    ['an unknown algorithm', { algorithms: ['ES999'] }, ALGORITHMS],
    ['algorithms a string', { algorithms: 'ES256' }, ALGORITHMS],
    [
      'revocations null',
      { revocations: null },
      'revocations must be a boolean or an object of revocation options',
    ],
    [
      'revocations a string',
      { revocations: 'yes' },
      'revocations must be a boolean or an object of revocation options',
    ],
    [
      'revocations.onUnavailable unknown',
      { revocations: { onUnavailable: 'ignore' } },
      "revocations.onUnavailable must be 'fail-closed' or 'fail-open'",
    ],
    [
      'revocations.intervalMs 0',
      { revocations: { intervalMs: 0 } },
      'revocations.intervalMs must be a positive integer',
    ],
    [
      'revocations.intervalMs a fraction',
      { revocations: { intervalMs: 1.5 } },
      'revocations.intervalMs must be a positive integer',
    ],
    [
      'revocations.maxStalenessMs negative',
      { revocations: { maxStalenessMs: -1 } },
      'revocations.maxStalenessMs must be a positive integer',
    ],
    [
      'revocations.maxStalenessMs below the interval',
      { revocations: { intervalMs: 10_000, maxStalenessMs: 5_000 } },
      'revocations.maxStalenessMs must be at least revocations.intervalMs',
    ],
    ['timeoutMs 0', { timeoutMs: 0 }, 'timeoutMs must be a positive integer'],
    ['maxResponseBytes negative', { maxResponseBytes: -1 }, 'maxResponseBytes must be a positive integer'],
    [
      'unknownKidCooldownMs a string',
      { unknownKidCooldownMs: '30s' },
      'unknownKidCooldownMs must be a positive integer',
    ],
    ['typ empty', { typ: '' }, 'typ must be a non-empty string of printable ASCII'],
    [
      'clockToleranceSeconds an hour',
      { clockToleranceSeconds: 3600 },
      'clockToleranceSeconds must be an integer from 0 to 300',
    ],
    [
      'requiredClaims with an empty name',
      { requiredClaims: [''] },
      'requiredClaims must be a non-empty string or a non-empty array of them',
    ],
    ['cache a string', { cache: 'yes' }, 'cache must be a boolean or { maxEntries }'],
    ['fetch not a function', { fetch: 'fetch' }, 'fetch must be a function'],
    ['now not a function', { now: 42 }, 'now must be a function returning milliseconds'],
  ])('%s', (_name, options, message) => {
    const error = buildError({ ...valid, ...options });
    expect(error).toBeInstanceOf(TypeError);
    expect((error as TypeError).message).toBe(message);
  });

  it('options that are not an object', () => {
    expect(buildError(null)).toEqual(new TypeError('options must be an object'));
  });

  it.each<[string, Record<string, unknown>]>([
    ['https', {}],
    ['http on localhost', { issuer: 'http://localhost:3000' }],
    ['http on 127.0.0.1', { issuer: 'http://127.0.0.1:3000', jwksUri: 'http://127.0.0.1:3000/jwks' }],
    ['http on [::1]', { issuer: 'http://[::1]:3000' }],
    ['http elsewhere with allowInsecureHttp', { issuer: 'http://issuer.internal', allowInsecureHttp: true }],
    [
      'several audiences and algorithms',
      { audience: [AUDIENCE, 'https://b.example'], algorithms: ['EdDSA'] },
    ],
    [
      'revocations with every option',
      { revocations: { intervalMs: 1000, maxStalenessMs: 1000, onUnavailable: 'fail-open' } },
    ],
  ])('accepts %s, and fetches nothing yet', (_name, options) => {
    let fetches = 0;
    const fetcher = (input: string, init: RequestInit) => {
      fetches += 1;
      return fetch(input, init);
    };
    const error = buildError({ ...valid, fetch: fetcher, ...options });
    expect(error).toBeNull();
    expect(fetches).toBe(0);
  });
});

describe('discovery', () => {
  /** A server playing the issuer: this discovery document (given its own URL), its JWKS, a feed. */
  async function issuerServing(document: (url: string) => unknown): Promise<ControlledServer> {
    const server = await startControlledServer(() => {});
    servers.push(server);
    server.answer(
      routes({
        [DISCOVERY]: json(document(server.url)),
        '/jwks': json({ keys: [exportPublicJWK(pair.publicKey)] }),
        '/feed': (request, response) =>
          json({ generated_at: Date.now(), retention_seconds: 930, sessions: [], keys: [] })(
            request,
            response,
          ),
      }),
    );
    return server;
  }

  function tokenFor(issuer: string): string {
    return createSigner({
      key: pair.privateKey,
      typ: 'at+jwt',
      issuer,
      audience: AUDIENCE,
      expiresInSeconds: 600,
    })({
      sub: 'user-1',
    });
  }

  /** What verify() throws, and what the node:http adapter answers, for a token of `issuer`. */
  async function refusal(verifier: RemoteVerifier, issuer: string) {
    const error = await verifier.verify(tokenFor(issuer)).then(
      () => null,
      (reason: unknown) => reason,
    );
    // A new start is tried at most once a second: let the adapter's request try again.
    clock += 1000;
    const adapter = await startAdapter('node', verifier);
    adapters.push(adapter);
    const response = await fetch(`${adapter.url}/orders`, {
      headers: { authorization: `Bearer ${tokenFor(issuer)}` },
    });
    return {
      error,
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      body: await response.json(),
    };
  }

  it.each<
    [string, (url: string) => unknown, Partial<RemoteVerifierOptions>, string, (url: string) => string]
  >([
    [
      'names another issuer (RFC 8414 §3.3)',
      (url) => ({ issuer: 'https://evil.example', jwks_uri: `${url}/jwks` }),
      {},
      'ERR_JWKS_UNAVAILABLE',
      (url) => `${url}${DISCOVERY} does not describe the issuer ${url}: it names "https://evil.example"`,
    ],
    [
      'names the issuer with a trailing slash',
      (url) => ({ issuer: `${url}/`, jwks_uri: `${url}/jwks` }),
      {},
      'ERR_JWKS_UNAVAILABLE',
      (url) =>
        `${url}${DISCOVERY} does not describe the issuer ${url}: it names "${url}/"; give the issuer exactly ` +
        "as the tokens' iss has it, trailing slash and all",
    ],
    [
      'names an issuer of a megabyte of slashes and a letter, in linear time',
      () => ({ issuer: `${'/'.repeat(900_000)}x`, jwks_uri: 'https://keys.example/jwks' }),
      {},
      'ERR_JWKS_UNAVAILABLE',
      (url) => `${url}${DISCOVERY} does not describe the issuer ${url}: it names "${'/'.repeat(200)}"`,
    ],
    [
      'names a very long issuer',
      () => ({ issuer: `https://${'a'.repeat(300)}.example`, jwks_uri: 'https://keys.example/jwks' }),
      {},
      'ERR_JWKS_UNAVAILABLE',
      (url) =>
        `${url}${DISCOVERY} does not describe the issuer ${url}: it names "${`https://${'a'.repeat(300)}`.slice(0, 200)}"`,
    ],
    [
      'is not an object',
      () => ['not', 'a', 'document'],
      {},
      'ERR_JWKS_UNAVAILABLE',
      (url) => `${url}${DISCOVERY} does not describe the issuer ${url}`,
    ],
    [
      'has no jwks_uri',
      (url) => ({ issuer: url }),
      {},
      'ERR_JWKS_UNAVAILABLE',
      (url) => `${url}${DISCOVERY} names no jwks_uri`,
    ],
    [
      'has a jwks_uri that is not a URL',
      (url) => ({ issuer: url, jwks_uri: 'jwks.json' }),
      {},
      'ERR_JWKS_UNAVAILABLE',
      () => "the issuer's discovery document is unusable: jwks_uri must be an absolute URL",
    ],
    [
      'has an http jwks_uri on another host',
      (url) => ({ issuer: url, jwks_uri: 'http://keys.example/jwks' }),
      {},
      'ERR_JWKS_UNAVAILABLE',
      () =>
        "the issuer's discovery document is unusable: jwks_uri must use https (http only for loopback, or with allowInsecureHttp)",
    ],
    [
      'has no revocation_feed_uri, and revocations are asked for',
      (url) => ({ issuer: url, jwks_uri: `${url}/jwks` }),
      { revocations: true },
      'ERR_REVOCATIONS_UNAVAILABLE',
      () => 'the issuer publishes no revocation_feed_uri',
    ],
    [
      'has a revocation_feed_uri that is not a URL',
      (url) => ({ issuer: url, jwks_uri: `${url}/jwks`, revocation_feed_uri: 42 }),
      { revocations: true },
      'ERR_REVOCATIONS_UNAVAILABLE',
      () => 'the issuer publishes no revocation_feed_uri',
    ],
    [
      'has an http revocation_feed_uri on another host',
      (url) => ({ issuer: url, jwks_uri: `${url}/jwks`, revocation_feed_uri: 'http://feed.example/feed' }),
      { revocations: true },
      'ERR_REVOCATIONS_UNAVAILABLE',
      () =>
        "the issuer's discovery document is unusable: revocation_feed_uri must use https (http only for loopback, or with allowInsecureHttp)",
    ],
  ])('a document that %s is refused: VerifyError, 503', async (_name, document, options, code, message) => {
    const server = await issuerServing(document);
    const verifier = verifierOf({ issuer: server.url, audience: AUDIENCE, ...options });
    const { error, status, retryAfter, body } = await refusal(verifier, server.url);
    expect(error).toBeInstanceOf(VerifyError);
    expect(error).toMatchObject({ code, message: message(server.url) });
    expect({ status, retryAfter, body }).toEqual({
      status: 503,
      retryAfter: '5',
      body: { error: 'unavailable', message: 'the token cannot be checked right now; try again shortly' },
    });
    expect(verifier.status()).toMatchObject({ ready: false, lastError: message(server.url), jwks: null });
  });

  it('a discovery document that cannot be had is a VerifyError that says why', async () => {
    const server = await startControlledServer((_request, response) => {
      response.writeHead(404).end();
    });
    servers.push(server);
    const verifier = verifierOf({ issuer: server.url, audience: AUDIENCE });
    await expect(verifier.ready()).rejects.toThrow(
      new VerifyError(
        'ERR_JWKS_UNAVAILABLE',
        `the issuer's discovery document cannot be had: ${server.url}${DISCOVERY}: answered 404`,
      ),
    );
  });

  it('finds the keys and the feed through the document, and status() tells before and after', async () => {
    const server = await issuerServing((url) => ({
      issuer: url,
      jwks_uri: `${url}/jwks`,
      revocation_feed_uri: `${url}/feed`,
    }));
    const verifier = verifierOf({ issuer: server.url, audience: AUDIENCE, revocations: { intervalMs: 20 } });
    expect(verifier.status()).toEqual({
      issuer: server.url,
      ready: false,
      lastError: null,
      jwks: null,
      revocations: null,
    });
    expect(server.hits()).toBe(0);

    await expect(verifier.verify(tokenFor(server.url))).resolves.toMatchObject({ sub: 'user-1' });
    expect(verifier.status()).toEqual({
      issuer: server.url,
      ready: true,
      lastError: null,
      jwks: {
        uri: `${server.url}/jwks`,
        keys: 1,
        fetches: 1,
        fetchedAt: clock,
        staleAt: clock + 10 * 60_000,
        lastError: null,
        skipped: [],
      },
      revocations: {
        uri: `${server.url}/feed`,
        state: 'fresh',
        mode: 'fail-closed',
        lastSuccessAt: clock,
        lastError: null,
        revokedSessions: 0,
      },
    });
    expect(server.hits(DISCOVERY)).toBe(1);

    // close() stops the polling.
    await eventually('the feed is polled', () => server.hits('/feed') >= 3);
    verifier.close();
    const polls = server.hits('/feed');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.hits('/feed')).toBeLessThanOrEqual(polls + 1);
  });

  it('asks for no discovery document when jwksUri and revocationFeedUri are given', async () => {
    const server = await issuerServing(() => ({}));
    const verifier = verifierOf({
      issuer: 'https://issuer.example',
      audience: AUDIENCE,
      jwksUri: `${server.url}/jwks`,
      revocationFeedUri: `${server.url}/feed`,
      revocations: true,
    });
    await expect(verifier.verify(tokenFor('https://issuer.example'))).resolves.toMatchObject({
      sub: 'user-1',
    });
    expect(server.hits(DISCOVERY)).toBe(0);
  });

  it('a failed start is retried once a second, not on every request, and then succeeds', async () => {
    const server = await issuerServing((url) => ({
      issuer: 'https://evil.example',
      jwks_uri: `${url}/jwks`,
    }));
    const verifier = verifierOf({ issuer: server.url, audience: AUDIENCE });
    const token = tokenFor(server.url);
    for (let i = 0; i < 20; i++) await expect(verifier.verify(token)).rejects.toBeInstanceOf(VerifyError);
    expect(server.hits(DISCOVERY)).toBe(1);

    server.answer(
      routes({
        [DISCOVERY]: json({ issuer: server.url, jwks_uri: `${server.url}/jwks` }),
        '/jwks': json({ keys: [exportPublicJWK(pair.publicKey)] }),
      }),
    );
    clock += 999;
    await expect(verifier.verify(token)).rejects.toBeInstanceOf(VerifyError);
    expect(server.hits(DISCOVERY)).toBe(1);
    clock += 1;
    await expect(verifier.verify(token)).resolves.toMatchObject({ sub: 'user-1' });
    expect(server.hits(DISCOVERY)).toBe(2);
    expect(verifier.status()).toMatchObject({ ready: true, lastError: null });
  });
});
