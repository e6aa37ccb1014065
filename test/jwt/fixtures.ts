/**
 * Shared fixtures for the JWT attack table and the differential tests against jose: one set of keys
 * per algorithm (made once per test file; RSA material is shared by RS* and PS*), a fixed injected
 * clock, and helpers that build tokens by hand from arbitrary JSON text or bytes and sign them with a
 * key's own `signInput`, so a test can isolate exactly one rule.
 */
import { createHmac, generateKeyPair as generateKeyPairCallback, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { JOSEError, type JOSEErrorCode, JWTClaimError, type JWTClaimErrorCode } from '../../src/errors.js';
import {
  ALGORITHMS,
  type Algorithm,
  generateKeyPair,
  generateSecret,
  Key,
  type KeyOptions,
} from '../../src/jwt/index.js';

/** The injected time of every test: a whole second, far from any real clock. */
export const NOW_SECONDS = 1_800_000_000;
export const NOW_MS = NOW_SECONDS * 1000;
export const clock = (): number => NOW_MS;

export const ISSUER = 'https://issuer.example';
export const AUDIENCE = 'https://api.example';

export const ALL_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const satisfies readonly Algorithm[];

export interface AlgFixture {
  readonly alg: Algorithm;
  /** The private key, or the secret. */
  readonly signing: Key;
  /** What a verifier holds: the public key, or the same secret. */
  readonly verifying: Key;
  /** Another key of the same algorithm: the forger's, or the attacker's embedded key. */
  readonly otherSigning: Key;
  readonly otherVerifying: Key;
}

const generateRSA = promisify(generateKeyPairCallback);
type KeyObjectPair = { privateKey: KeyObject; publicKey: KeyObject };
let rsaPairs: Promise<[KeyObjectPair, KeyObjectPair]> | undefined;

/** Two 2048-bit RSA key pairs, generated once per test file and bound to each RS/PS algorithm. */
function loadRSAPairs(): Promise<[KeyObjectPair, KeyObjectPair]> {
  rsaPairs ??= Promise.all([
    generateRSA('rsa', { modulusLength: 2048 }),
    generateRSA('rsa', { modulusLength: 2048 }),
  ]);
  return rsaPairs;
}

async function makePair(alg: Algorithm, index: 0 | 1): Promise<{ signing: Key; verifying: Key }> {
  const family = ALGORITHMS[alg].family;
  if (family === 'hmac') {
    const secret = generateSecret(alg);
    return { signing: secret, verifying: secret };
  }
  if (family === 'rsa' || family === 'rsa-pss') {
    const pair = (await loadRSAPairs())[index];
    return { signing: new Key(pair.privateKey, alg), verifying: new Key(pair.publicKey, alg) };
  }
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { signing: privateKey, verifying: publicKey };
}

const fixtures = new Map<Algorithm, Promise<AlgFixture>>();

/** The keys of one algorithm; the same object for every caller in a test file. */
export function loadFixture(alg: Algorithm): Promise<AlgFixture> {
  let fixture = fixtures.get(alg);
  if (fixture === undefined) {
    fixture = Promise.all([makePair(alg, 0), makePair(alg, 1)]).then(([own, other]) => ({
      alg,
      signing: own.signing,
      verifying: own.verifying,
      otherSigning: other.signing,
      otherVerifying: other.verifying,
    }));
    fixtures.set(alg, fixture);
  }
  return fixture;
}

/** The same key material bound again, with a kid (for key sets). */
export function withKid(key: Key, kid: string): Key {
  const options: KeyOptions = { kid };
  return new Key(key.keyObject, key.alg, options);
}

/** What jose is given to verify: the public KeyObject, or for HS the secret KeyObject. */
export function joseVerifyKey(fixture: AlgFixture): KeyObject {
  return fixture.verifying.publicKeyObject ?? fixture.verifying.keyObject;
}

/** What jose is given to sign: the private KeyObject, or for HS the secret KeyObject. */
export function joseSignKey(fixture: AlgFixture): KeyObject {
  return fixture.signing.keyObject;
}

// ---------------------------------------------------------------------------------------------------
// Hand-built tokens

/** Signs the ASCII signing input `header.payload` and returns the raw signature bytes. */
export type SignInput = (signingInput: string) => Buffer;

/** The key's own signing function (`Key.signInput`). */
export function signerOf(key: Key): SignInput {
  const { signInput } = key;
  if (signInput === null) throw new TypeError('a public key cannot sign');
  return signInput;
}

/** HMAC with arbitrary secret bytes: the algorithm-confusion attacker's signer. */
export function hmacSigner(hash: 'sha256' | 'sha384' | 'sha512', secret: string | Uint8Array): SignInput {
  return (input) => createHmac(hash, secret).update(input, 'latin1').digest();
}

/**
 * One JSON part of a token: raw JSON text (written into the token exactly as given, so it may hold
 * duplicate keys or literals such as 1e309), raw bytes (for non-UTF-8), or a value to JSON.stringify.
 */
export type JSONPart = string | Uint8Array | Record<string, unknown>;

function partBytes(part: JSONPart): Buffer {
  if (typeof part === 'string') return Buffer.from(part, 'utf8');
  if (part instanceof Uint8Array) return Buffer.from(part);
  return Buffer.from(JSON.stringify(part), 'utf8');
}

/** Canonical base64url of a JSON part. */
export function encodeSegment(part: JSONPart): string {
  return partBytes(part).toString('base64url');
}

/** `header.payload.signature` where the signature is computed over exactly the given segments. */
export function signSegments(headerSegment: string, payloadSegment: string, sign: SignInput): string {
  const input = `${headerSegment}.${payloadSegment}`;
  return `${input}.${sign(input).toString('base64url')}`;
}

/** Encodes both parts canonically and signs them. */
export function buildToken(header: JSONPart, payload: JSONPart, sign: SignInput): string {
  return signSegments(encodeSegment(header), encodeSegment(payload), sign);
}

/** Splits a compact token into exactly three segments (throws otherwise). */
export function segmentsOf(token: string): [string, string, string] {
  const parts = token.split('.');
  if (parts.length !== 3) throw new TypeError('not three segments');
  return parts as [string, string, string];
}

// ---------------------------------------------------------------------------------------------------
// Non-canonical spellings of base64url

export const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The same bytes with `=` padding; null when the length needs none. */
export function withPadding(segment: string): string | null {
  const rest = segment.length % 4;
  return rest === 0 ? null : segment + '='.repeat(4 - rest);
}

/** The standard base64 alphabet for the URL-safe one. */
export function toStandardAlphabet(segment: string): string {
  return segment.replaceAll('-', '+').replaceAll('_', '/');
}

/**
 * The same decoded bytes with a non-zero unused bit in the last character (lenient decoders ignore
 * those bits); null when the length leaves no unused bits.
 */
export function withNonCanonicalLast(segment: string): string | null {
  const rest = segment.length % 4;
  if (rest === 0) return null;
  const last = BASE64URL_ALPHABET.indexOf(segment.slice(-1));
  return segment.slice(0, -1) + BASE64URL_ALPHABET[last | (rest === 2 ? 0x08 : 0x02)];
}

/** Inserts `text` in the middle of a segment. */
export function insertMiddle(segment: string, text: string): string {
  const middle = Math.floor(segment.length / 2);
  return segment.slice(0, middle) + text + segment.slice(middle);
}

/**
 * `object` with a filler member `pad` chosen so that its canonical segment has unused bits (length
 * not a multiple of 4) and contains both `-` and `_`: every non-canonical spelling then differs.
 */
export function tunedJSON(object: Record<string, unknown>): string {
  for (let extra = 0; extra < 12; extra += 1) {
    const text = JSON.stringify({ ...object, pad: `?>?>?>${'x'.repeat(extra)}` });
    const segment = encodeSegment(text);
    if (segment.length % 4 !== 0 && segment.includes('-') && segment.includes('_')) return text;
  }
  throw new Error('no filler found');
}

// ---------------------------------------------------------------------------------------------------
// Expected rejections: class, code and message (and `claim` for claim errors)

export function joseError(code: JOSEErrorCode, message: string): JOSEError {
  return new JOSEError(code, message);
}

export function claimError(code: JWTClaimErrorCode, message: string, claim?: string): JWTClaimError {
  return new JWTClaimError(code, message, claim);
}

/**
 * Asserts that `run` throws an error of exactly the expected class with the same `code`, `message`
 * (and `claim`). Vitest compares a thrown error with an expected one by name (our errors name their
 * class), message and own enumerable properties.
 */
export function expectRejected(run: () => unknown, expected: JOSEError | JWTClaimError): void {
  expect(run).toThrow(expected.constructor as typeof JOSEError | typeof JWTClaimError);
  expect(run).toThrow(expected);
}
