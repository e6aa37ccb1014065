/**
 * The token inspector's logic, entirely in the page: decode a JWS compact token, explain its claims,
 * and verify it against the server's published keys with WebCrypto. Nothing here sends the token
 * anywhere; the only network reads are the JWKS and the discovery document, which carry no token.
 *
 * Verify, then trust: parse → take the algorithm from the key (never from the token) → check the
 * signature → only then judge the claims.
 */

export interface DecodedPart {
  /** The base64url text as it appears in the token. */
  raw: string;
  /** The parsed JSON object, or null when the part is not one. */
  json: Record<string, unknown> | null;
}

export interface DecodedToken {
  header: DecodedPart;
  payload: DecodedPart;
  signature: string;
}

export type DecodeResult = { ok: true; token: DecodedToken } | { ok: false; reason: string };

export type VerdictReason =
  | 'malformed'
  | 'unknown key'
  | 'unsupported algorithm'
  | 'bad signature'
  | 'expired'
  | 'not yet valid'
  | 'wrong issuer'
  | 'secret key'
  | 'keys unavailable';

export type Verdict =
  | { valid: true; kid: string; alg: string }
  | { valid: false; reason: VerdictReason; detail: string };

export interface JWK {
  kty: string;
  kid?: string;
  alg?: string;
  use?: string;
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** The bytes of canonical base64url text; null when it is not (padding, stray bits, other alphabets). */
export function decodeBase64url(text: string): Uint8Array | null {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return null;
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  let binary: string;
  try {
    binary = atob(padded);
  } catch {
    return null;
  }
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  // Canonical: encoding the bytes again gives the same text (no unused bits set).
  return encodeBase64url(bytes) === text ? bytes : null;
}

export function encodeBase64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function decodeJSONPart(raw: string): Record<string, unknown> | null {
  const bytes = decodeBase64url(raw);
  if (bytes === null) return null;
  try {
    const value: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** The three parts of a JWS compact token, decoded; why not, when it is not one. */
export function decodeToken(input: string): DecodeResult {
  const text = input.trim();
  if (text === '') return { ok: false, reason: 'paste a token to inspect it' };
  const parts = text.split('.');
  if (parts.length !== 3) {
    return { ok: false, reason: `a JWT has three parts separated by dots; this has ${parts.length}` };
  }
  const [header = '', payload = '', signature = ''] = parts;
  const decoded: DecodedToken = {
    header: { raw: header, json: decodeJSONPart(header) },
    payload: { raw: payload, json: decodeJSONPart(payload) },
    signature,
  };
  return { ok: true, token: decoded };
}

// ---------------------------------------------------------------------------------------------
// Claims in words

export interface ClaimExplanation {
  name: string;
  value: string;
  meaning: string;
}

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

/** "3 minutes ago", "in 12 minutes", "in 5 seconds", from a difference in seconds. */
export function describeRelative(deltaSeconds: number): string {
  const abs = Math.abs(deltaSeconds);
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
  ];
  for (const [unit, size] of units) {
    if (abs >= size) return relative.format(Math.trunc(deltaSeconds / size), unit);
  }
  return relative.format(Math.trunc(deltaSeconds), 'second');
}

function time(value: unknown, nowSeconds: number): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) return 'not a number of seconds';
  return `${new Date(value * 1000).toISOString().replace('.000Z', 'Z')} (${describeRelative(value - nowSeconds)})`;
}

const show = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

