/**
 * JWS compact serialization (RFC 7515 §7.1) with the rules of RFC 8725: the key decides the
 * algorithm, `none` and unknown algorithms are refused, key-locating headers (`jku`, `x5u`, `x5c`,
 * `jwk`) are refused rather than ignored, any `crit` is refused (we implement no extension), and the
 * size is checked before anything is decoded. Verification order: parse → algorithm → key →
 * signature; the payload is not interpreted before the signature holds.
 */
import { JOSEError } from '../errors.js';
import { type Algorithm, findAlgorithm } from './algorithms.js';
import { decodeJSONSegment, deepFreeze } from './json.js';
import type { KeySet } from './jwks.js';
import type { Key } from './keys.js';
import { ScratchBuffer } from './scratch-buffer.js';

export interface JWSHeader {
  alg: Algorithm;
  kid?: string;
  typ?: string;
  cty?: string;
  [parameter: string]: unknown;
}

export const DEFAULT_MAX_TOKEN_BYTES = 16 * 1024;

/** Header parameters that would let the token say where its key comes from (RFC 8725 §3.10). */
const KEY_LOCATING_PARAMETERS = ['jku', 'x5u', 'x5c', 'jwk'] as const;

/** A checked compact JWS: its header, the key that verified it, and its still-encoded payload. */
export interface VerifiedJWS {
  header: Readonly<JWSHeader>;
  key: Key;
  payloadSegment: string;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** Text of printable ASCII only, as media type names (`typ`, `cty`) are. */
export function isPrintableASCII(text: string): boolean {
  return PRINTABLE_ASCII.test(text);
}

function malformed(message: string): never {
  throw new JOSEError('ERR_JWS_MALFORMED', message);
}

/**
 * Parsed headers by their exact encoded text. The same few headers head almost every token, and the
 * result depends on nothing but the text; bounded so that random headers cannot grow it.
 */
const headerCache = new Map<string, Readonly<JWSHeader>>();
const HEADER_CACHE_ENTRIES = 256;

let lastSegment = '';
let lastHeader: Readonly<JWSHeader> | undefined;

export function parseHeader(segment: string): Readonly<JWSHeader> {
  // Consecutive tokens nearly always share their header: comparing strings is cheaper than hashing one.
  if (segment === lastSegment && lastHeader !== undefined) return lastHeader;
  const cached = headerCache.get(segment);
  if (cached !== undefined) {
    lastSegment = segment;
    lastHeader = cached;
    return cached;
  }
  const header = checkHeader(segment);
  if (headerCache.size >= HEADER_CACHE_ENTRIES) headerCache.clear();
  headerCache.set(segment, header);
  lastSegment = segment;
  lastHeader = header;
  return header;
}

function checkHeader(segment: string): Readonly<JWSHeader> {
  const decoded = decodeJSONSegment(segment);
  if (!decoded.ok) malformed(`JWS header ${decoded.reason}`);
  const header = decoded.value;
  const { alg } = header;
  if (typeof alg !== 'string') malformed('JWS header has no alg');
  if (alg.toLowerCase() === 'none')
    throw new JOSEError('ERR_JWS_ALG_NOT_ALLOWED', 'alg "none" is not allowed');
  if (findAlgorithm(alg) === undefined)
    throw new JOSEError('ERR_JWS_ALG_NOT_ALLOWED', 'alg is not a supported algorithm');
  for (const name of KEY_LOCATING_PARAMETERS) {
    if (header[name] !== undefined) {
      throw new JOSEError(
        'ERR_JWS_HEADER_REJECTED',
        `header parameter "${name}" is not accepted: keys are never taken from a token`,
      );
    }
  }
  if (header.crit !== undefined) {
    throw new JOSEError(
      'ERR_JWS_HEADER_REJECTED',
      'header lists critical extensions ("crit") that are not supported',
    );
  }
  // RFC 7797 unencoded payloads are an extension we do not implement; b64 must not change meaning.
  if (header.b64 !== undefined && header.b64 !== true) {
    throw new JOSEError('ERR_JWS_HEADER_REJECTED', 'header parameter "b64" is not supported');
  }
  for (const name of ['kid', 'typ', 'cty'] as const) {
    if (header[name] !== undefined && typeof header[name] !== 'string')
      malformed(`JWS header parameter "${name}" must be a string`);
  }
  // Media types are ASCII (RFC 6838), and only ASCII case folding is meant: toLowerCase() would
  // turn the Kelvin sign U+212A into "k" and let "\u212Ab+jwt" pass for "kb+jwt".
  for (const name of ['typ', 'cty'] as const) {
    const value = header[name];
    if (typeof value === 'string' && !isPrintableASCII(value))
      malformed(`JWS header parameter "${name}" must be printable ASCII, as media types are`);
  }
  // Parsed headers are shared through the cache, so nobody may change one, however deep.
  return deepFreeze(header) as Readonly<JWSHeader>;
}

/**
 * Verifies a compact JWS against one key or a key set and returns its header, key and encoded
 * payload. Every failure is a `JOSEError` whose message names the rule, never the token.
 */
export function verifyJWS(
  token: unknown,
  keys: Key | KeySet,
  maxTokenBytes = DEFAULT_MAX_TOKEN_BYTES,
): VerifiedJWS {
  const { header, key, payloadSegment } = verifyCompactJWS(token, keys, maxTokenBytes);
  return { header, key, payloadSegment };
}

/** The decoded payload and signature of the token being verified; see `ScratchBuffer`. */
const payloadScratch = new ScratchBuffer();
const signatureScratch = new ScratchBuffer();

/** `verifyJWS`, also handing out the payload's bytes, which stay valid only until the next call. */
export interface VerifiedCompactJWS extends VerifiedJWS {
  payloadBytes: Buffer;
}

/** @internal `verifyJWS` for `createVerifier`, which parses the payload before anything else runs. */
export function verifyCompactJWS(
  token: unknown,
  keys: Key | KeySet,
  maxTokenBytes: number,
): VerifiedCompactJWS {
  if (typeof token !== 'string') malformed('token must be a string');
  if (token.length > maxTokenBytes) {
    throw new JOSEError('ERR_JWT_TOO_LARGE', `token is longer than the limit of ${maxTokenBytes} bytes`);
  }
  const firstDot = token.indexOf('.');
  const secondDot = firstDot === -1 ? -1 : token.indexOf('.', firstDot + 1);
  if (secondDot === -1 || token.indexOf('.', secondDot + 1) !== -1) {
    malformed('a compact JWS has exactly three segments');
  }
  const header = parseHeader(token.slice(0, firstDot));
  const key = resolveKey(header, keys);
  const payloadSegment = token.slice(firstDot + 1, secondDot);
  const payloadBytes = payloadScratch.base64url(payloadSegment);
  if (payloadBytes === null) malformed('JWS payload is not canonical base64url');
  const signature = signatureScratch.base64url(token.slice(secondDot + 1));
  if (signature === null) malformed('JWS signature is not canonical base64url');
  if (!key.verifyInput(token.slice(0, secondDot), signature)) {
    throw new JOSEError('ERR_JWS_SIGNATURE_INVALID', 'signature verification failed');
  }
  return { header, key, payloadSegment, payloadBytes };
}

function resolveKey(header: Readonly<JWSHeader>, keys: Key | KeySet): Key {
  if ('verifyInput' in keys) {
    if (header.alg !== keys.alg) {
      throw new JOSEError(
        'ERR_JWS_ALG_NOT_ALLOWED',
        `token alg ${header.alg} does not match the key's alg ${keys.alg}`,
      );
    }
    return keys;
  }
  const key = keys.select(header.alg, header.kid);
  if (key === undefined) {
    throw new JOSEError(
      'ERR_JWKS_NO_MATCHING_KEY',
      `no key in the key set matches the token's kid and alg ${header.alg}`,
    );
  }
  return key;
}

/** Signs `payload` (bytes or text) as a compact JWS. `header` may add parameters, never replace alg. */
export function signJWS(
  payload: Uint8Array | string,
  key: Key,
  header: Record<string, unknown> = {},
): string {
  if (key.signInput === null) throw new TypeError('this key cannot sign: it is public, or verify-only');
  const fullHeader: Record<string, unknown> = { ...header, alg: key.alg };
  if (key.kid !== undefined && fullHeader.kid === undefined) fullHeader.kid = key.kid;
  const input = `${Buffer.from(JSON.stringify(fullHeader)).toString('base64url')}.${Buffer.from(payload).toString('base64url')}`;
  return `${input}.${key.signInput(input).toString('base64url')}`;
}
