/**
 * Project Wycheproof JOSE vectors (json_web_signature, json_web_key, json_web_crypto) through
 * `importJWK` / `importJWKS` and `verifyJWS`. A vector is "valid" when import and verification both
 * succeed and "invalid" when either throws a `LatchkeyError`; any other exception fails the test. Every
 * tcId must match its label except the ones in DIVERGENCES, the upstream defects listed in
 * /work/shared/vectors/README.md, where our actual behaviour is asserted instead.
 */
import { describe, expect, it } from 'vitest';
import { LatchkeyError, type LatchkeyErrorCode } from '../../src/errors.js';
import { importJWK, importJWKS, verifyJWS } from '../../src/jwt/index.js';
import { detectVectors, type JOSETestGroup, loadWycheproof } from './vectors.js';

const SIGNATURE_FILE = 'json_web_signature_test.json';
const KEY_FILE = 'json_web_key_test.json';
const CRYPTO_FILE = 'json_web_crypto_test.json';

type JOSETest = JOSETestGroup['tests'][number];

type Outcome = { result: 'valid' } | { result: 'invalid'; error: LatchkeyError };

/** Verifies with the group's public key when it has one, else with its private key or secret. */
function runVector(group: JOSETestGroup, test: JOSETest): Outcome {
  const keyInput = group.public ?? group.private;
  try {
    const keys =
      typeof keyInput === 'object' && keyInput !== null && 'keys' in keyInput
        ? importJWKS(keyInput, { allowSecrets: true })
        : importJWK(keyInput);
    verifyJWS(test.jws, keys);
    return { result: 'valid' };
  } catch (error) {
    if (error instanceof LatchkeyError) return { result: 'invalid', error };
    throw error;
  }
}

/** What a vector came to: 'valid', or the code and message of the rejection. */
function describeOutcome(outcome: Outcome): string {
  return outcome.result === 'valid' ? 'valid' : `${outcome.error.code}: ${outcome.error.message}`;
}

interface Vector {
  group: JOSETestGroup;
  test: JOSETest;
}

/** The JWS vectors of a file by tcId, and how many JWE vectors (no `jws`) were left out. */
function loadJWSVectors(fileName: string): { vectors: Map<number, Vector>; skippedJWE: number } {
  const vectors = new Map<number, Vector>();
  let skippedJWE = 0;
  for (const group of loadWycheproof<JOSETestGroup>(fileName).testGroups) {
    for (const test of group.tests) {
      if (!('jws' in test)) {
        expect(test).toHaveProperty('jwe');
        skippedJWE += 1;
        continue;
      }
      vectors.set(test.tcId, { group, test });
    }
  }
  return { vectors, skippedJWE };
}

function requireVector(fileName: string, tcId: number): Vector {
  const vector = loadJWSVectors(fileName).vectors.get(tcId);
  if (vector === undefined) throw new Error(`${fileName} has no JWS test ${tcId}`);
  return vector;
}

interface Divergence {
  fileName: string;
  tcId: number;
  label: 'valid' | 'invalid';
  /** What we do: 'valid', or the rejection. */
  ours: 'valid' | { code: LatchkeyErrorCode; message: string };
  reason: string;
}

/**
 * Expected divergences: upstream conversion defects (vectors README, "Known defects"). For each, our
 * actual behaviour is asserted. 349 is listed upstream because its private JWK is defective; we verify
 * with its public JWK, which is not, so there we agree with the label (the private one is refused below).
 */
