/**
 * JSON schemas of the HTTP contract. Ajv runs without type coercion and rejects unknown properties,
 * so the validated API and the documented one (/openapi.json, generated from these) are one thing.
 */
export const errorSchema = {
  type: 'object',
  required: ['error', 'message'],
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const;

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

export const tokenResponse = {
  type: 'object',
  required: ['access_token', 'token_type', 'expires_in'],
  properties: {
    access_token: { type: 'string' },
    token_type: { type: 'string', enum: ['Bearer'] },
    expires_in: { type: 'integer' },
    refresh_token: { type: 'string' },
  },
} as const;

export const userResponse = {
  type: 'object',
  required: ['user'],
  properties: {
    user: {
      type: 'object',
      required: ['id', 'email', 'created_at'],
      properties: {
        id: { type: 'string' },
        email: { type: 'string' },
        created_at: { type: 'string', format: 'date-time' },
      },
    },
  },
} as const;

export const sessionsResponse = {
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
          created_at: { type: 'string', format: 'date-time' },
          last_used_at: { type: 'string', format: 'date-time' },
          user_agent: { type: ['string', 'null'] },
          ip: { type: ['string', 'null'] },
          current: { type: 'boolean' },
        },
      },
    },
  },
} as const;

export const meResponse = {
  type: 'object',
  required: ['id', 'email', 'roles'],
  properties: {
    id: { type: 'string' },
    email: { type: 'string' },
    // The roles the account has now; a token's `roles` claim is what it had at issue.
    roles: { type: 'array', items: { type: 'string' } },
  },
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
