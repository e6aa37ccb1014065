/**
 * Everything about each JWS algorithm (RFC 7518 §3, RFC 8037 §3.1) in one table: which key it needs,
 * which hash, how long its signature is, and how Node's crypto is asked to compute it.
 */

export type HMACAlgorithm = 'HS256' | 'HS384' | 'HS512';
export type RSAAlgorithm = 'RS256' | 'RS384' | 'RS512';
export type RSAPSSAlgorithm = 'PS256' | 'PS384' | 'PS512';
export type ECDSAAlgorithm = 'ES256' | 'ES384' | 'ES512';
export type EdDSAAlgorithm = 'EdDSA';
export type AsymmetricAlgorithm = RSAAlgorithm | RSAPSSAlgorithm | ECDSAAlgorithm | EdDSAAlgorithm;
export type Algorithm = HMACAlgorithm | AsymmetricAlgorithm;

export type AlgorithmFamily = 'hmac' | 'rsa' | 'rsa-pss' | 'ecdsa' | 'eddsa';
export type Hash = 'sha256' | 'sha384' | 'sha512';
export type Curve = 'P-256' | 'P-384' | 'P-521' | 'Ed25519';

export interface AlgorithmSpec {
  readonly alg: Algorithm;
  readonly family: AlgorithmFamily;
  /** Hash for HMAC, RSA and ECDSA; EdDSA hashes internally. */
  readonly hash: Hash | null;
  /** JWK `kty` of keys for this algorithm. */
  readonly kty: 'oct' | 'RSA' | 'EC' | 'OKP';
  /** Node's `asymmetricKeyType`, or 'secret'. */
  readonly nodeKeyType: 'secret' | 'rsa' | 'ec' | 'ed25519';
  /** JWK `crv` for ECDSA and EdDSA. */
  readonly curve: Curve | null;
  /** Node's name of the curve, as `asymmetricKeyDetails.namedCurve` reports it. */
  readonly namedCurve: string | null;
  /** Exact signature length in bytes, or null where it depends on the key (RSA). */
  readonly signatureBytes: number | null;
  /** Smallest key: HMAC secret bytes (RFC 7518 §3.2), RSA modulus bits (RFC 7518 §3.3, NIST). */
  readonly minKeySize: number;
}

function spec(fields: AlgorithmSpec): AlgorithmSpec {
  return Object.freeze(fields);
}

const hmac = (alg: HMACAlgorithm, hash: Hash, bytes: number) =>
  spec({
    alg,
    family: 'hmac',
    hash,
    kty: 'oct',
    nodeKeyType: 'secret',
    curve: null,
    namedCurve: null,
    signatureBytes: bytes,
    minKeySize: bytes,
  });

const rsa = (alg: RSAAlgorithm | RSAPSSAlgorithm, family: 'rsa' | 'rsa-pss', hash: Hash) =>
  spec({
    alg,
    family,
    hash,
    kty: 'RSA',
    nodeKeyType: 'rsa',
    curve: null,
    namedCurve: null,
    signatureBytes: null,
    minKeySize: 2048,
  });

const ecdsa = (alg: ECDSAAlgorithm, hash: Hash, curve: Curve, namedCurve: string, bytes: number) =>
  spec({
    alg,
    family: 'ecdsa',
    hash,
    kty: 'EC',
    nodeKeyType: 'ec',
    curve,
    namedCurve,
    signatureBytes: bytes,
    minKeySize: 0,
  });

export const ALGORITHMS: Readonly<Record<Algorithm, AlgorithmSpec>> = Object.freeze({
  HS256: hmac('HS256', 'sha256', 32),
  HS384: hmac('HS384', 'sha384', 48),
  HS512: hmac('HS512', 'sha512', 64),
  RS256: rsa('RS256', 'rsa', 'sha256'),
  RS384: rsa('RS384', 'rsa', 'sha384'),
  RS512: rsa('RS512', 'rsa', 'sha512'),
  PS256: rsa('PS256', 'rsa-pss', 'sha256'),
  PS384: rsa('PS384', 'rsa-pss', 'sha384'),
  PS512: rsa('PS512', 'rsa-pss', 'sha512'),
  ES256: ecdsa('ES256', 'sha256', 'P-256', 'prime256v1', 64),
  ES384: ecdsa('ES384', 'sha384', 'P-384', 'secp384r1', 96),
  ES512: ecdsa('ES512', 'sha512', 'P-521', 'secp521r1', 132),
  EdDSA: spec({
    alg: 'EdDSA',
    family: 'eddsa',
    hash: null,
    kty: 'OKP',
    nodeKeyType: 'ed25519',
    curve: 'Ed25519',
    namedCurve: null,
    signatureBytes: 64,
    minKeySize: 0,
  }),
});

export const ALGORITHM_NAMES: readonly Algorithm[] = Object.freeze(Object.keys(ALGORITHMS) as Algorithm[]);

/** The spec of `alg`, or `undefined` for anything that is not exactly one of our algorithm names. */
export function findAlgorithm(alg: unknown): AlgorithmSpec | undefined {
  return typeof alg === 'string' && Object.hasOwn(ALGORITHMS, alg) ? ALGORITHMS[alg as Algorithm] : undefined;
}

export function isAlgorithm(alg: unknown): alg is Algorithm {
  return findAlgorithm(alg) !== undefined;
}
