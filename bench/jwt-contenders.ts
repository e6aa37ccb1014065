/**
 * The contenders of the JWT benchmark. Each library is set up as its documentation recommends for a
 * hot path: key material parsed once into the form it works with fastest, options fixed once. All
 * of them sign the same claims and verify the same latchkey-signed token with the same checks
 * (issuer, audience, exp required, typ where the library can check it).
 */
import {
  constants,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  sign as cryptoSign,
  verify as cryptoVerify,
  type KeyObject,
  timingSafeEqual,
  webcrypto,
} from 'node:crypto';
import { createSigner as createFastSigner, createVerifier as createFastVerifier } from 'fast-jwt';
import { importPKCS8, importSPKI, jwtVerify, SignJWT } from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import {
  createSigner,
  createVerifier,
  exportPrivatePEM,
  exportPublicPEM,
  generateKeyPair,
  generateSecret,
  type Key,
} from '../src/jwt/index.js';
import { asyncBench, type Bench, syncBench } from './harness.js';

export const ALGS = ['HS256', 'RS256', 'PS256', 'ES256', 'EdDSA'] as const;
export type BenchAlg = (typeof ALGS)[number];
export const OPS = ['sign', 'verify'] as const;
export type Op = (typeof OPS)[number];
export const IMPLS = [
  'latchkey',
  'latchkey+cache',
  'jose',
  'fast-jwt',
  'fast-jwt+cache',
  'jsonwebtoken',
  'floor',
] as const;
export type Impl = (typeof IMPLS)[number];

const ISSUER = 'https://auth.example.com';
const AUDIENCE = 'https://api.example.com';
export const SUBJECT = 'user-1234';
/** RFC 9068 access-token type; every library that can set or check `typ` is asked to. */
const TYP = 'at+jwt';
const TTL_SECONDS = 3600;

/** Key material for one algorithm in every form the contenders take, and the token they verify. */
export interface Fixture {
  alg: BenchAlg;
  kid: string;
  /** Latchkey's private key, or the secret. */
  signingKey: Key;
  /** Latchkey's public key, or the secret. */
  verifyingKey: Key;
  /** PEM (PKCS#8 / SPKI) for asymmetric algorithms, the raw secret bytes for HMAC. */
  privateMaterial: string | Buffer;
  publicMaterial: string | Buffer;
  /** Node KeyObjects parsed from that same material. */
  privateKeyObject: KeyObject;
  publicKeyObject: KeyObject;
  /** Signed by latchkey; every verifier is timed on this exact token. */
  token: string;
}

export async function createFixture(alg: BenchAlg): Promise<Fixture> {
  const kid = `bench-${alg.toLowerCase()}`;
  if (alg === 'HS256') {
    const secret = generateSecret(alg, { kid });
    const bytes = secret.keyObject.export();
    const keyObject = createSecretKey(bytes);
    return withToken({
      alg,
      kid,
      signingKey: secret,
      verifyingKey: secret,
      privateMaterial: bytes,
      publicMaterial: bytes,
      privateKeyObject: keyObject,
      publicKeyObject: keyObject,
    });
  }
  const { privateKey, publicKey } = await generateKeyPair(alg, { kid });
  const privatePEM = exportPrivatePEM(privateKey);
  const publicPEM = exportPublicPEM(publicKey);
  return withToken({
    alg,
    kid,
    signingKey: privateKey,
    verifyingKey: publicKey,
    privateMaterial: privatePEM,
    publicMaterial: publicPEM,
    privateKeyObject: createPrivateKey(privatePEM),
    publicKeyObject: createPublicKey(publicPEM),
  });
}

function withToken(fixture: Omit<Fixture, 'token'>): Fixture {
  return { ...fixture, token: latchkeySigner(fixture.signingKey)({ sub: SUBJECT }) };
}

function latchkeySigner(key: Key, overrides: { now?: () => number; audience?: string } = {}) {
  return createSigner({
    key,
    typ: TYP,
    issuer: ISSUER,
    audience: overrides.audience ?? AUDIENCE,
    expiresInSeconds: TTL_SECONDS,
    ...(overrides.now === undefined ? {} : { now: overrides.now }),
  });
}

/**
 * One contender for one (alg, op). `run` is what gets timed; `check` takes any token and returns
 * its `sub` or throws, so the sanity checks can show that each verifier accepts and refuses the same
 * tokens. Signers have `produce` instead, whose token the sanity checks inspect.
 */
export interface SignContender {
  run: Bench;
  produce: () => Promise<string>;
}

export interface VerifyContender {
  run: Bench;
  check: (token: string) => Promise<unknown>;
}

type SignFactory = (fixture: Fixture) => Promise<SignContender | null>;
type VerifyFactory = (fixture: Fixture) => Promise<VerifyContender | null>;

