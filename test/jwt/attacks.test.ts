/**
 * One table of attacks, run once per algorithm. Every row builds its token by hand (see fixtures.ts)
 * and, where it can, signs exactly the bytes it sends with the right key, so that the only thing wrong
 * with the token is the rule under test. Every rejection is checked by class, code and message.
 */
import { sign as cryptoSign, type KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { JOSEError, JWTClaimError } from '../../src/errors.js';
import {
  ALGORITHMS,
  type Algorithm,
  createVerifier,
  DEFAULT_MAX_TOKEN_BYTES,
  exportJWK,
  exportPublicJWK,
  importSecret,
  isAlgorithm,
  isTokenError,
  KeySet,
  type VerifiedJWT,
  type VerifierOptions,
} from '../../src/jwt/index.js';
import {
  ALL_ALGORITHMS,
  type AlgFixture,
  AUDIENCE,
  BASE64URL_ALPHABET,
  buildToken,
  claimError,
  clock,
  encodeSegment,
  expectRejected,
  hmacSigner,
  ISSUER,
  insertMiddle,
  type JSONPart,
  joseError,
  loadFixture,
  NOW_MS,
  NOW_SECONDS,
  segmentsOf,
  signerOf,
  signSegments,
  tunedJSON,
  withKid,
  withNonCanonicalLast,
  withPadding,
} from './fixtures.js';

const TYP = 'at+jwt';
const EVIL = 'https://evil.example';

function header(fixture: AlgFixture, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { alg: fixture.alg, typ: TYP, ...extra };
}

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: ISSUER,
    sub: 'user-1',
    aud: AUDIENCE,
    exp: NOW_SECONDS + 600,
    iat: NOW_SECONDS - 10,
    jti: 'jti-1',
    ...extra,
  };
}

/** Raw payload JSON text with the usual iss/sub/aud (and exp unless told not to) plus `members`. */
function rawClaims(members: string, withExp = true): string {
  const base = `"iss":${JSON.stringify(ISSUER)},"sub":"user-1","aud":${JSON.stringify(AUDIENCE)}`;
  return `{${base}${withExp ? `,"exp":${NOW_SECONDS + 600}` : ''}${members === '' ? '' : `,${members}`}}`;
}

/** Signed with the fixture's own key: a valid signature over exactly these parts. */
function signed(fixture: AlgFixture, headerPart: JSONPart = header(fixture), payload: JSONPart = claims()) {
  return buildToken(headerPart, payload, signerOf(fixture.signing));
}

/** Signs with a counter claim until the signature segment satisfies `accept` (for randomly spelled sigs). */
function signedUntil(fixture: AlgFixture, accept: (signature: string) => boolean): string {
  for (let n = 0; n < 500; n += 1) {
    const token = signed(fixture, header(fixture), claims({ n }));
    if (accept(segmentsOf(token)[2])) return token;
  }
  throw new Error('no signature with the wanted spelling');
}

/** Header JSON text whose member x nests `depth` arrays. */
function deepHeader(fixture: AlgFixture, depth: number): string {
  return `{"alg":${JSON.stringify(fixture.alg)},"typ":"${TYP}","x":${'['.repeat(depth)}${']'.repeat(depth)}}`;
}

function withSignature(token: string, signature: Uint8Array): string {
  const [h, p] = segmentsOf(token);
  return `${h}.${p}.${Buffer.from(signature).toString('base64url')}`;
}

function signatureBytes(token: string): Buffer {
  return Buffer.from(segmentsOf(token)[2], 'base64url');
}

/** Bytes of JSON text around one raw byte sequence, for non-UTF-8 parts. */
function bytesAround(before: string, raw: number[], after: string): Uint8Array {
  return Buffer.concat([Buffer.from(before), Buffer.from(raw), Buffer.from(after)]);
}

type Expected = JOSEError | JWTClaimError | 'accepted';

interface Row {
  name: string;
  token: (fixture: AlgFixture) => string;
  /** Verifier options on top of the defaults (issuer, audience, typ at+jwt, injected clock). */
  options?: Omit<VerifierOptions, 'key'>;
  /** Verify against a KeySet holding the verifying key instead of the key itself. */
  keySet?: boolean;
  expected: Expected;
  /** Extra checks on an accepted result. */
  check?: (result: VerifiedJWT) => void;
  /** Checks that the token is otherwise sound, so that the row isolates its rule. */
  sanity?: (fixture: AlgFixture, token: string) => void;
}

// Expected errors used by many rows.
const SIGNATURE_INVALID = joseError('ERR_JWS_SIGNATURE_INVALID', 'signature verification failed');
const NONE = joseError('ERR_JWS_ALG_NOT_ALLOWED', 'alg "none" is not allowed');
const UNSUPPORTED_ALG = joseError('ERR_JWS_ALG_NOT_ALLOWED', 'alg is not a supported algorithm');
const THREE_SEGMENTS = joseError('ERR_JWS_MALFORMED', 'a compact JWS has exactly three segments');
const NO_ALG = joseError('ERR_JWS_MALFORMED', 'JWS header has no alg');
const headerMalformed = (reason: string) => joseError('ERR_JWS_MALFORMED', `JWS header ${reason}`);
const payloadMalformed = (reason: string) => claimError('ERR_JWT_MALFORMED', `JWT payload ${reason}`);
const notCanonical = (part: 'header' | 'payload' | 'signature') =>
  joseError('ERR_JWS_MALFORMED', `JWS ${part} is not canonical base64url`);
