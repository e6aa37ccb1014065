import { beforeAll, describe, expect, it } from 'vitest';
import { KeyError } from '../../src/errors.js';
import {
  exportJWK,
  exportPublicJWK,
  generateKeyPair,
  generateSecret,
  importJWKS,
  type KeyPair,
  KeySet,
} from '../../src/jwt/index.js';
import { rejectionOf } from '../support/errors.js';

const keyError = (run: () => unknown) => rejectionOf(KeyError, run);

let a: KeyPair;
let b: KeyPair;
let plain: KeyPair;

beforeAll(async () => {
  [a, b, plain] = await Promise.all([
    generateKeyPair('ES256', { kid: 'a' }),
    generateKeyPair('EdDSA', { kid: 'b' }),
    generateKeyPair('ES384'),
  ]);
});

describe('KeySet', () => {
  it('selects by kid only when the algorithm matches too', () => {
    const set = new KeySet([a.publicKey, b.publicKey]);
    expect(set.select('ES256', 'a')).toBe(a.publicKey);
    expect(set.select('EdDSA', 'a')).toBeUndefined();
    expect(set.select('ES256', 'missing')).toBeUndefined();
  });

  it('selects without a kid only the one key of that algorithm', async () => {
    const set = new KeySet([a.publicKey, b.publicKey, plain.publicKey]);
    expect(set.select('ES384', undefined)).toBe(plain.publicKey);
    expect(set.select('EdDSA', undefined)).toBe(b.publicKey);
    const second = await generateKeyPair('ES256', { kid: 'a2' });
    set.add(second.publicKey);
    expect(set.select('ES256', undefined)).toBeUndefined();
    expect(set.select('ES256', 'a2')).toBe(second.publicKey);
  });

  it('changes its version on every change and refuses bad sets whole', () => {
    const set = new KeySet([a.publicKey]);
    const first = set.version;
    set.add(b.publicKey);
    expect(set.version).toBe(first + 1);
    expect(set.remove('a')).toBe(true);
    expect(set.remove('a')).toBe(false);
    expect(set.version).toBe(first + 2);
    expect(set.keys).toEqual([b.publicKey]);
    expect(keyError(() => set.add(b.privateKey))).toEqual({
      code: 'ERR_JWKS_INVALID',
      message: 'key set has two keys with the same kid',
    });
    expect(keyError(() => set.add(generateSecret('HS256', { kid: 's' }))).message).toBe(
      'key set mixes secret and asymmetric keys',
    );
    expect(set.keys).toEqual([b.publicKey]);
    expect(set.version).toBe(first + 2);
  });

  it('publishes public JWKs only, and nothing for secrets', () => {
    const set = new KeySet([a.privateKey, b.privateKey]);
    const published = set.toJWKS();
    expect(published.keys.map((jwk) => jwk.kid)).toEqual(['a', 'b']);
    for (const jwk of published.keys) expect(jwk).not.toHaveProperty('d');
    expect(new KeySet([generateSecret('HS256', { kid: 's' })]).toJWKS()).toEqual({ keys: [] });
  });
});

describe('importJWKS', () => {
  it('imports each key once and skips keys that are not for signatures', () => {
    const encryption = { ...exportPublicJWK(b.publicKey), kid: 'enc', use: 'enc' };
    const oaep = { ...exportPublicJWK(plain.publicKey), kid: 'oaep', alg: 'ECDH-ES' };
    const symmetric = { kty: 'unknown', kid: 'x' };
    const set = importJWKS({ keys: [exportPublicJWK(a.publicKey), encryption, oaep, symmetric] });
    expect(set.size).toBe(1);
    expect(set.select('ES256', 'a')?.kind).toBe('public');
  });

  it('refuses secrets unless allowed, and mixed sets always', () => {
    const secret = exportJWK(generateSecret('HS256', { kid: 's' }));
    expect(keyError(() => importJWKS({ keys: [secret] }))).toEqual({
      code: 'ERR_JWKS_INVALID',
      message: 'key set contains a secret (oct) key',
    });
    expect(importJWKS({ keys: [secret] }, { allowSecrets: true }).size).toBe(1);
    expect(
      keyError(() => importJWKS({ keys: [secret, exportPublicJWK(a.publicKey)] }, { allowSecrets: true }))
        .message,
    ).toBe('key set mixes secret and asymmetric keys');
  });

  it.each([
    ['null', null, 'a JWK Set must be an object with a keys array'],
    ['an array', [], 'a JWK Set must be an object with a keys array'],
    ['keys not an array', { keys: {} }, 'a JWK Set must be an object with a keys array'],
    ['a member that is not an object', { keys: ['x'] }, 'every member of keys must be a JSON object'],
  ])('refuses %s', (_, input, message) => {
    expect(keyError(() => importJWKS(input))).toEqual({ code: 'ERR_JWKS_INVALID', message });
  });

  describe('keys without alg', () => {
    let rsa: KeyPair;
    beforeAll(async () => {
      rsa = await generateKeyPair('RS256', { kid: 'bare' });
    });
    const bare = (jwk: object): Record<string, unknown> => {
      const { alg: _, ...rest } = jwk as Record<string, unknown>;
      return rest;
    };

    it('refuses a bare RSA key unless told which algorithm it serves', () => {
      const input = { keys: [bare(exportPublicJWK(rsa.publicKey))] };
      expect(keyError(() => importJWKS(input))).toEqual({
        code: 'ERR_KEY_INVALID',
        message: 'JWK rejected: no alg, and none was given to bind the key to',
      });
      const key = importJWKS(input, { alg: 'PS256' }).select('PS256', 'bare');
      expect(key?.alg).toBe('PS256');
    });

    it('binds bare RSA keys to the given alg, and only those', () => {
      const own = { ...exportPublicJWK(plain.publicKey), kid: 'own' };
      const curve = bare({ ...exportPublicJWK(a.publicKey) });
      const labelled = { ...exportPublicJWK(rsa.publicKey), kid: 'labelled', alg: 'RS512' };
      const set = importJWKS(
        { keys: [bare(exportPublicJWK(rsa.publicKey)), own, curve, labelled] },
        { alg: 'RS256' },
      );
      expect(set.keys.map((key) => [key.kid, key.alg])).toEqual([
        ['bare', 'RS256'],
        ['own', 'ES384'],
        ['a', 'ES256'],
        ['labelled', 'RS512'],
      ]);
      // The token cannot pick another algorithm for the bare key.
      expect(set.select('PS256', 'bare')).toBeUndefined();
    });

    it('binds a bare secret only when secrets are allowed', () => {
      const secret = bare(exportJWK(generateSecret('HS384', { kid: 's' })));
      expect(keyError(() => importJWKS({ keys: [secret] }, { alg: 'HS384' })).message).toBe(
        'key set contains a secret (oct) key',
      );
      expect(importJWKS({ keys: [secret] }, { alg: 'HS384', allowSecrets: true }).keys[0]?.alg).toBe('HS384');
    });

    it.each(['ES256', 'EdDSA', 'none', 'RS1'])('refuses %s as the alg for bare keys', (alg) => {
      expect(() => importJWKS({ keys: [] }, { alg: alg as 'ES256' })).toThrow(
        new TypeError('alg must be an RSA or HMAC algorithm: EC and OKP keys take theirs from the curve'),
      );
    });
  });

  it('fails the import when a signature key is unusable', () => {
    const broken = { ...exportPublicJWK(a.publicKey), x: 'AAAA' };
    expect(keyError(() => importJWKS({ keys: [broken] })).code).toBe('ERR_KEY_INVALID');
  });
});