/** jose takes CryptoKeys; a raw secret would be imported again on every call. */
async function joseKeys(
  fixture: Fixture,
): Promise<{ signing: webcrypto.CryptoKey; verifying: webcrypto.CryptoKey }> {
  if (fixture.alg === 'HS256') {
    const secret = await webcrypto.subtle.importKey(
      'raw',
      fixture.privateMaterial as Buffer,
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    );
    return { signing: secret, verifying: secret };
  }
  return {
    signing: await importPKCS8(fixture.privateMaterial as string, fixture.alg),
    verifying: await importSPKI(fixture.publicMaterial as string, fixture.alg),
  };
}

/** The node:crypto call underneath every library, with everything prepared ahead of time. */
interface FloorPrimitive {
  sign: (input: Buffer) => Buffer;
  verify: (input: Buffer, signature: Buffer) => boolean;
}

function createFloorPrimitive(fixture: Fixture): FloorPrimitive {
  if (fixture.alg === 'HS256') {
    const secret = fixture.privateMaterial as Buffer;
    const sign = (input: Buffer) => createHmac('sha256', secret).update(input).digest();
    return {
      sign,
      // The length check only keeps timingSafeEqual from throwing on a wrong-sized signature.
      verify: (input, signature) => {
        const mac = sign(input);
        return mac.length === signature.length && timingSafeEqual(mac, signature);
      },
    };
  }
  const { hash, options } = floorOptions(fixture.alg);
  const privateKey = { ...options, key: fixture.privateKeyObject };
  const publicKey = { ...options, key: fixture.publicKeyObject };
  return {
    sign: (input) => cryptoSign(hash, input, privateKey),
    verify: (input, signature) => cryptoVerify(hash, input, publicKey, signature),
  };
}

function floorOptions(alg: Exclude<BenchAlg, 'HS256'>): {
  hash: string | null;
  options: { padding?: number; saltLength?: number; dsaEncoding?: 'ieee-p1363' };
} {
  switch (alg) {
    case 'RS256':
      return { hash: 'sha256', options: {} };
    case 'PS256':
      return {
        hash: 'sha256',
        options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
      };
    case 'ES256':
      return { hash: 'sha256', options: { dsaEncoding: 'ieee-p1363' } };
    case 'EdDSA':
      return { hash: null, options: {} };
  }
}

/** The signing input and signature of a compact token, as bytes. */
function splitToken(token: string): { input: Buffer; signature: Buffer; payloadSegment: string } {
  const [header = '', payload = '', signature = ''] = token.split('.');
  return {
    input: Buffer.from(`${header}.${payload}`, 'latin1'),
    signature: Buffer.from(signature, 'base64url'),
    payloadSegment: payload,
  };
}

const SIGNERS: Record<Exclude<Impl, 'latchkey+cache' | 'fast-jwt+cache'>, SignFactory> = {
  latchkey: async (fixture) => {
    const sign = latchkeySigner(fixture.signingKey);
    return syncSigner(() => sign({ sub: SUBJECT }));
  },
  jose: async (fixture) => {
    const { signing } = await joseKeys(fixture);
    const { alg, kid } = fixture;
    const sign = () => {
      const iat = Math.floor(Date.now() / 1000);
      return new SignJWT({ sub: SUBJECT })
        .setProtectedHeader({ alg, typ: TYP, kid })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt(iat)
        .setExpirationTime(iat + TTL_SECONDS)
        .sign(signing);
    };
    return { run: asyncBench(sign), produce: sign };
  },
  'fast-jwt': async (fixture) => {
    const sign = createFastSigner({
      key: fixture.privateMaterial,
      algorithm: fixture.alg,
      kid: fixture.kid,
      header: { alg: fixture.alg, typ: TYP },
      iss: ISSUER,
      aud: AUDIENCE,
      expiresIn: TTL_SECONDS * 1000,
    });
    return syncSigner(() => sign({ sub: SUBJECT }));
  },
  jsonwebtoken: async (fixture) => {
    const { alg } = fixture;
    // jsonwebtoken 9 has no EdDSA.
    if (alg === 'EdDSA') return null;
    // A KeyObject: given PEM or bytes, jsonwebtoken would parse the key again on every call.
    const key = fixture.privateKeyObject;
    const options: jsonwebtoken.SignOptions = {
      algorithm: alg,
      keyid: fixture.kid,
      header: { alg, typ: TYP },
      issuer: ISSUER,
      audience: AUDIENCE,
      expiresIn: TTL_SECONDS,
    };
    return syncSigner(() => jsonwebtoken.sign({ sub: SUBJECT }, key, options));
  },
  floor: async (fixture) => {
    const { sign } = createFloorPrimitive(fixture);
    const { input } = splitToken(fixture.token);
    return {
      run: syncBench(() => sign(input)),
      produce: async () => `${input.toString('latin1')}.${sign(input).toString('base64url')}`,
    };
  },
};

function syncSigner(sign: () => string): SignContender {
  return { run: syncBench(sign), produce: async () => sign() };
}

function syncVerifier(fixture: Fixture, verify: (token: string) => unknown): VerifyContender {
  const { token } = fixture;
  return { run: syncBench(() => verify(token)), check: async (candidate) => verify(candidate) };
}

