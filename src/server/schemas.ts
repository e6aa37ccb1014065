/**
 * JSON schemas of the HTTP contract. Ajv runs without type coercion and rejects unknown properties,
 * so the validated API and the documented one (/openapi.json, generated from these) are one thing.
 *
 * Response schemas do more than document: Fastify serializes every answer with the schema of its
 * status (fast-json-stringify writes only the properties a schema lists). So each answer a route
 * gives is described here, errors included, and a property missing from a schema never reaches a client.
 */
import {
  discoveryDocumentSchema,
  errorBodySchema,
  jwksSchema,
  meResponseSchema,
  revocationFeedSchema,
  sessionsResponseSchema,
  tokenResponseSchema,
  userResponseSchema,
  type WireErrorCode,
} from '../protocol.js';

/** The wire schemas of src/protocol.ts under their names in `components.schemas` of /openapi.json. */
export const SHARED_SCHEMAS = {
  Error: errorBodySchema,
  TokenResponse: tokenResponseSchema,
  UserResponse: userResponseSchema,
  SessionsResponse: sessionsResponseSchema,
  MeResponse: meResponseSchema,
  DiscoveryDocument: discoveryDocumentSchema,
  RevocationFeed: revocationFeedSchema,
  JWKSet: jwksSchema,
} as const;

export type SharedSchemaName = keyof typeof SHARED_SCHEMAS;

const ref = (name: SharedSchemaName) => ({ $ref: `#/components/schemas/${name}` }) as const;

/**
 * A route serializes with an inline copy of a shared schema; the API description shows it by
 * reference. The helpers below make both forms from the same wire schema, in one place. The inline
 * one is for speed: with shared schemas (`addSchema`), `$ref` or `allOf`, fast-json-stringify
 * compiles each of the ~80 response schemas of an app several times slower, and tests build hundreds of apps.
 */
const documentedForms = new WeakMap<object, object>();

/** The schema the API description shows for a response schema of a route. */
export function documentedForm(schema: object): object {
  return documentedForms.get(schema) ?? schema;
}

function withDocumentedForm<T extends object>(serialized: T, documented: object): T {
  documentedForms.set(serialized, documented);
  return serialized;
}

// ---------------------------------------------------------------------------------------------
// Requests

const email = { type: 'string', minLength: 1, maxLength: 1024 } as const;
const password = { type: 'string', maxLength: 1024 } as const;
const refreshToken = { type: 'string', minLength: 1, maxLength: 1024 } as const;

export const credentialsBody = {
  type: 'object',
  additionalProperties: false,
  required: ['email', 'password'],
  properties: { email, password },
} as const;

export const loginBody = {
  type: 'object',
  additionalProperties: false,
  required: ['email', 'password'],
  properties: {
    email,
    password,
    refresh_in: {
      type: 'string',
      enum: ['cookie', 'body'],
      description:
        'Where the refresh token goes: the HttpOnly cookie `latchkey_refresh` (default, for browsers) ' +
        'or the body as `refresh_token` (native and server clients; then no cookie is set).',
    },
  },
} as const;

export const refreshBody = {
  type: 'object',
  additionalProperties: false,
  description:
    'Optional. With `refresh_token` the token comes from here and no cookie is read; without a body ' +
    '(or with `{}`) it comes from the `latchkey_refresh` cookie. A request without a body carries no ' +
    '`Content-Type: application/json`: an empty JSON body is not valid JSON (400).',
  properties: { refresh_token: refreshToken },
} as const;

export const passwordChangeBody = {
  type: 'object',
  additionalProperties: false,
  required: ['current_password', 'new_password'],
  properties: { current_password: password, new_password: password },
} as const;

export const sessionParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: {
    id: {
      type: 'string',
      minLength: 1,
      maxLength: 128,
      // No session id has a NUL, and PostgreSQL refuses one in text outright: a 400, not a database error.
      pattern: '^[^\\u0000]*$',
      description: "The session's `sid`.",
    },
  },
} as const;

// ---------------------------------------------------------------------------------------------
// Responses

/** Response headers for the API description (@fastify/swagger moves them out of the body schema). */
export type ResponseHeaders = Record<string, { type: 'string' | 'integer'; description: string }>;