const algMismatch = (tokenAlg: string, keyAlg: Algorithm) =>
  joseError('ERR_JWS_ALG_NOT_ALLOWED', `token alg ${tokenAlg} does not match the key's alg ${keyAlg}`);
const headerRejected = (name: string) =>
  joseError(
    'ERR_JWS_HEADER_REJECTED',
    `header parameter "${name}" is not accepted: keys are never taken from a token`,
  );
const CRIT = joseError(
  'ERR_JWS_HEADER_REJECTED',
  'header lists critical extensions ("crit") that are not supported',
);
const TOO_LARGE = joseError(
  'ERR_JWT_TOO_LARGE',
  `token is longer than the limit of ${DEFAULT_MAX_TOKEN_BYTES} bytes`,
);
const WRONG_ISS = claimError('ERR_JWT_CLAIM_INVALID', '"iss" claim is not an accepted issuer', 'iss');
const WRONG_AUD = claimError(
  'ERR_JWT_CLAIM_INVALID',
  '"aud" claim does not name an accepted audience',
  'aud',
);
const WRONG_TYP = claimError(
  'ERR_JWT_TYP_INVALID',
  `token type ("typ" header) must be application/${TYP}`,
  'typ',
);
const missing = (claim: string) => claimError('ERR_JWT_CLAIM_INVALID', `"${claim}" claim is missing`, claim);
const notFinite = (claim: string) =>
  claimError('ERR_JWT_CLAIM_INVALID', `"${claim}" claim must be a finite number`, claim);
const EXPIRED = claimError(
  'ERR_JWT_EXPIRED',
  '"exp" claim timestamp check failed: the token has expired',
  'exp',
);
const NOT_YET_VALID = claimError(
  'ERR_JWT_NOT_YET_VALID',
  '"nbf" claim timestamp check failed: the token is not valid yet',
  'nbf',
);

/** Orders n of the ECDSA curves (SEC 2), for the high-S twin of a signature. */
const CURVE_ORDERS = {
  ES256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  ES384: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  ES512: BigInt(
    `0x01ff${'ffffffff'.repeat(7)}fffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409`,
  ),
} as const;

/** Another algorithm of the same family (or a look-alike name) to relabel a token with. */
const RELABELS: Readonly<Record<Algorithm, readonly string[]>> = {
  HS256: ['HS384', 'HS512'],
  HS384: ['HS256'],
  HS512: ['HS256'],
  RS256: ['RS384', 'RS512', 'PS256'],
  RS384: ['RS256'],
  RS512: ['RS256'],
  PS256: ['RS256', 'PS384'],
  PS384: ['PS256'],
  PS512: ['PS256'],
  ES256: ['ES384', 'ES512'],
  ES384: ['ES256'],
  ES512: ['ES256'],
  EdDSA: ['Ed25519'],
};

/** Ways to hand the verifier's public key to an HMAC as its secret (the HS/RS confusion attack). */
function publicKeyEncodings(alg: Algorithm): [string, (fixture: AlgFixture) => string | Uint8Array][] {
  const publicKey = (fixture: AlgFixture) => fixture.verifying.publicKeyObject as KeyObject;
  const pem = (fixture: AlgFixture, type: 'spki' | 'pkcs1') =>
    publicKey(fixture).export({ type, format: 'pem' }).toString();
  const encodings: [string, (fixture: AlgFixture) => string | Uint8Array][] = [
    ['SPKI PEM with trailing newline', (f) => pem(f, 'spki')],
    ['SPKI PEM without trailing newline', (f) => pem(f, 'spki').trimEnd()],
  ];
  if (ALGORITHMS[alg].kty === 'RSA') {
    encodings.push(
      ['PKCS#1 PEM with trailing newline', (f) => pem(f, 'pkcs1')],
      ['PKCS#1 PEM without trailing newline', (f) => pem(f, 'pkcs1').trimEnd()],
    );
  }
  encodings.push(
    ['SPKI DER bytes', (f) => publicKey(f).export({ type: 'spki', format: 'der' })],
    ['JWK JSON text', (f) => JSON.stringify(exportPublicJWK(f.verifying))],
  );
  return encodings;
}

/**
 * The non-canonical spellings of one segment (null where the segment has no such spelling), and
 * whether they need a length that is not a multiple of 4 (unused bits, room for padding).
 */
const SPELLINGS: readonly [string, (segment: string) => string | null, boolean][] = [
  ['padding "="', withPadding, true],
  ['the standard alphabet "+"', (s) => (s.includes('-') ? s.replaceAll('-', '+') : null), false],
  ['the standard alphabet "/"', (s) => (s.includes('_') ? s.replaceAll('_', '/') : null), false],
  ['a space', (s) => insertMiddle(s, ' '), false],
  ['a line break', (s) => insertMiddle(s, '\r\n'), false],
  ['a non-canonical last character', withNonCanonicalLast, true],
];

