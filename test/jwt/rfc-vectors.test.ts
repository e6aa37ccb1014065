/**
 * RFC examples: RFC 7515 Appendix A, RFC 7520 (JOSE Cookbook) §3 keys and §4 signatures, RFC 7797
 * `b64:false` and RFC 8037 Ed25519. Deterministic signatures (RSASSA-PKCS1-v1_5, HMAC, Ed25519) are
 * recomputed and compared byte for byte; randomized ones (PSS, ECDSA) are verified.
 */
import { describe, expect, it } from 'vitest';
import type { LatchkeyErrorCode } from '../../src/errors.js';
import {
  type Algorithm,
  createVerifier,
  exportPublicJWK,
  importJWK,
  importJWKS,
  type Key,
  signJWS,
  verifyJWS,
} from '../../src/jwt/index.js';
import { detectVectors, readVectorJSON } from './vectors.js';

/** Matches an error by class name, code and exact message. */
function rejection(name: string, code: LatchkeyErrorCode, message: string) {
  return expect.objectContaining({ name, code, message });
}

/** The key a verifier holds: the public half of a private key, or the secret itself. */
function toVerifyingKey(key: Key): Key {
  return key.kind === 'secret' ? key : key.toPublicKey();
}

/** The signature `key` makes over `signingInput`, base64url. */
function signatureOver(key: Key, signingInput: string): string {
  if (key.signInput === null) throw new Error('the key cannot sign');
  return key.signInput(signingInput).toString('base64url');
}

function decodeSegment(segment: string | undefined): string {
  return Buffer.from(segment ?? '', 'base64url').toString('utf8');
}

interface AppendixAVector {
  id: string;
  alg: string;
  key?: Record<string, unknown>;
  compact: string;
  protected_header_utf8?: string;
}

interface AppendixA {
  payload_utf8: string;
  vectors: AppendixAVector[];
}

interface CookbookSigning {
  protected?: Record<string, unknown>;
  protected_b64u?: string;
  'sig-input': string;
  sig: string;
}

interface CookbookJWS {
  input: { payload: string; key: Record<string, unknown>; alg: Algorithm };
  signing: CookbookSigning;
  output: { compact?: string; json: unknown; json_flat?: unknown };
}

/** RFC 7520 §4.8: one payload, three signers. */
interface CookbookMultiJWS {
  input: { payload: string; key: Record<string, unknown>[]; alg: Algorithm[] };
  signing: CookbookSigning[];
  output: { json: unknown };
}

const readAppendixA = () => readVectorJSON<AppendixA>('rfc7515-appendix-a.json');
const readCookbook = <T = CookbookJWS>(path: string) => readVectorJSON<T>(`jose-cookbook/${path}`);

/** A.1–A.3 carry `exp` 1300819380 (2011-03-22T18:43:00Z); one second earlier they are current. */
const BEFORE_EXPIRY_MS = 1300819379_000;
const APPENDIX_A_CLAIMS = { iss: 'joe', exp: 1300819380, 'http://example.com/is_root': true };

const ALG_NONE = rejection('JOSEError', 'ERR_JWS_ALG_NOT_ALLOWED', 'alg "none" is not allowed');
const EXPIRED = rejection(
  'JWTClaimError',
  'ERR_JWT_EXPIRED',
  '"exp" claim timestamp check failed: the token has expired',
);
const NOT_THREE_SEGMENTS = rejection(
  'JOSEError',
  'ERR_JWS_MALFORMED',
  'a compact JWS has exactly three segments',
);
const NOT_A_STRING = rejection('JOSEError', 'ERR_JWS_MALFORMED', 'token must be a string');
const CRIT_REJECTED = rejection(
  'JOSEError',
  'ERR_JWS_HEADER_REJECTED',
  'header lists critical extensions ("crit") that are not supported',
);

