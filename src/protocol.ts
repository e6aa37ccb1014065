/**
 * The wire types of Latchkey's HTTP contract, in one place for the server, the resource-server
 * verifier and the browser client. Each body is a JSON Schema (the server validates and documents
 * with it) and its TypeScript type is derived from that schema, so the two cannot drift apart.
 * Imports nothing: the client bundles this file into a browser build.
 */

// ---------------------------------------------------------------------------------------------
// Schema → type, for the small part of JSON Schema these bodies use.

type Primitive<T> = T extends 'string'
  ? string
  : T extends 'integer' | 'number'
    ? number
    : T extends 'boolean'
      ? boolean
      : T extends 'null'
        ? null
        : never;

type PropertiesOf<S> = S extends { properties: infer P } ? P : Record<never, never>;
type RequiredOf<S> = S extends { required: readonly (infer R)[] } ? R : never;

type ObjectOf<S, P = PropertiesOf<S>, R = RequiredOf<S>> = {
  -readonly [K in keyof P as K extends R ? K : never]: Infer<P[K]>;
} & {
  -readonly [K in keyof P as K extends R ? never : K]?: Infer<P[K]>;
};

/** The TypeScript type of a JSON Schema written `as const` with type, properties, required, items, enum. */
export type Infer<S> = S extends { enum: readonly (infer E)[] }
  ? E
  : S extends { type: 'object' }
    ? ObjectOf<S>
    : S extends { type: 'array'; items: infer I }
      ? Infer<I>[]
      : S extends { type: readonly (infer T)[] }
        ? Primitive<T>
        : S extends { type: infer T }
          ? Primitive<T>
          : unknown;

// ---------------------------------------------------------------------------------------------
// Errors

/** The `error` codes clients see; src/server/errors.ts maps every internal code to one of these. */
export const WIRE_ERROR_CODES = [
  'invalid_request',
  'email_taken',
  'invalid_credentials',
  'rate_limited',
  'invalid_grant',
  'csrf_rejected',
  'origin_not_allowed',
  'missing_token',
  'invalid_token',
  'insufficient_scope',
  'not_found',
  'payload_too_large',
  'unsupported_media_type',
  'headers_too_large',
  'request_timeout',
  'conflict',
  'overloaded',
  'unavailable',
  'internal_error',
] as const;
export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number];

export const errorBodySchema = {
  type: 'object',
  required: ['error', 'message'],
  properties: { error: { type: 'string', enum: WIRE_ERROR_CODES }, message: { type: 'string' } },
} as const;
/** Every error answer: `{"error": code, "message": text for a person}`. */
export type ErrorBody = Infer<typeof errorBodySchema>;

// ---------------------------------------------------------------------------------------------
// Tokens

/** RFC 9068 §2.1: the `typ` header of every access token. */
export const ACCESS_TOKEN_TYP = 'at+jwt';

/** Where `POST /auth/login` puts the refresh token: the HttpOnly cookie (browsers) or the body. */
export type RefreshIn = 'cookie' | 'body';

/** The claims of a Latchkey access token (RFC 9068 §2.2), as a verifier hands them to a route. */
export interface AccessTokenClaims {
  iss: string;
  /** The user id. */
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  /** The session (refresh-token family); revoking it revokes every access token it yielded. */
  sid: string;
  client_id: string;
  /** RFC 9068 §2.2.3.1: present when the user has roles. */
  roles?: string[];
  /** Space-separated OAuth scopes, when an issuer grants them. */
  scope?: string;
  [claim: string]: unknown;
}

export const tokenResponseSchema = {
  type: 'object',
  required: ['access_token', 'token_type', 'expires_in'],
  properties: {
    access_token: { type: 'string' },
    token_type: { type: 'string', enum: ['Bearer'] },
    /** The access token's lifetime in seconds. */
    expires_in: { type: 'integer' },
    /** Only with `refresh_in: "body"`; otherwise the refresh token is in the cookie only. */
    refresh_token: { type: 'string' },
  },
} as const;
export type TokenResponse = Infer<typeof tokenResponseSchema>;

// ---------------------------------------------------------------------------------------------
// Account

const timestamp = { type: 'string', format: 'date-time' } as const;

export const userResponseSchema = {
  type: 'object',
  required: ['user'],
  properties: {
    user: {
      type: 'object',
      required: ['id', 'email', 'created_at'],
      properties: { id: { type: 'string' }, email: { type: 'string' }, created_at: timestamp },
    },
  },
} as const;
export type UserResponse = Infer<typeof userResponseSchema>;