const DIVERGENCES: readonly Divergence[] = [
  {
    fileName: SIGNATURE_FILE,
    tcId: 346,
    label: 'valid',
    ours: { code: 'ERR_JWS_ALG_NOT_ALLOWED', message: "token alg PS384 does not match the key's alg PS256" },
    reason: 'the key says alg PS256 but the token (RFC 7520 figure 20) is PS384; the key decides the alg',
  },
  {
    fileName: SIGNATURE_FILE,
    tcId: 350,
    label: 'valid',
    ours: { code: 'ERR_JWS_ALG_NOT_ALLOWED', message: "token alg PS384 does not match the key's alg PS256" },
    reason: 'as 346, with key_ops: the key says alg PS256 but the token is PS384',
  },
  {
    fileName: SIGNATURE_FILE,
    tcId: 347,
    label: 'valid',
    ours: { code: 'ERR_KEY_INVALID', message: 'JWK rejected: alg is not a supported JWS algorithm' },
    reason: 'the key says alg "ES521", a typo for ES512; an unknown alg is refused, never guessed',
  },
  {
    fileName: SIGNATURE_FILE,
    tcId: 351,
    label: 'valid',
    ours: { code: 'ERR_KEY_INVALID', message: 'JWK rejected: alg is not a supported JWS algorithm' },
    reason: 'as 347, with key_ops: the key says alg "ES521"',
  },
  {
    fileName: SIGNATURE_FILE,
    tcId: 349,
    label: 'valid',
    ours: 'valid',
    reason:
      'the private JWK has key_ops ["sign, verify"] (one string) and is refused; the public JWK we verify ' +
      'with has key_ops ["verify"], so we agree with the label here',
  },
  {
    fileName: SIGNATURE_FILE,
    tcId: 367,
    label: 'invalid',
    ours: 'valid',
    reason: 'the token is byte-identical to tcId 357, which is labelled valid',
  },
  {
    fileName: SIGNATURE_FILE,
    tcId: 370,
    label: 'invalid',
    ours: 'valid',
    reason: 'the token is byte-identical to tcId 357, which is labelled valid',
  },
  {
    fileName: SIGNATURE_FILE,
    tcId: 372,
    label: 'valid',
    ours: { code: 'ERR_JWS_MALFORMED', message: 'JWS header is not canonical base64url' },
    reason: 'the header segment contains "?", which is not in the base64url alphabet',
  },
  {
    fileName: SIGNATURE_FILE,
    tcId: 373,
    label: 'valid',
    ours: { code: 'ERR_JWS_MALFORMED', message: 'JWS payload is not canonical base64url' },
    reason: 'the payload segment contains "?", which is not in the base64url alphabet',
  },
  {
    fileName: KEY_FILE,
    tcId: 7,
    label: 'invalid',
    ours: 'valid',
    reason:
      'ROCA-weak RSA key (CVE-2017-15361): only a ROCA fingerprint test refuses it, and we check size ' +
      'and exponent, not ROCA',
  },
  {
    fileName: CRYPTO_FILE,
    tcId: 46,
    label: 'invalid',
    ours: 'valid',
    reason: 'the same ROCA-weak RSA key as json_web_key tcId 7',
  },
];

function findDivergence(fileName: string, tcId: number): Divergence | undefined {
  return DIVERGENCES.find((d) => d.fileName === fileName && d.tcId === tcId);
}

function expectOutcome(outcome: Outcome, expected: Divergence['ours']): void {
  if (expected === 'valid') {
    expect(describeOutcome(outcome)).toBe('valid');
  } else {
    expect(outcome.result).toBe('invalid');
    expect(outcome.result === 'invalid' && outcome.error).toMatchObject(expected);
  }
}

/** True when the message repeats a long segment of the token (STYLE: no token in error messages). */
function leaksToken(message: string, jws: unknown): boolean {
  if (typeof jws !== 'string') return false;
  return jws.split('.').some((segment) => segment.length >= 16 && message.includes(segment));
}

/** Builds the list of tcIds from single numbers and inclusive [from, to] ranges. */
function tcIds(...items: (number | readonly [number, number])[]): number[] {
  return items.flatMap((item) =>
    typeof item === 'number' ? [item] : Array.from({ length: item[1] - item[0] + 1 }, (_, i) => item[0] + i),
  );
}

interface CodeCase {
  what: string;
  code: LatchkeyErrorCode;
  ids: readonly number[];
}

/**
 * The code of every rejection, by tcId. tcIds 1–45 are the same tokens and keys in json_web_signature
 * and json_web_crypto (17 is a JSON string in one and a JSON object in the other).
 */
const COMMON_CODES: readonly CodeCase[] = [
  {
    what: 'modified or missing signature, payload or header',
    code: 'ERR_JWS_SIGNATURE_INVALID',
    ids: [2, 3, 5, 6, 8, 19, 20, 22, 23, 25, 34, 35, 37, 38, 40],
  },
  { what: 'empty header segment', code: 'ERR_JWS_MALFORMED', ids: [9, 11, 26, 28, 41, 43] },
  {
    what: 'not three segments (separators missing or extra, empty string)',
    code: 'ERR_JWS_MALFORMED',
    ids: [4, 7, 10, 12, 13, 14, 15, 21, 24, 27, 29, 30, 36, 39, 42, 44, 45],
  },
  { what: 'JSON serialization', code: 'ERR_JWS_MALFORMED', ids: [17] },
  { what: 'alg none', code: 'ERR_JWS_ALG_NOT_ALLOWED', ids: [16] },
  { what: 'HS256 token against an ES256 key (key confusion)', code: 'ERR_JWS_ALG_NOT_ALLOWED', ids: [31] },
  { what: 'embedded jwk header', code: 'ERR_JWS_HEADER_REJECTED', ids: [32] },
];

