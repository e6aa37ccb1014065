import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JWTClaimError } from '../../src/errors.js';
import {
  type JWTPayload,
  normalizeTyp,
  type ResolvedClaimRules,
  validateClaims,
} from '../../src/jwt/claims.js';
import { rejectionOf } from '../support/errors.js';

const NOW = 1_800_000_000;

const rules = (overrides: Partial<ResolvedClaimRules> = {}): ResolvedClaimRules => ({
  issuers: null,
  audiences: null,
  subject: null,
  typ: null,
  clockToleranceSeconds: 30,
  maxTokenAgeSeconds: null,
  requiredClaims: [],
  ...overrides,
});

const rejection = (run: () => unknown) => rejectionOf(JWTClaimError, run, 'claim');

describe('validateClaims', () => {
  it('accepts a payload that meets every rule', () => {
    const payload = { iss: 'a', aud: ['x', 'y'], sub: 's', exp: NOW + 60, nbf: NOW - 1, iat: NOW - 1 };
    expect(() =>
      validateClaims(
        payload,
        'at+jwt',
        rules({
          issuers: ['a'],
          audiences: ['y'],
          subject: 's',
          typ: 'application/at+jwt',
          requiredClaims: ['exp'],
        }),
        NOW,
      ),
    ).not.toThrow();
  });

  it.each([
    [
      'exp exactly at now - tolerance',
      { exp: NOW - 30 },
      'ERR_JWT_EXPIRED',
      '"exp" claim timestamp check failed: the token has expired',
    ],
    [
      'exp zero (never skipped as falsy)',
      { exp: 0 },
      'ERR_JWT_EXPIRED',
      '"exp" claim timestamp check failed: the token has expired',
    ],
    [
      'nbf beyond the tolerance',
      { nbf: NOW + 31 },
      'ERR_JWT_NOT_YET_VALID',
      '"nbf" claim timestamp check failed: the token is not valid yet',
    ],
    [
      'exp as a string',
      { exp: String(NOW + 60) },
      'ERR_JWT_CLAIM_INVALID',
      '"exp" claim must be a finite number',
    ],
    [
      'exp as Infinity (JSON 1e309)',
      { exp: Number.POSITIVE_INFINITY },
      'ERR_JWT_CLAIM_INVALID',
      '"exp" claim must be a finite number',
    ],
    ['nbf as null', { nbf: null }, 'ERR_JWT_CLAIM_INVALID', '"nbf" claim must be a finite number'],
    ['iat as a boolean', { iat: true }, 'ERR_JWT_CLAIM_INVALID', '"iat" claim must be a finite number'],
    ['iss as a number', { iss: 1 }, 'ERR_JWT_CLAIM_INVALID', '"iss" claim must be a string'],
    ['sub as an object', { sub: {} }, 'ERR_JWT_CLAIM_INVALID', '"sub" claim must be a string'],
    ['jti as a number', { jti: 5 }, 'ERR_JWT_CLAIM_INVALID', '"jti" claim must be a string'],
    [
      'aud with a non-string',
      { aud: ['a', 1] },
      'ERR_JWT_CLAIM_INVALID',
      '"aud" claim must be a string or an array of strings',
    ],
  ])('refuses %s', (_, payload, code, message) => {
    expect(rejection(() => validateClaims(payload as JWTPayload, undefined, rules(), NOW))).toMatchObject({
      code,
      message,
    });
  });

  it('accepts exp and nbf within the tolerance', () => {
    expect(() => validateClaims({ exp: NOW - 29, nbf: NOW + 30 }, undefined, rules(), NOW)).not.toThrow();
  });

  it('uses no tolerance when it is zero', () => {
    expect(
      rejection(() => validateClaims({ exp: NOW }, undefined, rules({ clockToleranceSeconds: 0 }), NOW)).code,
    ).toBe('ERR_JWT_EXPIRED');
  });

  it('checks required claims, issuer, subject and audience', () => {
    expect(rejection(() => validateClaims({}, undefined, rules({ requiredClaims: ['exp'] }), NOW))).toEqual({
      code: 'ERR_JWT_CLAIM_INVALID',
      message: '"exp" claim is missing',
      claim: 'exp',
    });
    expect(
      rejection(() => validateClaims({ iss: 'b' }, undefined, rules({ issuers: ['a'] }), NOW)).message,
    ).toBe('"iss" claim is not an accepted issuer');
    expect(rejection(() => validateClaims({}, undefined, rules({ issuers: ['a'] }), NOW)).claim).toBe('iss');
    expect(
      rejection(() => validateClaims({ sub: 't' }, undefined, rules({ subject: 's' }), NOW)).message,
    ).toBe('"sub" claim is not the expected subject');
    for (const aud of [undefined, 'z', ['z', 'w'], []]) {
      expect(
        rejection(() => validateClaims({ aud } as JWTPayload, undefined, rules({ audiences: ['x'] }), NOW)),
      ).toMatchObject({
        code: 'ERR_JWT_CLAIM_INVALID',
        message: '"aud" claim does not name an accepted audience',
      });
    }
  });

  it('does not let an inherited property satisfy a claim', () => {
    const payload = JSON.parse('{"__proto__":{"aud":"x","iss":"a"}}');
    expect(rejection(() => validateClaims(payload, undefined, rules({ audiences: ['x'] }), NOW)).claim).toBe(
      'aud',
    );
  });

  it('checks typ case-insensitively and with or without application/', () => {
    for (const typ of ['at+jwt', 'AT+JWT', 'application/at+jwt', 'Application/At+JWT']) {
      expect(() => validateClaims({}, typ, rules({ typ: normalizeTyp('at+jwt') }), NOW)).not.toThrow();
    }
    for (const typ of [undefined, 'JWT', 'at+jwt ', 'application/jwt', 'at+jwt/', 'x/at+jwt']) {
      expect(rejection(() => validateClaims({}, typ, rules({ typ: normalizeTyp('at+jwt') }), NOW))).toEqual({
        code: 'ERR_JWT_TYP_INVALID',
        message: 'token type ("typ" header) must be application/at+jwt',
        claim: 'typ',
      });
    }
    expect(normalizeTyp('Application/AT+JWT')).toBe('application/at+jwt');
    expect(normalizeTyp('AT+JWT')).toBe('application/at+jwt');
  });

  it('prepends application/ only to a typ without a slash (RFC 7515 §4.1.9)', () => {
    // Stripping the prefix instead would make 'a/b' and 'application/a/b' one type; they are two.
    const expected = rules({ typ: normalizeTyp('application/a/b') });
    expect(() => validateClaims({}, 'Application/A/B', expected, NOW)).not.toThrow();
    expect(rejection(() => validateClaims({}, 'a/b', expected, NOW))).toMatchObject({
      code: 'ERR_JWT_TYP_INVALID',
    });
    const nested = rules({ typ: normalizeTyp('application/application/foo') });
    expect(() => validateClaims({}, 'application/application/foo', nested, NOW)).not.toThrow();
    expect(rejection(() => validateClaims({}, 'application/foo', nested, NOW))).toMatchObject({
      code: 'ERR_JWT_TYP_INVALID',
    });
  });

  it('accepts a header typ exactly when it normalises to the expected typ', () => {
    const typ = fc.oneof(
      fc.stringMatching(/^(application\/|Application\/|x\/)?[a-zA-Z+./-]{0,8}$/),
      fc.constantFrom('at+jwt', 'AT+JWT', 'application/at+jwt', 'application/', 'application', ''),
    );
    fc.assert(
      fc.property(typ, typ, (header, expected) => {
        const accepted = (() => {
          try {
            validateClaims({}, header, rules({ typ: normalizeTyp(expected) }), NOW);
            return true;
          } catch {
            return false;
          }
        })();
        return accepted === (normalizeTyp(header) === normalizeTyp(expected));
      }),
      { numRuns: 2000 },
    );
  });

  it('normalises idempotently, so a normalised typ is its own normal form', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^(application\/|APPLICATION\/|x\/)*[a-zA-Z+./-]{0,12}$/),
        (typ) => normalizeTyp(normalizeTyp(typ)) === normalizeTyp(typ),
      ),
    );
  });

  it('enforces the maximum token age through iat', () => {
    const aged = rules({ maxTokenAgeSeconds: 60 });
    expect(() => validateClaims({ iat: NOW - 90 }, undefined, aged, NOW)).not.toThrow();
    expect(rejection(() => validateClaims({ iat: NOW - 91 }, undefined, aged, NOW))).toMatchObject({
      code: 'ERR_JWT_EXPIRED',
      message: '"iat" claim timestamp check failed: the token is too old',
    });
    expect(rejection(() => validateClaims({}, undefined, aged, NOW)).message).toBe(
      '"iat" claim is required when a maximum token age is set',
    );
    expect(rejection(() => validateClaims({ iat: NOW + 31 }, undefined, aged, NOW)).message).toBe(
      '"iat" claim timestamp check failed: it lies in the future',
    );
  });
});
