/**
 * JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037): strict import into algorithm-bound `Key`s, export
 * of public or complete JWKs, and RFC 7638 thumbprints.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  type JsonWebKey as NodeJWK,
  sign,
  verify,
} from 'node:crypto';
import { KeyError } from '../errors.js';
import { type Algorithm, type AlgorithmSpec, findAlgorithm } from './algorithms.js';
import { decodeBase64url, isBase64url } from './base64url.js';
import { importSecret, Key, parseKey } from './keys.js';

/** A JWK as published: public members, plus private members only in a private JWK. */
export interface JWK {
  kty: string;
  kid?: string;
  alg?: string;
  use?: string;
  key_ops?: string[];
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
  d?: string;
  p?: string;
  q?: string;
  dp?: string;
  dq?: string;
  qi?: string;
  k?: string;
}

export interface ImportJWKOptions {
  /**
   * The algorithm to bind the key to when the JWK has no `alg`. Required for `oct` and `RSA` keys
   * without `alg`; EC and OKP keys without one get the only algorithm their curve allows.
   */
  alg?: Algorithm;
}

const KEY_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  oct: ['k'],
  RSA: ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'],
  EC: ['x', 'y', 'd'],
  OKP: ['x', 'd'],
};

const CURVE_ALGORITHMS: Readonly<Record<string, Algorithm>> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512',
  Ed25519: 'EdDSA',
};

/** Bytes of one EC coordinate or OKP public key, which RFC 7518 §6.2.1.2 fixes to the full size. */
const COORDINATE_BYTES: Readonly<Record<string, number>> = {
  'P-256': 32,
  'P-384': 48,
  'P-521': 66,
  Ed25519: 32,
};

function refuse(why: string): never {
  throw new KeyError('ERR_KEY_INVALID', `JWK rejected: ${why}`);
}

/** Imports one JWK as a `Key` bound to one algorithm. Throws `KeyError` for anything unsafe or odd. */
export function importJWK(input: unknown, options: ImportJWKOptions = {}): Key {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) refuse('not a JSON object');
  const jwk = input as Record<string, unknown>;
  const { kty } = jwk;
  if (typeof kty !== 'string' || !Object.hasOwn(KEY_MEMBERS, kty)) refuse('kty must be oct, RSA, EC or OKP');
  const spec = resolveAlgorithm(jwk, kty, options.alg);
  requireSignatureUse(jwk);
  const kid = jwk.kid;
  if (kid !== undefined && (typeof kid !== 'string' || kid.length === 0))
    refuse('kid must be a non-empty string');
  const members = KEY_MEMBERS[kty] as readonly string[];
  for (const name of members) {
    const value = jwk[name];
    if (value !== undefined && (typeof value !== 'string' || !isBase64url(value))) {
      refuse(`member ${name} must be canonical base64url`);
    }
  }
  const keyOptions = kid === undefined ? {} : { kid };
  if (kty === 'oct') {
    if (typeof jwk.k !== 'string') refuse('an oct key needs k');
    return importSecret(decodeBase64url(jwk.k) as Buffer, spec.alg, {
      ...keyOptions,
      verifyOnly: !allows(jwk, 'sign'),
    });
  }
  if (spec.curve !== null) {
    if (jwk.crv !== spec.curve) refuse(`${spec.alg} needs crv ${spec.curve}`);
    const size = COORDINATE_BYTES[spec.curve] as number;
    for (const name of kty === 'EC' ? ['x', 'y', 'd'] : ['x', 'd']) {
      const value = jwk[name];
      if (name !== 'd' && value === undefined) refuse(`member ${name} is required`);
      if (typeof value === 'string' && (decodeBase64url(value) as Buffer).length !== size) {
        refuse(`member ${name} must be ${size} bytes for ${spec.curve}`);
      }
    }
  }
  // Hand Node only the members that define the key, so nothing else in the JWK can influence parsing.
  const nodeJWK: NodeJWK = { kty };
  if (spec.curve !== null) nodeJWK.crv = spec.curve;
  for (const name of members) if (jwk[name] !== undefined) nodeJWK[name] = jwk[name];
  const isPrivate = jwk.d !== undefined;
  if (!isPrivate && !allows(jwk, 'verify')) refuse('key_ops does not allow verify, all a public key does');
  const keyObject = parseKey(() =>
    isPrivate
      ? createPrivateKey({ key: nodeJWK, format: 'jwk' })
      : createPublicKey({ key: nodeJWK, format: 'jwk' }),
  );
  if (isPrivate) requireOnePair(keyObject, nodeJWK, spec);
  return new Key(keyObject, spec.alg, { ...keyOptions, verifyOnly: !allows(jwk, 'sign') });
}