/** Node's lenient decoder reads the spelling as the canonical bytes: only the spelling differs. */
function sameBytes(spelled: string, canonical: string): void {
  expect(spelled).not.toBe(canonical);
  expect(Buffer.from(spelled, 'base64')).toEqual(Buffer.from(canonical, 'base64url'));
}

function rowsFor(alg: Algorithm): Row[] {
  const spec = ALGORITHMS[alg];
  const signatureLength = spec.signatureBytes ?? 256;
  const rows: Row[] = [];
  const add = (row: Row) => rows.push(row);

  add({ name: 'control: a correctly signed token', token: (f) => signed(f), expected: 'accepted' });
  add({
    name: 'control: a correctly signed token under 16 KiB (a 10 KiB claim)',
    token: (f) => signed(f, header(f), claims({ blob: 'x'.repeat(10 * 1024) })),
    expected: 'accepted',
  });

  // Signatures.
  add({
    name: 'forged: signed by another key of the same algorithm',
    token: (f) => buildToken(header(f), claims(), signerOf(f.otherSigning)),
    expected: SIGNATURE_INVALID,
  });
  add({
    name: `all-zero signature of the right length${spec.family === 'ecdsa' ? ' (ECDSA r = s = 0)' : ''}`,
    token: (f) => withSignature(signed(f), Buffer.alloc(signatureLength)),
    expected: SIGNATURE_INVALID,
  });
  add({
    name: 'signature one byte short',
    token: (f) => {
      const token = signed(f);
      return withSignature(token, signatureBytes(token).subarray(0, -1));
    },
    expected: SIGNATURE_INVALID,
  });
  add({
    name: 'signature one byte long',
    token: (f) => {
      const token = signed(f);
      return withSignature(token, Buffer.concat([signatureBytes(token), Buffer.from([0])]));
    },
    expected: SIGNATURE_INVALID,
  });
  if (spec.family === 'ecdsa') {
    add({
      name: 'ECDSA signature DER-encoded instead of IEEE P1363 (r‖s)',
      token: (f) => {
        const [h, p] = segmentsOf(signed(f));
        const der = cryptoSign(spec.hash as string, Buffer.from(`${h}.${p}`), {
          key: f.signing.keyObject,
          dsaEncoding: 'der',
        });
        return `${h}.${p}.${der.toString('base64url')}`;
      },
      expected: SIGNATURE_INVALID,
    });
    add({
      name: 'control: the high-S twin (r, n − s) of a valid ECDSA signature is accepted (DESIGN policy)',
      token: (f) => {
        const token = signed(f);
        const signature = signatureBytes(token);
        const half = signature.length / 2;
        const order = CURVE_ORDERS[alg as 'ES256' | 'ES384' | 'ES512'];
        const s = BigInt(`0x${signature.subarray(half).toString('hex')}`);
        const twin = (order - s).toString(16).padStart(half * 2, '0');
        return withSignature(token, Buffer.concat([signature.subarray(0, half), Buffer.from(twin, 'hex')]));
      },
      expected: 'accepted',
    });
  }

  // alg "none".
  for (const none of ['none', 'None', 'NONE', 'nOnE']) {
    add({
      name: `alg "${none}" with an empty signature`,
      token: () => `${encodeSegment({ alg: none, typ: TYP })}.${encodeSegment(claims())}.`,
      expected: NONE,
    });
    add({
      name: `alg "${none}" with a non-empty signature`,
      token: (f) => signed(f, { alg: none, typ: TYP }),
      expected: NONE,
    });
  }

  // Algorithm confusion.
  if (spec.family === 'hmac') {
    for (const claimed of ['RS256', 'PS256', 'ES256', 'EdDSA']) {
      add({
        name: `claims ${claimed} but is an HMAC made with the verifier's secret`,
        token: (f) => signed(f, header(f, { alg: claimed })),
        expected: algMismatch(claimed, alg),
      });
    }
    add({
      name: 'claims RS256 but is an HMAC made with the secret (KeySet verifier)',
      token: (f) => signed(f, header(f, { alg: 'RS256' })),
      keySet: true,
      expected: joseError(
        'ERR_JWKS_NO_MATCHING_KEY',
        "no key in the key set matches the token's kid and alg RS256",
      ),
    });
  } else {
    for (const [label, secretOf] of publicKeyEncodings(alg)) {
      add({
        name: `HS256 with the public key as HMAC secret: ${label}`,
        token: (f) => buildToken(header(f, { alg: 'HS256' }), claims(), hmacSigner('sha256', secretOf(f))),
        expected: algMismatch('HS256', alg),
        // The forgery is sound: a verifier that used these bytes as an HS256 secret would accept it.
        sanity: (f, token) => {
          const secret = secretOf(f);
          const key = importSecret(typeof secret === 'string' ? Buffer.from(secret) : secret, 'HS256');
          expect(createVerifier({ key, now: clock })(token).payload).toEqual(claims());
        },
      });
    }
    add({
      name: 'HS256 with the public key as HMAC secret: SPKI PEM (KeySet verifier)',
      token: (f) => {
        const pem = (f.verifying.publicKeyObject as KeyObject).export({ type: 'spki', format: 'pem' });
        return buildToken(header(f, { alg: 'HS256' }), claims(), hmacSigner('sha256', pem));
      },
      keySet: true,
      expected: joseError(
        'ERR_JWKS_NO_MATCHING_KEY',
        "no key in the key set matches the token's kid and alg HS256",
      ),
    });
  }

  // Relabelled alg: signed with the right key over a header that names another algorithm.
  for (const relabel of RELABELS[alg]) {
    add({
      name: `alg relabelled ${alg} → ${relabel}`,
      token: (f) => signed(f, header(f, { alg: relabel })),
      expected: isAlgorithm(relabel) ? algMismatch(relabel, alg) : UNSUPPORTED_ALG,
    });
  }

  add({
    name: 'alg naming an Object.prototype member ("toString")',
    token: (f) => signed(f, header(f, { alg: 'toString' })),
    expected: UNSUPPORTED_ALG,
  });

  // Key-locating and critical headers.
  add({
    name: 'embedded "jwk" header with the attacker key, signed by the attacker',
    token: (f) => {
      const jwk =
        f.otherSigning.kind === 'secret' ? exportJWK(f.otherSigning) : exportPublicJWK(f.otherSigning);
      return buildToken(header(f, { jwk }), claims(), signerOf(f.otherSigning));
    },
    expected: headerRejected('jwk'),
  });
  add({
    name: '"jku" header',
    token: (f) => signed(f, header(f, { jku: 'https://attacker.example/jwks.json' })),
    expected: headerRejected('jku'),
  });
  add({
    name: '"x5u" header',
    token: (f) => signed(f, header(f, { x5u: 'https://attacker.example/cert.pem' })),
    expected: headerRejected('x5u'),
  });
  add({
    name: '"x5c" header',
    token: (f) => signed(f, header(f, { x5c: [Buffer.from('attacker certificate').toString('base64')] })),
    expected: headerRejected('x5c'),
  });
  add({
    name: 'unknown "crit" extension',
    token: (f) => signed(f, header(f, { crit: ['urn:example:critical'], 'urn:example:critical': true })),
    expected: CRIT,
  });

  for (const name of ['kid', 'typ', 'cty']) {
    add({
      name: `header "${name}" that is not a string`,
      token: (f) => signed(f, header(f, { [name]: ['at+jwt'] })),
      expected: joseError('ERR_JWS_MALFORMED', `JWS header parameter "${name}" must be a string`),
    });
  }

  // iss, aud, typ.
  add({ name: 'wrong iss', token: (f) => signed(f, header(f), claims({ iss: EVIL })), expected: WRONG_ISS });
  add({
    name: 'missing iss',
    token: (f) => signed(f, header(f), claims({ iss: undefined })),
    expected: WRONG_ISS,
  });
  add({
    name: 'iss that is not a string',
    token: (f) => signed(f, header(f), claims({ iss: [ISSUER] })),
    expected: claimError('ERR_JWT_CLAIM_INVALID', '"iss" claim must be a string', 'iss'),
  });
  add({ name: 'wrong aud', token: (f) => signed(f, header(f), claims({ aud: EVIL })), expected: WRONG_AUD });
  add({
    name: 'wrong aud (array without the audience)',
    token: (f) => signed(f, header(f), claims({ aud: [EVIL, `${AUDIENCE}/`] })),
    expected: WRONG_AUD,
  });
  add({
    name: 'aud array holding a non-string',
    token: (f) => signed(f, header(f), claims({ aud: [AUDIENCE, 1] })),
    expected: claimError(
      'ERR_JWT_CLAIM_INVALID',
      '"aud" claim must be a string or an array of strings',
      'aud',
    ),
  });
  add({
    name: 'missing aud',
    token: (f) => signed(f, header(f), claims({ aud: undefined })),
    expected: WRONG_AUD,
  });
  add({
    name: 'control: aud array naming the audience',
    token: (f) => signed(f, header(f), claims({ aud: [EVIL, AUDIENCE] })),
    expected: 'accepted',
  });
  add({ name: 'wrong typ (JWT)', token: (f) => signed(f, header(f, { typ: 'JWT' })), expected: WRONG_TYP });
  add({ name: 'missing typ', token: (f) => signed(f, { alg: f.alg }), expected: WRONG_TYP });
  add({
    name: 'control: typ application/AT+JWT',
    token: (f) => signed(f, header(f, { typ: 'application/AT+JWT' })),
    expected: 'accepted',
  });
  // Only ASCII case folds: the Kelvin sign U+212A lowercases to "k" in Unicode.
  const NOT_ASCII = (name: string) =>
    headerMalformed(`parameter "${name}" must be printable ASCII, as media types are`);
  add({
    name: 'typ "\u212Ab+jwt" (Kelvin sign) where kb+jwt is expected',
    token: (f) => signed(f, header(f, { typ: '\u212Ab+jwt' })),
    options: { typ: 'kb+jwt' },
    expected: NOT_ASCII('typ'),
  });
  add({
    name: 'control: typ "KB+JWT" where kb+jwt is expected',
    token: (f) => signed(f, header(f, { typ: 'KB+JWT' })),
    options: { typ: 'kb+jwt' },
    expected: 'accepted',
  });
  add({
    name: 'typ with a line break',
    token: (f) => signed(f, header(f, { typ: 'at+jwt\n' })),
    expected: NOT_ASCII('typ'),
  });
  add({
    name: 'cty that is not ASCII',
    token: (f) => signed(f, header(f, { cty: 'j\u00e9t' })),
    expected: NOT_ASCII('cty'),
  });

  // Time (clock fixed at NOW, tolerance 30 s).
  add({
    name: 'expired: exp 31 s ago (beyond the 30 s tolerance)',
    token: (f) => signed(f, header(f), claims({ exp: NOW_SECONDS - 31 })),
    expected: EXPIRED,
  });
  add({
    name: 'expired: exp exactly 30 s ago (the tolerance boundary)',
    token: (f) => signed(f, header(f), claims({ exp: NOW_SECONDS - 30 })),
    expected: EXPIRED,
  });
  add({
    name: 'control: exp 29 s ago (inside the tolerance)',
    token: (f) => signed(f, header(f), claims({ exp: NOW_SECONDS - 29 })),
    expected: 'accepted',
  });
  add({
    name: 'missing exp (required by default)',
    token: (f) => signed(f, header(f), claims({ exp: undefined })),
    expected: missing('exp'),
  });
  add({
    name: 'not yet valid: nbf 31 s ahead (beyond the tolerance)',
    token: (f) => signed(f, header(f), claims({ nbf: NOW_SECONDS + 31 })),
    expected: NOT_YET_VALID,
  });
  add({
    name: 'control: nbf exactly 30 s ahead (the tolerance boundary)',
    token: (f) => signed(f, header(f), claims({ nbf: NOW_SECONDS + 30 })),
    expected: 'accepted',
  });

  // Non-canonical base64url. Header and payload spellings are signed as sent, so the signature holds.
  for (const [label, spell, needsUnusedBits] of SPELLINGS) {
    add({
      name: `non-canonical header: ${label}`,
      token: (f) => {
        const canonical = encodeSegment(tunedJSON(header(f)));
        return signSegments(spell(canonical) as string, encodeSegment(claims()), signerOf(f.signing));
      },
      expected: notCanonical('header'),
      sanity: (f, token) => sameBytes(segmentsOf(token)[0], encodeSegment(tunedJSON(header(f)))),
    });
    add({
      name: `non-canonical payload: ${label}`,
      token: (f) => {
        const canonical = encodeSegment(tunedJSON(claims()));
        return signSegments(encodeSegment(header(f)), spell(canonical) as string, signerOf(f.signing));
      },
      expected: notCanonical('payload'),
      sanity: (_, token) => sameBytes(segmentsOf(token)[1], encodeSegment(tunedJSON(claims()))),
    });
    // A signature whose length is a multiple of 3 bytes has no padding and no unused bits.
    if (needsUnusedBits && signatureLength % 3 === 0) continue;
    add({
      name: `non-canonical signature: ${label}`,
      token: (f) => {
        const token = signedUntil(f, (s) => spell(s) !== null);
        const [h, p, s] = segmentsOf(token);
        return `${h}.${p}.${spell(s) as string}`;
      },
      expected: notCanonical('signature'),
      sanity: (f, token) => {
        const [h, p, s] = segmentsOf(token);
        const canonical = Buffer.from(s, 'base64').toString('base64url');
        sameBytes(s, canonical);
        expect(createVerifier({ key: f.verifying, now: clock })(`${h}.${p}.${canonical}`)).toBeDefined();
      },
    });
  }

  // Size, checked before anything is decoded.
  add({
    name: 'oversized: a correctly signed token over 16 KiB',
    token: (f) => signed(f, header(f), claims({ blob: 'x'.repeat(DEFAULT_MAX_TOKEN_BYTES) })),
    expected: TOO_LARGE,
  });
  add({
    name: 'oversized garbage (16 KiB + 1) is refused by size before decoding',
    token: () => `${'!'.repeat(DEFAULT_MAX_TOKEN_BYTES - 3)}.!.!`,
    expected: TOO_LARGE,
  });
  add({
    name: 'control: the same garbage at exactly 16 KiB reaches the decoder',
    token: () => `${'!'.repeat(DEFAULT_MAX_TOKEN_BYTES - 4)}.!.!`,
    expected: headerMalformed('is not canonical base64url'),
  });
  add({
    name: 'oversized for a verifier with maxTokenBytes 256',
    token: (f) => signed(f, header(f), claims({ blob: 'x'.repeat(256) })),
    options: { maxTokenBytes: 256 },
    expected: joseError('ERR_JWT_TOO_LARGE', 'token is longer than the limit of 256 bytes'),
  });

  // Nesting. JSON.parse takes any depth; whatever walks the result afterwards must too.
  const forgedDeep = (f: AlgFixture, depth: number) =>
    withSignature(signed(f, deepHeader(f, depth)), Buffer.alloc(signatureLength, 1));
  add({
    name: 'the deepest header that fits in 16 KiB (forged) is refused by its signature, not by the stack',
    token: (f) => {
      let depth = 5000;
      while (forgedDeep(f, depth + 1).length <= DEFAULT_MAX_TOKEN_BYTES) depth += 1;
      return forgedDeep(f, depth);
    },
    expected: SIGNATURE_INVALID,
  });
  add({
    name: 'a header nesting 50,000 arrays (forged) under a 256 KiB limit is refused by its signature',
    token: (f) => forgedDeep(f, 50_000),
    options: { maxTokenBytes: 256 * 1024 },
    expected: SIGNATURE_INVALID,
  });
  add({
    name: 'control: a signed header nesting 50,000 arrays is accepted, and frozen',
    token: (f) => signed(f, deepHeader(f, 50_000)),
    options: { maxTokenBytes: 256 * 1024 },
    expected: 'accepted',
    check: (result) => expect(Object.isFrozen((result.header.x as unknown[])[0])).toBe(true),
  });
  for (const cache of [false, true]) {
    add({
      name: `control: a signed claim nesting 50,000 arrays is accepted${cache ? ', and frozen by the cache' : ''}`,
      token: (f) => signed(f, header(f), rawClaims(`"deep":${'['.repeat(50_000)}${']'.repeat(50_000)}`)),
      options: { maxTokenBytes: 256 * 1024, cache },
      expected: 'accepted',
      check: (result) => {
        let inner = result.payload.deep as unknown[];
        for (let depth = 1; depth < 50_000; depth += 1) inner = inner[0] as unknown[];
        expect(inner).toEqual([]);
        expect(Object.isFrozen(inner)).toBe(cache);
      },
    });
  }

  // Shape.
  add({
    name: 'two segments',
    token: (f) => segmentsOf(signed(f)).slice(0, 2).join('.'),
    expected: THREE_SEGMENTS,
  });
  add({
    name: 'four segments',
    token: (f) => {
      const token = signed(f);
      return `${token}.${segmentsOf(token)[2]}`;
    },
    expected: THREE_SEGMENTS,
  });
  add({ name: 'one segment', token: (f) => segmentsOf(signed(f))[0], expected: THREE_SEGMENTS });
  add({ name: 'empty string', token: () => '', expected: THREE_SEGMENTS });

  // Header not a JSON object (signed, so only the header's shape is wrong).
  const badHeaders: [string, (f: AlgFixture) => JSONPart, JOSEError][] = [
    ['an array', (f) => `[${JSON.stringify(f.alg)}]`, headerMalformed('is not a JSON object')],
    ['a string', (f) => JSON.stringify(f.alg), headerMalformed('is not a JSON object')],
    ['a number', () => '256', headerMalformed('is not a JSON object')],
    ['null', () => 'null', headerMalformed('is not a JSON object')],
    ['invalid JSON', (f) => `{"alg":${JSON.stringify(f.alg)}`, headerMalformed('is not JSON')],
    ['empty', () => '', headerMalformed('is not JSON')],
    [
      'non-UTF-8 bytes (0xFF)',
      (f) => bytesAround(`{"alg":${JSON.stringify(f.alg)},"typ":"at+jwt","x":"`, [0xff], '"}'),
      headerMalformed('is not UTF-8'),
    ],
    ['an object without alg', () => '{"typ":"at+jwt"}', NO_ALG],
    ['an object whose alg is a number', () => '{"alg":256}', NO_ALG],
  ];
  for (const [label, part, expected] of badHeaders) {
    add({ name: `header is ${label}`, token: (f) => signed(f, part(f)), expected });
  }

  // Payload not a JSON object (signed).
  const badPayloads: [string, JSONPart, JWTClaimError][] = [
    ['an array', `[${rawClaims('')}]`, payloadMalformed('is not a JSON object')],
    ['a string', '"user-1"', payloadMalformed('is not a JSON object')],
    ['a number', `${NOW_SECONDS + 600}`, payloadMalformed('is not a JSON object')],
    ['null', 'null', payloadMalformed('is not a JSON object')],
    ['invalid JSON', rawClaims('').slice(0, -1), payloadMalformed('is not JSON')],
    ['empty', '', payloadMalformed('is not JSON')],
    [
      'non-UTF-8 bytes (0xFF inside a string)',
      bytesAround(rawClaims('"name":"').slice(0, -1), [0xff], '"}'),
      payloadMalformed('is not UTF-8'),
    ],
    [
      'non-UTF-8 bytes (a UTF-8-encoded surrogate, ED A0 80)',
      bytesAround(rawClaims('"name":"').slice(0, -1), [0xed, 0xa0, 0x80], '"}'),
      payloadMalformed('is not UTF-8'),
    ],
    [
      'non-UTF-8 bytes (overlong "/", C0 AF)',
      bytesAround(rawClaims('"name":"').slice(0, -1), [0xc0, 0xaf], '"}'),
      payloadMalformed('is not UTF-8'),
    ],
  ];
  for (const [label, part, expected] of badPayloads) {
    add({ name: `payload is ${label}`, token: (f) => signed(f, header(f), part), expected });
  }

  // Numeric dates that are not finite numbers, written literally into the JSON text.
  const badDates: [string, string, JWTClaimError][] = [
    ['exp 1e309 (parses as Infinity)', rawClaims('"exp":1e309', false), notFinite('exp')],
    ['exp -1e309', rawClaims('"exp":-1e309', false), notFinite('exp')],
    ['nbf 1e309', rawClaims('"nbf":1e309'), notFinite('nbf')],
    ['iat 1e309', rawClaims('"iat":1e309'), notFinite('iat')],
    ['exp as a string "1800000600"', rawClaims(`"exp":"${NOW_SECONDS + 600}"`, false), notFinite('exp')],
    ['nbf as a string "123"', rawClaims('"nbf":"123"'), notFinite('nbf')],
    ['iat as a string "123"', rawClaims('"iat":"123"'), notFinite('iat')],
    ['exp null', rawClaims('"exp":null', false), notFinite('exp')],
    ['exp true', rawClaims('"exp":true', false), notFinite('exp')],
    ['exp as an array', rawClaims(`"exp":[${NOW_SECONDS + 600}]`, false), notFinite('exp')],
  ];
  for (const [label, payload, expected] of badDates) {
    add({ name: `numeric date: ${label}`, token: (f) => signed(f, header(f), payload), expected });
  }

  // __proto__ is an ordinary member, never a prototype.
  add({
    name: '__proto__ in the payload has no effect',
    token: (f) => signed(f, header(f), rawClaims('"__proto__":{"admin":true,"iss":"x"}')),
    expected: 'accepted',
    check: ({ payload }) => {
      expect(Object.getPrototypeOf(payload)).toBe(Object.prototype);
      expect(payload.admin).toBeUndefined();
      expect('admin' in payload).toBe(false);
      expect(payload.iss).toBe(ISSUER);
      expect(Object.getOwnPropertyDescriptor(payload, '__proto__')?.value).toEqual({ admin: true, iss: 'x' });
      expect(Object.hasOwn(Object.prototype, 'admin')).toBe(false);
      expect(({} as Record<string, unknown>).admin).toBeUndefined();
    },
  });
  add({
    name: '__proto__ holding aud does not satisfy the audience check',
    token: (f) =>
      signed(
        f,
        header(f),
        `{"iss":"${ISSUER}","__proto__":{"aud":"${AUDIENCE}"},"exp":${NOW_SECONDS + 600}}`,
      ),
    expected: WRONG_AUD,
  });
  add({
    name: '__proto__ holding iss does not satisfy the issuer check',
    token: (f) =>
      signed(
        f,
        header(f),
        `{"__proto__":{"iss":"${ISSUER}"},"aud":"${AUDIENCE}","exp":${NOW_SECONDS + 600}}`,
      ),
    expected: WRONG_ISS,
  });
  add({
    name: '__proto__ holding exp does not satisfy the required exp',
    token: (f) => signed(f, header(f), rawClaims(`"__proto__":{"exp":${NOW_SECONDS + 600}}`, false)),
    expected: missing('exp'),
  });
  add({
    name: '__proto__ holding alg in the header does not give it an alg',
    token: (f) => signed(f, `{"__proto__":{"alg":${JSON.stringify(f.alg)}},"typ":"at+jwt"}`),
    expected: NO_ALG,
  });

  for (const claim of ['constructor', '__proto__']) {
    add({
      name: `required claim "${claim}" is not satisfied by Object.prototype`,
      token: (f) => signed(f),
      options: { requiredClaims: ['exp', claim] },
      expected: missing(claim),
    });
  }

  // Duplicate member names: the last one wins.
  add({
    name: 'duplicate aud ("evil" then the audience) passes for the audience',
    token: (f) => signed(f, header(f), rawClaims(`"aud":"${EVIL}","aud":"${AUDIENCE}"`)),
    expected: 'accepted',
    check: ({ payload }) => expect(payload.aud).toBe(AUDIENCE),
  });
  add({
    name: 'duplicate aud ("evil" then the audience) fails for audience "evil"',
    token: (f) => signed(f, header(f), rawClaims(`"aud":"${EVIL}","aud":"${AUDIENCE}"`)),
    options: { audience: EVIL },
    expected: WRONG_AUD,
  });
  add({
    name: 'duplicate aud (the audience then "evil") fails for the audience',
    token: (f) =>
      signed(
        f,
        header(f),
        `{"iss":"${ISSUER}","aud":"${AUDIENCE}","aud":"${EVIL}","exp":${NOW_SECONDS + 600}}`,
      ),
    expected: WRONG_AUD,
  });
  add({
    name: 'duplicate exp (future then past): the past one counts',
    token: (f) => signed(f, header(f), rawClaims(`"exp":${NOW_SECONDS - 3600}`)),
    expected: EXPIRED,
  });
  add({
    name: 'duplicate alg in the header ("none" then the real one) is the real one',
    token: (f) => signed(f, `{"alg":"none","alg":${JSON.stringify(f.alg)},"typ":"at+jwt"}`),
    expected: 'accepted',
    check: ({ header: h }) => expect(h.alg).toBe(alg),
  });
  add({
    name: 'duplicate alg in the header (the real one then "none") is "none"',
    token: (f) => signed(f, `{"alg":${JSON.stringify(f.alg)},"alg":"none","typ":"at+jwt"}`),
    expected: NONE,
  });

  return rows;
}

