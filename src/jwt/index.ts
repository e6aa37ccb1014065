export {
  ALGORITHMS,
  ALGORITHM_NAMES,
  type Algorithm,
  type AlgorithmSpec,
  type AsymmetricAlgorithm,
  type HMACAlgorithm,
  isAlgorithm,
} from './algorithms.js';
export { decodeBase64url, encodeBase64url, isBase64url } from './base64url.js';
export { type JWTPayload, normalizeTyp } from './claims.js';
export { decodeUnverified, type UnverifiedJWT } from './decode.js';
export { type ImportJWKOptions, type JWK, computeJWKThumbprint, exportJWK, exportPublicJWK, importJWK } from './jwk.js';
export { type ImportJWKSOptions, type JWKSet, KeySet, importJWKS } from './jwks.js';
export { DEFAULT_MAX_TOKEN_BYTES, type JWSHeader, type VerifiedJWS, signJWS, verifyJWS } from './jws.js';
export {
  DEFAULT_CACHE_ENTRIES,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  type JWTSigner,
  type JWTVerifier,
  MAX_CLOCK_TOLERANCE_SECONDS,
  type SignerOptions,
  type VerifiedJWT,
  type VerifierOptions,
  createSigner,
  createVerifier,
  isTokenError,
} from './jwt.js';
export {
  type GenerateKeyPairOptions,
  Key,
  type KeyKind,
  type KeyOptions,
  type KeyPair,
  exportPrivatePEM,
  exportPublicPEM,
  generateKeyPair,
  generateSecret,
  importPrivatePEM,
  importPublicPEM,
  importSecret,
} from './keys.js';