/** Every claim of a payload, each said in words. */
export function explainClaims(payload: Record<string, unknown>, nowSeconds: number): ClaimExplanation[] {
  const known: Record<string, (value: unknown) => string> = {
    iss: () => 'issuer: the server that signed this token',
    sub: () => 'subject: the id of the user this token speaks for',
    aud: (v) =>
      `audience: the service${Array.isArray(v) && v.length > 1 ? 's' : ''} meant to accept it; others must refuse it. Each service checks that it is named here; this page, which is not one of them, does not`,
    iat: (v) =>
      typeof v === 'number' ? `issued ${describeRelative(v - nowSeconds)}` : 'issued at: not a number',
    nbf: (v) =>
      typeof v === 'number' ? `not valid before, ${describeRelative(v - nowSeconds)}` : 'not before',
    exp: (v) =>
      typeof v !== 'number'
        ? 'expiry: not a number'
        : v > nowSeconds
          ? `expires ${describeRelative(v - nowSeconds)}`
          : `expired ${describeRelative(v - nowSeconds)}`,
    jti: () => 'token id: unique to this one token',
    sid: () => 'session: the login this token belongs to; revoking it revokes the token',
    client_id: () => 'client: the application the token was issued to',
    roles: (v) => (Array.isArray(v) && v.length > 0 ? `roles: ${v.join(', ')}` : 'roles: none'),
    scope: () => 'scopes granted, separated by spaces',
  };
  return Object.entries(payload).map(([name, value]) => ({
    name,
    value: name === 'iat' || name === 'exp' || name === 'nbf' ? time(value, nowSeconds) : show(value),
    meaning: known[name]?.(value) ?? 'a claim Latchkey does not define',
  }));
}

// ---------------------------------------------------------------------------------------------
// Verification

interface AlgorithmEntry {
  kty: string;
  importParams: RsaHashedImportParams | EcKeyImportParams | Algorithm;
  verifyParams: AlgorithmIdentifier | RsaPssParams | EcdsaParams;
}

/** One table: how WebCrypto verifies each algorithm a Latchkey key may be bound to. */
const ALGORITHMS: Readonly<Record<string, AlgorithmEntry>> = {
  ES256: {
    kty: 'EC',
    importParams: { name: 'ECDSA', namedCurve: 'P-256' },
    verifyParams: { name: 'ECDSA', hash: 'SHA-256' },
  },
  EdDSA: { kty: 'OKP', importParams: { name: 'Ed25519' }, verifyParams: { name: 'Ed25519' } },
  RS256: {
    kty: 'RSA',
    importParams: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    verifyParams: { name: 'RSASSA-PKCS1-v1_5' },
  },
  PS256: {
    kty: 'RSA',
    importParams: { name: 'RSA-PSS', hash: 'SHA-256' },
    verifyParams: { name: 'RSA-PSS', saltLength: 32 },
  },
};

export interface VerifyOptions {
  keys: readonly JWK[];
  /** The issuer the server publishes in its discovery document. */
  issuer: string;
  /** The algorithms the server says it signs access tokens with (its discovery document). */
  signingAlgorithms?: readonly string[];
  nowSeconds: number;
  /** Seconds of clock difference forgiven on exp and nbf (the server's default is 30). */
  toleranceSeconds?: number;
}

const fail = (reason: VerdictReason, detail: string): Verdict => ({ valid: false, reason, detail });