const SIGNATURE_CODES: readonly CodeCase[] = [
  ...COMMON_CODES,
  { what: 'mangled RS256 DigestInfo encodings', code: 'ERR_JWS_SIGNATURE_INVALID', ids: tcIds([46, 258]) },
  {
    what: 'modified PSS encodings',
    code: 'ERR_JWS_SIGNATURE_INVALID',
    ids: tcIds([276, 286], [289, 319], 324, 329, 330),
  },
  {
    what: 'RS*/PS* signature under a PS512 header',
    code: 'ERR_JWS_SIGNATURE_INVALID',
    ids: [331, 333, 335, 337, 339],
  },
  {
    what: 'RS*/PS* header against a PS512 key',
    code: 'ERR_JWS_ALG_NOT_ALLOWED',
    ids: [332, 334, 336, 338, 340],
  },
  { what: 'alg none / NONE', code: 'ERR_JWS_ALG_NOT_ALLOWED', ids: tcIds([341, 344]) },
  {
    what: 'encryption keys (use enc, key_ops encrypt; 353 and 355 also lack alg)',
    code: 'ERR_KEY_INVALID',
    ids: tcIds([353, 356]),
  },
  {
    what: 'non-canonical base64url (spaces, "?", "#", non-zero padding bits)',
    code: 'ERR_JWS_MALFORMED',
    ids: tcIds([360, 366], 368, 369, 371, 374, 375),
  },
  {
    what: 'ECDSA special values (r or s = 0, 1, n−1, n), overlong and overflowing signatures',
    code: 'ERR_JWS_SIGNATURE_INVALID',
    ids: tcIds([379, 401]),
  },
];

/**
 * json_web_key is about key rules. Keys a set skips (use enc, or an alg that is not a JWS algorithm:
 * 6, 19, 20, 21, 25, 26) leave no key for the token. 4 is meant to test duplicate kids, but its second
 * key's `k` is not canonical base64url, which we refuse first; the duplicate-kid rule is asserted below.
 */
const KEY_CODES: readonly CodeCase[] = [
  { what: 'set mixing a secret and an EC key', code: 'ERR_JWKS_INVALID', ids: [1] },
  { what: 'modified signature', code: 'ERR_JWS_SIGNATURE_INVALID', ids: [3] },
  { what: 'non-canonical k (duplicate kid)', code: 'ERR_KEY_INVALID', ids: [4] },
  { what: 'RSA 1024-bit, RSA e = 1', code: 'ERR_KEY_INVALID', ids: [8, 9] },
  {
    what: 'HMAC keys shorter than the hash, or empty',
    code: 'ERR_KEY_INVALID',
    ids: [10, 11, 12, 16, 17, 18],
  },
  { what: 'invalid point, wrong curve, wrong kty', code: 'ERR_KEY_INVALID', ids: [22, 23, 24] },
  {
    what: 'only keys a set skips: use enc, alg ES521 / ES224 / A256GCM / A256KW',
    code: 'ERR_JWKS_NO_MATCHING_KEY',
    ids: [6, 19, 20, 21, 25, 26],
  },
];

const CRYPTO_CODES: readonly CodeCase[] = [
  ...COMMON_CODES,
  { what: 'set mixing a secret and an EC key', code: 'ERR_JWKS_INVALID', ids: [47] },
  { what: 'modified signature, key set', code: 'ERR_JWS_SIGNATURE_INVALID', ids: [49] },
];

interface FileCase {
  fileName: string;
  codes: readonly CodeCase[];
  jws: number;
  skippedJWE: number;
  agreeing: number;
  rejected: number;
}

const FILES: readonly FileCase[] = [
  { fileName: SIGNATURE_FILE, codes: SIGNATURE_CODES, jws: 401, skippedJWE: 0, agreeing: 393, rejected: 359 },
  { fileName: KEY_FILE, codes: KEY_CODES, jws: 26, skippedJWE: 0, agreeing: 25, rejected: 20 },
  { fileName: CRYPTO_FILE, codes: CRYPTO_CODES, jws: 49, skippedJWE: 34, agreeing: 48, rejected: 44 },
];

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

