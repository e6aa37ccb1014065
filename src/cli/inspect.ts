/**
 * The analysis behind `latchkey token inspect`: decode each part on its own, check the signature
 * against the server's keys, and check the claims against the server's rules. The JWT core's verifier
 * stops at the first failure, which is right for a server and wrong for a person debugging a token,
 * so the checks run here one by one and every problem is named. Claims are checked even when the
 * signature fails, and such findings say that the payload they judge is unverified.
 */
import { ACCESS_TOKEN_TYP, accessTokenRules, isRoleList } from '../auth/access-tokens.js';
import { JOSEError, JWTClaimError } from '../errors.js';
import { findAlgorithm } from '../jwt/algorithms.js';
import { isBase64url } from '../jwt/base64url.js';
import { type JWTPayload, type ResolvedClaimRules, validateClaims } from '../jwt/claims.js';
import { createVerifier, type Key, type KeySet } from '../jwt/index.js';
import { decodeJSONSegment, type SegmentResult } from '../jwt/json.js';
import { verifyJWS } from '../jwt/jws.js';
import { resolveClaimRules } from '../jwt/jwt.js';
import { formatJSON, formatRelative, formatTime } from './format.js';

export interface ServerRules {
  keys: KeySet;
  /** Stored keys taken out of use by `keys revoke`, by kid, with when: their tokens are refused. */
  revokedKeys?: ReadonlyMap<string, number>;
  issuer: string;
  audience: string;
  /** LATCHKEY_ACCESS_TTL: no token of this server is older than that (plus the tolerance). */
  ttlSeconds: number;
  clockToleranceSeconds: number;
  nowMs: number;
}

export interface Problem {
  /** Short name a person can search for: "expired", "bad signature", "wrong aud". */
  name: string;
  detail: string;
  /** Found in a payload whose signature did not verify. */
  unverified: boolean;
}

export interface SignatureInfo {
  /** Decoded length, or null when the part is not canonical base64url. */
  bytes: number | null;
  /** What the header's alg prescribes, where the alg alone decides it. */
  expectedBytes: number | null;
}

export interface Inspection {
  parts: number;
  header: SegmentResult | null;
  payload: SegmentResult | null;
  signature: SignatureInfo | null;
  /** The server key whose signature check passed; null when none did. */
  verifiedBy: Key | null;
  problems: Problem[];
}

export function inspectToken(token: string, rules: ServerRules): Inspection {
  const problems: Problem[] = [];
  const add = (name: string, detail: string, unverified = false) =>
    problems.push({ name, detail, unverified });
  const parts = token.split('.');
  if (parts.length !== 3) {
    const hint = parts.length === 5 ? ' (five parts is an encrypted JWE, which Latchkey never issues)' : '';
    add('malformed', `a JWT has three base64url parts separated by dots; this has ${parts.length}${hint}`);
    return { parts: parts.length, header: null, payload: null, signature: null, verifiedBy: null, problems };
  }
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeJSONSegment(headerPart);
  if (!header.ok) add('malformed', `the header ${header.reason}`);
  const payload = decodeJSONSegment(payloadPart);
  if (!payload.ok) add('malformed', `the payload ${payload.reason}`);
  const signature = describeSignature(signaturePart, header);
  if (signaturePart === '') add('malformed', 'the signature is empty: an unsigned token is never accepted');
  else if (signature.bytes === null) add('malformed', 'the signature is not canonical base64url');
  const structureBroken = problems.length > 0;

  let verifiedBy: Key | null = null;
  if (header.ok) {
    try {
      verifiedBy = verifyJWS(token, rules.keys).key;
    } catch (error) {
      const problem = signatureProblem(error, header.value, rules);
      // A part that is not base64url was named above already.
      if (!(structureBroken && /^the (payload|signature) is not canonical/.test(problem.detail))) {
        add(problem.name, problem.detail);
      }
    }
  }
  if (payload.ok) {
    const typ = header.ok && typeof header.value.typ === 'string' ? header.value.typ : undefined;
    for (const problem of claimProblems(payload.value as JWTPayload, typ, header.ok, rules)) {
      add(problem.name, problem.detail, verifiedBy === null);
    }
  }
  // The verifier the server uses has the last word: a rule not mirrored above must not pass unnoticed.
  if (problems.length === 0) {
    try {
      serverVerifier(rules)(token);
    } catch (error) {
      add('rejected', error instanceof Error ? error.message : String(error));
    }
  }
  return { parts: 3, header, payload, signature, verifiedBy, problems };
}

