import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { KeyError } from '../../src/errors.js';
import {
  computeJWKThumbprint,
  createSigner,
  createVerifier,
  exportJWK,
  exportPrivatePEM,
  exportPublicJWK,
  exportPublicPEM,
  generateKeyPair,
  generateSecret,
  importJWK,
  importPrivatePEM,
  importPublicPEM,
  importSecret,
  Key,
  type KeyPair,
  signJWS,
} from '../../src/jwt/index.js';
import { rejectionOf } from '../support/errors.js';

const keyError = (run: () => unknown) => rejectionOf(KeyError, run);

let es256: KeyPair;
let rs256: KeyPair;
let eddsa: KeyPair;

beforeAll(async () => {
  [es256, rs256, eddsa] = await Promise.all([
    generateKeyPair('ES256', { kid: 'e1' }),
    generateKeyPair('RS256', { kid: 'r1' }),
    generateKeyPair('EdDSA'),
  ]);
});

describe('keys are bound to one algorithm', () => {
  it('generates pairs whose halves sign and verify for their algorithm only', () => {
    const input = 'header.payload';
    for (const pair of [es256, rs256, eddsa]) {
      expect(pair.privateKey.kind).toBe('private');
      expect(pair.publicKey.kind).toBe('public');
      expect(pair.publicKey.canSign).toBe(false);
      const signature = pair.privateKey.signInput?.(input) as Buffer;
      expect(pair.publicKey.verifyInput(input, signature)).toBe(true);
      expect(pair.publicKey.verifyInput(`${input}x`, signature)).toBe(false);
    }
    expect(es256.publicKey.alg).toBe('ES256');
    expect(es256.publicKey.kid).toBe('e1');
    expect(eddsa.publicKey.kid).toBeUndefined();
  });

  it('refuses a key of the wrong type or curve for the algorithm', () => {
    expect(keyError(() => new Key(es256.publicKey.keyObject, 'RS256'))).toEqual({
      code: 'ERR_KEY_INVALID',
      message: 'key cannot be used with RS256: it needs a RSA key, not ec',
    });
    expect(keyError(() => new Key(es256.publicKey.keyObject, 'ES384')).message).toBe(
      'key cannot be used with ES384: it needs curve P-384',
    );
    expect(keyError(() => new Key(rs256.publicKey.keyObject, 'HS256')).message).toBe(
      'key cannot be used with HS256: it needs a secret key, not an asymmetric one',
    );
    const secret = generateSecret('HS256');
    expect(keyError(() => new Key(secret.keyObject, 'ES256')).message).toBe(
      'key cannot be used with ES256: it needs an asymmetric key, not a secret',
    );
  });

  it('refuses RSA keys under 2048 bits and with a weak exponent', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(keyError(() => new Key(small.publicKey, 'RS256')).message).toBe(
      'key cannot be used with RS256: the RSA modulus must be at least 2048 bits',
    );
    const jwk = exportPublicJWK(rs256.publicKey);
    expect(keyError(() => importJWK({ ...jwk, e: 'AQ' })).message).toBe(
      'key cannot be used with RS256: the RSA public exponent must be odd and at least 3',
    );
  });

  it('refuses HMAC secrets shorter than the hash output (RFC 7518 §3.2)', () => {
    expect(keyError(() => importSecret(Buffer.alloc(31), 'HS256')).message).toBe(
      'key cannot be used with HS256: the secret must be at least 32 bytes (RFC 7518 §3.2)',
    );
    expect(keyError(() => importSecret(Buffer.alloc(63), 'HS512')).code).toBe('ERR_KEY_INVALID');
    expect(importSecret(Buffer.alloc(64, 1), 'HS512').alg).toBe('HS512');
    expect(generateSecret('HS384').keyObject.symmetricKeySize).toBe(48);
  });

  it('takes secrets only as bytes, so a PEM string cannot become an HMAC key by mistake', () => {
    const pem = exportPublicPEM(rs256.publicKey);
    expect(() => importSecret(pem as unknown as Uint8Array, 'HS256')).toThrow(TypeError);
    expect(() => importSecret(Buffer.alloc(32), 'RS256')).toThrow(TypeError);
  });

  it('imports PEM only under the label the caller names', () => {
    const publicPEM = exportPublicPEM(es256.privateKey);
    const privatePEM = exportPrivatePEM(es256.privateKey);
    expect(importPublicPEM(publicPEM, 'ES256', { kid: 'p' }).kind).toBe('public');
    expect(importPrivatePEM(privatePEM, 'ES256').kind).toBe('private');
    expect(keyError(() => importPublicPEM(privatePEM, 'ES256')).message).toBe(
      'expected a PEM public key (BEGIN PUBLIC KEY)',
    );
    expect(keyError(() => importPrivatePEM(publicPEM, 'ES256')).message).toBe(
      'expected a PEM private key (BEGIN PRIVATE KEY)',
    );
    const broken = publicPEM
      .split('\n')
      .filter((_, line) => line !== 1)
      .join('\n');
    expect(keyError(() => importPublicPEM(broken, 'ES256'))).toEqual({
      code: 'ERR_KEY_INVALID',
      message: 'key material could not be parsed',
    });
    const pkcs1 = rs256.publicKey.keyObject.export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(importPublicPEM(pkcs1, 'RS256').alg).toBe('RS256');
  });

  it('derives the public half of a private key', () => {
    const publicKey = es256.privateKey.toPublicKey();
    expect(publicKey.kind).toBe('public');
    expect(publicKey.kid).toBe('e1');
    expect(exportPublicJWK(publicKey)).toEqual(exportPublicJWK(es256.publicKey));
    expect(() => generateSecret('HS256').toPublicKey()).toThrow(TypeError);
  });

  it('refuses bad arguments as caller mistakes', async () => {
    await expect(generateKeyPair('HS256')).rejects.toThrow(TypeError);
    await expect(generateKeyPair('RS256', { modulusLength: 1024 })).rejects.toThrow(TypeError);
    expect(() => generateSecret('ES256')).toThrow(TypeError);
    expect(() => new Key(es256.publicKey.keyObject, 'none' as 'ES256')).toThrow(TypeError);
    expect(() => new Key(es256.publicKey.keyObject, 'ES256', { kid: '' })).toThrow(TypeError);
    expect(() => exportPrivatePEM(es256.publicKey)).toThrow(TypeError);
  });
});