/** The verdict on a token against a key set, computed with WebCrypto in this page. */
export async function verifyToken(input: string, options: VerifyOptions): Promise<Verdict> {
  const decoded = decodeToken(input);
  if (!decoded.ok) return fail('malformed', decoded.reason);
  const { header, payload, signature } = decoded.token;
  if (header.json === null) return fail('malformed', 'the header is not base64url-encoded JSON');
  if (payload.json === null) return fail('malformed', 'the payload is not base64url-encoded JSON');
  const signatureBytes = decodeBase64url(signature);
  if (signatureBytes === null || signatureBytes.length === 0) {
    return fail('malformed', 'the signature is missing or not canonical base64url');
  }
  const kid = header.json.kid;
  if (typeof kid !== 'string') return fail('unknown key', 'the header names no key (kid)');
  const jwk = options.keys.find((key) => key.kid === kid);
  if (jwk === undefined) {
    // An HMAC token from a server that signs with HMAC: its key is a secret, never published, so
    // nothing here can tell a genuine token from a forged one. Said so, rather than "unknown key".
    const claimed = header.json.alg;
    if (
      typeof claimed === 'string' &&
      claimed.startsWith('HS') &&
      options.signingAlgorithms?.includes(claimed)
    ) {
      return fail(
        'secret key',
        `it is signed with ${claimed}, a shared secret this server keeps to itself (it publishes no key for it), so no page can check it: only the server and the services holding the secret can`,
      );
    }
    return fail('unknown key', `no key "${kid}" is published in the server's JWKS`);
  }
  // The algorithm comes from the key; the token's own claim to one must merely agree with it.
  const alg = jwk.alg ?? '';
  const entry = ALGORITHMS[alg];
  if (entry === undefined || entry.kty !== jwk.kty) {
    return fail(
      'unsupported algorithm',
      `key "${kid}" is bound to ${alg || 'no algorithm'}, which this page cannot verify`,
    );
  }
  if (header.json.alg !== alg) {
    return fail(
      'bad signature',
      `the header says ${show(header.json.alg)}, but key "${kid}" signs only ${alg}`,
    );
  }
  let valid: boolean;
  try {
    const { kty, crv, x, y, n, e } = jwk;
    const material: JsonWebKey = { kty };
    if (crv !== undefined) material.crv = crv;
    if (x !== undefined) material.x = x;
    if (y !== undefined) material.y = y;
    if (n !== undefined) material.n = n;
    if (e !== undefined) material.e = e;
    const key = await crypto.subtle.importKey('jwk', material, entry.importParams, false, ['verify']);
    const signingInput = new TextEncoder().encode(`${header.raw}.${payload.raw}`);
    valid = await crypto.subtle.verify(entry.verifyParams, key, signatureBytes as BufferSource, signingInput);
  } catch (error) {
    return fail(
      'unsupported algorithm',
      `this browser could not verify ${alg}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (!valid)
    return fail('bad signature', `the signature does not match the header and payload under key "${kid}"`);

  const claims = payload.json;
  const tolerance = options.toleranceSeconds ?? 0;
  if (typeof claims.exp !== 'number') return fail('malformed', 'the token has no expiry (exp)');
  if (claims.exp + tolerance <= options.nowSeconds) {
    return fail('expired', `it expired ${describeRelative(claims.exp - options.nowSeconds)}`);
  }
  if (typeof claims.nbf === 'number' && claims.nbf - tolerance > options.nowSeconds) {
    return fail('not yet valid', `it becomes valid ${describeRelative(claims.nbf - options.nowSeconds)}`);
  }
  if (claims.iss !== options.issuer) {
    return fail(
      'wrong issuer',
      claims.iss === undefined
        ? `it names no issuer (iss); this server's tokens name ${options.issuer}`
        : `it was issued by ${show(claims.iss)}, not by ${options.issuer}`,
    );
  }
  return { valid: true, kid, alg };
}

export interface ServerKeys {
  issuer: string;
  signingAlgorithms: string[];
  keys: JWK[];
}

/** The server's issuer and published keys: two GETs that carry no token. */
export async function fetchServerKeys(origin: string): Promise<ServerKeys> {
  const discovery = (await (await fetch(`${origin}/.well-known/openid-configuration`)).json()) as {
    issuer?: unknown;
    jwks_uri?: unknown;
    access_token_signing_alg_values_supported?: unknown;
  };
  if (typeof discovery.issuer !== 'string' || typeof discovery.jwks_uri !== 'string') {
    throw new Error('the discovery document has no issuer or jwks_uri');
  }
  // Read from this origin: the page's policy allows no other, whatever the issuer URL says.
  const jwksPath = new URL(discovery.jwks_uri).pathname;
  const jwks = (await (await fetch(`${origin}${jwksPath}`)).json()) as { keys?: unknown };
  if (!Array.isArray(jwks.keys)) throw new Error('the JWKS has no keys array');
  const algorithms = discovery.access_token_signing_alg_values_supported;
  const signingAlgorithms = Array.isArray(algorithms)
    ? algorithms.filter((alg): alg is string => typeof alg === 'string')
    : [];
  return { issuer: discovery.issuer, signingAlgorithms, keys: jwks.keys as JWK[] };
}
