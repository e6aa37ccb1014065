export {
  ALGORITHM_NAMES,
  ALGORITHMS,
  type Algorithm,
  type AlgorithmSpec,
  type AsymmetricAlgorithm,
  type HMACAlgorithm,
  isAlgorithm,
} from './algorithms.js';
export { decodeBase64url, encodeBase64url, isBase64url } from './base64url.js';
export { type JWTPayload, normalizeTyp } from './claims.js';
export { decodeUnverified, type UnverifiedJWT } from './decode.js';
export {
  computeJWKThumbprint,
  exportJWK,
  exportPublicJWK,
  type ImportJWKOptions,
  importJWK,
  type JWK,
} from './jwk.js';
export { type ImportJWKSOptions, importJWKS, type JWKSet, KeySet } from './jwks.js';
export { DEFAULT_MAX_TOKEN_BYTES, type JWSHeader, signJWS, type VerifiedJWS, verifyJWS } from './jws.js';
export {
  createSigner,
  createVerifier,
  DEFAULT_CACHE_ENTRIES,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  isTokenError,
  type JWTSigner,
  type JWTVerifier,
  MAX_CLOCK_TOLERANCE_SECONDS,
  type SignerOptions,
  type VerifiedJWT,
  type VerifierOptions,
} from './jwt.js';
export {
  exportPrivatePEM,
  exportPublicPEM,
  type GenerateKeyPairOptions,
  generateKeyPair,
  generateSecret,
  importPrivatePEM,
  importPublicPEM,
  importSecret,
  Key,
  type KeyKind,
  type KeyOptions,
  type KeyPair,
} from './keys.js';