describe('JWK import and export', () => {
  it('exports public JWKs without any private member, with kid, alg and use', () => {
    for (const pair of [es256, rs256, eddsa]) {
      const jwk = exportPublicJWK(pair.privateKey);
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(jwk).not.toHaveProperty(member);
      expect(jwk).toMatchObject({ alg: pair.privateKey.alg, use: 'sig' });
    }
    expect(exportPublicJWK(es256.publicKey)).toMatchObject({ kty: 'EC', crv: 'P-256', kid: 'e1' });
    expect(() => exportPublicJWK(generateSecret('HS256'))).toThrow(TypeError);
  });

  it('round-trips private, public and secret JWKs', () => {
    for (const key of [
      es256.privateKey,
      rs256.privateKey,
      eddsa.privateKey,
      generateSecret('HS256', { kid: 's' }),
    ]) {
      const copy = importJWK(exportJWK(key));
      expect(copy.kind).toBe(key.kind);
      expect(copy.alg).toBe(key.alg);
      expect(copy.kid).toBe(key.kid);
      const signature = copy.signInput?.('x.y') as Buffer;
      expect(key.verifyInput('x.y', signature)).toBe(true);
    }
    expect(exportJWK(generateSecret('HS256'))).toMatchObject({ kty: 'oct', alg: 'HS256' });
  });

  it('infers the algorithm only from a curve that allows exactly one', () => {
    const { alg: _alg, ...ec } = exportPublicJWK(es256.publicKey);
    expect(importJWK(ec).alg).toBe('ES256');
    const { alg: _ralg, ...rsa } = exportPublicJWK(rs256.publicKey);
    expect(keyError(() => importJWK(rsa)).message).toBe(
      'JWK rejected: no alg, and none was given to bind the key to',
    );
    expect(importJWK(rsa, { alg: 'PS256' }).alg).toBe('PS256');
  });

  const base = () => exportPublicJWK(es256.publicKey) as unknown as Record<string, unknown>;
  it.each([
    ['not an object', () => 'jwk', 'JWK rejected: not a JSON object'],
    ['an array', () => [], 'JWK rejected: not a JSON object'],
    ['an unknown kty', () => ({ ...base(), kty: 'XYZ' }), 'JWK rejected: kty must be oct, RSA, EC or OKP'],
    [
      'an alg that is not JWS',
      () => ({ ...base(), alg: 'RSA-OAEP' }),
      'JWK rejected: alg is not a supported JWS algorithm',
    ],
    ['alg none', () => ({ ...base(), alg: 'none' }), 'JWK rejected: alg is not a supported JWS algorithm'],
    ['alg for another kty', () => ({ ...base(), alg: 'RS256' }), 'JWK rejected: RS256 needs kty RSA'],
    [
      'a curve that does not fit alg',
      () => ({ ...base(), alg: 'ES384' }),
      'JWK rejected: ES384 needs crv P-384',
    ],
    ['use enc', () => ({ ...base(), use: 'enc' }), 'JWK rejected: use must be sig'],
    [
      'key_ops without sign or verify',
      () => ({ ...base(), key_ops: ['encrypt'] }),
      'JWK rejected: key_ops allows neither sign nor verify',
    ],
    [
      'key_ops as one string',
      () => ({ ...base(), key_ops: 'verify' }),
      'JWK rejected: key_ops must be an array of distinct strings',
    ],
    [
      'key_ops with repeats',
      () => ({ ...base(), key_ops: ['verify', 'verify'] }),
      'JWK rejected: key_ops must be an array of distinct strings',
    ],
    ['an empty kid', () => ({ ...base(), kid: '' }), 'JWK rejected: kid must be a non-empty string'],
    [
      'padded base64url',
      () => ({ ...base(), x: `${base().x}=` }),
      'JWK rejected: member x must be canonical base64url',
    ],
    [
      'a number for a member',
      () => ({ ...base(), y: 5 }),
      'JWK rejected: member y must be canonical base64url',
    ],
    [
      'a short coordinate',
      () => ({ ...base(), x: 'AAAA' }),
      'JWK rejected: member x must be 32 bytes for P-256',
    ],
    ['a missing coordinate', () => ({ ...base(), y: undefined }), 'JWK rejected: member y is required'],
    ['a point off the curve', () => ({ ...base(), y: base().x }), 'key material could not be parsed'],
    [
      'an empty oct key',
      () => ({ kty: 'oct', alg: 'HS256', k: '' }),
      'key cannot be used with HS256: the secret must be at least 32 bytes (RFC 7518 §3.2)',
    ],
    ['an oct key without k', () => ({ kty: 'oct', alg: 'HS256' }), 'JWK rejected: an oct key needs k'],
    [
      'a requested alg that differs',
      () => base(),
      'JWK rejected: its alg differs from the requested algorithm',
    ],
  ])('refuses %s', (name, make, message) => {
    const options = name === 'a requested alg that differs' ? { alg: 'ES384' as const } : {};
    expect(keyError(() => importJWK(make(), options)).message).toBe(message);
  });

  it('refuses a private JWK whose public members come from another key', async () => {
    const others = await Promise.all([
      generateKeyPair('ES256'),
      generateKeyPair('RS256'),
      generateKeyPair('EdDSA'),
    ]);
    const publicMembers = { EC: ['x', 'y'], RSA: ['n'], OKP: ['x'] } as const;
    for (const [index, pair] of [es256, rs256, eddsa].entries()) {
      const own = exportJWK(pair.privateKey) as unknown as Record<string, unknown>;
      const other = exportPublicJWK((others[index] as KeyPair).publicKey) as unknown as Record<
        string,
        unknown
      >;
      const mixed = { ...own };
      for (const name of publicMembers[own.kty as keyof typeof publicMembers]) mixed[name] = other[name];
      expect(keyError(() => importJWK(mixed)).message, pair.privateKey.alg).toBe(
        'JWK rejected: its public members do not belong to its private key',
      );
      expect(importJWK(own).canSign).toBe(true);
    }
  });

  it('follows key_ops: a public key must allow verify, a private key or secret without sign only verifies', () => {
    expect(keyError(() => importJWK({ ...base(), key_ops: ['sign'] })).message).toBe(
      'JWK rejected: key_ops does not allow verify, all a public key does',
    );
    expect(importJWK({ ...base(), key_ops: ['verify'] }).kind).toBe('public');
    const secret = generateSecret('HS256', { kid: 's' });
    for (const key of [es256.privateKey, rs256.privateKey, eddsa.privateKey, secret]) {
      const verifyOnly = importJWK({ ...exportJWK(key), key_ops: ['verify'] });
      expect(verifyOnly.canSign, key.alg).toBe(false);
      expect(() => createSigner({ key: verifyOnly })).toThrow(
        'key must be a private key or a secret that may sign',
      );
      expect(() => signJWS('{}', verifyOnly)).toThrow('this key cannot sign: it is public, or verify-only');
      // It still verifies what the signing key signs, and exports as verify-only again.
      const token = createSigner({ key })({ sub: 'u', exp: 2_000_000_000 });
      expect(createVerifier({ key: verifyOnly, now: () => 1_900_000_000_000 })(token).payload.sub).toBe('u');
      expect(exportJWK(verifyOnly).key_ops).toEqual(['verify']);
      expect(importJWK(exportJWK(verifyOnly)).canSign).toBe(false);
      expect(importJWK({ ...exportJWK(key), key_ops: ['sign', 'verify'] }).canSign).toBe(true);
    }
    expect(exportJWK(es256.privateKey)).not.toHaveProperty('key_ops');
    expect(
      exportPublicJWK(importJWK({ ...exportJWK(es256.privateKey), key_ops: ['verify'] })),
    ).not.toHaveProperty('key_ops');
  });

  it('computes RFC 7638 thumbprints (the RFC 7638 §3.1 example)', () => {
    const jwk = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
    };
    expect(computeJWKThumbprint(importJWK(jwk))).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
    const ec = computeJWKThumbprint(es256.publicKey);
    expect(computeJWKThumbprint(es256.privateKey)).toBe(ec);
  });
});
