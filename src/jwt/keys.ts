/**
 * Keys bound to exactly one algorithm. A `Key` is made once from checked material and carries the
 * ready sign and verify functions of its algorithm, so the hot path neither parses key material nor
 * decides how to call `node:crypto` (and a token can never choose the algorithm: the key did).
 */
import {
  constants,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  sign as cryptoSign,
  verify as cryptoVerify,
  generateKeyPair as generateKeyPairCallback,
  type KeyObject,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { promisify } from 'node:util';
import { KeyError } from '../errors.js';
import { ALGORITHMS, type Algorithm, type AlgorithmSpec, findAlgorithm, type Hash } from './algorithms.js';
import { createHMAC } from './hmac.js';
import { ScratchBuffer } from './scratch-buffer.js';

export type KeyKind = 'secret' | 'public' | 'private';

/** Signs the ASCII signing input `BASE64URL(header).BASE64URL(payload)`. */
type SignFunction = (signingInput: string) => Buffer;
/** Checks a signature over the ASCII signing input; false for any mismatch, never throws. */
type VerifyFunction = (signingInput: string, signature: Buffer) => boolean;

export interface KeyOptions {
  /** Key id published in the JWKS and put into the `kid` header of tokens this key signs. */
  kid?: string;
  /**
   * Never sign with this private key or secret, only verify: a JWK whose `key_ops` lacks "sign"
   * (RFC 7517 §4.3) says so. Its complete JWK export carries `key_ops: ["verify"]` again.
   */
  verifyOnly?: boolean;
}

export class Key {
  readonly alg: Algorithm;
  readonly kid: string | undefined;
  readonly kind: KeyKind;
  /** The key as Node holds it: the secret, the public key, or the private key. */
  readonly keyObject: KeyObject;
  /** The public half of an asymmetric key; `null` for a secret. */
  readonly publicKeyObject: KeyObject | null;
  /** @internal */
  readonly signInput: SignFunction | null;
  /** @internal */
  readonly verifyInput: VerifyFunction;

  /** Use the import functions; this checks that `keyObject` suits `alg` and throws `KeyError` if not. */
  constructor(keyObject: KeyObject, alg: Algorithm, options: KeyOptions = {}) {
    const spec = findAlgorithm(alg);
    if (spec === undefined) throw new TypeError('unsupported JWS algorithm');
    if (options.kid !== undefined && (typeof options.kid !== 'string' || options.kid.length === 0)) {
      throw new TypeError('kid must be a non-empty string');
    }
    requireSuitableKey(keyObject, spec);
    this.alg = alg;
    this.kid = options.kid;
    this.keyObject = keyObject;
    if (keyObject.type === 'secret') {
      this.kind = 'secret';
      this.publicKeyObject = null;
    } else {
      this.kind = keyObject.type;
      this.publicKeyObject = keyObject.type === 'private' ? createPublicKey(keyObject) : keyObject;
    }
    const functions = bindFunctions(spec, keyObject, this.publicKeyObject);
    this.signInput = this.kind === 'public' || options.verifyOnly === true ? null : functions.sign;
    this.verifyInput = functions.verify;
    Object.freeze(this);
  }

  get canSign(): boolean {
    return this.signInput !== null;
  }

  /** The public half as its own `Key` (same alg and kid); the key itself when it is public already. */
  toPublicKey(): Key {
    if (this.kind === 'public') return this;
    if (this.publicKeyObject === null) throw new TypeError('a secret key has no public half');
    return new Key(this.publicKeyObject, this.alg, this.kid === undefined ? {} : { kid: this.kid });
  }
}

function requireSuitableKey(keyObject: KeyObject, spec: AlgorithmSpec): void {
  const refuse = (why: string): never => {
    throw new KeyError('ERR_KEY_INVALID', `key cannot be used with ${spec.alg}: ${why}`);
  };
  if (spec.nodeKeyType === 'secret') {
    if (keyObject.type !== 'secret') refuse('it needs a secret key, not an asymmetric one');
    const bytes = keyObject.symmetricKeySize ?? 0;
    if (bytes < spec.minKeySize)
      refuse(`the secret must be at least ${spec.minKeySize} bytes (RFC 7518 §3.2)`);
    return;
  }
  if (keyObject.type === 'secret') refuse('it needs an asymmetric key, not a secret');
  if (keyObject.asymmetricKeyType !== spec.nodeKeyType) {
    refuse(`it needs a ${spec.kty} key, not ${keyObject.asymmetricKeyType ?? 'an unknown type'}`);
  }
  const details = keyObject.asymmetricKeyDetails ?? {};
  if (spec.family === 'rsa' || spec.family === 'rsa-pss') {
    if ((details.modulusLength ?? 0) < spec.minKeySize)
      refuse(`the RSA modulus must be at least ${spec.minKeySize} bits`);
    const e = details.publicExponent ?? 0n;
    if (e < 3n || e % 2n === 0n) refuse('the RSA public exponent must be odd and at least 3');
  }
  if (spec.namedCurve !== null && details.namedCurve !== spec.namedCurve)
    refuse(`it needs curve ${spec.curve}`);
}

/** The signing input as bytes for `node:crypto`, shared by all asymmetric keys; see `ScratchBuffer`. */
const signingInputScratch = new ScratchBuffer();

function bindFunctions(
  spec: AlgorithmSpec,
  keyObject: KeyObject,
  publicKeyObject: KeyObject | null,
): { sign: SignFunction; verify: VerifyFunction } {
  if (spec.family === 'hmac') {
    const length = spec.signatureBytes as number;
    const sign: SignFunction = createHMAC(spec.hash as Hash, keyObject.export());
    return {
      sign,
      verify: (input, signature) => signature.length === length && timingSafeEqual(sign(input), signature),
    };
  }
  const publicKey = publicKeyObject as KeyObject;
  const hash = spec.hash;
  let signOptions: Parameters<typeof cryptoSign>[2];
  let verifyOptions: Parameters<typeof cryptoVerify>[2];
  let signatureLength = spec.signatureBytes;
  switch (spec.family) {
    case 'rsa':
      signOptions = { key: keyObject };
      verifyOptions = { key: publicKey };
      signatureLength = Math.ceil((publicKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
      break;
    case 'rsa-pss':
      // RFC 7518 §3.5: MGF1 with the same hash, and a salt as long as the hash output.
      signOptions = {
        key: keyObject,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
      };
      verifyOptions = {
        key: publicKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
      };
      signatureLength = Math.ceil((publicKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
      break;
    case 'ecdsa':
      // JWS carries r‖s of fixed width (RFC 7518 §3.4), not DER.
      signOptions = { key: keyObject, dsaEncoding: 'ieee-p1363' };
      verifyOptions = { key: publicKey, dsaEncoding: 'ieee-p1363' };
      break;
    default:
      signOptions = keyObject;
      verifyOptions = publicKey;
  }
  return {
    sign: (input) => cryptoSign(hash, signingInputScratch.latin1(input), signOptions),
    verify: (input, signature) => {
      if (signature.length !== signatureLength) return false;
      try {
        return cryptoVerify(hash, signingInputScratch.latin1(input), verifyOptions, signature);
      } catch {
        // OpenSSL refuses some malformed signatures by raising instead of answering false.
        return false;
      }
    },
  };
}

const PUBLIC_PEM_LABELS = ['PUBLIC KEY', 'RSA PUBLIC KEY'];
const PRIVATE_PEM_LABELS = ['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY'];

function pemLabel(pem: string): string | undefined {
  return /^\s*-----BEGIN ([A-Z ]+)-----/.exec(pem)?.[1];
}

/**
 * Imports a public key from PEM (SPKI, or PKCS#1 for RSA). The caller says it is public and which
 * algorithm it serves; the label is checked against that instead of guessing the kind from the text.
 */
export function importPublicPEM(pem: string, alg: Algorithm, options: KeyOptions = {}): Key {
  const label = pemLabel(pem);
  if (label === undefined || !PUBLIC_PEM_LABELS.includes(label)) {
    throw new KeyError('ERR_KEY_INVALID', 'expected a PEM public key (BEGIN PUBLIC KEY)');
  }
  return new Key(
    parseKey(() => createPublicKey({ key: pem, format: 'pem' })),
    alg,
    options,
  );
}

/** Imports a private key from PEM (PKCS#8, or PKCS#1 / SEC 1). */
export function importPrivatePEM(pem: string, alg: Algorithm, options: KeyOptions = {}): Key {
  const label = pemLabel(pem);
  if (label === undefined || !PRIVATE_PEM_LABELS.includes(label)) {
    throw new KeyError('ERR_KEY_INVALID', 'expected a PEM private key (BEGIN PRIVATE KEY)');
  }
  return new Key(
    parseKey(() => createPrivateKey({ key: pem, format: 'pem' })),
    alg,
    options,
  );
}

/** Imports an HMAC secret. Bytes only: a string would invite passing a public key PEM as a secret. */
export function importSecret(secret: Uint8Array, alg: Algorithm, options: KeyOptions = {}): Key {
  if (!(secret instanceof Uint8Array)) throw new TypeError('secret must be a Uint8Array');
  if (ALGORITHMS[alg]?.family !== 'hmac')
    throw new TypeError('a secret can only be imported for HS256, HS384 or HS512');
  return new Key(createSecretKey(secret), alg, options);
}

/** A new random HMAC secret as long as the hash output, the RFC 7518 minimum. */
export function generateSecret(alg: Algorithm, options: KeyOptions = {}): Key {
  const spec = findAlgorithm(alg);
  if (spec?.family !== 'hmac') throw new TypeError('generateSecret is for HS256, HS384 or HS512');
  return importSecret(randomBytes(spec.minKeySize), alg, options);
}

export interface KeyPair {
  privateKey: Key;
  publicKey: Key;
}

export interface GenerateKeyPairOptions extends KeyOptions {
  /** RSA modulus size in bits; default 2048, the minimum. */
  modulusLength?: number;
}

const generateKeyPairAsync = promisify(generateKeyPairCallback);

/** Generates a key pair for an asymmetric algorithm, off the event loop. */
export async function generateKeyPair(
  alg: Algorithm,
  options: GenerateKeyPairOptions = {},
): Promise<KeyPair> {
  const spec = findAlgorithm(alg);
  if (spec === undefined || spec.family === 'hmac')
    throw new TypeError('generateKeyPair needs an asymmetric algorithm');
  const { kid, modulusLength = 2048 } = options;
  let pair: { privateKey: KeyObject; publicKey: KeyObject };
  switch (spec.family) {
    case 'rsa':
    case 'rsa-pss':
      if (!Number.isInteger(modulusLength) || modulusLength < 2048 || modulusLength > 16384) {
        throw new TypeError('modulusLength must be an integer from 2048 to 16384');
      }
      pair = await generateKeyPairAsync('rsa', { modulusLength, publicExponent: 65537 });
      break;
    case 'ecdsa':
      pair = await generateKeyPairAsync('ec', { namedCurve: spec.namedCurve as string });
      break;
    default:
      pair = await generateKeyPairAsync('ed25519', {});
  }
  const keyOptions = kid === undefined ? {} : { kid };
  return {
    privateKey: new Key(pair.privateKey, alg, keyOptions),
    publicKey: new Key(pair.publicKey, alg, keyOptions),
  };
}

export function exportPublicPEM(key: Key): string {
  if (key.publicKeyObject === null) throw new TypeError('a secret key has no public PEM');
  return key.publicKeyObject.export({ type: 'spki', format: 'pem' }).toString();
}

export function exportPrivatePEM(key: Key): string {
  if (key.kind !== 'private') throw new TypeError('only a private key has a private PEM');
  return key.keyObject.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** Runs a Node key parser and turns its failure into a `KeyError` that does not repeat the input. */
export function parseKey(parse: () => KeyObject): KeyObject {
  try {
    return parse();
  } catch (cause) {
    throw new KeyError('ERR_KEY_INVALID', 'key material could not be parsed', { cause });
  }
}
