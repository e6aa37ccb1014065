import { beforeAll, describe, expect, it } from 'vitest';
import { JOSEError, JWTClaimError, LatchkeyError } from '../../src/errors.js';
import {
  createSigner,
  createVerifier,
  decodeUnverified,
  generateKeyPair,
  generateSecret,
  isTokenError,
  type KeyPair,
  KeySet,
} from '../../src/jwt/index.js';
import { LRUCache } from '../../src/jwt/lru-cache.js';

const NOW_MS = 1_800_000_000_000;
const now = () => NOW_MS;

let pair: KeyPair;

beforeAll(async () => {
  pair = await generateKeyPair('ES256', { kid: 'k1' });
});

describe('createSigner', () => {
  it('puts alg, typ and kid in the header and the configured claims in the payload', () => {
    const sign = createSigner({
      key: pair.privateKey,
      typ: 'at+jwt',
      issuer: 'https://issuer.example',
      audience: 'api',
      expiresInSeconds: 900,
      jti: true,
      now,
    });
    const { header, payload } = decodeUnverified(sign({ sub: 'user-1', iss: 'ignored', scope: 'read' }));
    expect(header).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' });
    expect(payload).toMatchObject({
      sub: 'user-1',
      iss: 'https://issuer.example',
      aud: 'api',
      iat: 1_800_000_000,
      exp: 1_800_000_900,
      scope: 'read',
    });
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('keeps exp, iat and jti that the claims bring, and never mutates the claims', () => {
    const sign = createSigner({ key: pair.privateKey, expiresInSeconds: 60, jti: true, now });
    const claims = { exp: 1_900_000_000, iat: 1_700_000_000, jti: 'mine' };
    const { payload } = decodeUnverified(sign(claims));
    expect(payload).toEqual({ exp: 1_900_000_000, iat: 1_700_000_000, jti: 'mine' });
    expect(claims).toEqual({ exp: 1_900_000_000, iat: 1_700_000_000, jti: 'mine' });
  });

  it('signs the claims as given when it adds nothing', () => {
    const sign = createSigner({ key: generateSecret('HS256'), issuedAt: false });
    expect(decodeUnverified(sign({ a: 1 })).payload).toEqual({ a: 1 });
    expect(decodeUnverified(sign({ a: 1 })).header).toEqual({ alg: 'HS256', typ: 'JWT' });
  });

  it('refuses bad options and claims as caller mistakes', () => {
    expect(() => createSigner({ key: pair.publicKey })).toThrow('key must be a private key or a secret');
    expect(() => createSigner({ key: pair.privateKey, expiresInSeconds: 0 })).toThrow(TypeError);
    expect(() => createSigner({ key: pair.privateKey, expiresInSeconds: 1.5 })).toThrow(TypeError);
    expect(() => createSigner({ key: pair.privateKey, typ: '' })).toThrow(TypeError);
    expect(() => createSigner({ key: pair.privateKey, typ: 'at+jwt\n' })).toThrow(
      'typ must be a non-empty string of printable ASCII',
    );
    expect(() => createSigner({ key: pair.privateKey, audience: [] })).toThrow(TypeError);
    const sign = createSigner({ key: pair.privateKey });
    expect(() => sign(null as never)).toThrow('claims must be a plain object');
    expect(() => sign([] as never)).toThrow(TypeError);
    expect(() => sign({ exp: Number.NaN })).toThrow('claim exp must be a finite number');
    expect(() => sign({ nbf: '1' as never })).toThrow(TypeError);
  });
});

describe('createVerifier', () => {
  it('returns header, payload and the key that verified', () => {
    const sign = createSigner({ key: pair.privateKey, expiresInSeconds: 60, now });
    const verify = createVerifier({ key: new KeySet([pair.publicKey]), now });
    const result = verify(sign({ sub: 'u' }));
    expect(result.key).toBe(pair.publicKey);
    expect(result.payload.sub).toBe('u');
    expect(result.header.kid).toBe('k1');
  });

  it('requires exp by default, whatever claims the caller names, unless it opts out by name', () => {
    const sign = createSigner({ key: pair.privateKey, now });
    const token = sign({ sub: 'u', sid: 's' });
    const verify = (options: Partial<Parameters<typeof createVerifier>[0]>) =>
      createVerifier({ key: pair.publicKey, now, ...options })(token);
    expect(() => verify({})).toThrow('"exp" claim is missing');
    // Naming the claims an API needs adds them: it does not make expiry optional.
    expect(() => verify({ requiredClaims: ['sid'] })).toThrow('"exp" claim is missing');
    expect(() => verify({ requiredClaims: 'sub' } as never)).toThrow('"exp" claim is missing');
    expect(() => verify({ requiredClaims: [] })).toThrow('"exp" claim is missing');
    expect(() => verify({ requireExpiry: true })).toThrow('"exp" claim is missing');
    expect(verify({ requireExpiry: false }).payload.sub).toBe('u');
    expect(verify({ requireExpiry: false, requiredClaims: ['sid'] }).payload.sid).toBe('s');
    expect(() => verify({ requireExpiry: false, requiredClaims: ['sid', 'jti'] })).toThrow(
      '"jti" claim is missing',
    );
    expect(() =>
      createVerifier({ key: pair.publicKey, now, requiredClaims: ['exp', 'sid'] })(sign({ exp: 2e9 })),
    ).toThrow('"sid" claim is missing');
    for (const requireExpiry of ['false', 0, null]) {
      expect(() => verify({ requireExpiry } as never)).toThrow('requireExpiry must be a boolean');
    }
  });

  it.each([
    ['a missing key', { key: undefined }],
    ['a JWK instead of a Key', { key: { kty: 'EC' } }],
    ['a negative tolerance', { clockToleranceSeconds: -1 }],
    ['a tolerance over 300 s', { clockToleranceSeconds: 301 }],
    ['a fractional tolerance', { clockToleranceSeconds: 1.5 }],
    ['an empty issuer list', { issuer: [] }],
    ['an empty audience', { audience: '' }],
    ['a non-string audience', { audience: [1] }],
    ['an empty typ', { typ: '' }],
    ['a typ with the Kelvin sign', { typ: '\u212Ab+jwt' }],
    ['an empty subject', { subject: '' }],
    ['a zero max age', { maxTokenAgeSeconds: 0 }],
    ['a tiny token limit', { maxTokenBytes: 10 }],
    ['a clock that is not a function', { now: 5 }],
    ['a cache of zero entries', { cache: { maxEntries: 0 } }],
    ['a cache option of the wrong type', { cache: 'yes' }],
  ])('refuses %s when built', (_, overrides) => {
    expect(() => createVerifier({ key: pair.publicKey, ...overrides } as never)).toThrow(TypeError);
  });

  it('honours a lower token size limit before decoding', () => {
    const verify = createVerifier({ key: pair.publicKey, maxTokenBytes: 256 });
    expect(() => verify('x'.repeat(257))).toThrow('token is longer than the limit of 256 bytes');
  });

  it('serves repeated tokens from the cache and still checks exp on every hit', () => {
    let clock = NOW_MS;
    const sign = createSigner({ key: pair.privateKey, expiresInSeconds: 60, now: () => clock });
    const verify = createVerifier({
      key: pair.publicKey,
      cache: { maxEntries: 2 },
      clockToleranceSeconds: 0,
      now: () => clock,
    });
    const token = sign({ sub: 'u', nested: { roles: ['a'] } });
    const first = verify(token);
    expect(verify(token)).toBe(first);
    expect(Object.isFrozen(first.payload.nested)).toBe(true);
    clock += 60_000;
    expect(() => verify(token)).toThrow('"exp" claim timestamp check failed: the token has expired');
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['undefined', undefined],
    ['an ISO string', new Date(NOW_MS).toISOString()],
    ['a numeric string', String(NOW_MS)],
    ['a Date', new Date(NOW_MS)],
  ])('fails closed when the clock answers %s, with or without the cache', (_, answer) => {
    // Every comparison with NaN is false: a clock like this would make every expired token valid.
    const expired = createSigner({ key: pair.privateKey, expiresInSeconds: 60, now: () => 0 })({ sub: 'u' });
    const badClock = () => answer as number;
    for (const cache of [false, true]) {
      const verify = createVerifier({ key: pair.publicKey, maxTokenAgeSeconds: 60, cache, now: badClock });
      expect(() => verify(expired)).toThrow(new TypeError('now must return a finite number of milliseconds'));
    }
    const sign = createSigner({ key: pair.privateKey, expiresInSeconds: 60, now: badClock });
    expect(() => sign({ sub: 'u' })).toThrow(
      new TypeError('now must return a finite number of milliseconds'),
    );
  });
});

describe('decodeUnverified', () => {
  it('decodes without any key and keeps the signature text', () => {
    const token = createSigner({ key: pair.privateKey, now })({ sub: 'u' });
    const decoded = decodeUnverified(token);
    expect(decoded.payload.sub).toBe('u');
    expect(decoded.signature).toBe(token.split('.')[2]);
  });

  it('parses as strictly as verification', () => {
    const code = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        return error instanceof LatchkeyError ? error.code : 'other';
      }
      return 'none';
    };
    expect(code(() => decodeUnverified(5))).toBe('ERR_JWS_MALFORMED');
    expect(code(() => decodeUnverified('a.b'))).toBe('ERR_JWS_MALFORMED');
    expect(code(() => decodeUnverified('x'.repeat(16 * 1024 + 1)))).toBe('ERR_JWT_TOO_LARGE');
    expect(code(() => decodeUnverified('e30=.e30.'))).toBe('ERR_JWS_MALFORMED');
    expect(code(() => decodeUnverified('e30.W10.'))).toBe('ERR_JWT_MALFORMED');
    expect(decodeUnverified('eyJhbGciOiJub25lIn0.e30.').header).toEqual({ alg: 'none' });
  });
});

describe('isTokenError', () => {
  it('tells token failures from everything else', () => {
    expect(isTokenError(new JOSEError('ERR_JWS_MALFORMED', 'x'))).toBe(true);
    expect(isTokenError(new JWTClaimError('ERR_JWT_EXPIRED', 'x'))).toBe(true);
    expect(isTokenError(new Error('x'))).toBe(false);
  });
});

describe('LRUCache', () => {
  it('evicts the least recently used entry', () => {
    const cache = new LRUCache<string, number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1);
    cache.set('c', 3);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    expect(cache.get('c')).toBe(3);
    expect(cache.size).toBe(2);
    cache.delete('a');
    cache.clear();
    expect(cache.size).toBe(0);
    expect(() => new LRUCache(0)).toThrow(TypeError);
  });
});
