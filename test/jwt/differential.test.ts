/**
 * Differential property tests against jose: tokens we sign verify in jose with the same header and
 * payload, tokens jose signs verify in ours with the same payload, and every mutation of a valid token
 * is refused by ours. Where jose accepts a mutated token, ours may refuse it only for its documented
 * stricter rule: a token has exactly one (canonical base64url) spelling.
 *
 * fast-check picks a new seed on every run and prints it with the counterexample on failure; pass it
 * back as `{ seed, path }` to fc.assert to replay.
 */
import fc from 'fast-check';
import { type JWTHeaderParameters, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Algorithm,
  createSigner,
  createVerifier,
  isTokenError,
  type JWTPayload,
  type JWTVerifier,
  signJWS,
} from '../../src/jwt/index.js';
import {
  type AlgFixture,
  BASE64URL_ALPHABET,
  clock,
  joseSignKey,
  joseVerifyKey,
  loadFixture,
  NOW_MS,
  NOW_SECONDS,
  segmentsOf,
  toStandardAlphabet,
  withNonCanonicalLast,
  withPadding,
} from './fixtures.js';

const ALGS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'PS256',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const satisfies readonly Algorithm[];
type DiffAlg = (typeof ALGS)[number];

const NOW_DATE = new Date(NOW_MS);
const TEN_YEARS = 10 * 365 * 86400;

const fixtures = new Map<DiffAlg, AlgFixture>();
const verifiers = new Map<DiffAlg, JWTVerifier>();

beforeAll(async () => {
  for (const alg of ALGS) {
    const fixture = await loadFixture(alg);
    fixtures.set(alg, fixture);
    verifiers.set(alg, createVerifier({ key: fixture.verifying, now: clock }));
  }
});

function fixtureOf(alg: DiffAlg): AlgFixture {
  const fixture = fixtures.get(alg);
  if (fixture === undefined) throw new Error(`no keys for ${alg}`);
  return fixture;
}

function verifyOurs(alg: DiffAlg, token: string) {
  const verify = verifiers.get(alg);
  if (verify === undefined) throw new Error(`no verifier for ${alg}`);
  return verify(token);
}

/** Runs jose's verifier with the same key material and clock; resolves to whether it accepted. */
function joseAccepts(alg: DiffAlg, token: string): Promise<boolean> {
  return jwtVerify(token, joseVerifyKey(fixtureOf(alg)), { currentDate: NOW_DATE }).then(
    () => true,
    () => false,
  );
}

function roundTrip<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

// ---------------------------------------------------------------------------------------------------
// Arbitraries

const REGISTERED_CLAIMS = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'blob']);
/** Never generated: alg is the key's, the rest are refused by ours on purpose (see attacks.test.ts). */
const RESERVED_HEADER = new Set(['alg', 'kid', 'typ', 'cty', 'crit', 'jku', 'jwk', 'x5u', 'x5c', 'b64']);

const algArb = fc.constantFrom(...ALGS);