describe.skipIf(!detectVectors('RFC vectors'))('RFC vectors', () => {
  describe('RFC 7515 Appendix A', () => {
    const findVector = (id: string): AppendixAVector & { key: Record<string, unknown> } => {
      const vector = readAppendixA().vectors.find((v) => v.id === id);
      if (vector?.key === undefined) throw new Error(`no Appendix A vector ${id} with a key`);
      return { ...vector, key: vector.key };
    };
    const importVectorKey = (id: string): Key => {
      const { key, alg } = findVector(id);
      return importJWK(key, { alg: alg as Algorithm });
    };

    it('A.1: the transcribed header and payload are the RFC octets (CRLF and spaces included)', () => {
      const { payload_utf8: payload } = readAppendixA();
      const a1 = findVector('A.1');
      const [header, payloadSegment] = a1.compact.split('.');
      expect(decodeSegment(header)).toBe(a1.protected_header_utf8);
      expect(decodeSegment(payloadSegment)).toBe(payload);
      expect(payload).toContain('\r\n ');
    });

    for (const [id, alg] of [
      ['A.1', 'HS256'],
      ['A.2', 'RS256'],
      ['A.3', 'ES256'],
      ['A.4', 'ES512'],
    ] as const) {
      it(`${id} ${alg}: verifyJWS accepts it with the ${alg === 'HS256' ? 'secret' : 'public key'}`, () => {
        const { compact } = findVector(id);
        const key = toVerifyingKey(importVectorKey(id));
        expect(key.alg).toBe(alg);
        const { header, payloadSegment } = verifyJWS(compact, key);
        expect(header.alg).toBe(alg);
        expect(decodeSegment(payloadSegment)).toBe(id === 'A.4' ? 'Payload' : readAppendixA().payload_utf8);
      });
    }

    for (const id of ['A.1', 'A.2', 'A.3']) {
      it(`${id}: createVerifier accepts it at t = 1300819379 s; with the real clock it has expired`, () => {
        const { compact } = findVector(id);
        const key = toVerifyingKey(importVectorKey(id));
        const verifyThen = createVerifier({ key, now: () => BEFORE_EXPIRY_MS });
        expect(verifyThen(compact).payload).toEqual(APPENDIX_A_CLAIMS);
        const verifyNow = createVerifier({ key });
        expect(() => verifyNow(compact)).toThrow(EXPIRED);
        expect(() => verifyNow(compact)).toThrow(expect.objectContaining({ claim: 'exp' }));
      });
    }

    it('A.4: createVerifier rejects it as a JWT, since its payload is the text "Payload"', () => {
      const verify = createVerifier({ key: toVerifyingKey(importVectorKey('A.4')), now: () => 0 });
      expect(() => verify(findVector('A.4').compact)).toThrow(
        rejection('JWTClaimError', 'ERR_JWT_MALFORMED', 'JWT payload is not JSON'),
      );
    });

    it('A.1 HS256: the MAC recomputed over the original signing input is identical', () => {
      // The header is `{"typ":"JWT",\r\n "alg":"HS256"}`, which signJWS (JSON.stringify) cannot
      // reproduce, so the signature is compared over the RFC's own signing input.
      const { compact } = findVector('A.1');
      const signingInput = compact.slice(0, compact.lastIndexOf('.'));
      expect(signatureOver(importVectorKey('A.1'), signingInput)).toBe(compact.split('.')[2]);
    });

    it('A.2 RS256: re-signing with the private JWK reproduces the token byte for byte', () => {
      // Header `{"alg":"RS256"}` is what signJWS writes for a key without kid; PKCS#1 v1.5 is deterministic.
      const { compact } = findVector('A.2');
      const key = importVectorKey('A.2');
      expect(key.kind).toBe('private');
      expect(signJWS(readAppendixA().payload_utf8, key)).toBe(compact);
      expect(signatureOver(key, compact.slice(0, compact.lastIndexOf('.')))).toBe(compact.split('.')[2]);
    });

    it('A.5 alg none: ERR_JWS_ALG_NOT_ALLOWED with each A.1–A.4 key, and through createVerifier', () => {
      const a5 = readAppendixA().vectors.find((v) => v.id === 'A.5');
      if (a5 === undefined) throw new Error('no Appendix A vector A.5');
      expect(a5.compact.endsWith('.')).toBe(true);
      for (const id of ['A.1', 'A.2', 'A.3', 'A.4']) {
        const key = toVerifyingKey(importVectorKey(id));
        expect(() => verifyJWS(a5.compact, key)).toThrow(ALG_NONE);
        const verify = createVerifier({ key, now: () => BEFORE_EXPIRY_MS });
        expect(() => verify(a5.compact)).toThrow(ALG_NONE);
      }
    });
  });

  describe('RFC 7520 §4 (JOSE Cookbook): JWS', () => {
    const COMPACT_EXAMPLES = [
      { file: '4_1.rsa_v15_signature.json', alg: 'RS256', deterministic: true },
      { file: '4_2.rsa-pss_signature.json', alg: 'PS384', deterministic: false },
      { file: '4_3.ecdsa_signature.json', alg: 'ES512', deterministic: false },
      { file: '4_4.hmac-sha2_integrity_protection.json', alg: 'HS256', deterministic: true },
    ] as const;

    for (const { file, alg, deterministic } of COMPACT_EXAMPLES) {
      it(`${file} ${alg}: the compact output verifies`, () => {
        const { input, signing, output } = readCookbook(`jws/${file}`);
        expect(input.alg).toBe(alg);
        expect(output.compact).toBe(`${signing['sig-input']}.${signing.sig}`);
        const key = toVerifyingKey(importJWK(input.key, { alg }));
        const { header, payloadSegment } = verifyJWS(output.compact, key);
        expect(header).toEqual(signing.protected);
        expect(decodeSegment(payloadSegment)).toBe(input.payload);
      });

      if (deterministic) {
        it(`${file} ${alg}: signature and token recomputed with the private JWK are identical`, () => {
          const { input, signing, output } = readCookbook(`jws/${file}`);
          const key = importJWK(input.key, { alg });
          expect(signatureOver(key, signing['sig-input'])).toBe(signing.sig);
          // The key's kid comes from the JWK, so signJWS writes {"alg":…,"kid":…} exactly as the RFC does.
          expect(signJWS(input.payload, key)).toBe(output.compact);
        });
      }
    }

    it('4_5 detached content: the compact form is rejected; with the content put back it verifies', () => {
      // We do not implement detached content (RFC 7515 Appendix F): the empty payload segment is what
      // the signature is checked against, so the signature does not match.
      const { input, signing, output } = readCookbook('jws/4_5.signature_with_detached_content.json');
      const key = importJWK(input.key);
      const detached = output.compact ?? '';
      expect(detached.split('.')[1]).toBe('');
      expect(() => verifyJWS(detached, key)).toThrow(
        rejection('JOSEError', 'ERR_JWS_SIGNATURE_INVALID', 'signature verification failed'),
      );
      const payloadSegment = Buffer.from(input.payload).toString('base64url');
      const attached = `${signing.protected_b64u}.${payloadSegment}.${signing.sig}`;
      expect(decodeSegment(verifyJWS(attached, key).payloadSegment)).toBe(input.payload);
    });

    for (const file of ['4_6.protecting_specific_header_fields.json', '4_7.protecting_content_only.json']) {
      it(`${file}: JSON only (unprotected header); signature valid, JSON serializations rejected`, () => {
        const { input, signing, output } = readCookbook(`jws/${file}`);
        expect(output.compact).toBeUndefined();
        const key = importJWK(input.key);
        expect(key.verifyInput(signing['sig-input'], Buffer.from(signing.sig, 'base64url'))).toBe(true);
        expect(() => verifyJWS(JSON.stringify(output.json), key)).toThrow(NOT_THREE_SEGMENTS);
        expect(() => verifyJWS(JSON.stringify(output.json_flat), key)).toThrow(NOT_THREE_SEGMENTS);
        expect(() => verifyJWS(output.json, key)).toThrow(NOT_A_STRING);
      });
    }

    it('4_7: as a compact token its empty protected header is refused', () => {
      // alg and kid are only in the unprotected header, which compact serialization cannot carry.
      const { input, signing } = readCookbook('jws/4_7.protecting_content_only.json');
      expect(signing['sig-input'].startsWith('.')).toBe(true);
      expect(() => verifyJWS(`${signing['sig-input']}.${signing.sig}`, importJWK(input.key))).toThrow(
        rejection('JOSEError', 'ERR_JWS_MALFORMED', 'JWS header is not JSON'),
      );
    });

    it('4_8 multiple signatures: all 3 signatures are valid; the JSON serialization is rejected', () => {
      const { input, signing, output } = readCookbook<CookbookMultiJWS>('jws/4_8.multiple_signatures.json');
      expect(input.alg).toEqual(['RS256', 'ES512', 'HS256']);
      const keys = input.key.map((jwk, i) => importJWK(jwk, { alg: input.alg[i] as Algorithm }));
      for (const [i, { 'sig-input': signingInput, sig }] of signing.entries()) {
        const key = keys[i] as Key;
        expect(toVerifyingKey(key).verifyInput(signingInput, Buffer.from(sig, 'base64url'))).toBe(true);
        expect(() => verifyJWS(JSON.stringify(output.json), toVerifyingKey(key))).toThrow(NOT_THREE_SEGMENTS);
      }
      expect(signing).toHaveLength(3);
    });

    it('4_1 to 4_5: the JSON serializations of the compact examples are rejected too', () => {
      for (const file of [
        '4_1.rsa_v15_signature.json',
        '4_2.rsa-pss_signature.json',
        '4_3.ecdsa_signature.json',
        '4_4.hmac-sha2_integrity_protection.json',
        '4_5.signature_with_detached_content.json',
      ]) {
        const { input, output } = readCookbook(`jws/${file}`);
        const key = toVerifyingKey(importJWK(input.key, { alg: input.alg }));
        expect(() => verifyJWS(JSON.stringify(output.json), key)).toThrow(NOT_THREE_SEGMENTS);
        expect(() => verifyJWS(JSON.stringify(output.json_flat), key)).toThrow(NOT_THREE_SEGMENTS);
        expect(() => verifyJWS(output.json, key)).toThrow(NOT_A_STRING);
      }
    });
  });

  describe('RFC 7520 §3 (JOSE Cookbook): JWK', () => {
    const readJWK = (file: string) => readCookbook<Record<string, unknown>>(`jwk/${file}`);
    const KID = 'bilbo.baggins@hobbiton.example';

    it('3_1 EC P-521 public key: imports as ES512 (the only alg of its curve) and verifies 4_3', () => {
      const key = importJWK(readJWK('3_1.ec_public_key.json'));
      expect({ alg: key.alg, kind: key.kind, kid: key.kid }).toEqual({
        alg: 'ES512',
        kind: 'public',
        kid: KID,
      });
      const { output } = readCookbook('jws/4_3.ecdsa_signature.json');
      expect(verifyJWS(output.compact, key).header.alg).toBe('ES512');
    });

    it('3_2 EC P-521 private key: imports as ES512; its public half is 3_1', () => {
      const key = importJWK(readJWK('3_2.ec_private_key.json'));
      expect({ alg: key.alg, kind: key.kind, kid: key.kid }).toEqual({
        alg: 'ES512',
        kind: 'private',
        kid: KID,
      });
      const { x, y, crv } = readJWK('3_1.ec_public_key.json');
      expect(exportPublicJWK(key)).toMatchObject({ kty: 'EC', crv, x, y });
    });

    it('3_3 RSA public key: without alg it is refused; bound to RS256 it verifies 4_1', () => {
      const jwk = readJWK('3_3.rsa_public_key.json');
      expect(jwk.alg).toBeUndefined();
      expect(() => importJWK(jwk)).toThrow(
        rejection(
          'KeyError',
          'ERR_KEY_INVALID',
          'JWK rejected: no alg, and none was given to bind the key to',
        ),
      );
      const key = importJWK(jwk, { alg: 'RS256' });
      expect({ alg: key.alg, kind: key.kind, kid: key.kid }).toEqual({
        alg: 'RS256',
        kind: 'public',
        kid: KID,
      });
      expect(key.keyObject.asymmetricKeyDetails?.modulusLength).toBe(2048);
      const { output } = readCookbook('jws/4_1.rsa_v15_signature.json');
      expect(verifyJWS(output.compact, key).header.alg).toBe('RS256');
    });

    it('3_4 RSA private key: bound to RS256 it imports; its public half is 3_3', () => {
      const key = importJWK(readJWK('3_4.rsa_private_key.json'), { alg: 'RS256' });
      expect({ alg: key.alg, kind: key.kind, kid: key.kid }).toEqual({
        alg: 'RS256',
        kind: 'private',
        kid: KID,
      });
      const { n, e } = readJWK('3_3.rsa_public_key.json');
      expect(exportPublicJWK(key)).toMatchObject({ kty: 'RSA', n, e });
    });

    it('3_5 MAC key: has alg HS256, imports and verifies 4_4; a set takes it only with allowSecrets', () => {
      const jwk = readJWK('3_5.symmetric_key_mac_computation.json');
      expect(jwk.alg).toBe('HS256');
      const key = importJWK(jwk, { alg: 'HS256' });
      expect({ alg: key.alg, kind: key.kind, kid: key.kid }).toEqual({
        alg: 'HS256',
        kind: 'secret',
        kid: '018c0ae5-4d9b-471b-bfd6-eef314bc7037',
      });
      const { output } = readCookbook('jws/4_4.hmac-sha2_integrity_protection.json');
      expect(verifyJWS(output.compact, key).header.alg).toBe('HS256');
      expect(verifyJWS(output.compact, importJWKS({ keys: [jwk] }, { allowSecrets: true })).key.kid).toBe(
        key.kid,
      );
      expect(() => importJWKS({ keys: [jwk] })).toThrow(
        rejection('KeyError', 'ERR_JWKS_INVALID', 'key set contains a secret (oct) key'),
      );
    });

    it('3_6 symmetric encryption key (A256GCM, use enc): refused by importJWK, skipped by importJWKS', () => {
      // An encryption key must never become a signing key: its alg is not a JWS algorithm.
      const jwk = readJWK('3_6.symmetric_key_encryption.json');
      expect(jwk).toMatchObject({ alg: 'A256GCM', use: 'enc' });
      expect(() => importJWK(jwk)).toThrow(
        rejection('KeyError', 'ERR_KEY_INVALID', 'JWK rejected: alg is not a supported JWS algorithm'),
      );
      expect(() => importJWK(jwk, { alg: 'HS256' })).toThrow(
        rejection(
          'KeyError',
          'ERR_KEY_INVALID',
          'JWK rejected: its alg differs from the requested algorithm',
        ),
      );
      expect(importJWKS({ keys: [jwk] }, { allowSecrets: true }).size).toBe(0);
    });
  });

  describe('RFC 7797 (b64:false): rejected, we do not implement the extension', () => {
    it('hmac-sha2_b64_false compact example: crit ["b64"] is refused with ERR_JWS_HEADER_REJECTED', () => {
      const { input, output } = readCookbook('rfc7797/hmac-sha2_b64_false.json');
      const compact = output.compact ?? '';
      expect(JSON.parse(decodeSegment(compact.split('.')[0]))).toEqual({
        alg: 'HS256',
        b64: false,
        crit: ['b64'],
      });
      const key = importJWK(input.key);
      expect(() => verifyJWS(compact, key)).toThrow(CRIT_REJECTED);
      expect(() => createVerifier({ key })(compact)).toThrow(CRIT_REJECTED);
    });

    it('4.2 (JSON only): its b64:false header is refused on a compact token, with or without crit', () => {
      // The file is inconsistent: `signing.protected` has crit ["b64"] (as RFC 7797 §4.2), but its
      // protected_b64u encodes {"alg":"HS256","b64":false} without crit. Both spellings are refused. The
      // payload "$.02" contains a dot, so on a compact token it has to be base64url-encoded.
      const { input, signing, output } = readCookbook('rfc7797/4.2.hmac-sha2_b64_false.json');
      expect(signing.protected).toEqual({ alg: 'HS256', b64: false, crit: ['b64'] });
      expect(JSON.parse(decodeSegment(signing.protected_b64u))).toEqual({ alg: 'HS256', b64: false });
      const key = importJWK(input.key);
      const rest = `${Buffer.from(input.payload).toString('base64url')}.${signing.sig}`;
      expect(() => verifyJWS(`${signing.protected_b64u}.${rest}`, key)).toThrow(
        rejection('JOSEError', 'ERR_JWS_HEADER_REJECTED', 'header parameter "b64" is not supported'),
      );
      const withCrit = Buffer.from(JSON.stringify(signing.protected)).toString('base64url');
      expect(() => verifyJWS(`${withCrit}.${rest}`, key)).toThrow(CRIT_REJECTED);
      expect(() => verifyJWS(JSON.stringify(output.json), key)).toThrow(NOT_THREE_SEGMENTS);
    });
  });

  describe('RFC 8037 Ed25519 (curve25519/jws.json)', () => {
    it('EdDSA: verifies; Ed25519 is deterministic, so re-signing reproduces the token byte for byte', () => {
      const { input, signing, output } = readCookbook('curve25519/jws.json');
      const key = importJWK(input.key);
      expect({ alg: key.alg, kind: key.kind }).toEqual({ alg: 'EdDSA', kind: 'private' });
      const compact = output.compact ?? '';
      const { header, payloadSegment } = verifyJWS(compact, toVerifyingKey(key));
      expect(header).toEqual({ alg: 'EdDSA' });
      expect(decodeSegment(payloadSegment)).toBe(input.payload);
      expect(signatureOver(key, signing['sig-input'])).toBe(signing.sig);
      expect(signJWS(input.payload, key)).toBe(compact);
    });
  });
});