const withHeaders = (headers: ResponseHeaders | undefined) => (headers === undefined ? {} : { headers });

/** A JSON answer: its description, and its body schema (a shared one by name, or inline). */
export function jsonResponse(
  description: string,
  schema: SharedSchemaName | object,
  headers?: ResponseHeaders,
) {
  if (typeof schema === 'object') return { description, ...schema, ...withHeaders(headers) };
  return withDocumentedForm(
    { description, ...SHARED_SCHEMAS[schema], ...withHeaders(headers) },
    { description, ...ref(schema), ...withHeaders(headers) },
  );
}

/** An answer without a body (204). */
export function emptyResponse(description: string, headers?: ResponseHeaders) {
  return { description, type: 'null', ...withHeaders(headers) } as const;
}

/** An error answer: the contract's `{error, message}`, with `error` narrowed to the codes it carries here. */
export function problem(description: string, codes: readonly WireErrorCode[], headers?: ResponseHeaders) {
  const error = { type: 'string', enum: codes } as const;
  return withDocumentedForm(
    {
      description,
      ...errorBodySchema,
      properties: { ...errorBodySchema.properties, error },
      ...withHeaders(headers),
    },
    {
      description,
      allOf: [ref('Error'), { type: 'object', properties: { error } }],
      ...withHeaders(headers),
    },
  );
}

export const RETRY_AFTER: ResponseHeaders = {
  'Retry-After': { type: 'integer', description: 'Seconds to wait before trying again.' },
};

/** 401 of a route that needs `Authorization: Bearer <access token>` (RFC 6750 §3). */
export const bearerProblem = problem(
  '`missing_token` when the request has no Bearer token (no Authorization header, or another ' +
    'scheme); `invalid_token` when the token is malformed, expired, revoked, signed by an unknown key ' +
    "or not this issuer's, or its account is gone.",
  ['missing_token', 'invalid_token'],
  {
    'WWW-Authenticate': {
      type: 'string',
      description:
        'The RFC 6750 challenge: `Bearer realm="latchkey"` for a missing token; ' +
        '`Bearer realm="latchkey", error="invalid_token", error_description="…"` for a bad one.',
    },
  },
);

export const rateLimitedProblem = problem(
  '`rate_limited`: too many failed attempts from this address or for this account; refused before ' +
    'the password is checked.',
  ['rate_limited'],
  RETRY_AFTER,
);

/**
 * What any route answers once its instance has begun to shut down (a proxy should retry elsewhere),
 * or when the database it needs does not answer (Retry-After then says when to try again).
 */
export const SHUTTING_DOWN =
  '`unavailable`: this instance is shutting down (try another), or its database does not answer ' +
  '(try again after Retry-After seconds).';

export const overloadedProblem = problem(
  `\`overloaded\`: password hashing is at capacity on this instance; try again shortly. ${SHUTTING_DOWN}`,
  ['overloaded', 'unavailable'],
  RETRY_AFTER,
);

/**
 * The answers of a route that reads a JSON body, before its handler runs. Fastify parses a body on
 * POST and DELETE alike (with a Content-Type and a length), whether or not the route wants one.
 */
export function bodyProblems(invalidRequest: string) {
  return {
    400: problem(`\`invalid_request\`: ${invalidRequest}`, ['invalid_request']),
    413: problem('`payload_too_large`: the body is larger than 64 KiB.', ['payload_too_large']),
    415: problem('`unsupported_media_type`: a body that is not `application/json`.', [
      'unsupported_media_type',
    ]),
  };
}

/** The body is not JSON, or breaks the route's schema. */
export const INVALID_BODY =
  'the body is not valid JSON or breaks the schema (a wrong type, a missing or unknown property).';

/**
 * Every answer of a route: those given, the 500 any route may answer, and the 503 of an instance
 * shutting down (a route with a 503 of its own names `unavailable` among its codes).
 */
export function responses<R extends Record<number, object>>(answers: R) {
  return {
    503: problem(SHUTTING_DOWN, ['unavailable'], RETRY_AFTER),
    ...answers,
    500: problem(
      '`internal_error`: an unexpected fault. The message is generic: the cause is logged, never sent.',
      ['internal_error'],
    ),
  };
}

export const bearerSecurity = [{ bearerAuth: [] }];