/** A verifier built as src/auth/access-tokens.ts builds it (no cache: one token, once). */
function serverVerifier(rules: ServerRules) {
  return createVerifier({ key: rules.keys, ...accessTokenRules(rules), now: () => rules.nowMs });
}

function describeSignature(part: string, header: SegmentResult): SignatureInfo {
  const alg = header.ok ? findAlgorithm(header.value.alg) : undefined;
  return {
    bytes: isBase64url(part) ? Buffer.from(part, 'base64url').length : null,
    expectedBytes: alg?.signatureBytes ?? null,
  };
}

function signatureProblem(error: unknown, header: Record<string, unknown>, rules: ServerRules) {
  if (!(error instanceof JOSEError)) throw error;
  const { keys } = rules;
  const { alg, kid } = header;
  switch (error.code) {
    case 'ERR_JWS_SIGNATURE_INVALID':
      return {
        name: 'bad signature',
        detail:
          `the signature does not match key ${String(kid ?? '(no kid)')}: ` +
          'the token was changed after signing, or another key signed it',
      };
    case 'ERR_JWKS_NO_MATCHING_KEY': {
      const sameKid = typeof kid === 'string' ? keys.keys.find((key) => key.kid === kid) : undefined;
      if (sameKid !== undefined) {
        return {
          name: 'alg mismatch',
          detail: `the token says ${String(alg)}, but key ${kid} is bound to ${sameKid.alg}`,
        };
      }
      const revokedAt = typeof kid === 'string' ? rules.revokedKeys?.get(kid) : undefined;
      if (revokedAt !== undefined) {
        return {
          name: 'revoked key',
          detail:
            `key ${String(kid)} was revoked at ${formatTime(revokedAt)} ` +
            '(latchkey keys revoke): every token it signed is refused, whatever its claims',
        };
      }
      if (typeof kid === 'string') {
        return {
          name: 'unknown kid',
          detail:
            `kid ${kid} is not among the server's ${keys.size} published keys ` +
            "(another server's key, or one removed after its tokens expired)",
        };
      }
      const algs = [...new Set(keys.keys.map((key) => key.alg))].join(', ') || 'none';
      return {
        name: 'unknown kid',
        detail: `the header has no kid, and no single server key fits ${String(alg)} (server keys: ${algs})`,
      };
    }
    case 'ERR_JWS_ALG_NOT_ALLOWED':
      return { name: 'alg not allowed', detail: error.message };
    case 'ERR_JWS_HEADER_REJECTED':
      return { name: 'header rejected', detail: error.message };
    case 'ERR_JWT_TOO_LARGE':
      return { name: 'too large', detail: error.message };
    default:
      return { name: 'malformed', detail: error.message.replace(/^JWS /, 'the ') };
  }
}

/**
 * Every claim problem, by running the core's pure `validateClaims` repeatedly: each failure names its
 * claim, which is then set aside (dropped from the payload copy and from the rules) before the next
 * run, until a run passes. The same rules and words as the server, without stopping at the first.
 */