export const sessionsResponseSchema = {
  type: 'object',
  required: ['sessions'],
  properties: {
    sessions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'created_at', 'last_used_at', 'user_agent', 'ip', 'current'],
        properties: {
          id: { type: 'string' },
          created_at: timestamp,
          last_used_at: timestamp,
          user_agent: { type: ['string', 'null'] },
          ip: { type: ['string', 'null'] },
          current: { type: 'boolean' },
        },
      },
    },
  },
} as const;
export type SessionsResponse = Infer<typeof sessionsResponseSchema>;
export type SessionInfo = SessionsResponse['sessions'][number];

export const meResponseSchema = {
  type: 'object',
  required: ['id', 'email', 'roles'],
  properties: {
    id: { type: 'string' },
    email: { type: 'string' },
    /** The user's roles now (the access token carries them as of its issue). */
    roles: { type: 'array', items: { type: 'string' } },
  },
} as const;
export type MeResponse = Infer<typeof meResponseSchema>;

// ---------------------------------------------------------------------------------------------
// Discovery

export const WELL_KNOWN = {
  jwks: '/.well-known/jwks.json',
  discovery: '/.well-known/openid-configuration',
  revocationFeed: '/.well-known/revoked-sessions',
} as const;

export const discoveryDocumentSchema = {
  type: 'object',
  required: ['issuer', 'jwks_uri', 'revocation_feed_uri'],
  properties: {
    issuer: { type: 'string' },
    jwks_uri: { type: 'string' },
    /** Latchkey's own: the feed of revoked sessions and keys (`RevocationFeed`). */
    revocation_feed_uri: { type: 'string' },
    /**
     * Latchkey issues no ID tokens; kept because resource-server libraries (express-oauth2-jwt-bearer)
     * read it as the algorithms they accept, so it narrows them to the one Latchkey signs with.
     */
    id_token_signing_alg_values_supported: { type: 'array', items: { type: 'string' } },
    access_token_signing_alg_values_supported: { type: 'array', items: { type: 'string' } },
    /**
     * Latchkey's own endpoints, under names of their own: OAuth's token_endpoint takes form-encoded
     * grants, which these do not.
     */
    login_endpoint: { type: 'string' },
    refresh_endpoint: { type: 'string' },
    logout_endpoint: { type: 'string' },
  },
} as const;
export type DiscoveryDocument = Infer<typeof discoveryDocumentSchema>;

export const revocationFeedSchema = {
  type: 'object',
  required: ['generated_at', 'retention_seconds', 'sessions', 'keys'],
  properties: {
    /** The server's clock (ms) when it answered: pass it back as `since` on the next poll. */
    generated_at: { type: 'integer' },
    /** How far back the feed reaches: one access-token lifetime + clock tolerance. */
    retention_seconds: { type: 'integer' },
    sessions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['sid', 'revoked_at'],
        properties: { sid: { type: 'string' }, revoked_at: { type: 'integer' } },
      },
    },
    /** Revoked signing keys whose tokens may still be unexpired: refuse them at once. */
    keys: {
      type: 'array',
      items: {
        type: 'object',
        required: ['kid', 'revoked_at'],
        properties: { kid: { type: 'string' }, revoked_at: { type: 'integer' } },
      },
    },
    /**
     * Only when the request gave `limit` and more sessions remain: ask again with the same `since` and
     * `after` set to this, until an answer has none.
     */
    next: { type: 'string' },
  },
} as const;
export type RevocationFeed = Infer<typeof revocationFeedSchema>;

/** Sessions per page a verifier asks the revocation feed for, and the most it may ask. */
export const REVOCATION_FEED_PAGE = 1000;
export const REVOCATION_FEED_MAX_PAGE = 10_000;

/**
 * The JWK Set at `/.well-known/jwks.json` (RFC 7517 §5): the public keys that verify access tokens,
 * each with the members of its key type (RFC 7518 §6, RFC 8037) and `kid`, `alg`, `use: "sig"`.
 * Never a private member or a secret: with HS256 the set is empty.
 */
export const jwksSchema = {
  type: 'object',
  required: ['keys'],
  properties: {
    keys: {
      type: 'array',
      items: {
        type: 'object',
        required: ['kty', 'kid', 'alg', 'use'],
        properties: {
          kty: { type: 'string', enum: ['EC', 'OKP', 'RSA'] },
          kid: { type: 'string' },
          /** The one algorithm the key verifies; a verifier takes it from here, never from a token. */
          alg: { type: 'string' },
          use: { type: 'string', enum: ['sig'] },
          /** EC and OKP: the curve and the public point. */
          crv: { type: 'string' },
          x: { type: 'string' },
          y: { type: 'string' },
          /** RSA: modulus and exponent. */
          n: { type: 'string' },
          e: { type: 'string' },
        },
      },
    },
  },
} as const;
export type JWKSDocument = Infer<typeof jwksSchema>;