describe.skipIf(!detectVectors('Wycheproof JOSE vectors'))('Wycheproof JOSE vectors', () => {
  for (const { fileName, codes, jws, skippedJWE, agreeing, rejected } of FILES) {
    const divergent = jws - agreeing;
    const name =
      `${fileName}: ${plural(jws, 'JWS vector')} (${skippedJWE} JWE skipped), ${agreeing} agree with ` +
      `the label, ${plural(divergent, 'expected divergence')}; ${rejected} rejections, each with its code`;
    it(name, () => {
      const expectedCodes = new Map<number, CodeCase>();
      for (const codeCase of codes) for (const tcId of codeCase.ids) expectedCodes.set(tcId, codeCase);
      const loaded = loadJWSVectors(fileName);
      const mismatches: string[] = [];
      const leaks: number[] = [];
      let agreed = 0;
      let rejections = 0;
      let coded = 0;
      for (const [tcId, { group, test }] of loaded.vectors) {
        const outcome = runVector(group, test);
        if (outcome.result === test.result) agreed += 1;
        if (outcome.result === 'invalid') {
          rejections += 1;
          if (leaksToken(outcome.error.message, test.jws)) leaks.push(tcId);
        }
        // The divergences are asserted one by one below.
        if (findDivergence(fileName, tcId) !== undefined) continue;
        const where = `tcId ${tcId} (${test.comment}, labelled ${test.result})`;
        if (outcome.result !== test.result) {
          mismatches.push(`${where}: ${describeOutcome(outcome)}`);
        } else if (outcome.result === 'invalid') {
          const expected = expectedCodes.get(tcId);
          if (expected === undefined) {
            mismatches.push(`${where}: ${outcome.error.code}, no code listed`);
          } else {
            coded += 1;
            if (expected.code !== outcome.error.code) {
              mismatches.push(
                `${where}, ${expected.what}: ${describeOutcome(outcome)}, not ${expected.code}`,
              );
            }
          }
        }
      }
      expect(mismatches).toEqual([]);
      expect(leaks).toEqual([]);
      expect(loaded.vectors.size).toBe(jws);
      expect(loaded.skippedJWE).toBe(skippedJWE);
      expect(agreed).toBe(agreeing);
      expect(rejections).toBe(rejected);
      // Every tcId in the code table is a rejection that was checked: no stale entries.
      expect(coded).toBe(expectedCodes.size);
    });
  }

  describe('expected divergences from upstream labels', () => {
    for (const { fileName, tcId, label, ours, reason } of DIVERGENCES) {
      const summary = ours === 'valid' ? 'valid' : `rejected, ${ours.code}`;
      it(`${fileName} tcId ${tcId}, labelled ${label}: ${summary} (${reason})`, () => {
        const { group, test } = requireVector(fileName, tcId);
        expect(test.result).toBe(label);
        expectOutcome(runVector(group, test), ours);
      });
    }

    it('367 and 370 are byte-identical to valid tcId 357; 372 and 373 contain "?"', () => {
      const jwsOf = (tcId: number) => requireVector(SIGNATURE_FILE, tcId).test.jws;
      expect(requireVector(SIGNATURE_FILE, 357).test.result).toBe('valid');
      expect(jwsOf(367)).toBe(jwsOf(357));
      expect(jwsOf(370)).toBe(jwsOf(357));
      expect(jwsOf(372)).toContain('?');
      expect(jwsOf(373)).toContain('?');
    });

    it('349: the private JWK, with key_ops ["sign, verify"], is refused with ERR_KEY_INVALID', () => {
      const { group } = requireVector(SIGNATURE_FILE, 349);
      expect(group.private).toMatchObject({ key_ops: ['sign, verify'] });
      expect(() => importJWK(group.private)).toThrow(
        expect.objectContaining({
          name: 'KeyError',
          code: 'ERR_KEY_INVALID',
          message: 'JWK rejected: key_ops allows neither sign nor verify',
        }),
      );
    });
  });

  it(`${KEY_FILE} tcId 4 with a canonical second key: duplicate kid, ERR_JWKS_INVALID`, () => {
    const { group } = requireVector(KEY_FILE, 4);
    const { keys } = group.private as { keys: { kid: string; k: string }[] };
    expect(keys.map((key) => key.kid)).toEqual(['kid-aes-sign', 'kid-aes-sign']);
    // Decoding and encoding again gives the canonical spelling of the same bytes; the kids stay the same.
    const canonical = keys.map((key) => ({
      ...key,
      k: Buffer.from(key.k, 'base64url').toString('base64url'),
    }));
    expect(canonical[1]?.k).not.toBe(keys[1]?.k);
    expect(() => importJWKS({ keys: canonical }, { allowSecrets: true })).toThrow(
      expect.objectContaining({
        name: 'KeyError',
        code: 'ERR_JWKS_INVALID',
        message: 'key set has two keys with the same kid',
      }),
    );
  });
});