/** Whether `key_ops`, if the JWK has it, lists the operation (RFC 7517 §4.3). */
function allows(jwk: Record<string, unknown>, operation: 'sign' | 'verify'): boolean {
  return jwk.key_ops === undefined || (jwk.key_ops as string[]).includes(operation);
}

/**
 * Node takes a private JWK's public members as given (or, for OKP, drops them for its own), so a
 * private key from one pair and public members from another would import as one key that signs
 * what its own public half rejects, and publishes someone else's key. One signature shows the
 * halves belong together.
 */
function requireOnePair(privateKey: KeyObject, nodeJWK: NodeJWK, spec: AlgorithmSpec): void {
  const publicJWK: NodeJWK = {};
  for (const name of ['kty', 'crv', 'n', 'e', 'x', 'y'] as const) {
    if (nodeJWK[name] !== undefined) publicJWK[name] = nodeJWK[name];
  }
  const publicKey = parseKey(() => createPublicKey({ key: publicJWK, format: 'jwk' }));
  const probe = Buffer.from('latchkey: do these halves make one key?');
  if (!verify(spec.hash, probe, publicKey, sign(spec.hash, probe, privateKey))) {
    refuse('its public members do not belong to its private key');
  }
}

function resolveAlgorithm(
  jwk: Record<string, unknown>,
  kty: string,
  requested: Algorithm | undefined,
): AlgorithmSpec {
  let alg: unknown = jwk.alg ?? requested;
  if (jwk.alg !== undefined && requested !== undefined && jwk.alg !== requested) {
    refuse('its alg differs from the requested algorithm');
  }
  if (alg === undefined && (kty === 'EC' || kty === 'OKP') && typeof jwk.crv === 'string') {
    alg = Object.hasOwn(CURVE_ALGORITHMS, jwk.crv) ? CURVE_ALGORITHMS[jwk.crv] : undefined;
  }
  if (alg === undefined) refuse('no alg, and none was given to bind the key to');
  const spec = findAlgorithm(alg);
  if (spec === undefined) refuse('alg is not a supported JWS algorithm');
  if (spec.kty !== kty) refuse(`${spec.alg} needs kty ${spec.kty}`);
  return spec;
}

function requireSignatureUse(jwk: Record<string, unknown>): void {
  if (jwk.use !== undefined && jwk.use !== 'sig') refuse('use must be sig');
  const ops = jwk.key_ops;
  if (ops === undefined) return;
  if (!Array.isArray(ops) || ops.some((op) => typeof op !== 'string') || new Set(ops).size !== ops.length) {
    refuse('key_ops must be an array of distinct strings');
  }
  if (!ops.includes('sign') && !ops.includes('verify')) refuse('key_ops allows neither sign nor verify');
}

/** The public JWK of a key, with kid, alg and use; never any private member. */
export function exportPublicJWK(key: Key): JWK {
  if (key.publicKeyObject === null) throw new TypeError('a secret key has no public JWK');
  return decorate(key.publicKeyObject.export({ format: 'jwk' }) as JWK, key);
}

/** The complete JWK of a key, private members included for private keys and secrets. */
export function exportJWK(key: Key): JWK {
  return decorate(key.keyObject.export({ format: 'jwk' }) as JWK, key);
}

function decorate(jwk: JWK, key: Key): JWK {
  const out: JWK = { ...jwk };
  if (key.kid !== undefined) out.kid = key.kid;
  out.alg = key.alg;
  out.use = 'sig';
  // A verify-only private key or secret must not come back able to sign when imported again.
  if ((jwk.d !== undefined || jwk.k !== undefined) && !key.canSign) out.key_ops = ['verify'];
  return out;
}

const THUMBPRINT_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  oct: ['k', 'kty'],
  RSA: ['e', 'kty', 'n'],
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
};

/** RFC 7638 SHA-256 thumbprint of the key's public part (or secret), the default `kid` we assign. */
export function computeJWKThumbprint(key: Key): string {
  const jwk = (key.publicKeyObject ?? key.keyObject).export({ format: 'jwk' }) as Record<string, string>;
  const members = THUMBPRINT_MEMBERS[jwk.kty as string] as readonly string[];
  // The members are already in lexicographic order, as RFC 7638 §3.3 requires.
  const canonical = `{${members.map((name) => `${JSON.stringify(name)}:${JSON.stringify(jwk[name])}`).join(',')}}`;
  return createHash('sha256').update(canonical).digest('base64url');
}