const VERIFIERS: Record<Impl, VerifyFactory> = {
  latchkey: async (fixture) => latchkeyVerifier(fixture, false),
  'latchkey+cache': async (fixture) => latchkeyVerifier(fixture, true),
  jose: async (fixture) => {
    const { verifying } = await joseKeys(fixture);
    const options = {
      algorithms: [fixture.alg],
      issuer: ISSUER,
      audience: AUDIENCE,
      typ: TYP,
      requiredClaims: ['exp'],
    };
    const verify = async (token: string) => (await jwtVerify(token, verifying, options)).payload.sub;
    const { token } = fixture;
    return { run: asyncBench(() => verify(token)), check: verify };
  },
  'fast-jwt': async (fixture) => fastJWTVerifier(fixture, false),
  'fast-jwt+cache': async (fixture) => fastJWTVerifier(fixture, true),
  jsonwebtoken: async (fixture) => {
    const { alg } = fixture;
    if (alg === 'EdDSA') return null;
    const key = fixture.publicKeyObject;
    // jsonwebtoken cannot check typ; it checks exp whenever present but cannot require it.
    const options: jsonwebtoken.VerifyOptions & { complete?: false } = {
      algorithms: [alg],
      issuer: ISSUER,
      audience: AUDIENCE,
    };
    return syncVerifier(
      fixture,
      (token) => (jsonwebtoken.verify(token, key, options) as { sub: string }).sub,
    );
  },
  floor: async (fixture) => {
    const { verify } = createFloorPrimitive(fixture);
    const { input, signature } = splitToken(fixture.token);
    return {
      run: syncBench(() => verify(input, signature)),
      // The floor checks the signature only; claims are the libraries' business.
      check: async (candidate) => {
        const parts = splitToken(candidate);
        if (!verify(parts.input, parts.signature)) throw new Error('floor: signature refused');
        return JSON.parse(Buffer.from(parts.payloadSegment, 'base64url').toString()).sub;
      },
    };
  },
};

function latchkeyVerifier(fixture: Fixture, cache: boolean): VerifyContender {
  const verify = createVerifier({
    key: fixture.verifyingKey,
    issuer: ISSUER,
    audience: AUDIENCE,
    typ: TYP,
    cache,
  });
  return syncVerifier(fixture, (token) => verify(token).payload.sub);
}

function fastJWTVerifier(fixture: Fixture, cache: boolean): VerifyContender {
  const verify = createFastVerifier({
    key: fixture.publicMaterial,
    algorithms: [fixture.alg],
    allowedIss: ISSUER,
    allowedAud: AUDIENCE,
    checkTyp: TYP,
    requiredClaims: ['exp'],
    cache,
  });
  return syncVerifier(fixture, (token) => (verify(token) as { sub: string }).sub);
}

/** Which impls take part in each op; the cached variants only make sense for verify. */
export const IMPLS_BY_OP: Readonly<Record<Op, readonly Impl[]>> = {
  sign: ['latchkey', 'jose', 'fast-jwt', 'jsonwebtoken', 'floor'],
  verify: IMPLS,
};

export function createSignContender(impl: Impl, fixture: Fixture): Promise<SignContender | null> {
  if (impl === 'latchkey+cache' || impl === 'fast-jwt+cache') return Promise.resolve(null);
  return SIGNERS[impl](fixture);
}

export function createVerifyContender(impl: Impl, fixture: Fixture): Promise<VerifyContender | null> {
  return VERIFIERS[impl](fixture);
}

/** Tokens every verifier except the floor must refuse: each breaks one of the shared checks. */
export function createBadTokens(fixture: Fixture): Record<string, string> {
  const { signingKey, token } = fixture;
  const [header, payload, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString());
  const forgedPayload = Buffer.from(JSON.stringify({ ...claims, sub: 'admin' })).toString('base64url');
  const twoHoursAgo = () => Date.now() - 2 * TTL_SECONDS * 1000;
  return {
    forged: `${header}.${forgedPayload}.${signature}`,
    expired: latchkeySigner(signingKey, { now: twoHoursAgo })({ sub: SUBJECT }),
    'wrong audience': latchkeySigner(signingKey, { audience: 'https://elsewhere.example.com' })({
      sub: SUBJECT,
    }),
  };
}

/** What every signer's token must look like: the same header fields and the same claims. */
export function describeSignedToken(fixture: Fixture): (token: string) => string | null {
  const verify = createVerifier({ key: fixture.verifyingKey, issuer: ISSUER, audience: AUDIENCE, typ: TYP });
  return (token) => {
    const { header, payload } = verify(token);
    const claims = Object.keys(payload).sort().join(',');
    if (header.kid !== fixture.kid) return `kid is ${String(header.kid)}`;
    if (claims !== 'aud,exp,iat,iss,sub') return `claims are ${claims}`;
    if (payload.sub !== SUBJECT) return 'sub differs';
    if ((payload.exp ?? 0) - (payload.iat ?? 0) !== TTL_SECONDS) return 'exp - iat differs';
    return null;
  };
}
