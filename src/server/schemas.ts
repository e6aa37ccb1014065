/**
 * JSON schemas of the HTTP contract. Ajv runs without type coercion and rejects unknown properties,
 * so the validated API and the documented one (/openapi.json, generated from these) are one thing.
 */
import { errorBodySchema } from '../protocol.js';

// The response bodies are the wire types' own schemas (src/protocol.ts), shared with the clients.
export {
  discoveryDocumentSchema as discoveryDocument,
  meResponseSchema as meResponse,
  revocationFeedSchema as revocationFeed,
  sessionsResponseSchema as sessionsResponse,
  tokenResponseSchema as tokenResponse,
  userResponseSchema as userResponse,
} from '../protocol.js';

export const errorSchema = errorBodySchema;

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
  properties: { email, password, refresh_in: { type: 'string', enum: ['cookie', 'body'] } },
} as const;

export const refreshBody = {
  type: 'object',
  additionalProperties: false,
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
  properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

/** Error responses of a route, for the API description. */
export function errors(...statuses: number[]): Record<number, typeof errorSchema> {
  return Object.fromEntries(statuses.map((status) => [status, errorSchema]));
}

export const bearerSecurity = [{ bearerAuth: [] }];