/** ASCII, whole graphemes, and any code unit sequence (lone surrogates included). */
const textArb = fc.oneof(
  fc.string({ maxLength: 16 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
);

/**
 * typ and cty are media types: printable ASCII. We refuse anything else, where jose takes any string
 * (the attack table covers that difference), so both agree only on this text.
 */
const mediaTypeArb = fc.string({ unit: 'grapheme-ascii', maxLength: 16 });

/** Nested objects and arrays, unicode strings, numbers, booleans, null. */
const jsonArb = fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' });

const pastArb = fc.oneof(
  fc.integer({ min: NOW_SECONDS - TEN_YEARS, max: NOW_SECONDS }),
  fc.double({ min: NOW_SECONDS - TEN_YEARS, max: NOW_SECONDS, noNaN: true }),
);
const futureArb = fc.oneof(
  fc.integer({ min: NOW_SECONDS + 60, max: NOW_SECONDS + TEN_YEARS }),
  fc.double({ min: NOW_SECONDS + 60, max: NOW_SECONDS + TEN_YEARS, noNaN: true }),
);

const claimsArb: fc.Arbitrary<JWTPayload> = fc
  .record(
    {
      extra: fc.dictionary(
        textArb.filter((name) => !REGISTERED_CLAIMS.has(name)),
        jsonArb,
        { maxKeys: 4 },
      ),
      iss: textArb,
      sub: textArb,
      aud: fc.oneof(textArb, fc.array(textArb, { maxLength: 3 })),
      jti: textArb,
      exp: futureArb,
      iat: pastArb,
      nbf: pastArb,
      // Now and then a signing input over 1 KiB, past the HMAC's preallocated input buffer.
      blob: fc.string({ minLength: 900, maxLength: 3000 }),
    },
    { requiredKeys: ['extra', 'exp'] },
  )
  .map(({ extra, ...registered }): JWTPayload => ({ ...extra, ...registered }));

interface RandomHeader {
  kid?: string;
  typ?: string;
  cty?: string;
  [parameter: string]: unknown;
}

const headerArb: fc.Arbitrary<RandomHeader> = fc
  .record(
    {
      extra: fc.dictionary(
        textArb.filter((name) => !RESERVED_HEADER.has(name)),
        jsonArb,
        { maxKeys: 2 },
      ),
      kid: textArb,
      typ: mediaTypeArb,
      cty: mediaTypeArb,
    },
    { requiredKeys: ['extra'] },
  )
  .map(({ extra, ...named }): RandomHeader => ({ ...extra, ...named }));

// ---------------------------------------------------------------------------------------------------
// Mutations

const MUTATIONS = [
  'bit flip in the decoded bytes',
  'one base64url character flipped',
  'segments swapped',
  'header from another token',
  'payload from another token',
  're-encoded with padding',
  're-encoded in the standard alphabet',
  'character appended',
  'character removed',
  'non-canonical last character',
  'whitespace inserted',
] as const;
type MutationKind = (typeof MUTATIONS)[number];

interface MutationPlan {
  kind: MutationKind;
  segment: 0 | 1 | 2;
  index: number;
  choice: number;
}

const planArb: fc.Arbitrary<MutationPlan> = fc.record({
  kind: fc.constantFrom(...MUTATIONS),
  segment: fc.constantFrom(0 as const, 1 as const, 2 as const),
  index: fc.nat(),
  choice: fc.nat(),
});

const SEGMENT_NAMES = ['header', 'payload', 'signature'] as const;
const PERMUTATIONS = [
  [1, 0, 2],
  [0, 2, 1],
  [2, 1, 0],
  [1, 2, 0],
  [2, 0, 1],
] as const;
const WHITESPACE = [' ', '\n', '\t', '\r\n'] as const;

/** The mutated token and where it was changed, or null when the plan does not apply to this token. */
function mutate(token: string, other: string, plan: MutationPlan): { token: string; where: string } | null {
  const segments = segmentsOf(token);
  const where: string = SEGMENT_NAMES[plan.segment];
  const segment = segments[plan.segment];
  const replaced = (value: string | null) => {
    if (value === null) return null;
    const copy = [...segments];
    copy[plan.segment] = value;
    return { token: copy.join('.'), where };
  };
  switch (plan.kind) {
    case 'bit flip in the decoded bytes': {
      const bytes = Buffer.from(segment, 'base64url');
      if (bytes.length === 0) return null;
      const bit = plan.index % (bytes.length * 8);
      bytes[bit >> 3] = (bytes[bit >> 3] as number) ^ (1 << (bit & 7));
      return replaced(bytes.toString('base64url'));
    }
    case 'one base64url character flipped': {
      if (segment.length === 0) return null;
      const at = plan.index % segment.length;
      const value = BASE64URL_ALPHABET.indexOf(segment.charAt(at));
      const flipped = BASE64URL_ALPHABET.charAt((value + 1 + (plan.choice % 63)) % 64);
      return replaced(segment.slice(0, at) + flipped + segment.slice(at + 1));
    }
    case 'segments swapped': {
      const order = PERMUTATIONS[plan.choice % PERMUTATIONS.length] as readonly number[];
      return { token: order.map((i) => segments[i]).join('.'), where: 'token' };
    }
    case 'header from another token':
      return { token: [segmentsOf(other)[0], segments[1], segments[2]].join('.'), where: 'header' };
    case 'payload from another token':
      return { token: [segments[0], segmentsOf(other)[1], segments[2]].join('.'), where: 'payload' };
    case 're-encoded with padding':
      return replaced(withPadding(segment));
    case 're-encoded in the standard alphabet':
      return replaced(toStandardAlphabet(segment));
    case 'character appended':
      return replaced(segment + BASE64URL_ALPHABET.charAt(plan.choice % 64));
    case 'character removed': {
      if (segment.length === 0) return null;
      const at = plan.index % segment.length;
      return replaced(segment.slice(0, at) + segment.slice(at + 1));
    }
    case 'non-canonical last character':
      return replaced(withNonCanonicalLast(segment));
    case 'whitespace inserted': {
      const at = plan.index % (segment.length + 1);
      const space = WHITESPACE[plan.choice % WHITESPACE.length] as string;
      return replaced(segment.slice(0, at) + space + segment.slice(at));
    }
  }
}

/**
 * The mutation classes jose (v6 on Node 20, which decodes with the forgiving `atob`) accepts: other
 * spellings of the same signature bytes. The signature is not part of the signing input, so only its
 * spelling can change without breaking the signature; header and payload spellings are signed text.
 */
const JOSE_LENIENT = new Set([
  're-encoded with padding (signature)',
  'whitespace inserted (signature)',
  'non-canonical last character (signature)',
  // Flipping the last character of the signature only in its unused bits.
  'one base64url character flipped (signature)',
]);

const NOT_CANONICAL = /^JWS (header|payload|signature) is not canonical base64url$/;

describe('differential against jose', () => {
  it('(a) tokens we sign verify in jose with the same header and payload', async () => {
    await fc.assert(
      fc.asyncProperty(algArb, headerArb, claimsArb, fc.boolean(), async (alg, header, claims, viaSigner) => {
        const fixture = fixtureOf(alg);
        let token: string;
        let expectedHeader: Record<string, unknown>;
        if (viaSigner) {
          const typ = header.typ === undefined || header.typ === '' ? 'JWT' : header.typ;
          token = createSigner({ key: fixture.signing, typ, issuedAt: false, now: clock })(claims);
          expectedHeader = { alg, typ };
        } else {
          token = signJWS(JSON.stringify(claims), fixture.signing, header);
          expectedHeader = roundTrip({ ...header, alg });
        }
        const jose = await jwtVerify(token, joseVerifyKey(fixture), { currentDate: NOW_DATE });
        expect(jose.payload).toEqual(roundTrip(claims));
        expect(jose.protectedHeader).toEqual(expectedHeader);
        const ours = verifyOurs(alg, token);
        expect(ours.payload).toEqual(jose.payload);
        expect(ours.header).toEqual(jose.protectedHeader);
      }),
      { numRuns: 400 },
    );
  });

  it('(b) tokens jose signs verify in ours with the same header and payload', async () => {
    await fc.assert(
      fc.asyncProperty(algArb, headerArb, claimsArb, async (alg, header, claims) => {
        const fixture = fixtureOf(alg);
        const protectedHeader = { ...header, alg } as JWTHeaderParameters;
        const token = await new SignJWT(claims)
          .setProtectedHeader(protectedHeader)
          .sign(joseSignKey(fixture));
        const ours = verifyOurs(alg, token);
        expect(ours.payload).toEqual(roundTrip(claims));
        expect(ours.header).toEqual(roundTrip(protectedHeader));
      }),
      { numRuns: 400 },
    );
  });

  describe('(c) mutations of a valid token', () => {
    /** Mutation class (segment) → how often jose accepted a mutated token of that class. */
    const joseAccepted = new Map<string, number>();

    afterAll(() => {
      const summary = [...joseAccepted].map(([name, count]) => `${name}: ${count}`).join('; ');
      console.info(`mutations jose accepted and we rejected as non-canonical: ${summary || 'none'}`);
    });

    it('are all rejected by ours, and jose accepts none that ours rejects for another reason', async () => {
      await fc.assert(
        fc.asyncProperty(
          algArb,
          headerArb,
          claimsArb,
          headerArb,
          claimsArb,
          planArb,
          async (alg, header, claims, otherHeader, otherClaims, plan) => {
            const { signing } = fixtureOf(alg);
            const token = signJWS(JSON.stringify(claims), signing, header);
            const other = signJWS(JSON.stringify(otherClaims), signing, otherHeader);
            const mutated = mutate(token, other, plan);
            fc.pre(mutated !== null && mutated.token !== token);
            let error: unknown = null;
            try {
              verifyOurs(alg, mutated.token);
            } catch (caught) {
              error = caught;
            }
            expect(isTokenError(error), `ours accepted or crashed on: ${plan.kind} (${mutated.where})`).toBe(
              true,
            );
            if (await joseAccepts(alg, mutated.token)) {
              const name = `${plan.kind} (${mutated.where})`;
              joseAccepted.set(name, (joseAccepted.get(name) ?? 0) + 1);
              expect(error, `jose accepted ${name}; ours must refuse it only as non-canonical`).toMatchObject(
                {
                  code: 'ERR_JWS_MALFORMED',
                  message: expect.stringMatching(NOT_CANONICAL),
                },
              );
            }
          },
        ),
        { numRuns: 1500 },
      );
      for (const name of joseAccepted.keys()) expect([...JOSE_LENIENT]).toContain(name);
    });

    // The classes above, each shown once and deterministically, for the algorithms whose signature
    // length leaves unused bits (so all three spellings exist).
    describe.each(['HS256', 'HS512', 'RS256', 'PS256', 'ES256', 'EdDSA'] as const)('%s', (alg) => {
      const spellings: [string, (signature: string) => string][] = [
        ['padding', (s) => withPadding(s) as string],
        ['whitespace', (s) => `${s.slice(0, 10)}\n${s.slice(10)}`],
        ['a non-canonical last character', (s) => withNonCanonicalLast(s) as string],
      ];

      it.each(spellings)('jose accepts a signature spelled with %s; ours refuses it', async (_, spell) => {
        const fixture = fixtureOf(alg);
        const token = signJWS(JSON.stringify({ sub: 'user-1', exp: NOW_SECONDS + 600 }), fixture.signing);
        const [h, p, s] = segmentsOf(token);
        const respelled = `${h}.${p}.${spell(s)}`;
        expect(await joseAccepts(alg, token)).toBe(true);
        expect(await joseAccepts(alg, respelled)).toBe(true);
        expect(() => verifyOurs(alg, respelled)).toThrow(
          expect.objectContaining({
            code: 'ERR_JWS_MALFORMED',
            message: 'JWS signature is not canonical base64url',
          }),
        );
      });

      it('jose rejects a signature in the standard alphabet, as ours does', async () => {
        const fixture = fixtureOf(alg);
        for (let n = 0; n < 500; n += 1) {
          const token = signJWS(JSON.stringify({ n, exp: NOW_SECONDS + 600 }), fixture.signing);
          const [h, p, s] = segmentsOf(token);
          const respelled = `${h}.${p}.${toStandardAlphabet(s)}`;
          if (respelled === token) continue;
          expect(await joseAccepts(alg, respelled)).toBe(false);
          expect(() => verifyOurs(alg, respelled)).toThrow(
            expect.objectContaining({ code: 'ERR_JWS_MALFORMED' }),
          );
          return;
        }
        throw new Error('no signature with "-" or "_" found');
      });
    });
  });
});