function claimProblems(payload: JWTPayload, typ: string | undefined, typKnown: boolean, server: ServerRules) {
  const nowSeconds = Math.floor(server.nowMs / 1000);
  const working: JWTPayload = { ...payload };
  const serverRules = resolveClaimRules(accessTokenRules(server));
  let rules: ResolvedClaimRules = {
    ...serverRules,
    // Without a readable header there is no typ to judge; that part is reported as malformed.
    typ: typKnown ? serverRules.typ : null,
  };
  const problems: { name: string; detail: string }[] = [];
  const seen = new Set<string>();
  for (;;) {
    try {
      validateClaims(working, typ, rules, nowSeconds);
      break;
    } catch (error) {
      if (!(error instanceof JWTClaimError) || error.claim === undefined || seen.has(error.claim))
        throw error;
      const claim = error.claim;
      seen.add(claim);
      problems.push(describeClaimError(error, payload, typ, server, nowSeconds));
      delete working[claim];
      rules = {
        ...rules,
        requiredClaims: rules.requiredClaims.filter((name) => name !== claim),
        // An expired token is not also "too old": the age bound speaks of tokens whose exp lies ahead.
        maxTokenAgeSeconds: claim === 'iat' || claim === 'exp' ? null : rules.maxTokenAgeSeconds,
        issuers: claim === 'iss' ? null : rules.issuers,
        audiences: claim === 'aud' ? null : rules.audiences,
        typ: claim === 'typ' ? null : rules.typ,
      };
    }
  }
  // AccessTokens.verify refuses these after the core's checks.
  for (const claim of ['sid', 'client_id']) {
    if (Object.hasOwn(payload, claim) && typeof payload[claim] !== 'string') {
      problems.push({ name: 'invalid claim', detail: `"${claim}" must be a string` });
    }
  }
  if (Object.hasOwn(payload, 'roles') && !isRoleList(payload.roles)) {
    problems.push({ name: 'invalid claim', detail: '"roles" must be an array of strings' });
  }
  return problems;
}

function describeClaimError(
  error: JWTClaimError,
  payload: JWTPayload,
  typ: string | undefined,
  server: ServerRules,
  nowSeconds: number,
): { name: string; detail: string } {
  const claim = error.claim as string;
  const value = payload[claim];
  const when = (time: number) =>
    `${formatRelative(time, nowSeconds)} (${claim} ${formatTime(time * 1000)}, ` +
    `clock tolerance ${server.clockToleranceSeconds} s)`;
  // The age bound: iat too long ago for this server's lifetime, or ahead of the clock.
  if (claim === 'iat' && typeof value === 'number' && Number.isFinite(value)) {
    if (error.code === 'ERR_JWT_EXPIRED') {
      return {
        name: 'too old',
        detail:
          `the token was issued ${when(value)}, longer ago than this server's access-token lifetime ` +
          `(LATCHKEY_ACCESS_TTL ${server.ttlSeconds} s): this server did not issue it with that exp`,
      };
    }
    if (error.code === 'ERR_JWT_CLAIM_INVALID' && value > nowSeconds) {
      return { name: 'issued in the future', detail: `the token says it was issued ${when(value)}` };
    }
  }
  if (error.code === 'ERR_JWT_EXPIRED' && typeof value === 'number') {
    return {
      name: 'expired',
      detail: `the token expired ${when(value)}`,
    };
  }
  if (error.code === 'ERR_JWT_NOT_YET_VALID' && typeof value === 'number') {
    return {
      name: 'not yet valid',
      detail: `the token becomes valid ${when(value)}`,
    };
  }
  if (error.code === 'ERR_JWT_TYP_INVALID') {
    const actual = typ === undefined ? 'missing' : `"${typ}"`;
    return {
      name: 'wrong typ',
      detail: `the header's typ is ${actual}; access tokens have "${ACCESS_TOKEN_TYP}" (RFC 9068)`,
    };
  }
  if (!Object.hasOwn(payload, claim)) {
    return {
      name: 'missing claim',
      detail: `the token has no "${claim}" claim, which every access token has`,
    };
  }
  if (claim === 'iss' && typeof value === 'string') {
    return {
      name: 'wrong iss',
      detail: `the issuer is ${formatJSON(value)}; this server is "${server.issuer}"`,
    };
  }
  const audience =
    typeof value === 'string' || (Array.isArray(value) && value.every((a) => typeof a === 'string'));
  if (claim === 'aud' && audience) {
    return {
      name: 'wrong aud',
      detail: `the audience is ${formatJSON(value)}; this server accepts "${server.audience}"`,
    };
  }
  return { name: 'invalid claim', detail: error.message };
}