function verifierFor(fixture: AlgFixture, row: Row) {
  return createVerifier({
    key: row.keySet === true ? new KeySet([fixture.verifying]) : fixture.verifying,
    issuer: ISSUER,
    audience: AUDIENCE,
    typ: TYP,
    now: clock,
    ...row.options,
  });
}

describe.each(ALL_ALGORITHMS)('attack table: %s', (alg) => {
  let fixture: AlgFixture;
  beforeAll(async () => {
    fixture = await loadFixture(alg);
  });

  it.each(rowsFor(alg).map((row) => [row.name, row] as const))('%s', (_, row) => {
    const token = row.token(fixture);
    row.sanity?.(fixture, token);
    const verify = verifierFor(fixture, row);
    if (row.expected === 'accepted') {
      const result = verify(token);
      expect(result.key).toBe(fixture.verifying);
      row.check?.(result);
    } else {
      expectRejected(() => verify(token), row.expected);
    }
  });
});

describe.each(ALL_ALGORITHMS)('verifier cache: %s', (alg) => {
  let fixture: AlgFixture;
  beforeAll(async () => {
    fixture = await loadFixture(alg);
  });

  it('re-checks exp on every hit', () => {
    let nowMs = NOW_MS;
    const verify = createVerifier({ key: fixture.verifying, now: () => nowMs, cache: true });
    const token = signed(fixture, header(fixture), claims({ exp: NOW_SECONDS + 60 }));
    const first = verify(token);
    expect(verify(token)).toBe(first);
    nowMs = (NOW_SECONDS + 60 + 29) * 1000;
    expect(verify(token)).toBe(first);
    nowMs = (NOW_SECONDS + 60 + 30) * 1000;
    expectRejected(() => verify(token), EXPIRED);
  });

  it('forgets a token whose key was removed from the KeySet', () => {
    const keySet = new KeySet([withKid(fixture.verifying, 'k1'), withKid(fixture.otherVerifying, 'k2')]);
    const verify = createVerifier({ key: keySet, now: clock, cache: true });
    const token = buildToken(header(fixture, { kid: 'k1' }), claims(), signerOf(fixture.signing));
    expect(verify(token)).toBe(verify(token));
    expect(keySet.remove('k1')).toBe(true);
    expectRejected(
      () => verify(token),
      joseError('ERR_JWKS_NO_MATCHING_KEY', `no key in the key set matches the token's kid and alg ${alg}`),
    );
  });

  it('returns a deeply frozen payload, and a second caller sees it unchanged', () => {
    const verify = createVerifier({ key: fixture.verifying, now: clock, cache: true });
    const payload = claims({ profile: { roles: ['user'], name: 'Ada' } });
    const token = signed(fixture, header(fixture), payload);
    const first = verify(token);
    const profile = first.payload.profile as { roles: string[]; name: string };
    expect(() => {
      first.payload.sub = 'admin';
    }).toThrow(TypeError);
    expect(() => {
      delete first.payload.exp;
    }).toThrow(TypeError);
    expect(() => {
      profile.name = 'Eve';
    }).toThrow(TypeError);
    expect(() => {
      profile.roles.push('admin');
    }).toThrow(TypeError);
    const second = verify(token);
    expect(second).toBe(first);
    expect(second.payload).toEqual(payload);
  });

  it.each([
    ['with the cache', true],
    ['without the cache', false],
  ])('does not let one caller change the header another caller gets (%s)', (_, cache) => {
    const token = signed(fixture, header(fixture, { ext: { role: 'user' } }));
    const first = createVerifier({ key: fixture.verifying, now: clock, cache })(token);
    try {
      (first.header.ext as { role: string }).role = 'admin';
    } catch {
      // Refusing the change (a frozen header) is as good as isolating it.
    }
    const second = createVerifier({ key: fixture.verifying, now: clock, cache })(token);
    expect(second.header.ext).toEqual({ role: 'user' });
  });

  it('never serves a token that differs by one character', () => {
    const verify = createVerifier({ key: fixture.verifying, now: clock, cache: true });
    const token = signed(fixture);
    const first = verify(token);
    const served: string[] = [];
    for (let i = 0; i < token.length; i += 1) {
      const at = BASE64URL_ALPHABET.indexOf(token.charAt(i));
      // Another alphabet character (which keeps the length), or a letter in place of a dot.
      const replacement = at === -1 ? 'A' : BASE64URL_ALPHABET.charAt((at + 1) % 64);
      const changed = token.slice(0, i) + replacement + token.slice(i + 1);
      try {
        verify(changed);
        served.push(changed);
      } catch (error) {
        expect(isTokenError(error)).toBe(true);
      }
    }
    expect(served).toEqual([]);
    expect(verify(token)).toBe(first);
  });
});
